"""Restarted GMRES for the implicit gradient's linear system ``y = L(y) + b``.

The implicit backward solves ``(I − Jᵀ) y = ∂L/∂z*``. Iterating ``y ← Jᵀy + b``
(Picard) converges at the rate of ``Jᵀ``'s spectral radius ρ: with ρ ≈ 0.93, as on a
Jacobian-regularised denoiser, that is about 95 vector-Jacobian products for a
relative residual of 1e-3. GMRES (Saad & Schultz 1986) takes from the same products
the combination with the least residual, so a few slow eigen-directions cost a few
extra products each instead of setting the rate for all of them.

Batched: each sample ``(B, ...)`` is its own system with its own Krylov basis, and
each stops at its own tolerance. The small Hessenberg problems run in float64; the
basis keeps the right-hand side's dtype. The basis holds ``restart`` vectors of the
right-hand side's size, which is this solver's memory beyond Picard's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from einops import rearrange

from nca.core.equilibrium.solvers import SolverResult

#: Keeps the relative residual defined where the solution is all zeros (0 when the
#: residual is too), without the absolute floor of the fixed-point solvers' 1e-8, which
#: would make the test lenient for gradients whose norm is near it.
_NORM_EPS = torch.finfo(torch.float64).tiny


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample inner product of ``(B, D)`` tensors, as float64 ``(B,)``."""
    dtype = torch.promote_types(a.dtype, torch.float32)
    return torch.einsum("bd,bd->b", a.to(dtype), b.to(dtype)).double()


