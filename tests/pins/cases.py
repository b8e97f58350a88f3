"""The 2-D behaviour pinned before the core became dimension-generic (issue 28).

Each case computes small tensors from fixed seeds with today's public API; their values
were recorded once (``python -m tests.pins.make_pins``) into ``pins_2d.pt`` and every
later version must give the same numbers: seeds, injections, update masks, rollouts
(plain, checkpointed, with octaves and noise), living-cell masking, fusion/mitosis,
damage, pools, positional encodings, every attention backend, every built-in rule's
initial weights and forward pass, a fixed-point solve and a training gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nca import (
    AliveMasking,
    CellLayout,
    CellularAutomaton,
    FixedPointConfig,
    GridModel,
    ShufflePool,
    SlotPool,
    circle_damage,
    create_rule,
    damage,
    draw_update_mask,
    fixed_point_rollout,
    fuse,
    inject,
    make_generator,
    mitosis,
    rollout,
    seed,
)
from nca.layers import Neighbourhood
from nca.layers.localized_attention import BACKENDS, attend

Tensors = dict[str, torch.Tensor]
#: Small rule settings: every rule builds in milliseconds.
SMALL = {"hidden_channels": 3, "mlp_channels": 8, "perception_channels": 8, "embed_dim": 16,
         "heads": 2, "mlp_dim": 16, "depth": 1, "features": 4, "downsamplings": 1}  # fmt: skip


def _rule(name: str, **options) -> torch.nn.Module:
    """A registered rule built from seed 0, its zero-initialised weights made non-zero."""
    fields = set(create_rule(name).config.__dataclass_fields__)
    torch.manual_seed(0)
    rule = create_rule(name, **{k: v for k, v in SMALL.items() if k in fields}, **options)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in rule.parameters():
            if param.abs().sum() == 0:
                param.copy_(torch.randn(param.shape, generator=g) * 0.1)
    return rule


def seeds_and_injection() -> Tensors:
    layout = CellLayout(3, 3, 4, patch_size=(2, 2))
    images = torch.rand(2, 3, 6, 8, generator=make_generator(0))
    mask = (torch.rand(2, 1, 6, 8, generator=make_generator(1)) > 0.5).float()
    constant = seed(layout, images, mask=mask)
    random = seed(layout, images, init="random", generator=make_generator(2))
    injected = inject(layout, random, torch.rand(2, 3, 6, 8, generator=make_generator(3)))
    return {"constant": constant, "random": random, "injected": injected}


def update_masks() -> Tensors:
    cells = torch.zeros(3, 5, 5, 7)
    half = draw_update_mask(cells, 0.5, make_generator(0))
    low = draw_update_mask(cells, 0.2, make_generator(1))
    return {"half": half, "low": low}


def convca_rollouts() -> Tensors:
    rule = _rule("convca")
    ca = CellularAutomaton(rule)
    cells = ca.seed(torch.rand(2, 1, 8, 8, generator=make_generator(0)))
    plain = ca(cells, 6, generator=make_generator(1)).cells
    segments = ca(cells, 6, generator=make_generator(1), checkpoint_segments=3).cells
    octaves = ca(cells, 8, generator=make_generator(2), octaves=1).cells
    noisy = CellularAutomaton(rule, update_noise=0.02)(cells, 4, generator=make_generator(3))
    states = ca(cells, 3, generator=make_generator(4), return_states=True).states
    return {"plain": plain, "segments": segments, "octaves": octaves, "noisy": noisy.cells,
            "states": torch.stack(states)}  # fmt: skip


def rollout_function_and_gradient() -> Tensors:
    rule = _rule("convca")
    ca = CellularAutomaton(rule)
    cells = ca.seed(torch.rand(2, 1, 6, 6, generator=make_generator(0)))
    out = rollout(ca.step, rule.layout, cells, 5, generator=make_generator(1)).cells
    loss = ca(cells, 5, generator=make_generator(1), checkpoint_segments=2).cells.square().mean()
    grads = torch.autograd.grad(loss, list(rule.parameters()))
    return {"out": out, **{f"grad{i}": g for i, g in enumerate(grads)}}


def living_cells() -> Tensors:
    rule = _rule("convca", image_channels=4, input_channels=0)
    alpha = rule.layout.slice("output").start + 3
    model = GridModel(rule, blank="single-cell", alive=AliveMasking(alpha))
    grown = model.run(model.seed(2, (9, 9)), 8, make_generator(0))
    digits = _rule("convca", image_channels=10, input_channels=1)
    classify = GridModel(digits, alive=AliveMasking(0, neighbourhood=False), update_noise=0.02)
    images = (torch.rand(2, 1, 7, 7, generator=make_generator(1)) > 0.5).float()
    cells = classify.run(classify.seed_with(images), 4, make_generator(2))
    swapped = classify.inject(cells, images.flip(-1))
    return {"grown": grown, "alive": model.alive(grown).float(), "classify": cells,
            "swapped": swapped}  # fmt: skip


def fusion_and_damage() -> Tensors:
    cells = torch.rand(2, 6, 8, 8, generator=make_generator(0))
    layout = CellLayout(1, 1, 4)
    damaged, region = damage(layout, cells, generator=make_generator(1))
    disc, where = circle_damage(cells, generator=make_generator(2))
    return {"fused": fuse(cells), "mitosis": mitosis(fuse(cells)), "damaged": damaged,
            "region": region.float(), "disc": disc, "where": where.float()}  # fmt: skip


def pools() -> Tensors:
    slots = SlotPool(torch.arange(12.0).view(3, 2, 2), 8, make_generator(0))
    first, cells = slots.sample(3)
    slots.commit(first, cells + 1)
    second, _ = slots.sample(4)
    shuffle = ShufflePool(6, generator=make_generator(1))
    for i in range(3):
        shuffle.add(torch.full((2, 1, 2, 2), float(i)), torch.full((2, 1), float(i)))
    batch = shuffle.sample(2)
    return {"first": first.float(), "second": second.float(), "slots": slots.cells,
            "shuffle": batch.cells, "targets": batch.targets}  # fmt: skip


def positional_encodings() -> Tensors:
    """Every ViTCA positional option: its concatenated channels (if any) and a forward."""
    out = {}
    images = torch.rand(2, 1, 6, 8, generator=make_generator(0))
    for positional in ("handcrafted", "learned", "sincos5", "sincos5xy", "xy", "none"):
        rule = _rule("vitca", positional=positional, image_size=(6, 8))
        encoding = rule.positional_encoding(6, 8, device="cpu", dtype=torch.float32)
        if encoding is not None:
            out[f"{positional}/channels"] = encoding
        out[f"{positional}/forward"] = rule(CellularAutomaton(rule).seed(images))
    return out


def attention_backends() -> Tensors:
    g = make_generator(0)
    q, k, v = (torch.randn(2, 5, 6, 2, 4, generator=g) for _ in range(3))
    out = {}
    for border in ("zeros", "circular"):
        nbhd = Neighbourhood((3, 3), border)
        for backend in BACKENDS:
            values, weights = attend(q, k, v, nbhd, backend)
            out[f"{backend}/{border}/out"] = values
            out[f"{backend}/{border}/attn"] = weights
    return out


def rules_forward() -> Tensors:
    out = {}
    images = torch.rand(2, 1, 8, 8, generator=make_generator(0))
    for name in ("convca", "vitca", "unetca", "unet", "vit"):
        rule = _rule(name)
        for key, param in rule.state_dict().items():
            if param.is_floating_point():
                out[f"{name}/init/{key}"] = param.sum().reshape(1)
        layout = getattr(rule, "layout", None)
        if layout is None:
            out[f"{name}/forward"] = rule(images)
        else:
            cells = CellularAutomaton(rule).seed(images)
            out[f"{name}/forward"] = rule(cells)
    for backend in BACKENDS:
        rule = _rule("vitca", attention_backend=backend)
        cells = CellularAutomaton(rule).seed(images)
        out[f"vitca/{backend}/rollout"] = CellularAutomaton(rule)(
            cells, 3, generator=make_generator(1)
        ).cells
    sparse = CellularAutomaton(_rule("vitca"), sparse_update=True)
    cells = sparse.seed(images)
    out["vitca/sparse/rollout"] = sparse(cells, 3, generator=make_generator(1)).cells
    return out


def fixed_point() -> Tensors:
    rule = _rule("convca")
    with torch.no_grad():
        for param in rule.parameters():
            param.mul_(0.2)  # a contraction
    ca = CellularAutomaton(rule)
    cells = ca.seed(torch.rand(1, 1, 6, 6, generator=make_generator(0))).requires_grad_(False)
    config = FixedPointConfig(max_steps=40, tol=1e-5)
    out, _ = fixed_point_rollout(ca.step, rule.layout, cells, config, rate=0.5,
                                 generator=make_generator(1))  # fmt: skip
    return {"equilibrium": out}


CASES: dict[str, Callable[[], Tensors]] = {
    "seeds_and_injection": seeds_and_injection,
    "update_masks": update_masks,
    "convca_rollouts": convca_rollouts,
    "rollout_function_and_gradient": rollout_function_and_gradient,
    "living_cells": living_cells,
    "fusion_and_damage": fusion_and_damage,
    "pools": pools,
    "positional_encodings": positional_encodings,
    "attention_backends": attention_backends,
    "rules_forward": rules_forward,
    "fixed_point": fixed_point,
}
