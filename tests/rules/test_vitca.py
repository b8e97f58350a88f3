"""ViTCA: the paper's parameter counts (the fidelity check) and its options."""

import math

import pytest
import torch

from nca import CellularAutomaton, create_rule, make_generator
from nca.config import ConfigError
from nca.rules.vitca import parameter_count
from tests.conftest import activate

RGB, GRAY = {"image_channels": 3}, {"image_channels": 1}

# (rule name, overrides, paper count in thousands, where it is reported)
PAPER_COUNTS = [
    # Table 1: RGB datasets and grayscale (MNIST, FashionMNIST)
    ("vitca", RGB, 92.5, "T1 ViTCA"),
    ("vitca", GRAY, 91.7, "T1 ViTCA gray"),
    ("vitca:32", RGB, 92.5, "T1 -32"),
    ("vitca:32", GRAY, 91.7, "T1 -32 gray"),
    ("vitca:32xy", RGB, 92.8, "T1 -32xy"),
    ("vitca:32xy", GRAY, 92.0, "T1 -32xy gray"),
    ("vitca:i", RGB, 54.7, "T1 -i"),
    ("vitca:i", GRAY, 54.3, "T1 -i gray"),
    ("vitca:i16", RGB, 54.7, "T1 -i16"),
    ("vitca:i16", GRAY, 54.3, "T1 -i16 gray"),
    ("vitca:ixy", RGB, 54.8, "T1 -ixy"),
    ("vitca:ixy", GRAY, 54.4, "T1 -ixy gray"),
    ("vitca:i16xy", RGB, 54.8, "T1 -i16xy"),
    ("vitca:i16xy", GRAY, 54.4, "T1 -i16xy gray"),
    # Table 2 (CelebA, RGB): hidden size
    *[
        ("vitca", {**RGB, "hidden_channels": c}, k, f"T2 hidden {c}")
        for c, k in [
            (8, 86.3),
            (16, 88.4),
            (32, 92.5),
            (64, 100.7),
            (128, 117.2),
            (256, 150.1),
            (512, 215.9),
        ]
    ],
    # embed size (MLP size stays 64)
    *[
        ("vitca", {**RGB, "embed_dim": d}, k, f"T2 embed {d}")
        for d, k in [
            (8, 2.0),
            (16, 4.5),
            (32, 10.9),
            (64, 29.9),
            (128, 92.5),
            (256, 316.0),
            (512, 1156.2),
        ]
    ],
    # heads
    *[
        ("vitca", {**RGB, "heads": h}, k, f"T2 heads {h}")
        for h, k in [(1, 76.0), (4, 92.5), (8, 92.5), (16, 92.5), (32, 92.5), (64, 92.5)]
    ],
    # depth
    *[
        ("vitca", {**RGB, "depth": n}, k, f"T2 depth {n}")
        for n, k in [(1, 92.5), (2, 175.3), (3, 258.0)]
    ],
    # PE type
    *[
        ("vitca", {**RGB, "positional": pe}, k, f"T2 PE {pe}")
        for pe, k in [
            ("sincos5", 95.1),
            ("sincos5xy", 95.3),
            ("xy", 92.8),
            ("handcrafted", 92.5),
            ("learned", 223.6),
            ("none", 92.5),
        ]
    ],
    # Table 4: cell init and patch size
    ("vitca", {**RGB, "cell_init": "random"}, 92.5, "T4 random init"),
    *[
        ("vitca", {**RGB, "patch_size": (p, p)}, k, f"T4 patch {p}")
        for p, k in [(1, 92.5), (2, 96.0), (4, 109.8), (8, 165.3), (16, 387.0)]
    ],
]


def _paper_precision(count: int, paper_k: float) -> float:
    if paper_k >= 1000:  # reported as "1.2M": one decimal of millions
        assert math.isclose(round(count / 1e5) / 10, round(paper_k / 1000, 1))
        return paper_k
    return round(count / 100) / 10


@pytest.mark.parametrize(
    ("name", "overrides", "paper_k", "where"), PAPER_COUNTS, ids=[c[3] for c in PAPER_COUNTS]
)
def test_parameter_count_matches_paper(name, overrides, paper_k, where):
    count = parameter_count(create_rule(name, **overrides))
    assert _paper_precision(count, paper_k) == paper_k, f"{where}: {count} parameters"


