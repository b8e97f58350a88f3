"""The README's quick start, for real (about 4 minutes on 2 cores: marked slow)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_start_denoises(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "nca",
        "train",
        "--rule",
        "vitca",
        "--task",
        "denoise",
        "--run-dir",
        str(run_dir),
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "using denoise's 'quick' preset" in proc.stdout
    row = json.loads((run_dir / "eval.json").read_text())["rows"]["1x1/50%"]
    assert row["psnr"] >= row["input_psnr"] + 4.0, row
