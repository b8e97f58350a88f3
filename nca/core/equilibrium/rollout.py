"""Fixed-point (deep-equilibrium) rollouts of a cellular automaton.

The asynchronous update ``z ← z + m ⊙ u(z)`` with a Bernoulli(σ) firing mask ``m``
has the same fixed points for every mask: the states where the rule's update ``u``
vanishes on every cell. At such a state the mask is irrelevant, so the equilibrium
is that of the *expected* update ``f(z) = z + σ·u(z)`` (every cell moves by σ of its
update), which is deterministic and smooth. That is the map solved and
differentiated here:

* the forward solve runs under ``torch.no_grad()``: Anderson or Picard iteration of
  ``f``, or (``rollout``) the stochastic CA itself until its update is small;
* the gradient is attached by one more evaluation ``f(z*)``: implicit (IFT) or
  phantom (``phantom_steps`` unrolled ``f``, i.e. damped synchronous steps with
  damping σ).

Memory therefore does not depend on how many steps the solve took. Only the output
and hidden channels are solved for; input and positional channels are constants of
``f`` (their gradient, e.g. to the input images, flows through ``∂f/∂x``).

Residual noise (``update_noise``) has mean zero, so it does not move the expected
map's fixed point; it is not applied here.

When the forward solve does not converge within ``max_steps``, the IFT premise fails:
the gradient falls back to the phantom gradient from the last iterate and the
returned :class:`FixedPointStats` says so (``gradient="phantom-fallback"``). When the
implicit linear solve does not converge, the gradient is its ``phantom_steps``-term
Neumann sum (the phantom gradient at ``z*``), flagged the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nca.core.equilibrium.backward import implicit_gradient, phantom_gradient
from nca.core.equilibrium.config import FixedPointConfig
from nca.core.equilibrium.solvers import SolverResult, relative_residual, solve
from nca.core.equilibrium.stats import FixedPointStats
from nca.core.layout import CellLayout
from nca.core.random import SampleGenerators, normal
from nca.core.update import check_update_rate, draw_update_mask

StepFn = Callable[..., torch.Tensor]

#: Finite-difference step of :func:`jacobian_penalty`'s Jacobian-vector product.
JACOBIAN_PROBE_STEP = 1e-2


def jacobian_penalty(
    f: Callable[[torch.Tensor], torch.Tensor],
    z_star: torch.Tensor,
    generator: torch.Generator | SampleGenerators | None = None,
    step: float = JACOBIAN_PROBE_STEP,
) -> torch.Tensor:
    """Estimate ``‖J_f(z*)‖²_F / n`` (Bai et al. 2021), differentiable in ``f``'s parameters.

    The rollout applies it to the synchronous map ``g(z) = z + u(z)``, the update a
    firing cell applies, rather than to the expected map ``(1 − σ) z + σ g(z)`` it
    solves. Both have the same fixed points, and ``‖J_g‖ < 1`` makes the expected map
    contract too. Penalising the expected map instead is minimised by ``J_u = −I/σ``:
    a cell that fires overshoots its equilibrium by a factor ``1/σ``, so the expected
    map converges while the stochastic CA oscillates around it (measured on ViTCA: 37 %
    relative change per stochastic step, 25 % away from ``z*``).

    Hutchinson's estimator ``E_ε ‖J ε‖² = ‖J‖²_F`` with one Gaussian probe ``ε`` per
    call, averaged over the ``n`` elements of ``z*`` and the batch. ``J ε`` is a forward
    difference ``(f(z* + hε) − f(z*)) / h`` rather than the double backward of Bai et
    al.'s vector-Jacobian product, since the fused attention backends are not twice
    differentiable; its bias is ``O(h)``. ``z*`` is detached: the penalty shapes the
    map, not the equilibrium.

    Args:
        f: The map, ``(B, ...) -> (B, ...)``.
        z_star: The equilibrium ``(B, ...)``.
        generator: Source of the probe (any device).
        step: The difference step ``h``.

    Returns:
        A scalar tensor recorded by autograd (two evaluations of ``f``).
    """
    z = z_star.detach()
    probe = normal(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    return ((f(z + step * probe) - f(z)) / step).square().mean()


def _stochastic_solve(
    step: StepFn,
    rebuild: Callable[[torch.Tensor], torch.Tensor],
    fixed: int,
    z: torch.Tensor,
    rate: float,
    generator,
    config: FixedPointConfig,
) -> SolverResult:
    """Run the asynchronous CA until the relative norm of its update is below ``tol``."""
    trace: list[float] = []
    for _ in range(config.max_steps):
        cells = rebuild(z)
        new = step(cells, draw_update_mask(cells, rate, generator))[:, fixed:]
        residual = float(relative_residual(new, z).max())
        trace.append(residual if residual == residual else float("inf"))
        z = new
        if trace[-1] < config.tol or trace[-1] == float("inf"):
            break
    return SolverResult(z, len(trace), trace[-1], trace[-1] < config.tol, trace)


def fixed_point_rollout(
    step: StepFn,
    layout: CellLayout,
    cells: torch.Tensor,
    config: FixedPointConfig,
    *,
    rate: float,
    generator: torch.Generator | SampleGenerators | None = None,
) -> tuple[torch.Tensor, FixedPointStats]:
    """Solve for the equilibrium of ``step`` from ``cells`` and attach its gradient.

    Args:
        step: ``step(cells, mask) -> cells`` (e.g. ``CellularAutomaton.step``); called
            with a constant mask of σ for the expected update.
        layout: Layout of ``cells``.
        cells: Starting grids ``(B, C, H', W')``.
        config: Solver, tolerances, caps and the backward method.
        rate: σ in (0, 1].
        generator: Mask source of the ``rollout`` solver.

    Returns:
        ``(cells*, stats)``: the equilibrium grids ``(B, C, H', W')`` (recorded by
        autograd when gradients are enabled) and the solve's :class:`FixedPointStats`.
    """
    layout.check_cells(cells)
    rate = check_update_rate(rate)
    fixed = layout.fixed_slice.stop
    inputs, start = cells[:, :fixed], cells[:, fixed:]
    expected = cells.new_full((cells.shape[0], 1, *cells.shape[2:]), rate)

    def rebuild(z: torch.Tensor) -> torch.Tensor:
        return torch.cat([inputs, z], dim=1)

    def f(z: torch.Tensor) -> torch.Tensor:
        return step(rebuild(z), expected)[:, fixed:]

    def synchronous(z: torch.Tensor) -> torch.Tensor:  # every cell fires: z + u(z)
        return step(rebuild(z), torch.ones_like(expected))[:, fixed:]

    with torch.no_grad():
        if config.solver == "rollout":
            result = _stochastic_solve(step, rebuild, fixed, start, rate, generator, config)
        else:
            result = solve(
                f,
                start,
                method=config.solver,
                tol=config.tol,
                max_steps=config.max_steps,
                memory=config.anderson_memory,
            )
    gradient = config.backward if result.converged else "phantom-fallback"
    stats = FixedPointStats(result.steps, result.residual, result.converged, gradient)
    if not torch.is_grad_enabled():
        return rebuild(result.solution), stats
    if config.jacobian_weight > 0:
        # the map a firing cell applies, not the expected one: see jacobian_penalty
        stats.jacobian = jacobian_penalty(synchronous, result.solution, generator)
        stats.jacobian_weight = config.jacobian_weight
    if gradient == "implicit":
        z = implicit_gradient(f, result.solution, config, stats)
    else:
        z = phantom_gradient(f, result.solution, config.phantom_steps)
    return rebuild(z), stats
