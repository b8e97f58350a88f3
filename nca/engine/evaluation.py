"""A stored model, rebuilt by its task and scored: ``nca eval`` and every command that
loads a run go through :func:`load_trained_model`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from nca.checkpoint import load_checkpoint
from nca.engine.run import EvaluatedCheckpoint
from nca.rules import load_rule


def load_trained_model(task: Any, checkpoint: str | Path, run: Any) -> torch.nn.Module:
    """``task``'s model around the weights stored in ``checkpoint``, on ``run.device``,
    in eval mode.

    The checkpoint must be ``task``'s (the names it records and ``task.name`` agree) and
    its rule must meet the task's needs (:meth:`nca.tasks.Task.check_rule`): evaluating
    a run with changed data (``-o dataset=...``) fails here, in one line.

    Raises:
        ValueError: the checkpoint was written by another task, or its rule does not fit.
    """
    data = load_checkpoint(checkpoint)
    stored = (data.get("task") or {}).get("name")
    if stored != task.name:
        raise ValueError(
            f"{checkpoint} was written by task {stored!r}, not {task.name!r}; evaluate it "
            f"with its own task"
        )
    rule = load_rule(data) if data.get("rule") else None
    if rule is not None:
        task.check_rule(rule)
    model = task.build_model(rule, run)
    if rule is None:
        model.load_state_dict(data["model"])
    return model.to(torch.device(run.device)).eval()


def evaluate_checkpoint(task: Any, checkpoint: str | Path, run: Any) -> dict[str, float]:
    """Score the model stored in ``checkpoint`` with ``task.evaluate``; its report names
    the checkpoint and its iteration.

    Raises:
        ValueError: the checkpoint was written by another task, or its rule does not fit.
    """
    model = load_trained_model(task, checkpoint, run)
    evaluated = EvaluatedCheckpoint.of(checkpoint, load_checkpoint(checkpoint))
    with torch.no_grad():
        return dict(task.evaluate(model, dataclasses.replace(run, evaluated=evaluated)))
