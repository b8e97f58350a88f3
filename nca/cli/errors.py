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


def _os_error(err: OSError) -> str:
    import errno

    where = f" ({err.filename})" if err.filename else ""
    if err.errno == errno.ENOSPC:
        return f"the disk is full{where}: free space or choose another --run-dir / --out"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"not writable{where}: {err.strerror}; choose another --run-dir / --out"
    return f"{err.strerror or type(err).__name__}{where}"