def test_exact_baseline_counts():
    # pinned so any architectural drift is caught even within the paper's rounding
    assert parameter_count(create_rule("vitca", **RGB)) == 92_515
    assert parameter_count(create_rule("vitca", **GRAY)) == 91_745


def test_layout_and_zero_initialised_head():
    rule = create_rule("vitca", positional="sincos5xy", patch_size=(2, 2), image_channels=3)
    assert rule.layout.positional_channels == 22
    assert rule.layout.cell_channels == (22 + 3 + 3) * 4 + 32
    assert torch.all(rule.head.linear.weight == 0) and torch.all(rule.head.linear.bias == 0)
    w = rule.blocks[0].mlp.fc1.weight  # He init: std ≈ sqrt(2 / fan_in)
    assert abs(w.std().item() / math.sqrt(2 / w.shape[1]) - 1) < 0.1


@pytest.mark.parametrize(
    "positional", ["handcrafted", "learned", "sincos5", "sincos5xy", "xy", "none"]
)
def test_every_positional_encoding_runs_at_train_and_other_sizes(positional):
    rule = activate(
        create_rule(
            "vitca",
            embed_dim=16,
            heads=2,
            hidden_channels=4,
            positional=positional,
            image_size=(8, 8),
        )
    )
    ca = CellularAutomaton(rule)
    for size in (8, 12):  # 12x12: spatial interpolation beyond the training size (Fig. 4h)
        cells = ca.seed(torch.rand(2, 1, size, size))
        out = ca(cells, 2, generator=make_generator(0)).cells
        assert out.shape == cells.shape and torch.isfinite(out).all()


def test_positions_break_permutation_symmetry():
    images = torch.full((1, 1, 6, 6), 0.5)

    def update(positional):
        rule = activate(
            create_rule(
                "vitca",
                embed_dim=16,
                heads=2,
                hidden_channels=2,
                positional=positional,
                border="circular",
            )
        )
        return rule(CellularAutomaton(rule).seed(images))

    flat = update("none")  # constant grid on a torus, no positions: every cell identical
    assert torch.allclose(flat, flat[..., :1, :1].expand_as(flat), atol=1e-6)
    located = update("handcrafted")
    assert not torch.allclose(located, located[..., :1, :1].expand_as(located), atol=1e-4)


@pytest.mark.parametrize("backend", ["conv", "reference"])
@pytest.mark.parametrize("border", ["zeros", "exclude", "circular"])
def test_backends_give_the_same_rollout_and_gradients(backend, border):
    kwargs = {"embed_dim": 32, "heads": 4, "hidden_channels": 6, "border": border, "depth": 2}
    fast = activate(create_rule("vitca", **kwargs))
    other = create_rule("vitca", attention_backend=backend, **kwargs)
    other.load_state_dict(fast.state_dict())
    images = torch.rand(2, 1, 7, 7, generator=torch.Generator().manual_seed(0))

    def run(rule):
        ca = CellularAutomaton(rule)
        out = ca(ca.seed(images), 4, generator=make_generator(0)).cells
        loss = (ca.output_image(out) - images).abs().mean() + out.square().mean()
        return out.detach(), torch.autograd.grad(loss, list(rule.parameters()))

    fast_out, fast_grads = run(fast)
    other_out, other_grads = run(other)
    torch.testing.assert_close(other_out, fast_out, atol=1e-5, rtol=1e-5)
    for a, b in zip(other_grads, fast_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_head_masking_and_attention_maps():
    rule = activate(create_rule("vitca", embed_dim=16, heads=4, hidden_channels=4))
    cells = CellularAutomaton(rule).seed(torch.rand(2, 1, 6, 6))
    rule.record_attention()
    full = rule(cells)
    (maps,) = rule.attention_maps()
    assert maps.shape == (2, 6, 6, 4, 9)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 6, 6, 4))
    rule.mask_heads([1, 3])
    masked = rule(cells)
    (masked_maps,) = rule.attention_maps()
    assert torch.all(masked_maps[..., [1, 3], :] == 0)
    torch.testing.assert_close(masked_maps[..., [0, 2], :], maps[..., [0, 2], :])
    assert not torch.allclose(masked, full)
    rule.mask_heads([])
    torch.testing.assert_close(rule(cells), full)
    with pytest.raises(ValueError, match=r"head indices \[4\] out of range"):
        rule.mask_heads([4])
    rule.record_attention(False)
    with pytest.raises(RuntimeError, match="no attention recorded"):
        rule.attention_maps()


