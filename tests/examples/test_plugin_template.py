"""examples/plugin-template: installed as a real package, discovered, tested, trained."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pip_install_target

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "plugin-template"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    site = pip_install_target(TEMPLATE, tmp_path_factory.mktemp("template-site"))
    return dict(os.environ, PYTHONPATH=str(site), COLUMNS="200")


def test_template_tests_pass(installed):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TEMPLATE / "tests")],
        capture_output=True,
        text=True,
        env=installed,
        cwd=TEMPLATE,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_template_rule_trains_through_the_cli(installed, tmp_path):
    listing = subprocess.run(
        [sys.executable, "-m", "nca", "list"], capture_output=True, text=True, env=installed
    )
    assert "gradient-ca" in listing.stdout and "nca-gradient-rule 0.1.0" in listing.stdout
    cmd = [
        sys.executable,
        "-m",
        "nca",
        "train",
        "--rule",
        "gradient-ca:small",
        "--task",
        "denoise",
        "--preset",
        "quick",
        "--image-size",
        "8",
        "--iterations",
        "3",
        "--batch-size",
        "4",
        "--eval-subset",
        "8",
        "--eval-steps",
        "2",
        "-o",
        "steps_min=2",
        "-o",
        "steps_max=2",
        "--run-dir",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        "-q",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=installed)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "run" / "eval.json").is_file()
