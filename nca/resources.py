"""What the machine can hold: checks made before work starts, not after it fails."""

from __future__ import annotations

import os
from pathlib import Path

from nca.errors import NCAError


class NotEnoughMemory(NCAError):
    """A setting needs more memory than this machine has."""


def physical_memory() -> int | None:
    """Bytes of RAM, or ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def check_fits_in_memory(needed: int, what: str, advice: str) -> None:
    """Raise :class:`NotEnoughMemory` when ``needed`` bytes exceed the machine's RAM.

    Args:
        needed: A lower bound of the bytes the setting needs.
        what: The setting, e.g. ``"a batch of 16 images of 100000x100000"``.
        advice: What to change, e.g. ``"lower --image-size or --batch-size"``.
    """
    total = physical_memory()
    if total is not None and needed > total:
        raise NotEnoughMemory(
            f"{what} needs at least {needed / 2**30:,.1f} GiB; this machine has "
            f"{total / 2**30:,.1f} GiB: {advice}"
        )


def writable_folder(path: str | Path) -> bool:
    """Whether ``path`` (or, if it does not exist yet, its nearest existing parent) can
    be written to."""
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return os.access(path, os.W_OK)
