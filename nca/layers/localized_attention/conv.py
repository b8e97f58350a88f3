"""Localized attention as the authors' release computes it (the speed/memory baseline).

K and V are reshaped to ``(B·h·d, 1, H, W)`` and convolved with ``M`` one-hot
``N_H×N_W`` kernels (padding "same"), which materialises ``M`` shifted copies
of K and V; attention is then a ``1×M`` matmul per cell.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from nca.layers.neighbourhood import Neighbourhood


def _one_hot_kernels(nbhd: Neighbourhood, device, dtype) -> torch.Tensor:
    eye = torch.eye(nbhd.members, device=device, dtype=dtype)
    return eye.view(nbhd.members, 1, *nbhd.size)  # (M, 1, N_H, N_W)


def _gather(x: torch.Tensor, nbhd: Neighbourhood, kernels: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, h, d) -> (B, H, W, h, M, d)`` by one-hot convolution."""
    batch, heads = x.shape[0], x.shape[3]
    planes = rearrange(x, "b x y h d -> (b h d) 1 x y")
    if nbhd.border == "circular":
        r_h, r_w = nbhd.radius
        planes = F.pad(planes, (r_w, r_w, r_h, r_h), mode="circular")
        shifted = F.conv2d(planes, kernels)
    else:
        shifted = F.conv2d(planes, kernels, padding="same")
    return rearrange(shifted, "(b h d) m x y -> b x y h m d", b=batch, h=heads)


def conv_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, nbhd: Neighbourhood
) -> tuple[torch.Tensor, torch.Tensor]:
    """Localized attention with convolution-gathered neighbours.

    Args:
        q: Queries ``(B, H, W, heads, d_head)``.
        k: Keys, same shape.
        v: Values, same shape.
        nbhd: Neighbourhood size and border mode.

    Returns:
        ``(out, attn)``: ``(B, H, W, heads, d_head)`` and ``(B, H, W, heads, M)``.
    """
    height, width, d_head = q.shape[1], q.shape[2], q.shape[-1]
    nbhd.check_grid(height, width)
    kernels = _one_hot_kernels(nbhd, q.device, q.dtype)
    keys, values = _gather(k, nbhd, kernels), _gather(v, nbhd, kernels)
    logits = (q.unsqueeze(-2) @ keys.transpose(-1, -2)).squeeze(-2) * d_head**-0.5
    if nbhd.border == "exclude":
        outside = nbhd.outside_mask(height, width, q.device).view(1, height, width, 1, -1)
        logits = logits.masked_fill(outside, float("-inf"))
    attn = torch.softmax(logits, dim=-1)  # (B, H, W, h, M)
    out = (attn.unsqueeze(-2) @ values).squeeze(-2)
    return out, attn
