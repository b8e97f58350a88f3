"""``nca export RUN --format onnx`` on a tiny trained run."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from nca.cli import cli

pytest.importorskip("onnxruntime", reason="onnxruntime not installed ([export] extra)")
pytest.importorskip("onnxscript", reason="onnxscript not installed ([export] extra)")


def test_export_a_trained_run_then_refuse_to_overwrite(monkeypatch, toy_task, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    run_dir = tmp_path / "run"
    train = ["train", "--rule", "convca:tiny", "--task", "toy", "--iterations", "3",
             "-o", "rule.mlp_channels=8", "--run-dir", str(run_dir), "--device", "cpu",
             "--quiet"]  # fmt: skip
    assert runner.invoke(cli, train).exit_code == 0

    result = runner.invoke(cli, ["export", str(run_dir), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    path = run_dir / "export" / "step-last.onnx"
    assert path.is_file()
    assert "exporter: dynamo" in result.output
    assert "cells ('batch', 6, 8, 8)" in result.output  # the toy task's 8x8 images
    assert "check (ok)" in result.output and "32 step(s): max |error|" in result.output
    assert "[torch.onnx]" not in result.output  # the exporter's progress is swallowed

    again = runner.invoke(cli, ["export", str(run_dir), "--format", "onnx"])
    assert again.exit_code == 1
    assert f"{path} exists; pass another --out" in again.output

    other = tmp_path / "wide.onnx"
    sized = ["export", str(run_dir), "--format", "onnx", "--out", str(other), "--width", "12",
             "--no-check"]  # fmt: skip
    wide = runner.invoke(cli, sized)
    assert wide.exit_code == 0, wide.output
    assert "cells ('batch', 6, 8, 12)" in wide.output and "check" not in wide.output
    assert "Traceback" not in again.output + wide.output


def test_a_feed_forward_run_is_refused_in_one_line(monkeypatch, toy_task, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    run_dir = tmp_path / "unet"
    train = ["train", "--rule", "unet", "--task", "toy", "--iterations", "1", "-o",
             "rule.features=4", "--run-dir", str(run_dir), "--device", "cpu",
             "--quiet"]  # fmt: skip
    assert runner.invoke(cli, train).exit_code == 0
    result = runner.invoke(cli, ["export", str(run_dir), "--format", "onnx", "--no-check"])
    assert result.exit_code == 1
    assert "Error: rule 'unet' cannot be exported as a CA step: it is a feed-forward" in (
        result.output
    )
    assert len(result.output.strip().splitlines()) == 1
    assert not (run_dir / "export").exists()


def _toy_run(runner, tmp_path):
    run_dir = tmp_path / "run"
    train = ["train", "--rule", "convca:tiny", "--task", "toy", "--iterations", "1",
             "-o", "rule.mlp_channels=8", "--run-dir", str(run_dir), "--device", "cpu",
             "--quiet"]  # fmt: skip
    assert runner.invoke(cli, train).exit_code == 0
    return run_dir


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output  # a ClickException, not a crash
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_grid_that_cannot_fit_in_memory_is_refused_before_allocating(
    monkeypatch, toy_task, tmp_path
):
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    run_dir = _toy_run(runner, tmp_path)
    # 10^6 x 10^6 cells of 6 float32 channels, twice: 48 TB; no machine holds it
    args = ["export", str(run_dir), "--format", "onnx", "--height", "1000000", "--width",
            "1000000", "--no-check"]  # fmt: skip
    line = _one_line_error(runner.invoke(cli, args))
    assert "exporting a step on a 1000000x1000000-pixel grid needs at least" in line
    assert "choose a smaller grid" in line and "does not export" not in line
    assert not list((run_dir / "export").glob("*"))


@pytest.mark.parametrize("where", ["proc", "under-a-file"])
def test_an_unwritable_out_names_the_path_and_why(monkeypatch, toy_task, tmp_path, where):
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    run_dir = _toy_run(runner, tmp_path)
    if where == "proc":
        if not __import__("os").path.isdir("/proc"):
            pytest.skip("no /proc on this system")
        out, reason = "/proc/x.onnx", "cannot write /proc/x.onnx: /proc takes no new files"
    else:
        out = str(run_dir / "config.json" / "x.onnx")
        reason = f"cannot write {out}: {run_dir / 'config.json'} is a file, not a folder"
    args = ["export", str(run_dir), "--format", "onnx", "--out", out, "--no-check"]
    line = _one_line_error(runner.invoke(cli, args))
    assert reason in line, line
    assert "does not export" not in line and "File exists" not in line


def test_a_probe_run_is_refused_naming_what_can_be_exported(monkeypatch, tmp_path):
    from nca.checkpoint import save_checkpoint

    monkeypatch.setenv("COLUMNS", "300")
    # what a probe run stores: its task (with the probed run) and a linear classifier
    checkpoint = tmp_path / "probe" / "checkpoints" / "last.pt"
    probed = str(tmp_path / "denoise-run")
    save_checkpoint(checkpoint, {"task": {"name": "probe", "config": {"source": probed}},
                                 "model": {"weight": torch.zeros(10, 4)}})  # fmt: skip
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "probe"), "--format", "onnx"])
    line = _one_line_error(result)
    assert "is a probe run (a linear classifier on frozen features)" in line
    assert f"export the model it probes: nca export {probed} --format onnx" in line
    assert "NoneType" not in result.output
