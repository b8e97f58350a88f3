"""Turn the toolkit's own errors into one-line CLI errors (no tracebacks)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from nca.config.dataclass_config import ConfigError
from nca.registry.plugins import PluginError


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Re-raise config, registry and validation errors as ``click.ClickException``."""
    try:
        yield
    except (ConfigError, PluginError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    except ValueError as err:
        raise click.ClickException(str(err)) from err
