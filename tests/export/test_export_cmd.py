"""``nca export RUN --format onnx`` on a tiny trained run."""

from __future__ import annotations

import pytest
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
