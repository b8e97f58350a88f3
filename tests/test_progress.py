"""The progress bar tasks share: drawn on terminals, silent otherwise."""

import io

from rich.console import Console

from nca import progress_bar


def test_quiet_or_non_terminal_draws_nothing(capsys):
    with progress_bar("work", 3, quiet=True) as advance:
        advance(2, loss=1.0)
    with progress_bar("work", 3) as advance:  # pytest's stdout is not a terminal
        advance(completed=3)
    assert capsys.readouterr().out == ""


def test_terminal_bar_shows_count_metrics_and_resume(monkeypatch):
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    with progress_bar(
        "training", 10, console=console, metrics=("loss",), completed=4, unit="images"
    ) as advance:
        advance(completed=7, loss=0.25)
        advance(1, loss=0.125)
    text = buffer.getvalue()
    assert "training" in text and "8/10" in text and "loss 0.125" in text and "images/s" in text
