"""A rich console sized for terminals and for captured output alike."""

from __future__ import annotations

import os
import shutil


def make_console(quiet: bool = False):  # -> rich.console.Console (rich imported lazily)
    """Console writing to the current stdout; at least 100 columns when not a TTY."""
    from rich.console import Console

    width = None
    if not os.environ.get("COLUMNS"):
        width = max(100, shutil.get_terminal_size((100, 24)).columns)
    return Console(width=width, quiet=quiet, highlight=False)
