"""Localized attention as the authors' release computes it (the speed/memory baseline).

K and V are reshaped to ``(B·h·d, 1, *cells)`` and convolved with ``M`` one-hot
kernels of the neighbourhood's size (``conv1d``, ``conv2d`` or ``conv3d``, padding
"same"), which materialises ``M`` shifted copies of K and V; attention is then a
``1×M`` matmul per cell.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from nca.layers.neighbourhood import CELL_AXES, Neighbourhood

#: Convolutions by the number of cell axes.
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _one_hot_kernels(nbhd: Neighbourhood, device, dtype) -> torch.Tensor:
    eye = torch.eye(nbhd.members, device=device, dtype=dtype)
    return eye.view(nbhd.members, 1, *nbhd.size)  # (M, 1, *size)


def _gather(x: torch.Tensor, nbhd: Neighbourhood, kernels: torch.Tensor) -> torch.Tensor:
    """``(B, *cells, h, d) -> (B, *cells, h, M, d)`` by one-hot convolution."""
    batch, heads, axes = x.shape[0], x.shape[-2], CELL_AXES[nbhd.dims]
    planes = rearrange(x, f"b {axes} h d -> (b h d) 1 {axes}")
    conv = _CONV[nbhd.dims]
    if nbhd.border == "circular":
        shifted = conv(F.pad(planes, nbhd.pad_widths, mode="circular"), kernels)
    else:
        shifted = conv(planes, kernels, padding="same")
    return rearrange(shifted, f"(b h d) m {axes} -> b {axes} h m d", b=batch, h=heads)


def conv_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, nbhd: Neighbourhood
) -> tuple[torch.Tensor, torch.Tensor]:
    """Localized attention with convolution-gathered neighbours.

    Args:
        q: Queries ``(B, *cells, heads, d_head)`` (``(B, H, W, heads, d_head)`` in 2-D).
        k: Keys, same shape.
        v: Values, same shape.
        nbhd: Neighbourhood size (one entry per cell axis) and border mode.

    Returns:
        ``(out, attn)``: ``(B, *cells, heads, d_head)`` and ``(B, *cells, heads, M)``.
    """
    size, d_head = q.shape[1:-2], q.shape[-1]
    nbhd.check_grid(*size)
    kernels = _one_hot_kernels(nbhd, q.device, q.dtype)
    keys, values = _gather(k, nbhd, kernels), _gather(v, nbhd, kernels)
    logits = (q.unsqueeze(-2) @ keys.transpose(-1, -2)).squeeze(-2) * d_head**-0.5
    if nbhd.border == "exclude":
        outside = nbhd.outside_mask(size, q.device).view(1, *size, 1, -1)
        logits = logits.masked_fill(outside, float("-inf"))
    attn = torch.softmax(logits, dim=-1)  # (B, *cells, h, M)
    out = (attn.unsqueeze(-2) @ values).squeeze(-2)
    return out, attn
