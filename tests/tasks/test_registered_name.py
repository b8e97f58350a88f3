"""The name a task is registered under is the one name it has: checkpoints record it,
``nca eval`` and the Python API find the task by it."""

import pytest
from click.testing import CliRunner

from nca import create_task, evaluate_checkpoint, load_checkpoint, load_run, register_task
from nca.cli import cli
from nca.engine import RunContext
from nca.tasks import TASKS

SMALL_GROW = [
    *("target_size=8", "target_padding=2", "batch_size=4", "pool_size=8", "damage_count=1"),
    *("steps_min=3", "steps_max=4", "eval_repeats=1", "iterations=1"),
]


@pytest.fixture
def grow_alias():
    from nca_grow import GrowTask

    register_task(GrowTask, name="grow-alias")
    yield "grow-alias"
    TASKS.unregister("grow-alias")


def test_a_task_registered_under_another_name_trains_then_evaluates(tmp_path, grow_alias):
    run_dir = tmp_path / "run"
    options = [a for o in SMALL_GROW for a in ("-o", o)]
    args = ["train", "--task", grow_alias, "--rule", "convca", "--run-dir", str(run_dir)]
    trained = CliRunner().invoke(cli, [*args, "--device", "cpu", "--quiet", *options])
    assert trained.exit_code == 0, trained.output
    checkpoint = run_dir / "checkpoints" / "last.pt"
    assert load_checkpoint(checkpoint)["task"]["name"] == grow_alias
    evaluated = CliRunner().invoke(cli, ["eval", str(run_dir), "--device", "cpu", "--quiet"])
    assert evaluated.exit_code == 0, evaluated.output
    task = create_task(grow_alias, **load_checkpoint(checkpoint)["task"]["config"])
    assert task.name == grow_alias
    metrics = evaluate_checkpoint(task, checkpoint, RunContext(tmp_path / "eval", quiet=True))
    assert "psnr_T" in metrics
    assert load_run(run_dir).task.name == grow_alias


def test_evaluating_with_another_task_is_refused_in_one_line(tmp_path, grow_alias):
    run_dir = tmp_path / "run"
    options = [a for o in SMALL_GROW for a in ("-o", o)]
    args = ["train", "--task", grow_alias, "--rule", "convca", "--run-dir", str(run_dir)]
    assert CliRunner().invoke(cli, [*args, "--device", "cpu", "-q", *options]).exit_code == 0
    other = CliRunner().invoke(cli, ["eval", str(run_dir), "--task", "grow", "--device", "cpu"])
    assert other.exit_code != 0
    assert "trained on task 'grow-alias', not 'grow'" in other.output
