"""Every registered rule on every task, through both real entry points: ``nca.launch``
(the Python API) and ``nca train`` (the CLI). A rule a task can train trains for one
iteration, is evaluated and re-evaluated by ``nca eval``; one it cannot train is refused
in one line, before a run directory exists. Nothing here rebuilds a rule config by hand:
the task's settings must come from the one resolution path both entry points share."""

import json

import pytest
from click.testing import CliRunner

from nca import create_task, get_rule_class, launch, list_rules, load_checkpoint
from nca.cli import cli
from tests.conftest import SMALL_RULE

ENGINE = dict(iterations=1, log_every=1, validate_every=1, checkpoint_every=1)
#: Small settings of each task (the evaluation included).
SMALL_TASKS = {
    "grow": dict(target_size=8, target_padding=2, batch_size=4, pool_size=8, damage_count=1,
                 steps_min=3, steps_max=4, eval_repeats=1),
    "classify": dict(batch_size=4, pool_size=8, steps=3, image_size=16, validation_size=4,
                     eval_count=4, eval_steps=2, eval_batch_size=4),
    "texture": dict(target_size=16, grid_size=16, batch_size=2, pool_size=4, steps_min=2,
                    steps_max=3, eval_size=16, eval_steps=3),
    "denoise": dict(image_size=8, batch_size=4, steps_min=2, steps_max=3, eval_steps=2,
                    pool_size=8, eval_subset=2, validation_size=2, eval_batch_size=2,
                    lpips="off"),
    "eca": dict(width=8, batch_size=4, generations_max=2, eval_rows=4, eval_generations=2,
                validation_rows=4),
    "grow-3d": dict(target="snowman", target_size=4, target_padding=2, batch_size=4,
                    pool_size=8, damage_count=1, steps_min=2, steps_max=3, eval_repeats=1),
}  # fmt: skip
#: Cases that are a registered task with settings of another grid dimension.
TASK_OF = {"grow-3d": "grow"}
#: What the task decides of a CA rule's layout: (input channels, output channels).
CHANNELS = {"grow": (0, 4), "classify": (1, 10), "texture": (0, 3), "denoise": (1, 1),
            "eca": (0, 1), "grow-3d": (0, 4)}  # fmt: skip
CASES = [(task, rule) for task in SMALL_TASKS for rule in list_rules()]


def _small_rule(rule_name: str) -> dict:
    fields = set(get_rule_class(rule_name).config_class.__dataclass_fields__)
    return {k: v for k, v in SMALL_RULE.items() if k in fields}


def _task(case: str, **values):
    """The registered task of ``case`` with its small settings (and ``values``)."""
    return create_task(TASK_OF.get(case, case), **SMALL_TASKS[case], **values)


def _trainable(case: str, rule_name: str) -> bool:
    """The rule's kind is one the task trains and it serves the task's grid dimension."""
    cls, task = get_rule_class(rule_name), _task(case)
    return cls.kind in task.rule_kinds and task.rule_needs().dims in cls.dimensions


def _task_values(case: str, random_vgg: str) -> dict:
    extra = {"vgg_weights": random_vgg} if case == "texture" else {}
    return {**SMALL_TASKS[case], **ENGINE, **extra}


def _check_trained(run_dir, case: str, rule_name: str, metrics: dict) -> None:
    """The run recorded the task's name and the rule config the task decided, and its
    final evaluation ran."""
    assert any(key.startswith("eval_") for key in metrics), metrics
    stored = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    task_name = TASK_OF.get(case, case)
    assert stored["task"]["name"] == task_name and stored["iteration"] == 1
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"]["name"] == task_name and config["rule"]["name"] == rule_name
    rule_config = config["rule"]["config"]
    inputs, outputs = CHANNELS[case]
    assert rule_config["image_channels"] == outputs
    if "input_channels" in rule_config and inputs != outputs:
        assert rule_config["input_channels"] == inputs


