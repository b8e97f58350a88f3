"""Metric tables: the title on one line, whatever the table's width."""

import io

from rich.console import Console

from nca.engine.report import metrics_table


def test_a_long_title_is_not_wrapped_to_the_narrow_table():
    title = "final metrics of denoise-vitca-20261204-063706 (eval_*: the final evaluation)"
    buffer = io.StringIO()
    Console(file=buffer, width=100).print(metrics_table(title, {"psnr": 16.4, "count": 3}))
    lines = buffer.getvalue().splitlines()
    assert lines[0] == title  # a table title would wrap into 3-4 lines of the table's width
    assert any("16.4000" in line for line in lines) and any(" 3 " in line for line in lines)
