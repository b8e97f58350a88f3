"""bf16 autocast through every rule, including ViTCA's hand-written autograd functions."""

import pytest
import torch

from nca import CellularAutomaton, create_rule, list_rules, make_generator
from tests.conftest import activate


def _loss(rule, images):
    if rule.kind == "ca":
        ca = CellularAutomaton(rule)
        out = ca(ca.seed(images), 4, generator=make_generator(0)).cells
        return (ca.output_image(out).float() - images).abs().mean()
    return (rule(images).float() - images).abs().mean()


def _loss_and_grads(rule, images, bf16: bool):
    rule.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = _loss(rule, images)
    loss.backward()  # outside autocast, as the trainer does
    return float(loss.detach()), [p.grad for p in rule.parameters()]


CASES = [(name, {}) for name in list_rules()] + [
    ("vitca", {"attention_backend": backend}) for backend in ("reference", "conv")
]


@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}{o or ''}" for n, o in CASES])
def test_bf16_autocast_matches_float32(name, options):
    torch.manual_seed(0)
    rule = activate(create_rule(name, **options), scale=0.05)
    channels = rule.config.image_channels
    images = torch.rand(2, channels, 16, 16, generator=torch.Generator().manual_seed(1))
    loss32, grads32 = _loss_and_grads(rule, images, bf16=False)
    loss16, grads16 = _loss_and_grads(rule, images, bf16=True)
    assert all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads16)
    assert loss16 == pytest.approx(loss32, rel=0.03, abs=1e-3)
    flat32, flat16 = (
        torch.cat([g.flatten() for g in grads32]),
        torch.cat([g.flatten() for g in grads16]),
    )
    assert torch.cosine_similarity(flat32, flat16, dim=0) > 0.95


def test_backward_inside_an_autocast_region():
    """CPU backward runs on the calling thread: the custom functions must not be recast."""
    rule = activate(create_rule("vitca"))
    images = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _loss(rule, images).backward()
    assert all(torch.isfinite(p.grad).all() for p in rule.parameters())


@pytest.mark.parametrize("rollout", [{"checkpoint_segments": 2}, {"octaves": 1}])
def test_bf16_with_checkpointing_and_fusion(rollout):
    torch.manual_seed(0)
    rule = activate(create_rule("vitca"), scale=0.05)
    images = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    ca = CellularAutomaton(rule)
    losses, grads = [], []
    for bf16 in (False, True):
        rule.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = ca(ca.seed(images), 8, generator=make_generator(0), **rollout).cells
            loss = (ca.output_image(out).float() - images).abs().mean()
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append(torch.cat([p.grad.flatten() for p in rule.parameters()]))
    assert out.dtype == torch.float32 and grads[1].dtype == torch.float32
    assert losses[1] == pytest.approx(losses[0], rel=0.03, abs=1e-3)
    assert torch.cosine_similarity(grads[0], grads[1], dim=0) > 0.95
