"""ConvCA's fixed perception (identity, a Sobel derivative per axis, optionally the
Laplacian) equals one depthwise convolution of every channel with every filter, the
channels in the order ``c·F + f``, in 1-D, 2-D and 3-D, for both paddings, with the same
gradients: the per-filter convolutions are a speed rewrite, not a new model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nca import create_rule
from nca.rules.convca import ConvCAConfig, perception_filters

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
    weights = torch.randn_like(ref)  # a loss that weighs every perceived channel differently
    (grad_mine,) = torch.autograd.grad((mine * weights).sum(), cells)
    (grad_ref,) = torch.autograd.grad((ref * weights).sum(), cells)
    torch.testing.assert_close(grad_mine, grad_ref, atol=1e-5, rtol=1e-5)
    assert not torch.equal(mine, torch.zeros_like(mine))
