"""Every registered rule on every classic-NCA task: CA rules train (one iteration, small
settings), feed-forward rules are refused in one line, both by ``nca train``'s checks."""

import dataclasses

import pytest
import torch

from nca import RunContext, RunLog, Trainer, create_rule, create_task, list_rules
from nca.rules import get_rule_class
from tests.conftest import SMALL_RULE

SMALL_TASKS = {
    "grow": dict(target_size=8, target_padding=2, batch_size=4, pool_size=8, damage_count=1,
                 steps_min=3, steps_max=4),
    "classify": dict(batch_size=4, pool_size=8, steps=3, image_size=16, validation_size=4),
    "texture": dict(target_size=16, grid_size=16, batch_size=2, pool_size=4, steps_min=2,
                    steps_max=3),
}  # fmt: skip


@pytest.mark.parametrize("rule_name", list_rules())
@pytest.mark.parametrize("task_name", list(SMALL_TASKS))
def test_every_rule_trains_or_is_refused_in_one_line(tmp_path, random_vgg, task_name, rule_name):
    extra = {"vgg_weights": random_vgg} if task_name == "texture" else {}
    common = dict(iterations=1, log_every=1, validate_every=100, checkpoint_every=100)
    task = create_task(task_name, **SMALL_TASKS[task_name], **common, **extra)
    cls = get_rule_class(rule_name)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    settings = task.rule_settings(fields)
    small = {k: v for k, v in SMALL_RULE.items() if k in fields and k not in settings}
    torch.manual_seed(0)
    if cls.kind != "ca":
        rule = create_rule(rule_name, **small)
        with pytest.raises(ValueError) as refused:
            task.check_rule(rule)
        message = str(refused.value)
        assert f"task {task_name!r} cannot train" in message and "\n" not in message
        return
    rule = create_rule(rule_name, **small, **settings)
    task.check_rule(rule)
    trainer = Trainer(task, rule, RunContext(tmp_path, seed=0, quiet=True))
    trainer.fit(RunLog(tmp_path, tensorboard=False))
    assert trainer.iteration == 1
