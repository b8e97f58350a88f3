"""An evaluation's report: a table on the console and a JSON file next to the run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nca.engine.run import RunContext


def metrics_table(title: str, metrics: Mapping[str, Any], number_format: str = ".4f"):
    """A rich renderable: ``title`` on a line of its own (a table's title would wrap to the
    narrow table's width), then a metric / value table."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table()
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, format(value, number_format) if isinstance(value, float) else str(value))
    return Group(Text(title, style="bold"), table)


def write_report(
    run: RunContext,
    title: str,
    metrics: Mapping[str, float],
    *,
    details: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    number_format: str = ".3f",
    filename: str = "eval.json",
) -> Path | None:
    """Print ``metrics`` as a table (main rank) and write them, after the checkpoint
    evaluated (:meth:`RunContext.report_header`) and ``details`` and before ``extra``, to
    ``run.report_path(filename)``.

    Args:
        run: The run (its main rank writes; ``run.report`` overrides the file).
        title: The table's title.
        metrics: Metric name -> value.
        details: What the numbers were measured on (written before them, not shown).
        extra: Written after them, not shown (e.g. per-step curves).
        number_format: Format spec of the values in the table (``.3f``, ``.4g``).
        filename: The report's name in the run directory.

    Returns:
        The report's path (main rank), else ``None``.
    """
    from rich.console import Console

    Console(quiet=not run.is_main, highlight=False).print(
        metrics_table(title, metrics, number_format)
    )
    if not run.is_main:
        return None
    path = run.report_path(filename)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {**run.report_header(), **(details or {}), **metrics, **(extra or {})}
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
