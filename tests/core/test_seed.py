import pytest
import torch

from nca.core import CellLayout, inject, make_generator, seed


def test_constant_init_values_and_input():
    layout = CellLayout(1, 1, 8)
    images = torch.rand(4, 1, 6, 6)
    cells = seed(layout, images)
    assert cells.shape == (4, 10, 6, 6)
    assert torch.equal(cells[:, layout.slice("input")], images)
    assert torch.all(cells[:, layout.slice("output")] == 0.5)
    assert torch.all(cells[:, layout.slice("hidden")] == 0.0)


def test_random_init_ranges_and_generator_determinism():
    layout = CellLayout(3, 3, 16)
    images = torch.rand(8, 3, 16, 16)
    a = seed(layout, images, init="random", generator=make_generator(1))
    b = seed(layout, images, init="random", generator=make_generator(1))
    c = seed(layout, images, init="random", generator=make_generator(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    out, hid = a[:, layout.slice("output")], a[:, layout.slice("hidden")]
    assert out.min() >= 0 and out.max() < 1 and 0.45 < out.mean() < 0.55
    assert hid.min() >= -1 and hid.max() < 1 and hid.min() < -0.9 and abs(hid.mean()) < 0.05


def test_patch_seed_and_positional_channels():
    layout = CellLayout(1, 1, 4, positional_channels=2, patch_size=(2, 2))
    images = torch.rand(2, 1, 4, 4)
    pos = torch.randn(2, 4, 4)
    cells = seed(layout, images, positional=pos)
    assert cells.shape == (2, 2 * 4 + 4 + 4 + 4, 2, 2)
    assert torch.equal(layout.image(cells, "positional"), pos.expand(2, -1, -1, -1))
    assert torch.equal(layout.image(cells, "input"), images)
    with pytest.raises(ValueError, match="positional"):
        seed(layout, images)


def test_mask_is_applied_on_injection():
    layout = CellLayout(1, 1, 2)
    images = torch.rand(2, 1, 4, 4) + 0.1
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, :2] = 1
    cells = seed(layout, images, mask=mask)
    inputs = cells[:, layout.slice("input")]
    assert torch.equal(inputs[:, :, :2], images[:, :, :2])
    assert torch.all(inputs[:, :, 2:] == 0)


def test_inject_into_live_grid_only_changes_input_channels():
    layout = CellLayout(1, 1, 4, positional_channels=2)
    cells = torch.randn(3, layout.cell_channels, 5, 5, requires_grad=True)
    new = torch.rand(3, 1, 5, 5)
    injected = inject(layout, cells, new)
    assert torch.equal(injected[:, layout.slice("input")], new)
    others = [layout.slice(g) for g in ("positional", "output", "hidden")]
    for sl in others:
        assert torch.equal(injected[:, sl], cells[:, sl])
    injected.sum().backward()  # autograd flows through untouched channels
    assert cells.grad[:, layout.slice("input")].abs().sum() == 0
    assert torch.all(cells.grad[:, layout.slice("hidden")] == 1)


def test_seed_rejects_bad_input():
    layout = CellLayout(3, 3, 4)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, H, W\)"):
        seed(layout, torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match="unknown cell init 'zeros'; valid: constant, random"):
        seed(layout, torch.rand(2, 3, 4, 4), init="zeros")
    with pytest.raises(TypeError, match="floating-point"):
        seed(layout, torch.ones(2, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="do not fit a cell grid"):
        inject(layout, seed(layout, torch.rand(2, 3, 4, 4)), torch.rand(2, 3, 8, 8))
