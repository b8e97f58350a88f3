"""The progress tasks share: a bar on terminals, plain lines at an interval on files and
pipes, nothing when quiet."""

import io

from rich.console import Console

from nca import progress_bar
from nca.progress import PlainProgress


def test_quiet_draws_nothing(capsys):
    with progress_bar("work", 3, quiet=True) as advance:
        advance(2, loss=1.0)
    assert capsys.readouterr().out == ""


def test_a_file_or_pipe_gets_a_final_plain_line(capsys):
    with progress_bar("work", 3, metrics=("loss",)) as advance:  # pytest's stdout: no tty
        advance(completed=3, loss=0.5)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "work 3/3 (100%) loss 0.5 |" in out


def test_plain_lines_come_at_the_interval_with_rate_and_eta():
    now = [0.0]
    lines = []
    plain = PlainProgress("training", 1000, metrics=("loss",), completed=100,
                          write=lines.append, interval=30, clock=lambda: now[0])  # fmt: skip
    for i in range(101, 401):  # 10 iterations per second: no line before 30 s
        now[0] = (i - 100) / 10
        plain(completed=i, loss=1 / i)
        if now[0] < 30:
            assert lines == []
    assert len(lines) == 1  # at 30 s
    assert lines[0].startswith("training 400/1000 (40%) loss 0.0025 | 10.00 it/s | 0:30 elapsed")
    assert lines[0].endswith("ETA 1:00")  # 600 left at 10/s
    now[0] = 3700.0
    plain(completed=1000)
    assert lines[-1].endswith("| 0.16 it/s | 1:01:40 elapsed")  # done: no ETA
    plain.finish()
    assert len(lines) == 2  # nothing new since the last line


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
