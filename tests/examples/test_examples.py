"""Every example runs, with tiny settings, so examples cannot rot."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("[0-9]*.py"))
TINY_ARGS = {
    "01_core_rollout.py": ["--size", "8", "--steps", "4"],
    "02_custom_rule.py": ["--iterations", "3"],
    "03_probe_and_analyze.py": ["--tiny", "--out", "{tmp}/out"],
    "04_custom_dataset.py": ["--iterations", "3"],
    "05_minimal_task.py": ["--iterations", "3", "--run-dir", "{tmp}/copy"],
}


def test_examples_exist():
    assert EXAMPLES


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in TINY_ARGS.get(script.name, [])]
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
