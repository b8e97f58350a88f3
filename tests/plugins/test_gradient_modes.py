"""Every gradient mode (bptt, checkpoint, fixed-point) trains every task that offers
it, from Python and from the CLI; texture refuses fixed-point in one line."""

import itertools
import json

import pytest
import torch
from click.testing import CliRunner

from nca import GRADIENT_MODES, RunContext, RunLog, Trainer, create_rule, create_task
from nca.cli import cli
from tests.plugins.test_every_rule_every_task import SMALL_TASKS

TASKS = {
    "denoise": dict(dataset="embedded-mnist", image_size=8, batch_size=2, pool_size=4,
                    steps_min=2, steps_max=3, train_subset=16, eval_subset=4,
                    validation_size=2),
    "grow": SMALL_TASKS["grow"],
    "classify": SMALL_TASKS["classify"],
}  # fmt: skip


@pytest.mark.parametrize("gradient", GRADIENT_MODES)
@pytest.mark.parametrize("task_name", list(TASKS))
def test_every_gradient_mode_trains(tmp_path, task_name, gradient):
    task = create_task(
        task_name, **TASKS[task_name], iterations=2, log_every=1, validate_every=100,
        checkpoint_every=100, gradient=gradient, **{"fixed_point": {"max_steps": 6}},
    )  # fmt: skip
    torch.manual_seed(0)
    fields = {"hidden_channels", "mlp_channels", "perception_channels", "image_channels",
              "input_channels", "padding"}  # fmt: skip
    rule = create_rule("convca", hidden_channels=3, mlp_channels=8, **task.rule_settings(fields))
    before = [p.detach().clone() for p in rule.parameters()]
    trainer = Trainer(task, rule, RunContext(tmp_path, seed=0, quiet=True))
    trainer.fit(RunLog(tmp_path, tensorboard=False))
    assert any(not torch.equal(a, b) for a, b in zip(before, rule.parameters(), strict=True))
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert len(train) == 2
    if gradient == "fixed-point":
        assert all(1 <= r["fp_forward_steps"] <= 6 for r in train)
        assert all(r["fp_fallback"] in (0.0, 1.0) for r in train)
        totals = [r["fp_fallbacks_total"] for r in train]  # on every row, a running count
        assert totals == list(itertools.accumulate(r["fp_fallback"] for r in train))
    else:
        assert not any(key.startswith("fp_") for key in train[0])


def test_the_fallback_count_survives_a_resume(tmp_path):
    """A zero-initialised rule falls back on its first iterations (``I − J = 0``)."""

    def train(iterations, resume):
        task = create_task("denoise", **TASKS["denoise"], iterations=iterations, log_every=1,
                           validate_every=100, checkpoint_every=1, gradient="fixed-point",
                           fixed_point={"max_steps": 4})  # fmt: skip
        rule = create_rule("convca", hidden_channels=3, mlp_channels=8,
                           **task.rule_settings({"hidden_channels", "mlp_channels",
                                                 "image_channels", "input_channels"}))  # fmt: skip
        trainer = Trainer(task, rule, RunContext(tmp_path, seed=0, quiet=True))
        if resume:
            trainer.load(tmp_path / "checkpoints" / "last.pt")
        trainer.fit(RunLog(tmp_path, tensorboard=False))

    train(2, resume=False)
    train(3, resume=True)
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rows = {r["step"]: r for r in records if r["kind"] == "train"}
    assert sorted(rows) == [1, 2, 3]
    assert rows[3]["fp_fallbacks_total"] == sum(rows[s]["fp_fallback"] for s in (1, 2, 3)) > 2


def test_texture_refuses_fixed_point_in_one_line():
    task = create_task("texture", gradient="fixed-point")
    with pytest.raises(ValueError) as refused:
        task.validate()
    assert "gradient=fixed-point" in str(refused.value) and "\n" not in str(refused.value)


def test_cli_selects_the_mode_and_its_settings(tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", "--rule", "convca", "--task", "grow", "--gradient", "fixed-point",
            "-o", "fixed_point.max_steps=5", "-o", "fixed_point.backward=phantom",
            "-o", "target_size=8", "-o", "target_padding=2", "-o", "batch_size=2",
            "-o", "damage_count=1", "-o", "pool_size=4", "-o", "iterations=2",
            "-o", "steps_min=3", "-o", "steps_max=4",
            "-o", "validate_every=100", "-o", "log_every=1", "-o", "rule.hidden_channels=3",
            "-o", "rule.mlp_channels=8",
            "--run-dir", str(run_dir), "--device", "cpu", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    config = json.loads((run_dir / "config.json").read_text())
    task = config["task"]["config"]
    assert task["gradient"] == "fixed-point"
    assert task["fixed_point"]["max_steps"] == 5 and task["fixed_point"]["backward"] == "phantom"
    train = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["fp_forward_steps"] <= 5 for r in train if r["kind"] == "train"] == [True, True]


@pytest.mark.parametrize(
    "override, message",
    [("fixed_point.tol=-1", "fixed_point.tol must be a positive number, got -1.0"),
     ("fixed_point.solver=broyden", "'broyden' is not one of"),
     ("fixed_point.bogus=1", "unknown option 'bogus'"),
     ("gradient=ift", "'ift' is not one of")],
)  # fmt: skip
def test_cli_names_a_bad_gradient_setting(tmp_path, override, message):
    args = ["train", "--rule", "convca", "--task", "grow", "-o", override,
            "--run-dir", str(tmp_path / "run"), "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_compile_option_trains_like_eager(tmp_path):
    from tests.core.test_compiled import UNAVAILABLE

    if UNAVAILABLE:
        pytest.skip(UNAVAILABLE)
    losses = {}
    for compiled in (False, True):
        task = create_task("grow", **SMALL_TASKS["grow"], iterations=2, log_every=1,
                           validate_every=100, checkpoint_every=100, compile=compiled)  # fmt: skip
        torch.manual_seed(0)
        settings = task.rule_settings({"hidden_channels", "image_channels", "input_channels"})
        rule = create_rule("convca", hidden_channels=3, mlp_channels=8, **settings)
        run_dir = tmp_path / str(compiled)
        trainer = Trainer(task, rule, RunContext(run_dir, seed=0, quiet=True))
        trainer.fit(RunLog(run_dir, tensorboard=False))
        step = trainer.model.automaton.__dict__.get("_compiled")
        assert (step is not None and step.active) == compiled
        records = (run_dir / "metrics.jsonl").read_text().splitlines()
        losses[compiled] = [json.loads(r)["loss"] for r in records if '"train"' in r]
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)
