"""How benchmark scripts hand over their result table."""

from __future__ import annotations

from pathlib import Path


def emit(lines: list[str], output: Path | None) -> None:
    """Print the Markdown report ``lines`` and, if given, write them to ``output``."""
    text = "\n".join(lines) + "\n"
    print(text)
    if output:
        output.write_text(text)
