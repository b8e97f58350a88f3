"""Qualitative analysis of trained rules: the paper's pictures as one call each.

Python::

    from nca import load_subject
    from nca.analysis import run_experiment
    subject = load_subject("runs/my-run", count=8)
    numbers = run_experiment("damage", subject, "runs/my-run/analysis/damage")

CLI: ``nca analyze EXPERIMENT RUN`` (``nca analyze --help`` lists them).
"""

from __future__ import annotations

import json
from pathlib import Path

from nca.analysis.experiments import EXPERIMENTS
from nca.analysis.media import readable_scale, save_animation, save_curves, save_grid
from nca.analysis.options import check_options
from nca.analysis.subject import Subject, psnr
from nca.analysis.task_experiments import (
    experiment_options,
    run_task_experiment,
    task_experiment,
)


def run_experiment(name: str, subject: Subject, out: str | Path, **options) -> dict:
    """Run experiment ``name``, write its pictures and ``results.json`` to ``out``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}")
    check_options(name, EXPERIMENTS[name], options)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = EXPERIMENTS[name](subject, out, **options)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


__all__ = [
    "EXPERIMENTS",
    "Subject",
    "check_options",
    "experiment_options",
    "psnr",
    "readable_scale",
    "run_experiment",
    "run_task_experiment",
    "save_animation",
    "save_curves",
    "save_grid",
    "task_experiment",
]
