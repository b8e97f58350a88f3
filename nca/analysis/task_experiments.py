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

import torch

from nca.analysis.options import check_options


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
    check_options(name, function, options)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = function(model, out, seed=seed, **options)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return results
