"""Ctrl-C during training: finish the iteration, checkpoint, then stop."""

from __future__ import annotations

import signal
import threading


class DeferredInterrupt:
    """Turn SIGINT into a flag while training (main thread only; elsewhere a no-op).

    A second Ctrl-C stops at once.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False
