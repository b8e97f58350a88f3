"""The hooks pass their data explicitly: validation's samples reach pictures through the
engine, the pool gets the training data, a pool the engine cannot checkpoint is refused,
and a task still written for the replaced ``adapt_rule_config`` hook is refused."""

import pytest
import torch

from nca import RunContext, RunLog, SlotPool, Trainer, Validation, create_rule
from nca.tasks import check_task_class
from tests.tasks.toy_task import ToyConfig, ToyTask


class _Recording(ToyTask):
    """Records what the engine hands to make_pool and pictures."""

    def __init__(self, config):
        super().__init__(config)
        self.seen = {}

    def train_data(self, run):
        return "the data"

    def make_pool(self, model, data, generator):
        self.seen["pool data"] = data
        return SlotPool(torch.zeros(1, 2, 2), 2, generator)

    def validation(self, model, state):
        return Validation({"score": 1.0}, samples=("grids of iteration", state.iteration))

    def pictures(self, model, state, folder, samples):
        self.seen.setdefault("samples", []).append(samples)


def _trainer(task, tmp_path):
    torch.manual_seed(0)
    rule = create_rule("convca", hidden_channels=2, mlp_channels=4)
    return Trainer(task, rule, RunContext(tmp_path, seed=0, quiet=True))


def test_validation_samples_reach_pictures_and_the_pool_gets_the_data(tmp_path):
    task = _Recording(ToyConfig(iterations=4, validate_every=2))
    trainer = _trainer(task, tmp_path)
    trainer.fit(RunLog(tmp_path, tensorboard=False))
    assert task.seen["pool data"] == "the data"
    assert task.seen["samples"] == [("grids of iteration", 2), ("grids of iteration", 4)]
    logged = [r for r in RunLog(tmp_path, tensorboard=False).read() if r["kind"] == "validation"]
    assert [r["score"] for r in logged] == [1.0, 1.0]


def test_a_pool_the_engine_cannot_checkpoint_is_refused(tmp_path):
    class ListPool(ToyTask):
        def make_pool(self, model, data, generator):
            return []

    with pytest.raises(TypeError, match="ListPool.make_pool returned a list, which has no"):
        _trainer(ListPool(ToyConfig()), tmp_path)


def test_the_replaced_adapt_rule_config_hook_is_refused():
    class Old(ToyTask):
        def adapt_rule_config(self, rule_config):
            return rule_config

    with pytest.raises(TypeError, match="Old.adapt_rule_config is no longer called"):
        check_task_class(Old)
