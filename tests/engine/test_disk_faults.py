"""A full disk and a read-only run directory, on a small tmpfs mounted for the test
(skipped where mounting is not allowed): one line naming the problem, nothing earlier lost."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from nca import load_checkpoint
from nca.cli import cli


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()[:80]})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _train_args(run_dir: Path) -> list[str]:
    return [
        *("train", "--rule", "convca:tiny", "--task", "toy", "--iterations", "12"),
        *("-o", "checkpoint_every=5", "--device", "cpu", "-q", "--run-dir", str(run_dir)),
    ]


def _train(run_dir: Path, *extra: str):
    return CliRunner().invoke(cli, [*_train_args(run_dir), *extra])


def _fill(folder: Path) -> None:
    with (folder / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def test_a_full_disk_is_named_and_the_last_checkpoint_survives(toy_task, small_disk):
    run_dir = small_disk / "run"
    first = _train(run_dir, "--stop-after", "5")
    assert first.exit_code == 0, first.output
    log_before = (run_dir / "metrics.jsonl").read_text()
    _fill(small_disk)
    result = _train(run_dir, "--resume")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "disk is full" in errors[0], result.stderr
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["iteration"] == 5
    assert (run_dir / "metrics.jsonl").read_text().startswith(log_before)
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))  # no half-written file left


def test_a_read_only_run_directory_is_named_by_train_and_eval(toy_task, small_disk):
    run_dir = small_disk / "run"
    assert _train(run_dir).exit_code == 0
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    remount = ["mount", "-o", "remount,ro", str(small_disk)]
    assert subprocess.run(remount, capture_output=True).returncode == 0
    runner = CliRunner()
    commands = {
        "train": [*_train_args(run_dir), "--resume"],
        "eval": ["eval", str(run_dir), "--device", "cpu", "-q"],
    }
    for name, args in commands.items():
        result = runner.invoke(cli, args)
        assert result.exit_code != 0, (name, result.output)
        assert "Traceback" not in result.output, name
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, (name, result.stderr)
        assert "not writable" in errors[0] or "cannot write" in errors[0], (name, errors)
        assert "Read-only" in errors[0] or "read-only" in errors[0], (name, errors)
    after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before  # nothing lost, nothing changed
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "evaluation"


def test_analyze_and_probe_on_a_read_only_run(small_disk, tmp_path):
    """analyze fails before the work, naming --out; a probe of a read-only source run
    works, without its feature cache, and says so."""
    run_dir = small_disk / "vitca"
    args = [
        *("train", "--rule", "vitca", "--task", "denoise", "--preset", "quick"),
        *("--image-size", "8", "--iterations", "2", "--batch-size", "4", "--eval-subset", "4"),
        *("--eval-steps", "2", "-o", "pool_size=8", "-o", "rule.embed_dim=16"),
        *("-o", "rule.heads=2", "-o", "rule.hidden_channels=4", "--device", "cpu", "-q"),
        *("--run-dir", str(run_dir)),
    ]
    runner = CliRunner()
    assert runner.invoke(cli, args).exit_code == 0
    remount = ["mount", "-o", "remount,ro", str(small_disk)]
    assert subprocess.run(remount, capture_output=True).returncode == 0
    analyzed = runner.invoke(cli, ["analyze", "damage", str(run_dir), "-o", "steps=8"])
    assert analyzed.exit_code != 0 and "Traceback" not in analyzed.output
    message = analyzed.stderr
    assert "cannot write" in message and "Read-only file system" in message  # before any work
    assert "--out DIR" in message and "\n" not in message.strip()
    elsewhere = tmp_path / "analysis"
    ok = runner.invoke(
        cli,
        [
            "analyze",
            "damage",
            str(run_dir),
            "--out",
            str(elsewhere),
            "-o",
            "steps=8",
            "-o",
            "damage_at=2,4",
        ],
    )
    assert ok.exit_code == 0, ok.output
    probe = runner.invoke(
        cli,
        [
            *("train", "--task", "probe", "--from", str(run_dir), "--train-subset", "40"),
            *("--eval-subset", "20", "--epochs", "1", "--device", "cpu", "-q"),
            *("--run-dir", str(tmp_path / "probe")),
        ],
    )
    assert probe.exit_code == 0, probe.output
    assert "computed without caching" in " ".join(probe.output.split())
    assert (tmp_path / "probe" / "probe.json").is_file()
