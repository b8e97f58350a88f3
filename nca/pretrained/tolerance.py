"""How far a measured metric may lie from a shipped model's recorded one ("within noise").

One rule per kind of metric, matched by name (first match wins): a value passes when
``|measured - recorded| <= absolute + relative * |recorded|``.

| metric name contains | absolute | relative | why |
| --- | --- | --- | --- |
| `psnr` | 1.0 dB | 0 | a dB scale: 1 dB is a visible difference |
| `ssim`, `lpips` | 0.02 | 0 | bounded similarity scores |
| `accuracy`, `agree` | 5 | 0 | percentages, as the tasks report them (5 points) |
| `fraction` | 0.05 | 0 | fractions in [0, 1] (5 percentage points) |
| `steps` | 2 | 10 % | step counts (recovery time) |
| `loss` | 1e-4 | 10 % | losses differ in scale between tasks |
| anything else | 1e-6 | 5 % | |

A metric recorded as NaN (``None`` in the manifest) must be NaN again. Evaluating a
shipped model again on the same platform reproduces its numbers to float rounding; these
tolerances are for retraining (``scripts/train_pretrained.py --check``), whose result
depends on the platform's floating point and thread count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move.

    Attributes:
        absolute: Allowed difference in the metric's own unit.
        relative: Allowed difference as a fraction of the recorded value.
    """

    absolute: float
    relative: float = 0.0

    def allows(self, recorded: float | None, measured: float | None) -> bool:
        """Whether ``measured`` is within this tolerance of ``recorded`` (``None`` or NaN:
        both must be)."""
        missing = [v is None or math.isnan(v) for v in (recorded, measured)]
        if any(missing):
            return all(missing)
        return abs(measured - recorded) <= self.absolute + self.relative * abs(recorded)

    def describe(self) -> str:
        """``±1`` or ``±1e-4 + 10%``."""
        parts = [f"±{self.absolute:g}"] + ([f"{self.relative:.0%}"] if self.relative else [])
        return " + ".join(parts)


#: ``(substrings of the metric name, tolerance)``, first match wins.
RULES: tuple[tuple[tuple[str, ...], Tolerance], ...] = (
    (("psnr",), Tolerance(1.0)),
    (("ssim", "lpips"), Tolerance(0.02)),
    (("accuracy", "agree"), Tolerance(5.0)),  # classify and probe report percentages
    (("fraction",), Tolerance(0.05)),
    (("steps",), Tolerance(2.0, 0.10)),
    (("loss",), Tolerance(1e-4, 0.10)),
)
#: The tolerance of a metric no rule names.
DEFAULT = Tolerance(1e-6, 0.05)


def tolerance_of(metric: str) -> Tolerance:
    """The tolerance of the metric named ``metric``."""
    name = metric.lower()
    for words, tolerance in RULES:
        if any(word in name for word in words):
            return tolerance
    return DEFAULT


@dataclass(frozen=True)
class MetricComparison:
    """A recorded metric next to a measured one.

    Attributes:
        metric: Its name.
        recorded: The manifest's value (``None``: NaN).
        measured: The new value (``None``: NaN or not measured).
        tolerance: The tolerance it is held to.
    """

    metric: str
    recorded: float | None
    measured: float | None
    tolerance: Tolerance

    @property
    def ok(self) -> bool:
        return self.tolerance.allows(self.recorded, self.measured)


def compare_metrics(
    recorded: dict[str, float | None], measured: dict[str, float]
) -> list[MetricComparison]:
    """Each recorded metric against its measured value (a metric no longer measured
    compares as ``None`` and fails, unless it was recorded as NaN)."""
    rows = []
    for metric, value in recorded.items():
        found = measured.get(metric)
        found = float(found) if isinstance(found, (int, float)) else None
        rows.append(MetricComparison(metric, value, found, tolerance_of(metric)))
    return rows
