"""Python warnings as one line each on the command line.

The default format names the file and line that warned and repeats its source line,
which reads like a crash to a user; the commands print ``warning: MESSAGE`` on stderr
instead (``--debug`` keeps Python's format).
"""

from __future__ import annotations

import contextlib
import sys
import warnings


def _one_line(message, category, filename, lineno, file=None, line=None) -> None:
    stream = file if file is not None else sys.stderr
    kind = "" if issubclass(category, UserWarning) else f"{category.__name__}: "
    with contextlib.suppress(OSError):  # a closed pipe: the warning has nowhere to go
        stream.write(f"warning: {kind}{message}\n")


def show_warnings_as_lines() -> None:
    """Print every later warning as ``warning: MESSAGE`` (a :class:`UserWarning`) or
    ``warning: Category: MESSAGE`` (any other category)."""
    warnings.showwarning = _one_line
