"""U-Net, UNetCA and ViT baselines: the paper's parameter counts and their contracts."""

import pytest
import torch

from nca import CellularAutomaton, create_rule, list_rules, make_generator
from nca.rules.vitca import parameter_count
from tests.conftest import activate

RGB, GRAY = {"image_channels": 3}, {"image_channels": 1}

# (rule, overrides, paper count in thousands, where reported)
PAPER_COUNTS = [
    ("unet", GRAY, 104.5, "T1 U-Net gray"),
    ("unet", RGB, 106.6, "T1 U-Net RGB"),
    ("unetca", GRAY, 52.0, "T1 UNetCA gray"),
    ("unetca", RGB, 54.0, "T1 UNetCA RGB"),
    ("vit", GRAY, 83.4, "T1 ViT gray"),
    ("vit", RGB, 83.9, "T1 ViT RGB"),
    ("vit:depth2", RGB, 166.7, "T2 ViT-2"),
    ("vit:depth3", RGB, 249.4, "T2 ViT-3"),
]


@pytest.mark.parametrize(
    ("name", "overrides", "paper_k", "where"), PAPER_COUNTS, ids=[c[3] for c in PAPER_COUNTS]
)
def test_parameter_count_matches_paper(name, overrides, paper_k, where):
    count = parameter_count(create_rule(name, **overrides))
    assert round(count / 100) / 10 == paper_k, f"{where}: {count} parameters"


def test_exact_counts_pinned():
    assert parameter_count(create_rule("unet", **GRAY)) == 104_473
    assert parameter_count(create_rule("unetca", **RGB)) == 54_019
    assert parameter_count(create_rule("vit", **GRAY)) == 83_393


def test_probe_feature_shapes_match_table_3_counts():
    # Table 3: a 10-class linear probe on U-Net bottleneck features has 15.4K parameters,
    # on ViT tokens 1.3M: 1536 and 131072 features for a 32×32 image.
    images = torch.rand(2, 1, 32, 32)
    unet_features = create_rule("unet").features(images)
    assert unet_features.shape == (2, 24, 8, 8)
    assert round((unet_features[0].numel() * 10 + 10) / 100) / 10 == 15.4
    vit_features = create_rule("vit").features(images)
    assert vit_features.shape == (2, 128, 32, 32)  # channels-first, like the U-Net's
    assert round((vit_features[0].numel() * 10 + 10) / 1e5) / 10 == 1.3


@pytest.mark.parametrize("name", list_rules(presets=True))
@pytest.mark.parametrize("channels", [1, 3], ids=["mnist-shaped", "cifar-shaped"])
def test_every_rule_trains_on_32x32_batches(name, channels):
    """A few AdamW steps on one fixed batch lower the reconstruction loss (CA rules are
    rolled out through the core, with the same update masks every step)."""
    torch.manual_seed(0)
    rule = create_rule(name, image_channels=channels)
    images = torch.rand(2, channels, 32, 32, generator=torch.Generator().manual_seed(0))
    if rule.kind == "ca":
        ca = CellularAutomaton(rule)

        def reconstruct():
            return ca.output_image(ca(ca.seed(images), 2, generator=make_generator(0)).cells)
    else:

        def reconstruct():
            return rule(images)

    optimiser = torch.optim.AdamW(rule.parameters(), lr=3e-4)
    losses = []
    for step in range(4):
        optimiser.zero_grad(set_to_none=True)
        out = reconstruct()
        assert out.shape == images.shape
        loss = (out - images).abs().mean()
        loss.backward()
        if step == 0:
            assert all(p.grad is not None for p in rule.parameters() if p.requires_grad)
        optimiser.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = (reconstruct() - images).abs().mean().item()
    assert final < 0.999 * losses[0], f"{name}: losses {losses} then {final}"


def test_unet_structure_and_errors():
    unet = create_rule("unet").net
    assert all(m.kernel_size == (3, 3) for m in unet.modules() if isinstance(m, torch.nn.Conv2d))
    unetca = create_rule("unetca").net
    kernels = [m.kernel_size for m in unetca.modules() if isinstance(m, torch.nn.Conv2d)]
    assert kernels[0] == (3, 3) and all(k == (1, 1) for k in kernels[1:])
    assert torch.all(unetca.out_conv.weight == 0)
    with pytest.raises(ValueError, match="divisible by 4, got 30x32"):
        create_rule("unet")(torch.rand(1, 1, 30, 32))
    deeper = create_rule("unet", downsamplings=3)
    assert deeper(torch.rand(1, 1, 32, 32)).shape == (1, 1, 32, 32)


def test_vit_patches_and_errors():
    vit = create_rule("vit", image_channels=3, patch_size=(2, 2))
    assert vit(torch.rand(2, 3, 8, 8)).shape == (2, 3, 8, 8)
    assert vit.features(torch.rand(1, 3, 8, 8)).shape == (1, 128, 4, 4)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, H, W\)"):
        vit(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="not divisible by the patch size"):
        vit(torch.rand(1, 3, 7, 8))


@pytest.mark.parametrize(
    ("downsamplings", "window"), [(2, 6), (1, 4), (3, 10)], ids=["default", "k1", "k3"]
)
def test_unetca_receptive_field_is_the_pooling_tile_plus_one(downsamplings, window):
    """Measured on a 32x32 grid: one cell's update depends on the ``2^k x 2^k`` tile of
    the coarsest pooling grid containing it, widened by one cell on every side by the
    first 3x3 convolution -- 6x6 with the default two downsamplings, not 3x3."""
    rule = activate(create_rule("unetca", downsamplings=downsamplings, hidden_channels=4))
    tile = 2**downsamplings
    assert window == tile + 2
    g = torch.Generator().manual_seed(0)
    cells = torch.rand(1, rule.layout.cell_channels, 32, 32, generator=g)
    for row, col in [(13, 22), (16, 16), (0, 0), (31, 30)]:
        x = cells.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(rule(x)[0, :, row, col].sum(), x)
        support = grad.abs().sum(dim=(0, 1)) > 0  # (32, 32): input cells it depends on
        top, left = row // tile * tile - 1, col // tile * tile - 1
        expected = torch.zeros(32, 32, dtype=torch.bool)
        expected[max(top, 0) : top + window, max(left, 0) : left + window] = True
        assert torch.equal(support, expected), f"cell {(row, col)}"
    # and exactly: changing every cell outside the window leaves the update unchanged
    row, col = 13, 22
    top, left = row // tile * tile - 1, col // tile * tile - 1
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[top : top + window, left : left + window] = False
    changed = torch.where(outside, torch.rand(cells.shape, generator=g), cells)
    with torch.no_grad():
        torch.testing.assert_close(rule(changed)[..., row, col], rule(cells)[..., row, col])
        inside = cells.clone()
        inside[..., top, left] += 1.0  # a corner of the window does matter
        assert not torch.allclose(rule(inside)[..., row, col], rule(cells)[..., row, col])
