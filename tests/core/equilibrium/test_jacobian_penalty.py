"""The Jacobian regulariser: its estimate matches ``‖J_f(z*)‖²_F / n`` (per probe and in
expectation), training on it contracts the map, and tasks add it to their loss."""

import json

import pytest
import torch

from nca import create_rule, create_task
from nca.core.equilibrium import (
    FixedPointConfig,
    fixed_point_penalty,
    fixed_point_rollout,
    jacobian_penalty,
)
from tests.core.equilibrium.test_fixed_point import _problem


def _map(ca, images):
    """The expected-update map of the problem's automaton and a starting state."""
    cells = ca.seed(images)
    fixed = ca.layout.fixed_slice.stop
    inputs, z = cells[:, :fixed], cells[:, fixed:]
    rate = torch.full((cells.shape[0], 1, *cells.shape[-2:]), 0.5, dtype=cells.dtype)

    def f(z):
        return ca.step(torch.cat([inputs, z], 1), rate)[:, fixed:]

    return f, z + 0.1 * torch.randn_like(z)


def test_one_probe_is_the_squared_jacobian_vector_product():
    ca, images, _ = _problem()
    f, z = _map(ca, images)
    generator = torch.Generator().manual_seed(5)
    estimate = jacobian_penalty(f, z, torch.Generator().manual_seed(5), step=1e-5)
    probe = torch.randn(z.shape, generator=generator, dtype=z.dtype)
    _, jvp = torch.autograd.functional.jvp(f, z, probe)
    torch.testing.assert_close(estimate, jvp.square().mean(), rtol=1e-4, atol=0)


def test_the_estimate_is_unbiased_for_the_frobenius_norm():
    ca, images, _ = _problem(batch=1, size=4)
    f, z = _map(ca, images)
    jacobian = torch.autograd.functional.jacobian(f, z).reshape(z.numel(), z.numel())
    exact = jacobian.square().sum() / z.numel()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        draws = torch.stack([jacobian_penalty(f, z, generator) for _ in range(3000)])
    error = (draws.mean() - exact).abs()
    assert error < 4 * draws.std() / len(draws) ** 0.5 + 1e-3 * exact, (draws.mean(), exact)


def test_training_on_the_penalty_contracts_the_map():
    ca, images, _ = _problem(scale=3.0)  # an expansive rule
    f, z = _map(ca, images)
    optimizer = torch.optim.SGD(ca.rule.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(0)
    values = []
    for _ in range(40):
        optimizer.zero_grad()
        penalty = jacobian_penalty(f, z, generator)
        penalty.backward()
        optimizer.step()
        values.append(float(penalty.detach()))
    # f(z) = (1 - σ) z + σ tanh(conv(cells)): the identity part keeps (1 - σ)² = 0.25 of
    # the penalty whatever the weights; the learnable rest must shrink
    floor = 0.25
    first, last = sum(values[:5]) / 5 - floor, sum(values[-5:]) / 5 - floor
    assert 0 < last < 0.5 * first, values


def test_the_rollout_attaches_the_weighted_penalty_only_when_asked():
    ca, images, _ = _problem()
    cells = ca.seed(images)
    _, off = fixed_point_rollout(ca.step, ca.layout, cells, FixedPointConfig(), rate=0.5)
    assert off.jacobian is None and fixed_point_penalty(off) == 0.0
    assert "fp_jacobian" not in off.metrics()
    config = FixedPointConfig(jacobian_weight=2.5)
    _, on = fixed_point_rollout(ca.step, ca.layout, cells, config, rate=0.5,
                                generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert on.jacobian.requires_grad and on.jacobian > 0
    torch.testing.assert_close(fixed_point_penalty(on), 2.5 * on.jacobian)
    assert on.metrics()["fp_jacobian"] == pytest.approx(float(on.jacobian.detach()))
    with torch.no_grad():  # evaluation: no penalty
        _, evaluation = fixed_point_rollout(ca.step, ca.layout, cells, config, rate=0.5)
    assert evaluation.jacobian is None
    assert fixed_point_penalty(None) == 0.0


def test_the_rollout_penalises_the_map_a_firing_cell_applies():
    """``u(z) = −(z − c)/σ`` makes the expected map jump to ``c`` (``J_f = 0``) while every
    firing cell overshoots to ``2c − z`` (``J_g = −I``): the stochastic CA would oscillate.
    The penalty must see the synchronous map: ``‖J_g ε‖² / n ≈ 1``, not 0."""
    ca, images, _ = _problem()
    layout = ca.rule.layout
    ca.rule.forward = lambda cells: -(cells[:, layout.updatable_slice] - 0.3) / 0.5
    config = FixedPointConfig(jacobian_weight=1.0)
    _, stats = fixed_point_rollout(ca.step, ca.layout, ca.seed(images), config, rate=0.5,
                                   generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert stats.converged
    assert 0.6 < float(stats.jacobian) < 1.4  # the mean of n = 216 squared Gaussians


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf"), True])
def test_a_bad_jacobian_weight_is_named(weight):
    with pytest.raises(ValueError, match="fixed_point.jacobian_weight must be a number >= 0"):
        FixedPointConfig(jacobian_weight=weight)


@pytest.mark.parametrize("task_name", ["denoise", "grow", "classify"])
def test_tasks_log_and_add_the_penalty(tmp_path, task_name):
    from nca import RunContext, RunLog, Trainer
    from tests.plugins.test_gradient_modes import TASKS

    task = create_task(
        task_name, **TASKS[task_name], iterations=1, log_every=1, validate_every=100,
        checkpoint_every=100, gradient="fixed-point",
        fixed_point={"max_steps": 6, "jacobian_weight": 1e-3},
    )  # fmt: skip
    torch.manual_seed(0)
    fields = {"hidden_channels", "mlp_channels", "perception_channels", "image_channels",
              "input_channels", "padding"}  # fmt: skip
    rule = create_rule("convca", hidden_channels=3, mlp_channels=8, zero_last_layer=False,
                       **task.rule_settings(fields))  # fmt: skip
    Trainer(task, rule, RunContext(tmp_path, seed=0, quiet=True)).fit(
        RunLog(tmp_path, tensorboard=False)
    )
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    (train,) = [r for r in records if r["kind"] == "train"]
    assert train["fp_jacobian"] > 0
