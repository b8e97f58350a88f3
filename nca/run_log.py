"""Metrics of a run: JSON lines (always) and TensorBoard events (when installed)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class RunLog:
    """Append-only metrics log of a run directory.

    Writes one JSON object per line to ``metrics.jsonl`` (flushed per record,
    so an interrupted run keeps what it logged) and, if the ``tensorboard``
    package is installed, the same scalars to ``tensorboard/``.

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
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError:  # tensorboard is optional
                    SummaryWriter = None
                if SummaryWriter is not None:
                    self._writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

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

    def read(self) -> list[dict[str, Any]]:
        """All records so far."""
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (a resumed run rewrites what came after its checkpoint)."""
        if self.enabled and self.path.is_file():
            kept = [r for r in self.read() if r["step"] <= step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
