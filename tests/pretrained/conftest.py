"""A small manifest of its own (one fake entry over a real checkpoint file), so the
catalogue is tested without the shipped models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nca import create_rule, save_checkpoint
from nca.config import config_to_dict
from nca.pretrained import (
    EvaluationRecord,
    PretrainedModel,
    TrainingRecord,
    file_sha256,
    write_manifest,
)


def entry_for(name: str, weights: Path, **changes) -> PretrainedModel:
    """A manifest entry describing the file ``weights``."""
    values = dict(
        name=name,
        task="grow",
        rule="convca",
        description="a test entry",
        training=TrainingRecord(
            command="nca train --task grow --rule convca --preset quick --seed 0",
            preset="quick",
            seed=0,
            iterations=2,
        ),
        evaluation=EvaluationRecord({"psnr_T": 10.0, "recovery_steps": None}),
        toolkit_version="0.1.0",
        file=weights.name,
        sha256=file_sha256(weights),
        size_bytes=weights.stat().st_size,
    )
    return PretrainedModel(**{**values, **changes})


@pytest.fixture
def manifest(tmp_path) -> Path:
    """``tmp/pack/manifest.json`` listing ``gecko`` and ``newt`` (weights in
    ``tmp/pack/weights/``): convca:tiny grow checkpoints."""
    torch.manual_seed(0)
    rule = create_rule("convca:tiny", image_channels=4)
    folder = tmp_path / "pack"
    entries = []
    for name in ("newt", "gecko"):
        weights = save_checkpoint(folder / "weights" / f"{name}.pt", {
            "rule": {"name": "convca", "config": config_to_dict(rule.config)},
            "task": {"name": "grow", "config": {"target_size": 8, "target_padding": 2}},
            "model": rule.state_dict(), "iteration": 2, "seed": 0,
        })  # fmt: skip
        entries.append(entry_for(name, weights))
    return write_manifest(folder / "manifest.json", entries)