def test_bad_configs():
    with pytest.raises(ConfigError, match="embed_dim 128 must be divisible by heads 3"):
        create_rule("vitca", heads=3)
    with pytest.raises(ConfigError, match="1 to 3 odd positive integers"):
        create_rule("vitca", neighbourhood=(4, 4))
    with pytest.raises(ConfigError, match="'sincos' is not one of"):
        create_rule("vitca", positional="sincos")


@pytest.mark.parametrize(
    "options",
    [
        {"depth": 2},
        {"heads": 1},
        {"patch_size": (2, 1), "image_size": (8, 6)},
        {"positional": "learned", "border": "exclude"},
        {"positional": "sincos5", "border": "circular"},
        {"attention_backend": "conv"},
        {"attention_backend": "reference"},
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
@pytest.mark.parametrize("masked_heads", [False, True])
def test_a_firing_mask_gives_the_dense_update_of_the_firing_cells(options, masked_heads):
    torch.manual_seed(0)
    rule = activate(create_rule("vitca", embed_dim=16, heads=options.pop("heads", 2),
                                hidden_channels=4, mlp_dim=8, **options)).double()  # fmt: skip
    if masked_heads and rule.head_count() > 1:
        rule.mask_heads([1])
    cells = CellularAutomaton(rule).seed(torch.rand(2, 1, 8, 6, dtype=torch.float64))
    cells = (cells + 0.1 * torch.randn_like(cells)).requires_grad_(True)
    firing = (torch.rand(cells.shape[0], 1, *cells.shape[-2:]) < 0.5).double()
    dense = rule(cells) * firing
    sparse = rule(cells, firing=firing)
    torch.testing.assert_close(sparse, dense)
    grad = torch.randn_like(dense)
    inputs = [cells, *rule.parameters()]
    expected = torch.autograd.grad((dense * grad).sum(), inputs, allow_unused=True)
    got = torch.autograd.grad((sparse * grad).sum(), inputs, allow_unused=True)
    for a, b in zip(got, expected, strict=True):
        if b is None:
            assert a is None
        else:
            torch.testing.assert_close(a, b)


def test_a_firing_mask_while_recording_attention_keeps_the_full_maps():
    rule = activate(create_rule("vitca", embed_dim=16, heads=4, hidden_channels=4))
    cells = CellularAutomaton(rule).seed(torch.rand(2, 1, 6, 6))
    firing = (torch.rand(2, 1, 6, 6) < 0.5).float()
    rule.record_attention()
    torch.testing.assert_close(rule(cells, firing=firing), rule(cells) * firing)
    (maps,) = rule.attention_maps()
    assert maps.shape == (2, 6, 6, 4, 9)  # every cell's weights, not only the firing ones


def test_a_firing_mask_of_the_wrong_shape_is_named():
    rule = create_rule("vitca", embed_dim=16, heads=4, hidden_channels=4)
    cells = CellularAutomaton(rule).seed(torch.rand(2, 1, 6, 6))
    with pytest.raises(ValueError, match=r"firing mask must be \(2, 1, 6, 6\).*got \(2, 1, 6, 5\)"):
        rule(cells, firing=torch.ones(2, 1, 6, 5))


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_a_firing_mask_with_no_or_every_cell_firing(share):
    rule = activate(create_rule("vitca", embed_dim=16, heads=2, hidden_channels=4, mlp_dim=8))
    cells = CellularAutomaton(rule).seed(torch.rand(2, 1, 5, 6)).requires_grad_(True)
    firing = torch.full((2, 1, 5, 6), share)
    sparse = rule(cells, firing=firing)
    torch.testing.assert_close(sparse, rule(cells) * firing)
    sparse.square().sum().backward()
    assert torch.isfinite(cells.grad).all()


def test_a_firing_mask_under_bf16_autocast_matches_dense():
    rule = activate(create_rule("vitca", embed_dim=16, heads=2, hidden_channels=4, mlp_dim=8))
    cells = CellularAutomaton(rule).seed(torch.rand(2, 1, 6, 6))
    firing = (torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sparse, dense = rule(cells, firing=firing), rule(cells) * firing
    assert sparse.dtype == dense.dtype
    torch.testing.assert_close(sparse.float(), dense.float(), atol=1e-2, rtol=1e-2)
