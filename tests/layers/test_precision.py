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


DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    ),
]


def _spy(monkeypatch, module, name: str, seen: dict, device: str) -> None:
    """Record the dtype of the first argument and whether autocast is on when called."""
    original = getattr(module, name)

    def spy(first, *args, **kwargs):
        key = f"{module.__name__.rsplit('.', 1)[-1]}.{name}"
        seen[key] = (first.dtype, torch.is_autocast_enabled(device))
        return original(first, *args, **kwargs)

    monkeypatch.setattr(module, name, spy)


@pytest.mark.parametrize("device", DEVICES)
def test_what_runs_in_which_dtype_under_autocast(device, monkeypatch):
    """The claims of the ``nca.layers`` docstring: the fused functions (LayerNorm -> QKV ->
    attention, LayerNorm -> fc1, the head) run in float32 with autocast off, forward and
    backward -- even when backward runs inside the autocast region; the embedding, the
    attention output projection and fc2 run in bf16."""
    import nca.layers.layernorm_linear as layernorm_linear
    import nca.layers.localized_attention.prenorm as prenorm

    seen: dict = {}
    for module, name in [
        (prenorm, "attention_forward"),
        (prenorm, "attention_backward"),
        (prenorm, "layernorm_backward"),
        (layernorm_linear, "layernorm_backward"),
    ]:
        _spy(monkeypatch, module, name, seen, device)
    rule = activate(create_rule("vitca", embed_dim=16, heads=2, hidden_channels=4)).to(device)
    dtypes = {}
    block = rule.blocks[0]
    for name, module in [
        ("embed", rule.embed),
        ("to_out", block.attn.to_out),
        ("fc2", block.mlp.fc2),
        ("head", rule.head),
    ]:

        def record(_module, args, out, name=name):
            dtypes[name] = (args[0].dtype, out.dtype)

        module.register_forward_hook(record)
    cells = CellularAutomaton(rule).seed(torch.rand(2, 1, 8, 8, device=device))
    with torch.autocast(device, dtype=torch.bfloat16):
        update = rule(cells)
        update.square().mean().backward()  # inside the region on purpose
    f32, bf16 = torch.float32, torch.bfloat16
    assert update.dtype == f32
    assert dtypes == {
        "embed": (f32, bf16),
        "to_out": (f32, bf16),  # the attention's output is float32
        "fc2": (f32, bf16),  # GELU(LayerNorm -> fc1) is float32
        "head": (bf16, f32),
    }
    assert seen == {
        "prenorm.attention_forward": (f32, False),
        "prenorm.attention_backward": (f32, False),
        "prenorm.layernorm_backward": (f32, False),
        "layernorm_linear.layernorm_backward": (f32, False),
    }
    assert all(p.grad.dtype == f32 and torch.isfinite(p.grad).all() for p in rule.parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_shifted_attention_casts_bf16_inputs_and_returns_their_gradients(device):
    from nca.layers import Neighbourhood
    from nca.layers.localized_attention.shifted import shifted_attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(1, 5, 5, 2, 4, generator=g).to(device, torch.bfloat16).requires_grad_()
        for _ in range(3)
    )
    nbhd = Neighbourhood((3, 3), "zeros")
    with torch.autocast(device, dtype=torch.bfloat16):
        out, attn = shifted_attention(q, k, v, nbhd)
    assert out.dtype == attn.dtype == torch.float32
    out.sum().backward()
    assert q.grad.dtype == k.grad.dtype == v.grad.dtype == torch.bfloat16
    without = shifted_attention(*(t.detach().float() for t in (q, k, v)), nbhd)[0]
    torch.testing.assert_close(out, without)  # the same float32 computation
