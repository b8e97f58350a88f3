"""Fixed-point solvers for batched tensors: Picard iteration and Anderson acceleration.

Both find ``z`` with ``f(z) = z`` for a batch ``z`` of shape ``(B, ...)``, one problem
per sample, and stop when every sample's relative residual
``‖f(z) − z‖ / ‖f(z)‖`` is below ``tol`` or after ``max_steps`` evaluations of ``f``.
They run under whatever grad mode the caller chose (the forward solve runs under
``torch.no_grad()``; the implicit backward solve needs none).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from einops import rearrange

Map = Callable[[torch.Tensor], torch.Tensor]

#: Keeps the relative residual finite where ``f(z)`` is all zeros.
_NORM_EPS = 1e-8


@dataclass
class SolverResult:
    """What a solve returned.

    Attributes:
        solution: The iterate ``f(z)`` with the lowest residual (the last one when the
            solve converged), the input's shape.
        steps: Evaluations of ``f``.
        residual: The largest relative residual over the batch at ``solution``.
        converged: ``residual < tol`` (and finite).
        trace: The largest relative residual after each evaluation.
    """

    solution: torch.Tensor
    steps: int
    residual: float
    converged: bool
    trace: list[float] = field(default_factory=list)


def relative_residual(fz: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``‖f(z) − z‖ / ‖f(z)‖`` per sample: ``(B,)`` from two ``(B, ...)`` tensors."""
    dtype = torch.promote_types(fz.dtype, torch.float32)
    diff = (fz - z).flatten(1).to(dtype).norm(dim=1)
    return diff / (fz.flatten(1).to(dtype).norm(dim=1) + _NORM_EPS)


def _largest(residual: torch.Tensor) -> float:
    value = float(residual.max())  # the one host sync of an iteration
    return value if math.isfinite(value) else math.inf


class _Best:
    """The lowest-residual iterate so far: a solve that does not converge returns its
    best point, not wherever the last (possibly extrapolated) iterate went."""

    def __init__(self) -> None:
        self.solution: torch.Tensor | None = None
        self.residual = math.inf

    def offer(self, solution: torch.Tensor, residual: float) -> None:
        if self.solution is None or residual <= self.residual:
            self.solution, self.residual = solution, residual

    def result(self, steps: int, tol: float, trace: list[float]) -> SolverResult:
        return SolverResult(self.solution, steps, self.residual, self.residual < tol, trace)


def picard(f: Map, z0: torch.Tensor, *, tol: float, max_steps: int) -> SolverResult:
    """Iterate ``z ← f(z)`` from ``z0``."""
    z, trace, best = z0, [], _Best()
    while len(trace) < max_steps:
        fz = f(z)
        trace.append(_largest(relative_residual(fz, z)))
        best.offer(fz, trace[-1])
        z = fz
        if trace[-1] < tol or trace[-1] == math.inf:
            break
    return best.result(len(trace), tol, trace)


def anderson(
    f: Map,
    z0: torch.Tensor,
    *,
    tol: float,
    max_steps: int,
    memory: int = 5,
    regularization: float = 1e-4,
) -> SolverResult:
    """Anderson acceleration (type II, mixing 1) of ``z ← f(z)``.

    Each iterate is the combination ``Σ αᵢ f(zᵢ)`` of the last ``memory`` images whose
    residuals ``gᵢ = f(zᵢ) − zᵢ`` combine to the least norm, with ``Σ αᵢ = 1`` (a ridge of
    ``regularization`` times the residuals' mean square keeps the ``m × m`` system well
    posed at every scale). One evaluation of
    ``f`` per iteration, like Picard, usually far fewer iterations on a contraction.

    Args:
        f: The map, ``(B, ...) -> (B, ...)``.
        z0: Starting point ``(B, ...)``.
        tol: Relative residual to reach on every sample.
        max_steps: Cap on evaluations of ``f``.
        memory: Number ``m`` of past iterates mixed.
        regularization: Ridge added to the Gram matrix of the residuals.
    """
    shape = z0.shape
    flat = lambda t: rearrange(t, "b ... -> b (...)")  # noqa: E731
    z = flat(z0)
    fz = flat(f(z0))
    trace, best = [_largest(relative_residual(fz, z))], _Best()
    best.offer(fz, trace[-1])
    inputs, images = [z], [fz]  # the last m iterates zᵢ and their images f(zᵢ), (B, D)
    while len(trace) < max_steps and math.inf > trace[-1] >= tol:
        residuals = torch.stack([image - x for x, image in zip(inputs, images, strict=True)], dim=1)
        precise = residuals.to(torch.promote_types(residuals.dtype, torch.float32))
        gram = torch.einsum("bmd,bnd->bmn", precise, precise)
        m = gram.shape[-1]
        # a ridge relative to the residuals' scale, so it neither vanishes nor dominates
        scale = gram.diagonal(dim1=1, dim2=2).mean(dim=1)[:, None, None]
        eye = torch.eye(m, device=gram.device, dtype=gram.dtype)
        gram = gram + regularization * scale * eye + torch.finfo(gram.dtype).tiny * eye
        # min ‖Σ αᵢ gᵢ‖² s.t. Σ αᵢ = 1  ⇔  α ∝ gram⁻¹ 1
        ones = gram.new_ones(gram.shape[0], m, 1)
        alpha = torch.linalg.solve(gram, ones)
        alpha = (alpha / alpha.sum(dim=1, keepdim=True)).squeeze(-1).to(z.dtype)  # (B, m)
        z = torch.einsum("bm,bmd->bd", alpha, torch.stack(images, dim=1))
        fz = flat(f(z.reshape(shape)))
        trace.append(_largest(relative_residual(fz, z)))
        best.offer(fz, trace[-1])
        inputs, images = [*inputs, z][-memory:], [*images, fz][-memory:]
    result = best.result(len(trace), tol, trace)
    result.solution = result.solution.reshape(shape)
    return result


def solve(
    f: Map,
    z0: torch.Tensor,
    *,
    method: str,
    tol: float,
    max_steps: int,
    memory: int = 5,
) -> SolverResult:
    """Dispatch to :func:`picard` or :func:`anderson` by name."""
    if method == "anderson":
        return anderson(f, z0, tol=tol, max_steps=max_steps, memory=memory)
    if method == "picard":
        return picard(f, z0, tol=tol, max_steps=max_steps)
    raise ValueError(f"unknown fixed-point solver {method!r}; valid: picard, anderson")
