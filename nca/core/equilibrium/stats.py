"""What a fixed-point rollout reports: forward and backward convergence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class FixedPointStats:
    """Convergence of one fixed-point rollout. The backward fields are filled when
    ``backward()`` runs through it (``None`` before, or with the phantom gradient).

    Attributes:
        forward_steps: Rule evaluations of the forward solve.
        forward_residual: Largest relative residual over the batch at its end.
        converged: The forward solve reached its tolerance.
        gradient: ``implicit``, ``phantom``, or ``phantom-fallback`` when a solve did not
            converge and the gradient fell back to ``phantom_steps`` unrolled steps.
        backward_steps: Vector-Jacobian products of the implicit linear solve.
        backward_residual: Its relative residual at the end.
        backward_converged: The implicit linear solve reached its tolerance.
        jacobian: The differentiable estimate of ``‖J_g(z*)‖²_F / n``
            (``g(z) = z + u(z)``) when the Jacobian
            regulariser is on (``fixed_point.jacobian_weight > 0``), else ``None``.
        jacobian_weight: Its weight ``γ`` in the loss.
    """

    forward_steps: int
    forward_residual: float
    converged: bool
    gradient: str
    backward_steps: int | None = None
    backward_residual: float | None = None
    backward_converged: bool | None = None
    jacobian: torch.Tensor | None = None
    jacobian_weight: float = 0.0

    @property
    def fell_back(self) -> bool:
        """A solve failed, so the gradient is the phantom fallback's."""
        return self.gradient == "phantom-fallback"

    def metrics(self) -> dict[str, float | Callable[[], float]]:
        """Numbers for a training log (``Losses.info``). The backward ones are
        callables, read after ``backward()``."""

        def later(name: str) -> Callable[[], float]:
            def read() -> float:
                value = getattr(self, name)
                return float("nan") if value is None else float(value)

            return read

        jacobian = {}
        if self.jacobian is not None:
            jacobian = {"fp_jacobian": float(self.jacobian.detach())}
        return {
            **jacobian,
            "fp_forward_steps": float(self.forward_steps),
            "fp_forward_residual": self.forward_residual,
            "fp_backward_steps": later("backward_steps"),
            "fp_backward_residual": later("backward_residual"),
            "fp_fallback": lambda: float(self.fell_back),
        }


def fixed_point_penalty(stats: FixedPointStats | None) -> torch.Tensor | float:
    """What a task adds to its loss for a rollout: ``γ·‖J_g(z*)‖²_F / n`` when the
    Jacobian regulariser is on, else 0."""
    if stats is None or stats.jacobian is None:
        return 0.0
    return stats.jacobian_weight * stats.jacobian


def fixed_point_metrics(stats: FixedPointStats | None) -> dict[str, float | Callable[[], float]]:
    """``stats.metrics()``, or nothing for a rollout that was not a fixed-point solve."""
    return {} if stats is None else stats.metrics()
