"""What the machine can hold: checks made before work starts, not after it fails."""

from __future__ import annotations

import os
from pathlib import Path

from nca.errors import NCAError


class NotEnoughMemory(NCAError):
    """A setting needs more memory than this machine has."""


class NotWritable(NCAError):
    """A file or folder cannot be created where asked."""


def physical_memory() -> int | None:
    """Bytes of RAM, or ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def device_memory(device: str | None = None) -> int | None:
    """Bytes of memory of ``device``: the machine's RAM for ``None`` and ``cpu``, the
    GPU's total for ``cuda[:N]``; ``None`` where it cannot be told."""
    if device is None or not str(device).startswith("cuda"):
        return physical_memory()
    import torch

    try:
        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    except (RuntimeError, AssertionError, ValueError):  # no such GPU: its own error later
        return None


def check_fits_in_memory(needed: int, what: str, advice: str, *, device: str | None = None) -> None:
    """Raise :class:`NotEnoughMemory` when ``needed`` bytes exceed the memory of
    ``device`` (default: the machine's RAM).

    Args:
        needed: A lower bound of the bytes the setting needs.
        what: The setting, e.g. ``"a batch of 16 images of 100000x100000"``.
        advice: What to change, e.g. ``"lower --image-size or --batch-size"``.
        device: Where the bytes live: ``None``/``cpu`` (RAM) or ``cuda[:N]``.
    """
    on_gpu = device is not None and str(device).startswith("cuda")
    total = device_memory(device)
    if total is not None and needed > total:
        holder = f"{device} has" if on_gpu else "this machine has"
        raise NotEnoughMemory(
            f"{what} needs at least {needed / 2**30:,.1f} GiB; {holder} "
            f"{total / 2**30:,.1f} GiB: {advice}"
        )


def writable_folder(path: str | Path) -> bool:
    """Whether ``path`` (or, if it does not exist yet, its nearest existing parent) can
    be written to."""
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return os.access(path, os.W_OK)


def why_not_writable(path: str | Path) -> str | None:
    """Why a new file (or folder) ``path`` cannot be created, or ``None`` if it can.

    Asks the file system instead of the permission bits: as root ``os.access`` says yes
    to read-only mounts and to ``/proc``, which take no new files. The nearest existing
    folder above ``path`` is tried with a temporary file, removed at once.
    """
    import tempfile

    path = Path(path).absolute()
    if path.is_dir():
        return f"{path} is a folder"
    above = path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        return f"{above} is a file, not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=above, prefix=".nca-write-test-"):
            pass
    except OSError as err:
        return f"{above} takes no new files ({err.strerror or type(err).__name__})"
    return None


def check_writable(path: str | Path, advice: str) -> None:
    """Raise :class:`NotWritable` (one line: the path, why, and ``advice``) unless a
    new file ``path`` can be created; before the work that would write it."""
    reason = why_not_writable(path)
    if reason is not None:
        raise NotWritable(f"cannot write {path}: {reason}; {advice}")
