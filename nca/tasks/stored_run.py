"""A trained run read back: its task, built under the name it was trained as, and its
model, rebuilt by that task. ``nca eval``, ``nca play``, ``nca export`` and
``nca analyze`` all load runs here. A source is a run directory, a checkpoint, or the
name of a shipped pretrained model (:func:`nca.checkpoint.find_checkpoint`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nca.analysis.subject import Subject
from nca.checkpoint import find_checkpoint, load_checkpoint, run_dir_of
from nca.core import PAPER_UPDATE_RATE, ImageModel
from nca.engine import EvaluatedCheckpoint, RunContext, load_trained_model, seed_everything
from nca.tasks.base import Task
from nca.tasks.registry import create_task


@dataclass
class StoredRun:
    """A trained run, ready to evaluate, play, export or analyse.

    Attributes:
        task: The run's task, built from its stored config (and any overrides) under
            the name the run was trained as.
        model: The task's model around the trained weights, in eval mode, on the device.
        checkpoint: The checkpoint it was read from.
    """

    task: Task
    model: torch.nn.Module
    checkpoint: Path


def load_run(
    source: str | Path,
    *,
    which: str = "last",
    device: str = "cpu",
    task_name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    run: RunContext | None = None,
    frozen: bool = True,
) -> StoredRun:
    """The run in ``source`` (a run directory, a checkpoint file or a pretrained model's
    name).

    Args:
        source: Run directory, checkpoint or pretrained model name.
        which: ``last`` or ``best`` checkpoint of a run directory.
        device: Where the model goes (``run.device`` when ``run`` is given).
        task_name: Evaluate with this task instead of the recorded one (its name must
            still match the checkpoint's).
        overrides: Task config fields to change (``nca eval -o eval_subset=100``).
        run: The context the task's hooks see (default: the run's directory, quiet).
        frozen: Turn off the model's gradients.

    Raises:
        FileNotFoundError, ValueError: no checkpoint, one that names no task, another
            task's, or a rule that does not fit the task (one line each).
    """
    checkpoint = find_checkpoint(source, which)
    data = load_checkpoint(checkpoint)
    name = trained_task(checkpoint, data, task_name)
    stored = data.get("task") or {}
    task = create_task(name, **{**stored.get("config", {}), **(overrides or {})})
    run = run or RunContext(run_dir_of(checkpoint), device=device, quiet=True)
    model = load_trained_model(task, checkpoint, run)
    if frozen:
        for param in model.parameters():
            param.requires_grad_(False)
    return StoredRun(task, model, checkpoint)


def evaluate_run(
    source: str | Path,
    out_dir: str | Path,
    *,
    which: str = "last",
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, float]:
    """Evaluate the run in ``source`` with its task as ``nca eval`` does (seeded the same
    way, so both give the same numbers), writing the task's report and pictures to
    ``out_dir``.

    Args:
        source: Run directory, checkpoint or pretrained model name.
        out_dir: Folder of the report (``eval.json``) and anything else the task writes.
        which: ``last`` or ``best`` checkpoint of a run directory.
        overrides: Task config fields to change (``nca eval -o``).
        seed: The evaluation's seed (``nca eval --seed``).
        device: Where it runs.

    Returns:
        The task's evaluation metrics.
    """
    seed_everything(seed)
    checkpoint = find_checkpoint(source, which)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = RunContext(
        out_dir,
        seed=seed,
        device=device,
        quiet=True,
        report=out_dir / "eval.json",
        evaluated=EvaluatedCheckpoint.of(checkpoint, load_checkpoint(checkpoint)),
    )
    stored = load_run(checkpoint, overrides=overrides, run=run)
    with torch.no_grad():
        return dict(stored.task.evaluate(stored.model, run))


def trained_task(checkpoint: Path, data: Mapping[str, Any], asked: str | None = None) -> str:
    """The name of the task ``checkpoint`` (loaded as ``data``) was trained on.

    Args:
        checkpoint: The checkpoint file (for the messages).
        data: Its contents.
        asked: A task named by the user (``nca eval --task``): it must be the recorded
            one; it names the task of a checkpoint that records none.

    Raises:
        ValueError: The checkpoint records another task, or none and none was asked.
    """
    recorded = (data.get("task") or {}).get("name")
    if recorded and asked and asked != recorded:
        raise ValueError(
            f"{checkpoint} was trained on task {recorded!r}, not {asked!r}: a run is "
            f"evaluated by its own task (leave out --task)"
        )
    name = recorded or asked
    if not name:
        raise ValueError(f"{checkpoint} does not name the task it was trained with; pass --task")
    return name


def load_subject(
    source: str | Path, count: int = 8, *, device: str = "cpu", seed: int = 0
) -> Subject:
    """A :class:`~nca.analysis.Subject` of the paper's experiments from a run directory or
    checkpoint: its rule at the σ it was trained with, and ``count`` images and the
    noise of its task (which must implement ``analysis_images`` and ``corrupt``)."""
    stored = load_run(source, device=device)
    images, labels = stored.task.analysis_images(count)
    rate = float(getattr(stored.task.config, "update_rate", PAPER_UPDATE_RATE))
    model = ImageModel(stored.model.rule, update_rate=rate).eval()
    return Subject(model, images.to(device), labels, stored.task.corrupt, seed)
