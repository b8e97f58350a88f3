"""Checkpoints: written atomically, loaded without executing code.

A checkpoint is a ``torch.save`` of plain containers, numbers, strings and
tensors, so ``torch.load(weights_only=True)`` reads it: loading never runs
pickled code. Writes go to a temporary file in the same directory, are
flushed to disk, then renamed over the target, so an interrupted write never
leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

#: Bumped when the layout of checkpoint dictionaries changes incompatibly.
CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Atomically write ``payload`` (plus ``format``) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": CHECKPOINT_FORMAT, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable checkpoint of a known format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{str(path)!r} is not a loadable checkpoint (weights_only load failed: {err})"
        ) from err
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{str(path)!r} has checkpoint format {found!r}; this version reads "
            f"format {CHECKPOINT_FORMAT}"
        )
    return data
