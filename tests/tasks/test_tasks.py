from dataclasses import dataclass

import pytest

from nca.config import ConfigError
from nca.registry import UnknownPluginError
from nca.tasks import RunContext, Task, check_task_class, create_task, list_tasks, task_info


def test_task_registry_round_trip(toy_task, tmp_path):
    assert "toy" in list_tasks()
    assert list_tasks("to*") == ["toy"]
    task = create_task("toy", preset="tiny", iterations=3)
    assert task.config.iterations == 3 and task.config.batch_size == 2
    info = task_info("toy")
    assert info.cli_options == ("iterations", "batch_size", "mode")
    assert {f.name for f in info.fields} >= {"iterations", "lr"}
    assert "module tests.tasks.toy_task" in info.provider


def test_task_config_errors(toy_task):
    with pytest.raises(ConfigError, match="iterations must be >= 1, got 0"):
        create_task("toy", iterations=0)
    with pytest.raises(ConfigError, match="unknown option 'iteration'. Did you mean 'iterations'"):
        create_task("toy", iteration=4)
    with pytest.raises(UnknownPluginError, match="no preset 'huge'; presets: tiny"):
        create_task("toy", preset="huge")


def test_toy_task_trains_and_evaluates_every_ca_rule(toy_task, tmp_path):
    from nca import create_rule

    task = create_task("toy", iterations=15)
    run = RunContext(tmp_path, seed=0)
    metrics = task.train(create_rule("convca:tiny"), run)
    assert metrics["last_loss"] < metrics["first_loss"]
    evaluated = task.evaluate(tmp_path / "checkpoints" / "last.pt", run)
    assert evaluated["loss"] < metrics["first_loss"]


def test_task_class_checks():
    @dataclass
    class Cfg:
        a: int = 1

    class Incomplete(Task):
        config_class = Cfg

    with pytest.raises(TypeError, match="does not implement: evaluate, train"):
        check_task_class(Incomplete)

    class BadOptions(Task):
        config_class = Cfg
        cli_options = ("b",)

        def train(self, rule, run):
            return {}

        def evaluate(self, checkpoint, run):
            return {}

    with pytest.raises(TypeError, match=r"cli_options names unknown config fields \['b'\]"):
        check_task_class(BadOptions)


def test_task_cli_options_cannot_shadow_train_options():
    @dataclass
    class Cfg:
        seed: int = 0

    class Shadowing(Task):
        config_class = Cfg
        cli_options = ("seed",)

        def train(self, rule, run):
            return {}

        def evaluate(self, checkpoint, run):
            return {}

    with pytest.raises(
        TypeError, match=r"cli_options \['seed'\] clash with options of `nca train`"
    ):
        check_task_class(Shadowing)


def test_run_context_rank_helpers(tmp_path):
    assert RunContext(tmp_path).is_main
    assert not RunContext(tmp_path, rank=1, world_size=2).is_main
