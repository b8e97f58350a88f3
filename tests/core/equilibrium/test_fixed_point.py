"""Fixed-point training: solvers, the implicit and phantom gradients against finite
differences and BPTT, non-convergence, and the automaton's fixed-point mode."""

import math

import pytest
import torch
from torch import nn

from nca.core import CellLayout, CellularAutomaton, make_generator
from nca.core.equilibrium import (
    FixedPointConfig,
    anderson,
    fixed_point_rollout,
    picard,
)


class ContractiveRule(nn.Module):
    """``u(z) = tanh(conv(cells) + b) − z``: the expected update ``(1−σ) z + σ tanh(·)``
    is a contraction when the convolution's norm is below 1."""

    def __init__(self, scale: float = 0.3, seed: int = 0, inputs: int = 1) -> None:
        super().__init__()
        self.layout = CellLayout(input_channels=inputs, output_channels=1, hidden_channels=2)
        g = torch.Generator().manual_seed(seed)
        channels = self.layout.cell_channels
        self.conv = nn.Conv2d(channels, 3, 3, padding=1).double()
        with torch.no_grad():
            w = torch.randn(self.conv.weight.shape, generator=g, dtype=torch.float64)
            self.conv.weight.copy_(w * scale / w.flatten().norm())
            self.conv.bias.copy_(torch.randn(3, generator=g, dtype=torch.float64) * 0.5)

    def forward(self, cells):
        z = cells[:, self.layout.updatable_slice]
        return torch.tanh(self.conv(cells)) - z

    def positional_encoding(self, height, width, *, device, dtype):
        return None


def _problem(scale=0.3, seed=0, batch=2, size=6):
    rule = ContractiveRule(scale, seed)
    ca = CellularAutomaton(rule, update_rate=0.5)
    g = torch.Generator().manual_seed(seed + 1)
    images = torch.rand(batch, 1, size, size, generator=g, dtype=torch.float64)
    target = torch.rand(batch, 1, size, size, generator=g, dtype=torch.float64)
    return ca, images, target


def _loss(ca, cells, target):
    return (ca.output_image(cells) - target).pow(2).sum() + cells[:, -2:].pow(2).mean()


TIGHT = FixedPointConfig(tol=1e-12, max_steps=400, backward_tol=1e-12, backward_max_steps=400)


# ----------------------------------------------------------------- solvers
@pytest.mark.parametrize("solver", [picard, anderson])
def test_solvers_find_the_fixed_point_of_a_contraction(solver):
    a = torch.tensor([[0.5, 0.2], [-0.1, 0.4]], dtype=torch.float64)
    b = torch.tensor([1.0, -2.0], dtype=torch.float64)
    f = lambda z: z @ a.T + b  # noqa: E731  (B, 2)
    exact = torch.linalg.solve(torch.eye(2, dtype=torch.float64) - a, b)
    result = solver(f, torch.zeros(3, 2, dtype=torch.float64), tol=1e-10, max_steps=200)
    assert result.converged and result.residual < 1e-10
    torch.testing.assert_close(result.solution, exact.expand(3, 2), atol=1e-9, rtol=0)
    assert len(result.trace) == result.steps


def test_anderson_needs_fewer_evaluations_than_picard_on_a_slow_contraction():
    a = torch.diag(torch.tensor([0.95, 0.9, 0.5], dtype=torch.float64))
    f = lambda z: z @ a.T + 1.0  # noqa: E731
    z0 = torch.zeros(1, 3, dtype=torch.float64)
    slow = picard(f, z0, tol=1e-8, max_steps=1000)
    fast = anderson(f, z0, tol=1e-8, max_steps=1000)
    assert slow.converged and fast.converged
    assert fast.steps * 4 < slow.steps, (fast.steps, slow.steps)


@pytest.mark.parametrize("solver", [picard, anderson])
def test_solvers_report_divergence(solver):
    # z² + 1 has no real fixed point: z² − z + 1 ≥ (z² + 1) / 2 on every entry, so every
    # iterate's relative residual is at least 0.5 and no solver may claim convergence
    f = lambda z: z**2 + 1.0  # noqa: E731
    z0 = torch.linspace(-2, 2, 8, dtype=torch.float64).view(2, 4)
    result = solver(f, z0, tol=1e-6, max_steps=30)
    assert not result.converged
    assert 0.5 - 1e-9 <= result.residual < math.inf  # its best iterate, not the overflow
    assert torch.isfinite(result.solution).all() and result.solution.shape == (2, 4)
    assert len(result.trace) == result.steps <= 30


def test_picard_stalls_on_a_repelling_fixed_point_that_anderson_solves():
    f = lambda z: 2.0 * z + 1.0  # noqa: E731  (its fixed point −1 repels Picard's iterates)
    z0 = torch.zeros(2, 4, dtype=torch.float64)
    slow = picard(f, z0, tol=1e-6, max_steps=30)
    assert not slow.converged and slow.steps == 30
    fast = anderson(f, z0, tol=1e-6, max_steps=30)  # exact on an affine map in a few steps
    assert fast.converged and fast.steps < 30
    torch.testing.assert_close(fast.solution, torch.full_like(z0, -1.0), atol=1e-5, rtol=0)


