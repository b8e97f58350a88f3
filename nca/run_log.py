"""Metrics of a run: JSON lines (always) and TensorBoard events (when installed)."""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Record kind marking where a resumed run continued; later records of a step past
#: it replace the ones logged before the interruption.
RESUME = "resume"


class RunLog:
    """Append-only, crash-tolerant metrics log of a run directory.

    Writes one JSON object per line to ``metrics.jsonl`` (flushed per record, so an
    interrupted run keeps what it logged) and, if the ``tensorboard`` package is
    installed, the same scalars to ``tensorboard/``. The file is only ever appended
    to: a resumed run appends a ``resume`` record, and :meth:`read` drops what was
    logged past that step before the interruption. A torn last line (a write cut
    short by a crash) is cut off when the log is opened, with a warning.

    Args:
        run_dir: The run directory.
        enabled: False on non-main ranks (nothing is written).
        tensorboard: Also write TensorBoard events when possible.
    """

    def __init__(self, run_dir: str | Path, *, enabled: bool = True, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.enabled = enabled
        self._writer = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._repair_torn_tail()
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError:  # tensorboard is optional
                    SummaryWriter = None
                if SummaryWriter is not None:
                    self._writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def _repair_torn_tail(self) -> None:
        """Cut a last line without its newline (a write interrupted by a crash)."""
        if not self.path.is_file():
            return
        with self.path.open("rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            cut, end = 0, size
            while end > 0:  # scan back, a chunk at a time, for the last complete line
                start = max(0, end - (1 << 16))
                handle.seek(start)
                newline = handle.read(end - start).rfind(b"\n")
                if newline >= 0:
                    cut = start + newline + 1
                    break
                end = start
            handle.truncate(cut)
        warnings.warn(
            f"{self.path}: removed a torn last record ({size - cut} bytes) left by an "
            f"interrupted write; every complete record is kept",
            stacklevel=3,
        )

    def write(self, step: int, values: Mapping[str, Any], *, kind: str = "train") -> None:
        """Record ``values`` (numbers or strings) at ``step``."""
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, "time": time.time()}
        for key, value in values.items():
            value = float(value) if hasattr(value, "item") else value
            record[key] = None if isinstance(value, float) and not math.isfinite(value) else value
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(f"{kind}/{key}", value, step)

    def mark_resume(self, step: int) -> None:
        """Note that the run continues from its checkpoint of ``step``."""
        self.write(step, {}, kind=RESUME)

    def read(self) -> list[dict[str, Any]]:
        """The run's records in order, as an uninterrupted run would have written them:
        records past a resume point that were logged before it are dropped, and so are
        unreadable lines (with a warning naming the file and line)."""
        if not self.path.is_file():
            return []
        records: list[dict[str, Any]] = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                step = int(record["step"])
            except (ValueError, KeyError, TypeError):
                warnings.warn(f"{self.path}:{number}: skipped an unreadable record", stacklevel=2)
                continue
            if record.get("kind") == RESUME:
                records = [r for r in records if r["step"] <= step]
                continue
            records.append(record)
        return records

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
