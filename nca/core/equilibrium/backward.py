"""Gradients of an equilibrium ``z* = f(z*)`` without the forward's graph.

With ``L(z*)`` and ``f`` depending on parameters ``θ`` (and on fixed inputs ``x``),
the implicit function theorem gives ``dL/dθ = yᵀ ∂f/∂θ`` where ``y`` solves
``y = Jᵀ y + ∂L/∂z*`` with ``J = ∂f/∂z`` at ``z*``. That linear system is solved on
vector-Jacobian products, by GMRES or, as a fixed point of its own, by Picard or
Anderson iteration (``backward_solver``).
Its Neumann partial sums ``Σ_{i<k} (Jᵀ)ⁱ g`` are exactly the gradient of ``k``
unrolled steps from ``z*``: the *phantom* gradient, and the fallback when the linear
solve does not converge.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from nca.core.equilibrium.config import FixedPointConfig
from nca.core.equilibrium.krylov import gmres
from nca.core.equilibrium.solvers import Map, SolverResult, solve
from nca.core.equilibrium.stats import FixedPointStats


def phantom_gradient(f: Map, z_star: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` applications of ``f`` from ``z*`` (detached), recorded by autograd.

    Each application but the last is checkpointed (``f`` is deterministic), so memory is
    ``steps`` grids plus one evaluation's activations, whatever the forward solve took.
    """
    z = z_star.detach()
    for i in range(steps):
        recompute = i < steps - 1 and torch.is_grad_enabled()
        z = checkpoint(f, z, use_reentrant=False) if recompute else f(z)
    return z


def _neumann(vjp, grad: torch.Tensor, terms: int) -> torch.Tensor:
    """``Σ_{i<terms} (Jᵀ)ⁱ grad``."""
    total, term = grad, grad
    for _ in range(terms - 1):
        term = vjp(term)
        total = total + term
    return total


def implicit_gradient(
    f: Map, z_star: torch.Tensor, config: FixedPointConfig, stats: FixedPointStats
) -> torch.Tensor:
    """``f(z*)`` whose gradient, when ``backward()`` reaches it, is replaced by the
    implicit one.

    One evaluation of ``f`` serves both purposes: the hook's vector-Jacobian products
    ``Jᵀ v`` differentiate it with respect to ``z*`` (a fresh leaf), then the outer
    backward carries the solution ``y`` through it to ``θ`` and the fixed inputs. Memory:
    one evaluation's activations.

    Args:
        f: The map whose fixed point ``z_star`` is (its parameters and fixed inputs are
            differentiated through).
        z_star: The equilibrium ``(B, ...)`` (its graph, if any, is not used).
        config: Backward tolerance, cap, solver and fallback length.
        stats: Receives the backward solve's steps, residual and convergence.

    Returns:
        ``f(z*)``, the equilibrium's shape, attached to the graph of one evaluation.
    """
    with torch.enable_grad():
        leaf = z_star.detach().clone().requires_grad_()
        out = f(leaf)  # dL/dθ = yᵀ ∂f/∂θ, and Jᵀ v = ∂f/∂z* ᵀ v, from this one graph

    def vjp(v: torch.Tensor) -> torch.Tensor:
        (jv,) = torch.autograd.grad(out, leaf, v, retain_graph=True)
        return jv

    def replace(grad: torch.Tensor) -> torch.Tensor:
        handle.remove()  # first: the products below backpropagate from `out` too
        result = _linear_solve(vjp, grad, config)
        stats.backward_steps = result.steps
        stats.backward_residual = result.residual
        stats.backward_converged = result.converged
        if result.converged:
            return result.solution
        stats.gradient = "phantom-fallback"
        return _neumann(vjp, grad, config.phantom_steps)

    handle = out.register_hook(replace)
    return out


def _linear_solve(vjp, grad: torch.Tensor, config: FixedPointConfig) -> SolverResult:
    """``y = Jᵀ y + grad`` by ``config.backward_solver``."""
    if config.backward_solver == "gmres":
        return gmres(
            vjp,
            grad,
            tol=config.backward_tol,
            max_steps=config.backward_max_steps,
            restart=config.gmres_restart,
        )
    return solve(
        lambda y: vjp(y) + grad,
        grad,
        method=config.backward_solver,
        tol=config.backward_tol,
        max_steps=config.backward_max_steps,
        memory=config.anderson_memory,
    )
