"""Turn the toolkit's own errors into one-line CLI errors (no tracebacks).

``nca --debug ...`` (or ``NCA_DEBUG=1``) lets them through with a traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import click

from nca.config.dataclass_config import ConfigError
from nca.errors import NCAError
from nca.registry.plugins import PluginError


def debug_enabled() -> bool:
    return os.environ.get("NCA_DEBUG", "") not in ("", "0")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Re-raise config, registry, validation and missing-file errors as one-line
    ``click.ClickException``s."""
    try:
        yield
    except (ConfigError, PluginError, NCAError, FileNotFoundError, ValueError, TypeError) as err:
        if debug_enabled():
            raise
        raise click.ClickException(str(err)) from err
    except OSError as err:  # permissions, full disks: say which file and why, in one line
        if debug_enabled():
            raise
        raise click.ClickException(_os_error(err)) from err


#: What an unexpected error's one line ends with.
DEBUG_HINT = "run with --debug or NCA_DEBUG=1 for the full traceback"


def unexpected_error(err: Exception) -> click.ClickException:
    """An error no command anticipated, as one line: its type, its message and how to
    see the traceback (a bug report needs it; a user does not)."""
    text = " ".join(str(err).split())  # one line, however the message was laid out
    if len(text) > 300:
        text = text[:297] + "..."
    return click.ClickException(f"{type(err).__name__}: {text or '(no message)'} ({DEBUG_HINT})")


def _os_error(err: OSError) -> str:
    import errno

    where = f" ({err.filename})" if err.filename else ""
    if err.errno == errno.ENOSPC:
        return f"the disk is full{where}: free space or choose another --run-dir / --out"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"not writable{where}: {err.strerror}; choose another --run-dir / --out"
    return f"{err.strerror or type(err).__name__}{where}"
