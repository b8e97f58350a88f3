"""ConvCA's fixed perception (identity, a Sobel derivative per axis, optionally the
Laplacian) equals one depthwise convolution of every channel with every filter, the
channels in the order ``c·F + f``, in 1-D, 2-D and 3-D, for both paddings, with the same
gradients: the per-filter convolutions, computed channels-last in 2-D and 3-D, are a
speed rewrite, not a new model. The learned
depthwise perception (NCALab's) is the same arrangement with learned filters."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nca import create_rule
from nca.rules.convca import ConvCAConfig, compute_format, perception_filters

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def reference_perception(cells: torch.Tensor, laplacian: bool, padding: str) -> torch.Tensor:
    """Every filter on every channel in one depthwise convolution: ``(B, C·F, *cells)``."""
    dims, channels = cells.ndim - 2, cells.shape[1]
    filters = perception_filters(dims, laplacian)
    kernel = filters.unsqueeze(1).repeat(channels, *[1] * (dims + 1))  # (C·F, 1, 3, ...)
    if padding == "circular":
        cells, pad = F.pad(cells, (1, 1) * dims, mode="circular"), 0
    else:
        pad = 1
    return CONV[dims](cells, kernel, padding=pad, groups=channels)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("laplacian", [False, True])
@pytest.mark.parametrize("padding", ["zeros", "circular"])
def test_fixed_perception_equals_one_depthwise_convolution(dims, laplacian, padding):
    torch.manual_seed(0)
    config = ConvCAConfig(dims=dims, laplacian=laplacian, padding=padding, hidden_channels=4)
    rule = create_rule("convca", config)
    side = {1: 11, 2: 7, 3: 5}[dims]
    channels = rule.layout.cell_channels
    cells = torch.randn(2, channels, *(side,) * dims, requires_grad=True)
    mine = rule.perceive(cells)
    ref = reference_perception(cells, laplacian, padding)
    torch.testing.assert_close(mine, ref, atol=1e-6, rtol=1e-6)
    if compute_format(cells) is not None:  # computed channels-last (the speed)
        assert mine.is_contiguous(memory_format=compute_format(cells))
    weights = torch.randn_like(ref)  # a loss that weighs every perceived channel differently
    (grad_mine,) = torch.autograd.grad((mine * weights).sum(), cells)
    (grad_ref,) = torch.autograd.grad((ref * weights).sum(), cells)
    torch.testing.assert_close(grad_mine, grad_ref, atol=1e-5, rtol=1e-5)
    assert not torch.equal(mine, torch.zeros_like(mine))


def test_channels_last_where_it_was_measured_faster():
    """2-D and 3-D grids on a CPU compute channels-last, the MLP's 1x1 convolutions too
    (oneDNN); a 2-D batch under 16 on one thread, where PyTorch's own 1x1 kernel is slower
    on channels-last, stays NCHW, as do 1-D grids and other devices."""
    rule = create_rule("convca", ConvCAConfig(hidden_channels=4, mlp_channels=8))
    channels = rule.layout.cell_channels
    small, large = torch.randn(8, channels, 6, 6), torch.randn(16, channels, 6, 6)
    torch.set_num_threads(2)  # conftest restores the count
    assert compute_format(small) == torch.channels_last
    assert rule(small).is_contiguous(memory_format=torch.channels_last)
    torch.set_num_threads(1)
    assert compute_format(small) is None
    assert rule(small).is_contiguous()
    assert compute_format(large) == torch.channels_last
    assert rule(large).is_contiguous(memory_format=torch.channels_last)
    assert compute_format(torch.randn(1, channels, 4, 4, 4)) == torch.channels_last_3d
    assert compute_format(torch.randn(8, channels, 6)) is None
    assert compute_format(torch.randn(8, channels, 6, 6, device="meta")) is None


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("padding", ["zeros", "circular"])
def test_depthwise_perception_is_the_cell_and_its_learned_filters(dims, padding):
    torch.manual_seed(0)
    config = ConvCAConfig(dims=dims, perception="depthwise", depthwise_filters=3,
                          padding=padding, hidden_channels=4, mlp_channels=8)  # fmt: skip
    rule = create_rule("convca", config)
    channels = rule.layout.cell_channels
    assert rule.update_mlp[0].in_channels == channels * 4
    assert [tuple(layer.weight.shape) for layer in rule.depthwise] == [
        (channels, 1, *(3,) * dims)
    ] * 3 and all(layer.bias is None for layer in rule.depthwise)
    cells = torch.randn(2, channels, *(5,) * dims, requires_grad=True)
    mine = rule.perceive(cells)
    # channel c's filter k (k = 0: the cell itself) at c·4 + k, as the fixed filters
    kernel = torch.stack([layer.weight for layer in rule.depthwise], 1).flatten(0, 1)
    padded = F.pad(cells, (1, 1) * dims, mode="circular") if padding == "circular" else cells
    derived = CONV[dims](padded, kernel, padding=0 if padding == "circular" else 1,
                         groups=channels).unflatten(1, (channels, 3))  # fmt: skip
    ref = torch.cat([cells.unsqueeze(2), derived], 2).flatten(1, 2)
    torch.testing.assert_close(mine, ref, atol=1e-6, rtol=1e-6)
    mine.square().sum().backward()
    assert all(layer.weight.grad.abs().sum() > 0 for layer in rule.depthwise)


def test_depthwise_perception_refuses_zero_filters_by_name():
    with pytest.raises(ValueError, match="depthwise_filters must be >= 1, got 0"):
        ConvCAConfig(perception="depthwise", depthwise_filters=0)
    with pytest.raises(ValueError, match="perception must be one of .*'depthwise'.*got 'sobel'"):
        ConvCAConfig(perception="sobel")
