"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def override_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--override/-o KEY=VALUE`` (repeatable), collected into ``overrides``."""
    return click.option(
        "--override",
        "-o",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help=help_text,
    )
