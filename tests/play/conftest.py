"""Tiny trained runs of every task with a viewer, for the ``nca play`` tests."""

import dataclasses

import pytest
import torch

from nca import RunContext, RunLog, Trainer, create_rule, create_task
from nca.rules import get_rule_class
from tests.conftest import SMALL_RULE

COMMON = dict(iterations=1, log_every=1, validate_every=100, checkpoint_every=100)
SMALL_TASKS = {
    "grow": dict(target_size=8, target_padding=2, batch_size=2, pool_size=4, damage_count=1,
                 steps_min=2, steps_max=3),
    "classify": dict(batch_size=4, pool_size=8, steps=2, image_size=16, validation_size=4),
    "texture": dict(target_size=16, grid_size=16, eval_size=16, batch_size=1, pool_size=2,
                    steps_min=2, steps_max=2),
    "denoise": dict(image_size=8, batch_size=2, steps_min=2, steps_max=2, eval_steps=2,
                    pool_size=4, train_subset=8, lpips="off"),
    # a 12^3 volume (the snowman shrunk to 8 voxels, padded by 2) and rows of 16 cells
    "grow3d": dict(target="snowman", target_size=8, target_padding=2, batch_size=2,
                   pool_size=2, damage_count=1, steps_min=2, steps_max=2, eval_repeats=1),
    "eca": dict(width=16, batch_size=4, generations_max=2, validation_rows=4, eval_rows=4,
                eval_generations=4),
}  # fmt: skip
#: The task each entry of SMALL_TASKS configures.
TASK_NAMES = {"grow3d": "grow"}


@pytest.fixture(scope="session")
def make_run(tmp_path_factory, random_vgg):
    """``make_run(task, rule, **rule_overrides)``: a run directory after one iteration
    (cached per arguments for the session). One optimiser step moves the zero-initialised
    last layer off zero, so the run's updates are small but not all zero."""
    cache = {}

    def make(task_name: str, rule_name: str, **overrides):
        key = (task_name, rule_name, tuple(sorted(overrides.items())))
        if key in cache:
            return cache[key]
        extra = {"vgg_weights": random_vgg} if task_name == "texture" else {}
        task = create_task(TASK_NAMES.get(task_name, task_name), **SMALL_TASKS[task_name],
                           **COMMON, **extra)  # fmt: skip
        cls = get_rule_class(rule_name)
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        settings = task.rule_settings(fields)
        small = {k: v for k, v in SMALL_RULE.items() if k in fields and k not in settings}
        torch.manual_seed(0)
        rule = create_rule(rule_name, **{**small, **settings, **overrides})
        run_dir = tmp_path_factory.mktemp(f"{task_name}-{rule_name}")
        trainer = Trainer(task, rule, RunContext(run_dir, seed=0, quiet=True))
        trainer.fit(RunLog(run_dir, tensorboard=False))
        cache[key] = run_dir
        return run_dir

    return make