# ------------------------------------------------------- implicit gradient
def test_forward_solve_is_an_equilibrium_of_every_mask():
    ca, images, _ = _problem()
    cells = ca.seed(images)
    with torch.no_grad():
        star, stats = fixed_point_rollout(ca.step, ca.layout, cells, TIGHT, rate=0.5)
        assert stats.converged and stats.forward_residual < 1e-12
        mask = torch.rand(star[:, :1].shape, generator=torch.Generator().manual_seed(0)) < 0.5
        after = ca.step(star, mask.to(star.dtype))
    torch.testing.assert_close(after, star, atol=1e-10, rtol=0)


@pytest.mark.parametrize(
    "solver, backward_solver",
    [("anderson", "gmres"), ("picard", "gmres"), ("rollout", "gmres"), ("picard", "picard"),
     ("anderson", "anderson")],
)  # fmt: skip
def test_implicit_gradient_matches_finite_differences(solver, backward_solver):
    ca, images, target = _problem()
    cells = ca.seed(images)
    config = FixedPointConfig(
        solver=solver, tol=1e-12, max_steps=2000, backward_solver=backward_solver,
        backward_tol=1e-12, backward_max_steps=400,
    )  # fmt: skip
    star, stats = fixed_point_rollout(
        ca.step, ca.layout, cells, config, rate=0.5, generator=make_generator(0)
    )
    loss = _loss(ca, star, target)
    params = list(ca.rule.parameters())
    grads = torch.autograd.grad(loss, params)
    assert stats.converged and stats.gradient == "implicit" and stats.backward_converged

    def equilibrium_loss():
        with torch.no_grad():
            z, _ = fixed_point_rollout(ca.step, ca.layout, cells, TIGHT, rate=0.5)
            return float(_loss(ca, z, target))

    weight = params[0]
    for index in [(0, 0, 1, 1), (2, 3, 0, 2), (1, 1, 2, 0)]:
        h, saved = 1e-6, float(weight.detach()[index])
        with torch.no_grad():
            weight[index] = saved + h
            up = equilibrium_loss()
            weight[index] = saved - h
            down = equilibrium_loss()
            weight[index] = saved
        numeric = (up - down) / (2 * h)
        assert math.isclose(float(grads[0][index]), numeric, rel_tol=1e-5, abs_tol=1e-9)


