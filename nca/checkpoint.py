"""Checkpoints: written atomically, loaded without executing code.

A checkpoint is a ``torch.save`` of plain containers, numbers, strings and
tensors, so ``torch.load(weights_only=True)`` reads it: loading never runs
pickled code. Writes go to a temporary file in the same directory, are
flushed to disk, then renamed over the target, so an interrupted write never
leaves a truncated checkpoint behind.

Conventional keys, shared by tasks so ``nca eval`` and analysis tools can read
any run: ``rule`` (``{"name", "config"}``), ``task`` (``{"name", "config"}``),
``model`` (the rule's ``state_dict``); tasks add what they need to resume
(optimizer, scheduler, pool, generator states, iteration). A run directory
keeps them in ``checkpoints/`` with ``last.pt`` the latest.
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
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{str(path)!r} is not a loadable checkpoint (weights_only load failed: {first_line})"
        ) from err
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{str(path)!r} has checkpoint format {found!r}; this version reads "
            f"format {CHECKPOINT_FORMAT}"
        )
    return data


def find_checkpoint(path: str | Path) -> Path:
    """``path`` if it is a file; for a run directory its ``checkpoints/last.pt``,
    else its newest ``checkpoints/*.pt``."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{str(path)!r} is neither a checkpoint file nor a run directory")
    last = path / "checkpoints" / "last.pt"
    if last.is_file():
        return last
    found = sorted((path / "checkpoints").glob("*.pt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"run directory {str(path)!r} has no checkpoints/*.pt")
    return found[-1]


def run_dir_of(checkpoint: str | Path) -> Path:
    """The run directory a checkpoint belongs to (``run/checkpoints/x.pt`` -> ``run``)."""
    checkpoint = Path(checkpoint)
    parent = checkpoint.parent
    return parent.parent if parent.name == "checkpoints" else parent


def load_rule(
    checkpoint: str | Path | dict, map_location: str | torch.device = "cpu"
) -> torch.nn.Module:
    """Rebuild the rule stored in a checkpoint (its ``rule`` and ``model`` keys).

    Args:
        checkpoint: A path, or a dict from :func:`load_checkpoint`.
        map_location: Where to load tensors.

    Returns:
        The rule (an ``nn.Module``) with the stored weights, in eval mode.
    """
    from nca.rules import create_rule

    data = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint, map_location)
    missing = [k for k in ("rule", "model") if k not in data]
    if missing:
        raise ValueError(f"checkpoint has no {' or '.join(missing)} entry; keys: {sorted(data)}")
    rule = create_rule(data["rule"]["name"], **data["rule"]["config"])
    rule.load_state_dict(data["model"])
    return rule.eval()
