"""A shipped file keeps the weights and configs of a checkpoint, nothing a resume needs."""

from __future__ import annotations

import pytest
import torch

from nca import load_checkpoint, save_checkpoint
from nca.pretrained import slim_checkpoint


def test_slim_keeps_weights_and_configs_only(tmp_path):
    full = save_checkpoint(tmp_path / "last.pt", {
        "rule": {"name": "convca", "config": {}}, "task": {"name": "grow", "config": {}},
        "model": {"w": torch.ones(3)}, "iteration": 7, "seed": 1,
        "optimizer": {"state": {"m": torch.zeros(1000)}}, "pool": {"cells": torch.zeros(1000)},
    })  # fmt: skip
    slim = slim_checkpoint(full, tmp_path / "out" / "slim.pt")
    data = load_checkpoint(slim)  # its digest is checked on load
    assert set(data) == {"format", "rule", "task", "model", "iteration", "seed"}
    assert torch.equal(data["model"]["w"], torch.ones(3))
    assert slim.stat().st_size < full.stat().st_size / 4
    assert slim.stat().st_mode & 0o777 == 0o644


def test_a_checkpoint_without_weights_is_refused(tmp_path):
    empty = save_checkpoint(tmp_path / "x.pt", {"task": {"name": "grow"}})
    with pytest.raises(ValueError, match="nothing to ship"):
        slim_checkpoint(empty, tmp_path / "y.pt")


def test_paths_of_the_training_machine_are_dropped(tmp_path):
    config = {"vgg_weights": "/work/shared/vgg.pth", "data_root": "/data", "steps_max": 48}
    full = save_checkpoint(tmp_path / "last.pt", {
        "rule": {"name": "convca", "config": {}}, "task": {"name": "texture", "config": config},
        "model": {"w": torch.ones(1)},
    })  # fmt: skip
    data = load_checkpoint(slim_checkpoint(full, tmp_path / "slim.pt"))
    assert data["task"] == {"name": "texture", "config": {"steps_max": 48}}  # defaults apply
