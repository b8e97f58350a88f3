"""Fixed-point (deep-equilibrium) training of cellular automata: solvers, implicit and
phantom gradients, and the rollout mode that uses them (``gradient=fixed-point``)."""

from nca.core.equilibrium.backward import implicit_gradient, phantom_gradient
from nca.core.equilibrium.config import (
    GRADIENT_MODES,
    BackwardSolver,
    FixedPointBackward,
    FixedPointConfig,
    FixedPointSolver,
    GradientMode,
    check_gradient_mode,
)
from nca.core.equilibrium.krylov import gmres
from nca.core.equilibrium.rollout import fixed_point_rollout, jacobian_penalty
from nca.core.equilibrium.solvers import SolverResult, anderson, picard, relative_residual, solve
from nca.core.equilibrium.stats import FixedPointStats, fixed_point_metrics, fixed_point_penalty

__all__ = [
    "GRADIENT_MODES",
    "BackwardSolver",
    "FixedPointBackward",
    "FixedPointConfig",
    "FixedPointSolver",
    "FixedPointStats",
    "GradientMode",
    "SolverResult",
    "anderson",
    "check_gradient_mode",
    "fixed_point_metrics",
    "fixed_point_penalty",
    "fixed_point_rollout",
    "gmres",
    "implicit_gradient",
    "jacobian_penalty",
    "phantom_gradient",
    "picard",
    "relative_residual",
    "solve",
]
