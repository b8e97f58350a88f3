"""A warning during a command prints as one line, ``warning: MESSAGE``, not Python's
file-and-source-line format (which reads like a crash); ``--debug`` keeps Python's."""

from __future__ import annotations

import warnings

import pytest
from click.testing import CliRunner

from nca.cli import cli


@pytest.fixture
def warning_task(toy_task, monkeypatch):
    original = toy_task.train_data

    def train_data(self, run):
        said = "eval_subset=5000 but toy has 8 images here: all 8 are used"
        warnings.warn(said, UserWarning, stacklevel=1)
        warnings.warn("an old name", DeprecationWarning, stacklevel=1)
        return original(self, run)

    monkeypatch.setattr(toy_task, "train_data", train_data)
    with warnings.catch_warnings():  # the command's hook is undone with the test
        warnings.simplefilter("always")
        yield toy_task


@pytest.mark.parametrize("debug", [False, True])
def test_warnings_print_as_one_line(warning_task, tmp_path, monkeypatch, debug):
    monkeypatch.setenv("NCA_DEBUG", "")  # recorded, so teardown undoes what --debug sets
    monkeypatch.delenv("NCA_DEBUG")
    args = ["--debug"] if debug else []
    args += ["train", "-t", "toy", "-r", "convca:tiny", "--iterations", "1", "--device", "cpu"]
    result = CliRunner().invoke(cli, [*args, "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    said = "warning: eval_subset=5000 but toy has 8 images here: all 8 are used"
    if debug:
        assert said not in lines  # left to Python's (here pytest's) warning machinery
    else:
        assert said in lines, result.output
        assert "warning: DeprecationWarning: an old name" in lines, result.output
        assert not any(".py:" in line for line in lines), result.output
