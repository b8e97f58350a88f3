from dataclasses import dataclass

import pytest
import torch

from nca import Trainer, TrainerConfig, create_rule, evaluate_checkpoint, list_rules
from nca.config import ConfigError
from nca.registry import UnknownPluginError
from nca.tasks import RunContext, Task, check_task_class, create_task, list_tasks, task_info

#: Small configs, so every CA rule trains in a few seconds on 8x8 images.
SMALL = {
    "vitca": {"embed_dim": 16, "heads": 2, "mlp_dim": 16, "image_size": (8, 8)},
    "unetca": {"features": 8, "hidden_channels": 8},
    "convca": {"hidden_channels": 4, "mlp_channels": 16},
}


def test_task_registry_round_trip(toy_task, tmp_path):
    assert "toy" in list_tasks()
    assert list_tasks("to*") == ["toy"]
    task = create_task("toy", preset="tiny", iterations=3)
    assert task.config.iterations == 3 and task.config.batch_size == 2
    info = task_info("toy")
    assert info.cli_options == ("iterations", "batch_size", "mode")
    assert {f.name for f in info.fields} >= {"iterations", "lr"}
    # the engine's fields keep their docs in a task's config
    assert "Learning rate" in next(f.doc for f in info.fields if f.name == "lr")
    assert "module tests.tasks.toy_task" in info.provider


def test_task_config_errors(toy_task):
    with pytest.raises(ConfigError, match="iterations must be >= 1, got 0"):
        create_task("toy", iterations=0)
    with pytest.raises(ConfigError, match="unknown option 'iteration'. Did you mean 'iterations'"):
        create_task("toy", iteration=4)
    with pytest.raises(UnknownPluginError, match="no preset 'huge'; presets: tiny"):
        create_task("toy", preset="huge")


@pytest.mark.parametrize("name", list_rules(kind="ca"))
def test_toy_task_trains_and_evaluates_every_ca_rule(name, toy_task, tmp_path):
    task = create_task("toy", iterations=40)
    run = RunContext(tmp_path, seed=0)
    torch.manual_seed(0)
    trainer = Trainer(task, create_rule(name, **SMALL.get(name, {})), run)
    with torch.no_grad():
        untrained = task.evaluate(trainer.model.eval(), run)["loss"]
    trainer.model.train()
    metrics = trainer.run_training()
    assert trainer.iteration == 40
    assert metrics["eval_loss"] < 0.8 * untrained, (name, metrics["eval_loss"], untrained)
    evaluated = evaluate_checkpoint(task, tmp_path / "checkpoints" / "last.pt", run)
    assert evaluated["loss"] == pytest.approx(metrics["eval_loss"])


@dataclass
class Cfg(TrainerConfig):
    a: int = 1


class Complete(Task):
    config_class = Cfg

    def train_data(self, run):
        return None

    def sample_batch(self, data, state):
        return None

    def objective(self, model, batch, state):
        return None

    def evaluate(self, model, run):
        return {}


def test_task_class_checks():
    class Incomplete(Task):
        config_class = Cfg

    with pytest.raises(
        TypeError, match="does not implement: evaluate, objective, sample_batch, train_data"
    ):
        check_task_class(Incomplete)

    class BadOptions(Complete):
        cli_options = ("b",)

    with pytest.raises(TypeError, match=r"cli_options names unknown config fields \['b'\]"):
        check_task_class(BadOptions)

    @dataclass
    class Plain:
        a: int = 1

    class NotATrainerConfig(Complete):
        config_class = Plain

    with pytest.raises(TypeError, match="must extend nca.engine.TrainerConfig"):
        check_task_class(NotATrainerConfig)

    class BadStreams(Complete):
        streams = {"data": "gpu"}

    with pytest.raises(TypeError, match="streams must map names to 'cpu' or 'device'"):
        check_task_class(BadStreams)
    check_task_class(Complete)


def test_task_cli_options_cannot_shadow_train_options():
    @dataclass
    class Seeded(TrainerConfig):
        seed: int = 0

    class Shadowing(Complete):
        config_class = Seeded
        cli_options = ("seed",)

    with pytest.raises(
        TypeError, match=r"cli_options \['seed'\] clash with options of `nca train`"
    ):
        check_task_class(Shadowing)


def test_run_context_rank_helpers(tmp_path):
    assert RunContext(tmp_path).is_main
    assert not RunContext(tmp_path, rank=1, world_size=2).is_main