def test_implicit_gradient_matches_bptt_through_a_long_rollout():
    ca, images, target = _problem()
    cells = ca.seed(images)
    star, _ = fixed_point_rollout(ca.step, ca.layout, cells, TIGHT, rate=0.5)
    params = list(ca.rule.parameters())
    implicit = torch.autograd.grad(_loss(ca, star, target), params)
    # BPTT through the asynchronous, stochastic CA: long enough to forget the start
    out = ca(cells, 300, generator=make_generator(5)).cells
    bptt = torch.autograd.grad(_loss(ca, out, target), params)
    for a, b in zip(implicit, bptt, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_implicit_gradient_reaches_the_inputs():
    ca, images, target = _problem()
    images = images.clone().requires_grad_()
    star, _ = fixed_point_rollout(ca.step, ca.layout, ca.seed(images), TIGHT, rate=0.5)
    (implicit,) = torch.autograd.grad(_loss(ca, star, target), images)
    images2 = images.detach().clone().requires_grad_()
    out = ca(ca.seed(images2), 300, generator=make_generator(1)).cells
    (bptt,) = torch.autograd.grad(_loss(ca, out, target), images2)
    torch.testing.assert_close(implicit, bptt, rtol=1e-6, atol=1e-9)


def test_phantom_gradient_is_the_truncated_neumann_series():
    """k unrolled expected steps from z*: close to the implicit gradient on a strong
    contraction, and closer with more steps."""
    ca, images, target = _problem(scale=0.2)
    cells = ca.seed(images)
    params = list(ca.rule.parameters())

    def grads(config):
        star, stats = fixed_point_rollout(ca.step, ca.layout, cells, config, rate=0.5)
        return stats, torch.autograd.grad(_loss(ca, star, target), params)

    _, exact = grads(TIGHT)
    errors = []
    for k in (2, 8, 32):
        stats, approx = grads(FixedPointConfig(tol=1e-12, max_steps=400, backward="phantom",
                                               phantom_steps=k))  # fmt: skip
        assert stats.gradient == "phantom" and stats.backward_steps is None
        errors.append(sum(float((a - b).norm()) for a, b in zip(approx, exact, strict=True)))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-6 * errors[0] + 1e-8, errors


# --------------------------------------------------------- non-convergence
def test_a_forward_that_does_not_converge_falls_back_and_says_so():
    ca, images, target = _problem(scale=0.3)
    config = FixedPointConfig(solver="picard", tol=1e-12, max_steps=3, phantom_steps=4)
    star, stats = fixed_point_rollout(ca.step, ca.layout, ca.seed(images), config, rate=0.5)
    assert not stats.converged and stats.forward_steps == 3 and stats.fell_back
    loss = _loss(ca, star, target)
    grads = torch.autograd.grad(loss, list(ca.rule.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)
    assert stats.metrics()["fp_fallback"]() == 1.0


def test_a_backward_solve_that_does_not_converge_falls_back_to_the_phantom_gradient():
    ca, images, target = _problem(scale=0.3)
    cells = ca.seed(images)
    params = list(ca.rule.parameters())
    config = FixedPointConfig(
        solver="picard", tol=1e-12, max_steps=400, backward_tol=1e-14, backward_max_steps=2,
        phantom_steps=6,
    )  # fmt: skip
    star, stats = fixed_point_rollout(ca.step, ca.layout, cells, config, rate=0.5)
    fallback = torch.autograd.grad(_loss(ca, star, target), params)
    assert stats.converged and stats.backward_converged is False and stats.fell_back
    assert stats.backward_steps == 2
    phantom = FixedPointConfig(solver="picard", tol=1e-12, max_steps=400, backward="phantom",
                               phantom_steps=6)  # fmt: skip
    star, _ = fixed_point_rollout(ca.step, ca.layout, cells, phantom, rate=0.5)
    expected = torch.autograd.grad(_loss(ca, star, target), params)
    for a, b in zip(fallback, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)


def test_gmres_solves_the_backward_in_fewer_products_than_picard():
    ca, images, target = _problem(scale=0.9)  # a slow contraction: ρ(J) close to 1
    cells = ca.seed(images)
    steps = {}
    for backward_solver in ("gmres", "picard"):
        config = FixedPointConfig(tol=1e-10, max_steps=2000, backward_solver=backward_solver,
                                  backward_tol=1e-8, backward_max_steps=1000)  # fmt: skip
        star, stats = fixed_point_rollout(ca.step, ca.layout, cells, config, rate=0.5)
        torch.autograd.grad(_loss(ca, star, target), list(ca.rule.parameters()))
        assert stats.backward_converged and stats.gradient == "implicit"
        steps[backward_solver] = stats.backward_steps
    assert 2 * steps["gmres"] < steps["picard"], steps


def test_an_identity_map_never_claims_an_implicit_gradient():
    """A zero-initialised rule's update is 0: every grid is a fixed point and ``I − J``
    is singular. The linear solve cannot converge; the gradient must be the fallback's."""
    ca, images, target = _problem()
    with torch.no_grad():
        ca.rule.conv.weight.zero_()
        ca.rule.conv.bias.zero_()
    ca.rule.forward = lambda cells: ca.rule.conv(cells)  # u = conv(cells): 0 at init
    star, stats = fixed_point_rollout(ca.step, ca.layout, ca.seed(images), FixedPointConfig(),
                                      rate=0.5)  # fmt: skip
    torch.autograd.grad(_loss(ca, star, target), list(ca.rule.parameters()))
    assert stats.converged and stats.forward_steps == 1
    assert stats.backward_converged is False and stats.fell_back
    assert stats.backward_steps == 2  # GMRES sees the breakdown: one product and its check


# ---------------------------------------------------- the automaton's mode
def test_automaton_fixed_point_mode_only_while_recording():
    ca, images, _ = _problem()
    cells = ca.seed(images)
    with torch.no_grad():
        plain = ca(cells, 5, generator=make_generator(0), gradient="fixed-point",
                   fixed_point=TIGHT)  # fmt: skip
    assert plain.fixed_point is None  # evaluation: the plain 5-step rollout
    torch.testing.assert_close(plain.cells, ca(cells, 5, generator=make_generator(0)).cells)
    solved = ca(cells, 5, generator=make_generator(0), gradient="fixed-point", fixed_point=TIGHT)
    assert solved.fixed_point is not None and solved.fixed_point.converged
    assert solved.cells.requires_grad


@pytest.mark.parametrize("option", [{"octaves": 1}, {"checkpoint_segments": 2},
                                    {"return_states": True}])  # fmt: skip
def test_fixed_point_refuses_what_it_cannot_combine_with(option):
    ca, images, _ = _problem(size=8)
    with pytest.raises(ValueError, match="fixed-point"):
        ca(ca.seed(images), 8, gradient="fixed-point", fixed_point=TIGHT, **option)


@pytest.mark.parametrize(
    "field, value",
    [("solver", "broyden"), ("backward", "ift"), ("tol", 0.0), ("max_steps", 0),
     ("phantom_steps", 1.5), ("backward_tol", float("nan")), ("backward_solver", "cg"),
     ("gmres_restart", 0)],
)  # fmt: skip
def test_config_names_the_bad_value(field, value):
    with pytest.raises(ValueError, match=f"fixed_point.{field}.*{value!r}"[:40]):
        FixedPointConfig(**{field: value})