def _givens(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation ``(c, s)`` with ``c·a + s·b = r ≥ 0`` and ``−s·a + c·b = 0``, per sample;
    the identity where ``a = b = 0`` (a Krylov breakdown on a singular system)."""
    r = torch.hypot(a, b)
    safe = torch.where(r > 0, r, torch.ones_like(r))
    return torch.where(r > 0, a / safe, torch.ones_like(r)), torch.where(r > 0, b / safe, 0 * r)


def gmres(
    linear: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    *,
    tol: float,
    max_steps: int,
    restart: int,
) -> SolverResult:
    """Solve ``y = L(y) + b`` for a linear map ``L``, one system per sample, from ``y = 0``.

    The stopping rule is the fixed-point solvers' (:func:`~nca.core.equilibrium.solvers.picard`):
    every sample's relative residual ``‖f(y) − y‖ / ‖f(y)‖`` with ``f(y) = L(y) + b`` below
    ``tol``. Inside a cycle it is read off the Hessenberg least-squares problem; the
    result's residual is always recomputed with one more product, so round-off in the
    basis can make a solve report failure, never a false success. The solve also stops,
    unconverged, when a cycle did not lower some unconverged sample's residual norm:
    restarted GMRES from the same point repeats itself (a singular system, e.g.
    ``L = I``, ends there after one product and its check).

    Args:
        linear: ``L``, ``(B, ...) -> (B, ...)`` (e.g. a vector-Jacobian product).
        b: The right-hand side ``(B, ...)``. The basis is kept in at least float32.
        tol: Relative residual to reach on every sample.
        max_steps: Cap on evaluations of ``L``, the final residual check included.
        restart: Basis size before GMRES restarts from its current solution.

    Returns:
        A :class:`SolverResult` whose ``solution`` is ``f(y)`` (like Picard's image, in
        ``b``'s dtype) and whose ``residual`` is the largest exact relative residual at
        ``y``. ``trace`` has one entry per evaluation of ``L``: the largest estimated
        residual after each Arnoldi step (each sample's own, frozen once it stopped),
        the exact one at each check.
    """
    if isinstance(restart, bool) or not isinstance(restart, int) or restart < 1:
        raise ValueError(f"gmres restart must be an integer >= 1, got {restart!r}")
    shape, dtype = b.shape, b.dtype
    work = torch.promote_types(dtype, torch.float32)
    apply = lambda v: linear(v.reshape(shape).to(dtype)).reshape(v.shape).to(work)  # noqa: E731
    rhs = rearrange(b, "b ... -> b (...)").to(work)
    x = torch.zeros_like(rhs)
    residual = rhs  # b + L(0) − 0
    trace: list[float] = []
    steps, previous = 0, None
    while True:
        norm = _dot(residual, residual).sqrt()
        exact = norm / (_dot(x + residual, x + residual).sqrt() + _NORM_EPS)
        worst = _finite_or_inf(exact.max())
        if steps:
            trace.append(worst)
        budget = min(restart, max_steps - steps - 1)
        # a sample whose residual a whole cycle did not lower would repeat that cycle
        stuck = previous is not None and bool(((exact >= tol) & (norm >= previous)).any())
        if worst < tol or worst == math.inf or budget < 1 or stuck:
            solution = (x + residual).reshape(shape).to(dtype)
            return SolverResult(solution, steps, worst, worst < tol, trace)
        previous = norm
        x, used = _cycle(apply, x, residual, exact, tol, budget, trace)
        steps += used
        residual = rhs + apply(x) - x
        steps += 1


def _finite_or_inf(value: torch.Tensor) -> float:
    number = float(value)
    return number if math.isfinite(number) else math.inf


def _cycle(apply, x, residual, exact, tol, budget, trace):
    """One GMRES cycle of at most ``budget`` Arnoldi steps from ``x`` ``(B, D)``, given its
    residual and each sample's exact relative residual there; returns the new ``x`` and
    the number of evaluations of ``L`` it made."""
    batch = x.shape[0]
    beta = _dot(residual, residual).sqrt()  # (B,)
    scale = torch.where(beta > 0, beta, torch.ones_like(beta))
    basis = [residual / scale.to(x.dtype)[:, None]]
    along_x = [_dot(basis[0], x)]  # ⟨vⱼ, x⟩, for ‖x + V c‖ without forming it
    x_norm2 = _dot(x, x)
    hessenberg = x.new_zeros(batch, budget + 1, budget, dtype=torch.float64)
    cos = x.new_zeros(batch, budget, dtype=torch.float64)
    sin = x.new_zeros(batch, budget, dtype=torch.float64)
    g = x.new_zeros(batch, budget + 1, dtype=torch.float64)
    g[:, 0] = beta
    # Each sample's basis size: where its estimate met tol, or the last solvable size
    # before its triangle turned singular (a breakdown that solves nothing); -1 while it
    # is still growing. Samples that had converged use none of the cycle.
    size = torch.where(exact < tol, 0, -1)
    estimate = exact.clone()
    for j in range(budget):
        w = basis[j] - apply(basis[j])  # (I − L) vⱼ
        before = _dot(w, w).sqrt()
        for i, v in enumerate(basis):  # modified Gram-Schmidt
            h = _dot(v, w)
            hessenberg[:, i, j] = h
            w = w - h.to(w.dtype)[:, None] * v
        norm = _dot(w, w).sqrt()
        hessenberg[:, j + 1, j] = norm
        # a breakdown (the new direction lies in the basis), relative to this product
        alive = norm > 1e-12 * before
        safe = torch.where(alive, norm, torch.ones_like(norm)).to(w.dtype)
        basis.append(torch.where(alive[:, None], w / safe[:, None], torch.zeros_like(w)))
        along_x.append(_dot(basis[-1], x))
        for i in range(j):  # earlier rotations on the new column
            top, bottom = hessenberg[:, i, j].clone(), hessenberg[:, i + 1, j].clone()
            hessenberg[:, i, j] = cos[:, i] * top + sin[:, i] * bottom
            hessenberg[:, i + 1, j] = -sin[:, i] * top + cos[:, i] * bottom
        cos[:, j], sin[:, j] = _givens(hessenberg[:, j, j], hessenberg[:, j + 1, j])
        hessenberg[:, j, j] = cos[:, j] * hessenberg[:, j, j] + sin[:, j] * hessenberg[:, j + 1, j]
        hessenberg[:, j + 1, j] = 0.0
        g[:, j + 1] = -sin[:, j] * g[:, j]
        g[:, j] = cos[:, j] * g[:, j]
        c, solvable = _coefficients(
            hessenberg[:, :, : j + 1], g[:, : j + 2], torch.full_like(size, j + 1)
        )
        projection = torch.stack(along_x[: j + 1], dim=1)  # (B, j+1)
        solution_norm2 = x_norm2 + 2 * (projection * c).sum(1) + c.square().sum(1)
        now = g[:, j + 1].abs() / (solution_norm2.clamp_min(0).sqrt() + _NORM_EPS)
        growing = size < 0
        estimate = torch.where(growing & solvable, now, estimate)
        size = torch.where(growing & ~solvable, j, size)  # singular: keep the last solvable
        size = torch.where(growing & solvable & (now < tol), j + 1, size)
        trace.append(_finite_or_inf(estimate.max()))
        if bool((size >= 0).all()):
            break
    used = j + 1
    size = torch.where(size < 0, used, size)
    c, _ = _coefficients(hessenberg[:, :, :used], g[:, : used + 1], size)
    c = c.to(x.dtype)
    for k in range(used):  # x + V c, without a stacked copy of the basis
        x = x + c[:, k, None] * basis[k]
    return x, used


def _coefficients(
    r: torch.Tensor, g: torch.Tensor, size: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve each sample's leading ``size × size`` triangle ``R c = g``: ``(c, solvable)``,
    ``c`` ``(B, k)`` with zeros past ``size``, and all zeros for a sample whose triangle
    is singular (its ``x`` does not move; ``solvable`` ``(B,)`` is False)."""
    k = r.shape[-1]
    index = torch.arange(k, device=r.device)
    keep = index[None, :] < size[:, None]  # (B, k)
    square = r[:, :k, :k]
    both = keep[:, :, None] & keep[:, None, :]
    eye = torch.eye(k, dtype=r.dtype, device=r.device).expand_as(square)
    tri = torch.where(both, square, eye)
    rhs = torch.where(keep, g[:, :k], 0.0)
    diagonal = tri.diagonal(dim1=1, dim2=2).abs()
    solvable = (diagonal > 1e-12 * diagonal.amax(1, keepdim=True).clamp_min(1e-300)).all(1)
    tri = torch.where(solvable[:, None, None], tri, eye)
    c = torch.linalg.solve_triangular(tri, rhs[:, :, None], upper=True).squeeze(-1)
    solvable = solvable & torch.isfinite(c).all(1)
    return torch.where(solvable[:, None], c, torch.zeros_like(c)), solvable
