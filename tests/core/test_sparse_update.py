"""``sparse_update``: a rollout whose rule computes only the firing cells' update equals
the dense rollout (values and gradients) in every gradient mode, for every rule that
declares the capability; the others refuse it in one line."""

import pytest
import torch

from nca import CellularAutomaton, create_rule, list_rules, make_generator, overflow_losses
from nca.core.equilibrium import FixedPointConfig
from nca.rules import get_rule_class
from tests.conftest import SMALL_RULE, activate

CA_RULES = list_rules(kind="ca")
SPARSE = [n for n in CA_RULES if get_rule_class(n).supports("sparse_update")]


def _small(name, **extra):
    import dataclasses

    fields = {f.name for f in dataclasses.fields(get_rule_class(name).config_class)}
    settings = {k: v for k, v in {**SMALL_RULE, **extra}.items() if k in fields}
    return activate(create_rule(name, **settings).double())


def _rollout(rule, images, sparse, gradient, rate=0.5):
    ca = CellularAutomaton(rule, update_rate=rate, sparse_update=sparse)
    rule.zero_grad(set_to_none=True)
    fixed_point = FixedPointConfig(max_steps=40, backward_max_steps=40)
    out = ca(ca.seed(images), 6, generator=make_generator(3), gradient=gradient,
             fixed_point=fixed_point).cells  # fmt: skip
    loss = (ca.output_image(out) - images).abs().mean() + overflow_losses(ca.layout, out).total
    loss.backward()
    return out.detach(), [p.grad for p in rule.parameters()]


def test_vitca_declares_sparse_update():
    assert "vitca" in SPARSE


@pytest.mark.parametrize("name", SPARSE)
@pytest.mark.parametrize("gradient", ["bptt", "checkpoint", "fixed-point"])
def test_sparse_rollout_equals_dense(name, gradient):
    torch.manual_seed(0)
    rule = _small(name)
    images = torch.rand(2, 1, 6, 7, dtype=torch.float64)
    dense_out, dense_grads = _rollout(rule, images, False, gradient)
    out, grads = _rollout(rule, images, True, gradient)
    torch.testing.assert_close(out, dense_out)
    for a, b in zip(grads, dense_grads, strict=True):
        if b is None:
            assert a is None
        else:
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", SPARSE)
def test_a_synchronous_step_stays_dense(name, monkeypatch):
    rule = _small(name)
    calls = []
    original = type(rule).forward
    monkeypatch.setattr(
        type(rule), "forward", lambda self, cells, firing=None: calls.append(firing)
        or original(self, cells, firing)
    )  # fmt: skip
    _rollout(rule, torch.rand(1, 1, 5, 5, dtype=torch.float64), True, "bptt", rate=1.0)
    assert calls and all(firing is None for firing in calls)  # σ = 1: no mask to pass


@pytest.mark.parametrize("name", sorted(set(CA_RULES) - set(SPARSE)))
def test_rules_without_the_capability_refuse_it(name):
    rule = _small(name)
    with pytest.raises(
        ValueError, match=f"rule '{name}' cannot compute a sparse update.*capability"
    ):
        CellularAutomaton(rule, sparse_update=True)
    ca = CellularAutomaton(rule)
    with pytest.raises(TypeError, match="must be True or False"):
        ca.use_sparse_update("yes")
