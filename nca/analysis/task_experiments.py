"""Experiments a task plugin defines (``Task.experiments``), run on a trained model.

The paper's experiments (:mod:`nca.analysis.experiments`) need a denoising-style task
(images and a corruption). Other tasks (growing, self-classifying, textures) name their
own experiments; ``nca analyze NAME RUN`` finds them through the run's task.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def load_task_model(source: str | Path, *, device: str = "cpu") -> tuple[Any, torch.nn.Module]:
    """The task and model of a run directory or checkpoint.

    Returns:
        The run's task (built from its stored config) and the task's model around the
        trained rule, frozen and in eval mode on ``device``.
    """
    from nca.checkpoint import find_checkpoint, load_checkpoint, load_rule, run_dir_of
    from nca.tasks import RunContext, create_task

    path = find_checkpoint(source)
    data = load_checkpoint(path)
    stored = data.get("task") or {}
    if not stored.get("name"):
        raise ValueError(f"{source} does not name the task it was trained with")
    task = create_task(stored["name"], **stored.get("config", {}))
    rule = load_rule(data, map_location=device).to(device)
    run = RunContext(run_dir=run_dir_of(path), device=device, quiet=True)
    model = task.build_model(rule, run)
    model = model.to(device).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return task, model


def task_experiment(task, name: str) -> Callable:
    """The bound method of ``task``'s experiment ``name``; a clear error if it has none."""
    methods = type(task).experiments
    if name not in methods:
        from nca.analysis.experiments import EXPERIMENTS

        own = ", ".join(methods) or "none"
        raise ValueError(
            f"task {task.name!r} has no experiment {name!r}; its experiments: {own}"
            + (
                "; the paper's experiments need the denoise task"
                if name in EXPERIMENTS and not methods.get(name)
                else ""
            )
        )
    return getattr(task, methods[name])


def experiment_options(function: Callable) -> list[inspect.Parameter]:
    """The keyword-only parameters of an experiment (its ``-o`` options)."""
    return [p for p in inspect.signature(function).parameters.values() if p.kind is p.KEYWORD_ONLY]


def run_task_experiment(
    name: str, task, model: torch.nn.Module, out: str | Path, *, seed: int = 0, **options
) -> dict:
    """Run ``task``'s experiment ``name`` on ``model``; write ``results.json`` to ``out``."""
    function = task_experiment(task, name)
    valid = {p.name for p in experiment_options(function)} - {"seed"}
    unknown = set(options) - valid
    if unknown:
        raise ValueError(
            f"{name} has no option {sorted(unknown)[0]!r}; valid: {', '.join(sorted(valid))}"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = function(model, out, seed=seed, **options)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return results
