"""Progress bars for tasks: rich bars with speed, elapsed time, ETA and live metrics."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

#: ``advance(n=1, completed=None, **metrics)``: move the bar by ``n`` (or to ``completed``)
#: and show the latest values of the bar's metrics.
Advance = Callable[..., None]


@contextmanager
def progress_bar(
    label: str,
    total: int,
    *,
    console: Console | None = None,
    quiet: bool = False,
    unit: str = "it",
    metrics: Sequence[str] = (),
    completed: int = 0,
) -> Iterator[Advance]:
    """A rich progress bar; nothing is drawn when ``quiet`` or stdout is not a terminal.

    Args:
        label: Text before the bar.
        total: Number of units of work.
        console: The rich console to draw on (default: a new one).
        quiet: Draw nothing.
        unit: Shown in the speed column (``unit/s``).
        metrics: Names of float values shown after the counter (e.g. ``("loss",)``).
        completed: Units already done (a resumed run).

    Yields:
        ``advance(n=1, completed=None, **metrics)``.
    """
    if quiet or not sys.stdout.isatty():
        yield lambda n=1, completed=None, **values: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class SpeedColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.2f} {unit}/s" if task.speed else f"- {unit}/s")

    columns = [TextColumn(f"{name} {{task.fields[{name}]:.3f}}") for name in metrics]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *columns,
        SpeedColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(
            label, total=total, completed=completed, **dict.fromkeys(metrics, float("nan"))
        )

        def advance(n: int = 1, completed: int | None = None, **values: float) -> None:
            if completed is not None:
                progress.update(task, completed=completed, **values)
            else:
                progress.update(task, advance=n, **values)

        yield advance