def _check_refused(message: str, run_dir, case: str, rule_name: str) -> None:
    cls, task_name = get_rule_class(rule_name), TASK_OF.get(case, case)
    assert f"task {task_name!r} cannot train {cls.kind} rule {rule_name!r}: it " in message
    assert "it trains ca rules only" in message or "-D grids, the task's grids are" in message
    assert "\n" not in message.strip() and "Traceback" not in message
    assert not run_dir.exists()


@pytest.mark.parametrize("case, rule_name", CASES)
def test_launch_trains_every_rule_the_task_can_train(tmp_path, random_vgg, case, rule_name):
    task = create_task(TASK_OF.get(case, case), **_task_values(case, random_vgg))
    run_dir = tmp_path / "run"
    train = dict(run_dir=run_dir, rule=rule_name, rule_options=_small_rule(rule_name))
    if not _trainable(case, rule_name):
        with pytest.raises(ValueError) as refused:
            launch(task, **train, quiet=True)
        _check_refused(str(refused.value), run_dir, case, rule_name)
        return
    metrics = launch(task, **train, quiet=True)
    _check_trained(run_dir, case, rule_name, metrics)


@pytest.mark.parametrize("case, rule_name", CASES)
def test_cli_trains_and_evaluates_every_rule_the_task_can_train(
    tmp_path, random_vgg, case, rule_name
):
    run_dir = tmp_path / "run"
    options = [f"task.{k}={v}" for k, v in _task_values(case, random_vgg).items()]
    options += [f"rule.{k}={v}" for k, v in _small_rule(rule_name).items()]
    task_name = TASK_OF.get(case, case)
    args = ["train", "--task", task_name, "--rule", rule_name, "--run-dir", str(run_dir)]
    args += ["--device", "cpu", "--quiet", *(a for o in options for a in ("-o", o))]
    result = CliRunner().invoke(cli, args)
    if not _trainable(case, rule_name):
        assert result.exit_code != 0
        errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1, result.output
        _check_refused(errors[0], run_dir, case, rule_name)
        return
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evaluation = next(r for r in log if r["kind"] == "evaluation")
    _check_trained(run_dir, case, rule_name, {f"eval_{k}": v for k, v in evaluation.items()})
    again = CliRunner().invoke(cli, ["eval", str(run_dir), "--device", "cpu", "--quiet"])
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("task_name", ["grow", "classify", "texture"])
def test_launch_gives_a_bare_rule_name_the_tasks_settings(tmp_path, random_vgg, task_name):
    """``launch(create_task(name), rule="convca")``, the Python API's shortest form: the
    task's settings (channels, grid size) reach the rule as they do under ``nca train``."""
    task = create_task(task_name, **_task_values(task_name, random_vgg))
    metrics = launch(task, rule="convca", run_dir=tmp_path / "run", quiet=True)
    _check_trained(tmp_path / "run", task_name, "convca", metrics)


@pytest.mark.parametrize("rule_name", ["convca", "unet"])
def test_probe_trains_through_launch_and_the_cli(tmp_path, rule_name):
    """The probe trains no rule: it reads one, through either entry point."""
    source = tmp_path / "source"
    denoise = create_task("denoise", **SMALL_TASKS["denoise"], **ENGINE)
    launch(denoise, rule=rule_name, rule_options=_small_rule(rule_name), run_dir=source,
           quiet=True)  # fmt: skip
    probe = dict(train_subset=32, eval_subset=16, epochs=1, batch_size=16, feature_steps=2)
    metrics = launch(create_task("probe", source=str(source), **probe), run_dir=tmp_path / "a",
                     quiet=True)  # fmt: skip
    assert 0 <= metrics["eval_test_accuracy"] <= 100
    assert load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["task"]["name"] == "probe"
    args = ["train", "--task", "probe", "--from", str(source), "--run-dir", str(tmp_path / "b")]
    options = [a for k, v in probe.items() for a in ("-o", f"{k}={v}")]
    result = CliRunner().invoke(cli, [*args, *options, "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b" / "probe.json").read_text())
    assert report["test_accuracy"] == pytest.approx(metrics["eval_test_accuracy"])
