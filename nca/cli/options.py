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


#: ``--checkpoint last|best`` (into ``which``): which checkpoint of a run directory to read.
checkpoint_option = click.option(
    "--checkpoint",
    "which",
    type=click.Choice(["last", "best"]),
    default="last",
    show_default=True,
    help="For a run directory: its last checkpoint, or best.pt (the best validation).",
)
