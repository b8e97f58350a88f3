"""One process per run directory: an exclusive lock held for the whole run."""

from __future__ import annotations

import os
from pathlib import Path

from nca.errors import NCAError

LOCK_NAME = ".lock"


class RunDirLocked(NCAError):
    """Another process is training in this run directory."""


class RunDirLock:
    """An exclusive ``flock`` on ``RUN/.lock``, holding the owner's pid.

    The operating system drops the lock when its process dies (even by ``kill -9``),
    so a crashed run never blocks the next one. On systems without ``fcntl`` the
    lock is a no-op.

    Args:
        run_dir: The run directory (created if needed).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._handle = None

    def acquire(self) -> RunDirLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise RunDirLocked(
                f"run directory {str(self.path.parent)!r} is in use by process {owner} "
                f"(it holds {self.path}); wait for that run to end or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the flock
            self._handle = None

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
