"""One process per run directory: an exclusive lock held for the whole run."""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

from nca.errors import NCAError

LOCK_NAME = ".lock"
#: The holder's pid sits next to the lock, not in it: filelock 3 empties the lock file
#: when another process tries to take it, and Windows does not let it be read.
OWNER_NAME = ".lock.pid"


class RunDirLocked(NCAError):
    """Another process is training in this run directory."""


class RunDirLock:
    """An exclusive OS lock on ``RUN/.lock``, the owner's pid in ``RUN/.lock.pid``.

    :class:`filelock.FileLock` takes it (``flock`` on POSIX, ``msvcrt.locking`` on
    Windows). The operating system drops the lock when its process dies (even by
    ``kill -9``), so a crashed run never blocks the next one.

    Args:
        run_dir: The run directory (created if needed).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.owner_path = self.path.with_name(OWNER_NAME)
        self._lock: FileLock | None = None

    def acquire(self) -> RunDirLock:
        """Take the lock now, without waiting.

        Raises:
            RunDirLocked: Another process holds it (one line naming the run directory
                and that process's pid).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunDirLocked(
                f"run directory {str(self.path.parent)!r} is in use by process {self._owner()} "
                f"(it holds {self.path}); wait for that run to end or stop it"
            ) from None
        if not self.path.exists():  # we locked a file its last owner had just removed
            lock.release()
            return self.acquire()
        self.owner_path.write_text(str(os.getpid()))
        self._lock = lock
        return self

    def _owner(self) -> str:
        """The holder's pid as it wrote it (``unknown`` until it has)."""
        try:
            return self.owner_path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        """Drop the lock and remove its files (a run that ended cleanly leaves no
        ``.lock``); a no-op when it is not held. A killed run leaves them, harmlessly: the
        operating system has dropped the lock."""
        if self._lock is not None:
            # unlinked while held, so they are never the next owner's: a process that
            # opened the old file before the unlink finds it locked until the release
            # below, and a lock taken on an unlinked file is detected in acquire()
            self.owner_path.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
