"""Progress for tasks: rich bars with speed, elapsed time, ETA and live metrics on a
terminal; plain lines at a steady interval where stdout is a file or a pipe (nohup, CI,
SLURM logs), so a long run never goes silent."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

#: ``advance(n=1, completed=None, **metrics)``: move the bar by ``n`` (or to ``completed``)
#: and show the latest values of the bar's metrics.
Advance = Callable[..., None]

#: Seconds between two plain progress lines (stdout not a terminal).
PLAIN_INTERVAL = 30.0


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class PlainProgress:
    """Progress as plain lines, one at most every ``interval`` seconds and one at the end:
    ``training 1200/8000 (15%) loss 0.0123 | 3.41 it/s | 5:52 elapsed | ETA 33:14``.
    The speed is the rate since the previous line (what the run does now), the ETA the
    remaining units at that rate.

    Args:
        label: Text before the counter.
        total: Number of units of work.
        unit: Shown in the speed (``unit/s``).
        metrics: Names of the values shown after the counter.
        completed: Units already done (a resumed run).
        write: Where a line goes (default: stdout, flushed).
        interval: Seconds between lines.
        clock: Seconds now (``time.monotonic``; tests pass their own).
    """

    def __init__(self, label: str, total: int, *, unit: str = "it",
                 metrics: Sequence[str] = (), completed: int = 0,
                 write: Callable[[str], None] | None = None,
                 interval: float = PLAIN_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.label, self.total, self.unit, self.metrics = label, total, unit, tuple(metrics)
        self.write = write or (lambda line: print(line, flush=True))
        self.interval, self.clock = interval, clock
        self.start = self.last_time = clock()
        self.done = self.first = self.last_done = completed
        self.values: dict[str, float] = {}

    def __call__(self, n: int = 1, completed: int | None = None, **values: float) -> None:
        self.done = completed if completed is not None else self.done + n
        self.values.update(values)
        if self.clock() - self.last_time >= self.interval:
            self.report()

    def report(self) -> None:
        """Write the current line (and start a new speed window)."""
        now = self.clock()
        window = now - self.last_time
        rate = (self.done - self.last_done) / window if window > 0 else 0.0
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        parts = [f"{self.label} {self.done}/{self.total}{share}"]
        parts += [f"{k} {self.values[k]:.4g}" for k in self.metrics if k in self.values]
        line = " ".join(parts) + f" | {rate:.2f} {self.unit}/s | {_clock(now - self.start)} elapsed"
        if rate > 0 and self.done < self.total:
            line += f" | ETA {_clock((self.total - self.done) / rate)}"
        self.write(line)
        self.last_time, self.last_done = now, self.done

    def finish(self) -> None:
        """The last line, if anything moved since the previous one."""
        if self.done != self.last_done:
            self.report()


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
    """A rich progress bar on a terminal; plain lines every :data:`PLAIN_INTERVAL` seconds
    (and one at the end) where stdout is not a terminal; nothing when ``quiet``.

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
    if quiet:
        yield lambda n=1, completed=None, **values: None
        return
    if not sys.stdout.isatty():
        plain = PlainProgress(label, total, unit=unit, metrics=metrics, completed=completed)
        yield plain
        plain.finish()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
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
        SpinnerColumn(),  # moves before the first unit is done: the work has started
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
