"""What a run directory already holds: a run is never trained over without --resume,
a resume keeps the run's settings (from config.json, else from its checkpoint), and an
unreadable config.json is named in one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nca.cli import cli
from nca.run_log import RunLog

BASE = ["train", "-r", "convca:tiny", "-t", "toy", "--iterations", "2", "--device", "cpu"]


@pytest.fixture
def trained(toy_task, tmp_path):
    """A finished toy run; returns its directory."""
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, [*BASE, "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    return run_dir


def train(run_dir, *extra):
    return CliRunner().invoke(cli, [*BASE, "--run-dir", str(run_dir), *extra])


def one_error(result) -> str:
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ("[1, 2]", "it holds a list, not the record of a run"),
        ('"a run"', "it holds a str"),
        ("", "it is empty"),
        ('{"rule": {"name": "convca:tiny", "con', "it is not valid JSON (cut short or edited"),
        ('{"rule": "convca", "task": null, "seed": 0}', "its 'rule' entry is not a table"),
        ('{"rule": null, "task": null, "seed": "0"}', "its seed is '0', not an integer"),
    ],
)
def test_an_unreadable_config_json_is_named_on_resume(trained, contents, message):
    (trained / "config.json").write_text(contents)
    error = one_error(train(trained, "--resume"))
    assert str(trained / "config.json") in error and message in error


def test_without_config_json_a_new_run_does_not_overwrite_the_checkpoint(trained):
    (trained / "config.json").unlink()
    kept = (trained / "checkpoints" / "last.pt").read_bytes()
    metrics = (trained / "metrics.jsonl").read_text()
    error = one_error(train(trained))
    assert "already holds a run; pass --resume" in error and "checkpoints/last.pt" in error
    assert (trained / "checkpoints" / "last.pt").read_bytes() == kept
    assert (trained / "metrics.jsonl").read_text() == metrics


def test_without_config_json_a_resume_checks_the_checkpoints_settings(trained):
    (trained / "config.json").unlink()
    error = one_error(train(trained, "--resume", "-o", "lr=0.5"))
    assert "changed: task.lr" in error and "stored in checkpoints/last.pt" in error
    seed = one_error(train(trained, "--resume", "--seed", "3"))
    assert "changed: seed" in seed
    same = train(trained, "--resume")
    assert same.exit_code == 0, same.output
    assert "config.json was missing" in " ".join(same.output.split())
    assert json.loads((trained / "config.json").read_text())["seed"] == 0


def test_a_metrics_log_alone_marks_a_run(toy_task, tmp_path):
    run_dir = tmp_path / "run"
    RunLog(run_dir, tensorboard=False).write(1, {"loss": 1.0})
    assert "already holds a run" in one_error(train(run_dir))


def test_a_resume_without_a_checkpoint_replaces_the_records_of_the_attempt(trained):
    for path in (trained / "checkpoints").glob("*.pt"):
        path.unlink()
    resumed = train(trained, "--resume")
    assert resumed.exit_code == 0, resumed.output
    steps = [r["step"] for r in RunLog(trained, tensorboard=False).read() if r["kind"] == "train"]
    assert steps == sorted(set(steps)), steps  # no second "step 1"


def test_a_damaged_checkpoint_is_named_on_resume_and_eval(trained):
    from nca.checkpoint import load_checkpoint
    from tests.test_checkpoint import flip_a_bit

    last = trained / "checkpoints" / "last.pt"
    weight = max(load_checkpoint(last)["model"].values(), key=lambda t: t.numel())
    flip_a_bit(last, weight)
    for args in ([*BASE, "--run-dir", str(trained), "--resume"], ["eval", str(trained)]):
        error = one_error(CliRunner().invoke(cli, args))
        assert f"{last} is damaged" in error, args
