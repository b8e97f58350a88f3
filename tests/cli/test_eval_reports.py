"""``nca eval``: every report names the checkpoint file and iteration it scored, and a run
is evaluated by its own task."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nca import create_rule, save_checkpoint
from nca.cli import cli
from nca.config import config_to_dict

ECA = ["--task", "eca", "--rule", "convca", "-o", "width=16", "-o", "rule.hidden_channels=4",
       "-o", "rule.mlp_channels=16", "--device", "cpu", "--quiet"]  # fmt: skip


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    return CliRunner()


def _new_report(run_dir, before: set) -> dict:
    (path,) = set(run_dir.glob("eval-*.json")) - before
    return json.loads(path.read_text())


def test_a_report_of_a_run_still_training_names_its_checkpoint_and_iteration(runner, tmp_path):
    run_dir = tmp_path / "eca"
    train = ["train", *ECA, "--iterations", "4", "--run-dir", str(run_dir)]
    assert runner.invoke(cli, [*train, "--stop-after", "2"]).exit_code == 0  # half trained
    result = runner.invoke(cli, ["eval", str(run_dir)])
    assert result.exit_code == 0, result.output
    report = _new_report(run_dir, set())
    last = str(run_dir / "checkpoints" / "last.pt")
    assert report["checkpoint"] == {"file": last, "iteration": 2, "iterations": None}
    # finished: the evaluation at the end of training names last.pt at iteration 4 of 4
    assert runner.invoke(cli, [*train, "--resume"]).exit_code == 0
    at_end = json.loads((run_dir / "eval.json").read_text())
    assert at_end["checkpoint"] == {"file": last, "iteration": 4, "iterations": 4}
    before = set(run_dir.glob("eval-*.json"))
    assert runner.invoke(cli, ["eval", str(run_dir)]).exit_code == 0
    assert _new_report(run_dir, before)["checkpoint"]["iteration"] == 4


def test_eval_with_another_task_names_the_task_the_run_was_trained_on(runner, tmp_path):
    run_dir = tmp_path / "eca"
    assert runner.invoke(cli, ["train", *ECA, "--iterations", "1", "--run-dir", str(run_dir)]
                         ).exit_code == 0  # fmt: skip
    for extra in ([], ["-o", "eval_subset=4"]):  # an option of the other task, too
        result = runner.invoke(cli, ["eval", str(run_dir), "--task", "denoise", *extra])
        assert result.exit_code == 1, result.output
        line = result.output.strip().splitlines()[-1]
        assert line == (
            f"Error: {run_dir / 'checkpoints' / 'last.pt'} was trained on task 'eca', not "
            f"'denoise': a run is evaluated by its own task (leave out --task)"
        )
    assert not list(run_dir.glob("eval-*.json"))


def _denoise_source(root, iteration: int):
    """A denoise checkpoint of a small random convca, as a run still training writes it."""
    rule = create_rule("convca:tiny", image_channels=1)
    save_checkpoint(root / "checkpoints" / "last.pt", {
        "rule": {"name": "convca", "config": config_to_dict(rule.config)},
        "task": {"name": "denoise", "config": {"image_size": 8, "eval_steps": 2,
                                               "dataset": "embedded-mnist", "lpips": "off"}},
        "model": rule.state_dict(),
        "iteration": iteration,
    })  # fmt: skip
    return root


def test_denoise_and_probe_reports_name_their_checkpoints(runner, tmp_path):
    source = _denoise_source(tmp_path / "denoise", iteration=7)
    result = runner.invoke(cli, ["eval", str(source), "-o", "eval_subset=4"])
    assert result.exit_code == 0, result.output
    report = _new_report(source, set())
    assert report["checkpoint"]["iteration"] == 7
    assert report["checkpoint"]["file"] == str(source / "checkpoints" / "last.pt")

    probe = tmp_path / "probe"
    train = ["train", "--task", "probe", "--from", str(source), "--train-subset", "8",
             "--eval-subset", "4", "--epochs", "1", "-o", "feature_steps=2", "--run-dir",
             str(probe), "--device", "cpu", "-q"]  # fmt: skip
    assert runner.invoke(cli, train).exit_code == 0
    at_end = json.loads((probe / "probe.json").read_text())
    assert at_end["checkpoint"]["file"] == str(probe / "checkpoints" / "last.pt")
    assert at_end["checkpoint"]["iteration"] == at_end["checkpoint"]["iterations"] > 0
    assert at_end["source_iteration"] == 7  # the probed run's iteration, too
    assert runner.invoke(cli, ["eval", str(probe)]).exit_code == 0
    again = _new_report(probe, set())
    assert again["checkpoint"]["iteration"] == at_end["checkpoint"]["iteration"]
