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

Every checkpoint also holds ``sha256``, a digest of everything else in it (each
tensor's dtype, shape and bytes, and every other value), checked on every load: a
changed bit (a failing disk, a bad copy) is refused naming the file, not trained on.
Checkpoints written before the digest existed load as they are.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from nca.errors import NCAError

#: Bumped when the layout of checkpoint dictionaries changes incompatibly.
CHECKPOINT_FORMAT = 1
#: Key of the digest of the rest of a checkpoint (:func:`content_digest`).
CHECKSUM_KEY = "sha256"


class CheckpointCorrupted(NCAError, ValueError):
    """A checkpoint's contents do not match the digest written with them."""


def content_digest(data: Any) -> str:
    """SHA-256 of plain containers, numbers, strings and tensors, in their order.

    A tensor counts with its dtype, shape and bytes (wherever it lives: the bytes are
    read on the CPU); a dict with its keys in insertion order, which ``torch.save`` and
    ``torch.load`` keep.
    """
    digest = hashlib.sha256()
    _feed(digest, data)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
        digest.update(f"<tensor {tensor.dtype} {tuple(tensor.shape)}>".encode())
        if tensor.numel():
            flat = tensor.cpu().contiguous().reshape(-1)
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, Mapping):
        digest.update(f"<{type(value).__name__} {len(value)}>".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"<{type(value).__name__} {len(value)}>".encode())
        for item in value:
            _feed(digest, item)
    else:  # numbers, strings, None: repr is exact (floats round-trip)
        digest.update(f"<{type(value).__name__} {value!r}>".encode())


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Atomically write ``payload`` (plus ``format``) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": CHECKPOINT_FORMAT, **payload}
    data.pop(CHECKSUM_KEY, None)  # a payload that was itself loaded from a checkpoint
    data[CHECKSUM_KEY] = content_digest(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, (OSError, RuntimeError)):
            raise CheckpointWriteError(_write_failure(path, err)) from err
        raise
    return path


class CheckpointWriteError(NCAError):
    """A checkpoint could not be written (full disk, read-only folder, ...); the
    previous checkpoint at the same path is intact."""


def _write_failure(path: Path, err: BaseException) -> str:
    import errno
    import shutil

    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    full = getattr(err, "errno", None) == errno.ENOSPC or (free is not None and free < 1 << 20)
    if full:
        room = f"{free / 2**20:.1f} MiB free" if free is not None else "no space left"
        why = f"the disk is full ({room}); free space or choose another --run-dir"
    elif isinstance(err, PermissionError) or getattr(err, "errno", None) == errno.EROFS:
        why = f"{path.parent} is not writable; choose another --run-dir"
    else:
        why = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"
    kept = "the previous checkpoint there is intact" if path.exists() else "nothing was written"
    return f"could not write {path}: {why} ({kept})"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable checkpoint of a known format.
        CheckpointCorrupted: its contents differ from the digest written with them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"{str(path)!r} is not a checkpoint of this toolkit: {_why(err)}") from err
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{str(path)!r} has checkpoint format {found!r}; this version reads "
            f"format {CHECKPOINT_FORMAT}"
        )
    stored = data.pop(CHECKSUM_KEY, None)
    if stored is not None and content_digest(data) != stored:
        raise CheckpointCorrupted(
            f"{path} is damaged: its contents do not match the sha256 checksum written with "
            f"it (a changed bit on disk or in a copy); use another copy of it, an earlier "
            f"checkpoint, or start a new run"
        )
    return data


def _why(err: Exception) -> str:
    """What a refused file is, without torch's advice to disable the safe loader (a
    checkpoint of this toolkit never needs it)."""
    import re

    text = str(err)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (
            f"it holds Python objects that a safe load refuses (unsupported GLOBAL "
            f"{found.group(1)}); checkpoints are plain tensors and containers, so it was "
            f"written by other code or altered. It is not loaded unsafely"
        )
    if "Weights only load failed" in text or "invalid load key" in text or "pickle" in text:
        return "it is not a PyTorch file of tensors and containers (corrupt or another format)"
    return f"{type(err).__name__}: {text.strip().splitlines()[0] if text.strip() else ''}"


def find_checkpoint(path: str | Path, which: str = "last") -> Path:
    """``path`` if it is a file; for a run directory its ``checkpoints/last.pt`` (else
    its newest ``checkpoints/*.pt``), or with ``which="best"`` its ``checkpoints/best.pt``
    (the best validation); for the name of a shipped pretrained model (``lizard``) that
    is no existing path, its weights file, checked against the manifest's sha256
    (:func:`nca.pretrained.pretrained_path`).

    Raises:
        FileNotFoundError: none of these (one line; a bare name lists the shipped models).
        nca.pretrained.PretrainedCorrupted: a shipped model's file differs from its
            checksum.
    """
    path = Path(path)
    if which not in ("last", "best"):
        raise ValueError(f"which must be 'last' or 'best', got {which!r}")
    if path.is_file():
        return path
    if not path.is_dir():
        from nca.pretrained import is_pretrained_name, missing_source, pretrained_path

        if is_pretrained_name(str(path)):
            return pretrained_path(str(path))
        raise FileNotFoundError(missing_source(path))
    if which == "best":
        best = path / "checkpoints" / "best.pt"
        if not best.is_file():
            raise FileNotFoundError(
                f"run directory {str(path)!r} has no checkpoints/best.pt (its task keeps none, "
                f"or no validation has run yet); evaluate its last checkpoint instead"
            )
        return best
    last = path / "checkpoints" / "last.pt"
    if last.is_file():
        return last
    found = sorted((path / "checkpoints").glob("*.pt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"run directory {str(path)!r} has no checkpoints/*.pt")
    return found[-1]


def run_dir_of(checkpoint: str | Path) -> Path:
    """The run directory a checkpoint belongs to (``run/checkpoints/x.pt`` -> ``run``).

    A shipped pretrained model's is ``runs/pretrained/NAME`` in the working directory
    (:func:`nca.pretrained.output_dir`; not created here): reports, analyses and exports
    made from it go there, not into the installed package.
    """
    from nca.pretrained import output_dir, shipped_name

    checkpoint = Path(checkpoint)
    name = shipped_name(checkpoint)
    if name is not None:
        return output_dir(name)
    parent = checkpoint.parent
    return parent.parent if parent.name == "checkpoints" else parent


def state_mismatch(expected: Mapping[str, Any], given: Mapping[str, Any]) -> str:
    """How the ``state_dict`` ``given`` does not fit ``expected`` ("" when it does)."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = [
        f"{k}: {tuple(given[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in given and tuple(given[k].shape) != tuple(v.shape)
    ]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    if unexpected:
        parts.append(f"unexpected {', '.join(unexpected[:3])}")
    if shapes:
        parts.append(f"shapes {'; '.join(shapes[:3])}")
    return "; ".join(parts)
