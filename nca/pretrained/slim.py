"""A run's checkpoint reduced to what a shipped model needs: weights and configs."""

from __future__ import annotations

import os
from pathlib import Path

from nca.checkpoint import load_checkpoint, save_checkpoint

#: What a shipped model keeps of a checkpoint: the rule's and task's names and configs,
#: the weights, and the iteration and seed they come from. The optimiser, scheduler,
#: sample pool and random streams (what a resume needs) are left out.
KEPT_KEYS = ("rule", "task", "model", "iteration", "seed")
#: Task settings that name files on the training machine (VGG16 or LPIPS weights, a
#: dataset folder): dropped, so a user's copy falls back to the defaults (a download,
#: the default data folder) instead of a path that does not exist there.
MACHINE_LOCAL_FIELDS = ("vgg_weights", "lpips_weights", "data_root")


def slim_checkpoint(source: str | Path, destination: str | Path) -> Path:
    """Write the weights-only copy of checkpoint ``source`` to ``destination``, without
    the task settings that name the training machine's files (:data:`MACHINE_LOCAL_FIELDS`).

    The copy is a checkpoint of this toolkit (``torch.load(weights_only=True)`` reads it,
    with its own content digest), readable by every command that takes a checkpoint.

    Raises:
        ValueError: ``source`` holds no weights or names no task.
    """
    data = load_checkpoint(source)
    if "model" not in data or not (data.get("task") or {}).get("name"):
        raise ValueError(f"{source} holds no model weights or names no task: nothing to ship")
    kept = {k: data[k] for k in KEPT_KEYS if k in data}
    config = dict(kept["task"].get("config") or {})
    for name in MACHINE_LOCAL_FIELDS:
        config.pop(name, None)
    kept["task"] = {**kept["task"], "config": config}
    path = save_checkpoint(destination, kept)
    os.chmod(path, 0o644)  # a package file, readable by everyone (mkstemp made it 0600)
    return path
