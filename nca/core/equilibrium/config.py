"""How a training rollout is differentiated, and the fixed-point mode's settings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

#: ``bptt``: backpropagate through every step (the paper's default); ``checkpoint``: the
#: same gradient, with activations recomputed per segment (App. A.2); ``fixed-point``:
#: solve for the equilibrium without a graph and differentiate it implicitly.
GradientMode = Literal["bptt", "checkpoint", "fixed-point"]
GRADIENT_MODES: tuple[str, ...] = get_args(GradientMode)

#: ``rollout``: iterate the stochastic CA itself (masks drawn as in training);
#: ``picard``: iterate the expected update ``z + σ·u(z)``; ``anderson``: Anderson
#: acceleration of the expected update.
FixedPointSolver = Literal["rollout", "picard", "anderson"]
#: ``implicit``: the implicit-function-theorem gradient (a linear solve with
#: vector-Jacobian products); ``phantom``: backpropagate ``phantom_steps`` unrolled
#: expected updates from the equilibrium.
FixedPointBackward = Literal["implicit", "phantom"]
#: How the implicit gradient's linear system ``y = Jᵀy + g`` is solved: ``gmres``
#: (restarted GMRES on the vector-Jacobian products), or ``picard`` / ``anderson``
#: (the fixed-point solvers applied to that affine map).
BackwardSolver = Literal["gmres", "picard", "anderson"]


def check_gradient_mode(mode: str) -> str:
    if mode not in GRADIENT_MODES:
        raise ValueError(f"gradient must be one of {', '.join(GRADIENT_MODES)}, got {mode!r}")
    return mode


@dataclass(frozen=True)
class FixedPointConfig:
    """Settings of fixed-point (deep-equilibrium) training, ``gradient=fixed-point``.

    Attributes:
        solver: Forward solver: ``picard`` (default: the expected update iterated, which
            follows the CA's own dynamics from the starting grid), ``anderson`` (faster
            on a contraction, but it can land on a fixed point the CA never reaches:
            denoising from a fresh rule, it found high-overflow equilibria) or
            ``rollout`` (the stochastic CA itself).
        tol: Stop the forward solve when every sample's relative residual
            ``‖f(z) − z‖ / ‖f(z)‖`` is below this.
        max_steps: Forward cap (rule evaluations); the paper's test ``T`` is 64.
        backward: ``implicit`` (default) or ``phantom``.
        backward_solver: The implicit linear solve: ``gmres`` (default), ``picard`` or
            ``anderson``. Picard converges at the rate of ``Jᵀ``'s spectral radius ρ
            (about ``log(tol)/log(ρ)`` products); GMRES needs far fewer when a few slow
            directions set ρ. See :func:`~nca.core.equilibrium.krylov.gmres`.
        backward_tol: Relative residual of the implicit linear solve.
        backward_max_steps: Cap of the implicit linear solve (vector-Jacobian products).
        gmres_restart: GMRES's basis size before it restarts; the basis holds this many
            copies of the solved channels, the solve's memory beyond one evaluation.
        phantom_steps: Unrolled steps of the ``phantom`` gradient, and of the fallback
            gradient when a solve does not converge.
        anderson_memory: Past iterates Anderson acceleration mixes.
        jacobian_weight: Weight ``γ`` of the Jacobian regulariser (Bai, Koltun & Kolter
            2021, "Stabilizing Equilibrium Models by Jacobian Regularization"): adds
            ``γ·‖J_g(z*)‖²_F / n`` to the training loss, where ``g(z) = z + u(z)`` is the
            update a firing cell applies. It pushes that update, and with it the
            expected one, towards a contraction, so that the forward and the implicit
            solve converge and the stochastic CA settles at ``z*``. Denoise needed
            γ ≈ 50 (its loss is of order 10). 0 (default): off. See
            :func:`~nca.core.equilibrium.jacobian_penalty`.
    """

    solver: FixedPointSolver = "picard"
    tol: float = 1e-3
    max_steps: int = 64
    backward: FixedPointBackward = "implicit"
    backward_solver: BackwardSolver = "gmres"
    backward_tol: float = 1e-3
    backward_max_steps: int = 32
    gmres_restart: int = 32
    phantom_steps: int = 8
    anderson_memory: int = 5
    jacobian_weight: float = 0.0

    def __post_init__(self) -> None:
        for name, kind in (
            ("solver", FixedPointSolver),
            ("backward", FixedPointBackward),
            ("backward_solver", BackwardSolver),
        ):
            if getattr(self, name) not in get_args(kind):
                raise ValueError(
                    f"fixed_point.{name} must be one of {', '.join(get_args(kind))}, "
                    f"got {getattr(self, name)!r}"
                )
        for name in ("tol", "backward_tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (value > 0 and math.isfinite(value)):
                raise ValueError(f"fixed_point.{name} must be a positive number, got {value!r}")
        weight = self.jacobian_weight
        if isinstance(weight, bool) or not (weight >= 0 and math.isfinite(weight)):
            raise ValueError(f"fixed_point.jacobian_weight must be a number >= 0, got {weight!r}")
        for name in (
            "max_steps",
            "backward_max_steps",
            "gmres_restart",
            "phantom_steps",
            "anderson_memory",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"fixed_point.{name} must be an integer >= 1, got {value!r}")
