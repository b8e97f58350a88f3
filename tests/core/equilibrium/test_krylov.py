"""GMRES for the implicit gradient's linear system: exact solutions, per-sample stopping,
restarts, caps, and no false success on a singular system."""

import math

import pytest
import torch

from nca.core.equilibrium import gmres, picard


def _systems(batch=3, size=40, radius=0.95, seed=0):
    """Per-sample ``y = A_b y + b_b`` with spectral radius ``radius``, and the solution."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, size, size, generator=g, dtype=torch.float64)
    a = a / torch.linalg.eigvals(a).abs().amax(-1)[:, None, None] * radius
    b = torch.randn(batch, size, generator=g, dtype=torch.float64)
    exact = torch.linalg.solve(torch.eye(size, dtype=torch.float64) - a, b)
    return a, b, exact


def _linear(a):
    return lambda y: torch.einsum("bij,bj->bi", a, y)


@pytest.mark.parametrize("restart", [200, 12])
def test_gmres_solves_each_sample_s_system(restart):
    a, b, exact = _systems()
    result = gmres(_linear(a), b, tol=1e-10, max_steps=400, restart=restart)
    assert result.converged and result.residual < 1e-10
    # the returned solution is f(y) = L(y) + b, the Picard image of the iterate
    torch.testing.assert_close(result.solution, exact, atol=1e-8, rtol=0)
    assert len(result.trace) == result.steps and result.trace[-1] == result.residual


def test_gmres_needs_far_fewer_products_than_picard_on_a_slow_system():
    a, b, _ = _systems(radius=0.95)
    fast = gmres(_linear(a), b, tol=1e-8, max_steps=1000, restart=1000)
    slow = picard(lambda y: _linear(a)(y) + b, b, tol=1e-8, max_steps=1000)
    assert fast.converged and slow.converged
    assert fast.steps * 4 < slow.steps, (fast.steps, slow.steps)


def test_gmres_reads_structured_batches_and_float32():
    a, b, exact = _systems(batch=2, size=12)
    grid = b.float().reshape(2, 3, 2, 2)  # (B, C, H, W): solved per sample, flattened
    linear = lambda y: _linear(a.float())(y.flatten(1)).reshape(y.shape)  # noqa: E731
    result = gmres(linear, grid, tol=1e-5, max_steps=100, restart=100)
    assert result.converged and result.solution.shape == grid.shape
    assert result.solution.dtype == torch.float32
    torch.testing.assert_close(result.solution.flatten(1).double(), exact, atol=1e-3, rtol=1e-3)


def test_a_sample_that_converges_early_keeps_its_solution():
    a, b, _ = _systems(batch=2)
    a[0] *= 0.01  # sample 0 converges in a couple of products, sample 1 takes dozens
    exact = torch.linalg.solve(torch.eye(a.shape[-1], dtype=a.dtype) - a, b)
    result = gmres(_linear(a), b, tol=1e-9, max_steps=400, restart=400)
    assert result.converged
    torch.testing.assert_close(result.solution, exact, atol=1e-7, rtol=0)


def test_the_cap_counts_every_product_and_failure_is_reported():
    a, b, _ = _systems(radius=0.99)
    calls = []
    linear = lambda y: calls.append(1) or _linear(a)(y)  # noqa: E731
    result = gmres(linear, b, tol=1e-12, max_steps=5, restart=32)
    assert not result.converged and result.steps == 5 == len(calls) == len(result.trace)
    assert result.residual > 1e-12


def test_a_singular_system_never_claims_a_solution_and_stops_at_once():
    """``L = I``: ``0·y = b`` has no solution; the Krylov space breaks down at the first
    product, and restarting would only repeat that."""
    b = torch.randn(2, 10, dtype=torch.float64)
    result = gmres(lambda y: y, b, tol=1e-3, max_steps=16, restart=4)
    assert not result.converged and result.residual > 0.5
    assert torch.isfinite(result.solution).all()
    assert result.steps == 2  # one Arnoldi product and the check, not the whole budget


def test_a_singular_system_with_a_solution_is_solved():
    """``L`` the identity on the first 5 coordinates: ``(I − L) y = b`` is solvable when
    ``b`` has no component there, although the Krylov space breaks down."""
    a, b, _ = _systems(batch=2, size=12, radius=0.5)
    a[:, :5, :] = 0
    a[:, :, :5] = 0
    a[:, range(5), range(5)] = 1.0
    b[:, :5] = 0
    result = gmres(_linear(a), b, tol=1e-10, max_steps=100, restart=100)
    assert result.converged
    solution = result.solution  # f(y) = L(y) + b, which must satisfy y = f(y) off the kernel
    torch.testing.assert_close(_linear(a)(solution)[:, 5:] + b[:, 5:], solution[:, 5:],
                               atol=1e-9, rtol=0)  # fmt: skip


@pytest.mark.parametrize("factor", [1e-12, 1e-6, 1e11])
def test_the_solve_does_not_depend_on_the_scale_of_b(factor):
    a, b, _ = _systems(radius=0.5)
    plain = gmres(_linear(a), b, tol=1e-8, max_steps=60, restart=20)
    scaled = gmres(_linear(a), b * factor, tol=1e-8, max_steps=60, restart=20)
    assert plain.converged and scaled.converged and scaled.steps == plain.steps
    torch.testing.assert_close(scaled.solution / factor, plain.solution, rtol=1e-6, atol=1e-12)


def test_the_trace_holds_each_sample_s_own_estimate():
    a, b, _ = _systems(batch=2)
    b[1] = 0  # solved before the first product: it must not make the trace infinite
    result = gmres(_linear(a), b, tol=1e-8, max_steps=200, restart=200)
    assert result.converged and all(math.isfinite(t) for t in result.trace)


def test_bfloat16_right_hand_sides_are_solved_in_float32():
    a, b, exact = _systems(batch=2, size=12, radius=0.5)
    linear = lambda y: _linear(a.bfloat16())(y)  # noqa: E731  (L in bf16, like autocast)
    result = gmres(linear, b.bfloat16(), tol=1e-2, max_steps=50, restart=50)
    assert result.converged and result.solution.dtype == torch.bfloat16
    torch.testing.assert_close(result.solution.double(), exact, atol=0.1, rtol=0.05)


def test_zero_right_hand_side_is_solved_without_products():
    a, b, _ = _systems()
    result = gmres(_linear(a), torch.zeros_like(b), tol=1e-3, max_steps=8, restart=8)
    assert result.converged and result.steps == 0 and not result.solution.any()


@pytest.mark.parametrize("restart", [0, 2.5, True])
def test_a_bad_restart_is_named(restart):
    with pytest.raises(ValueError, match=f"restart.*{restart!r}"):
        gmres(lambda y: y, torch.ones(1, 2), tol=1e-3, max_steps=4, restart=restart)
