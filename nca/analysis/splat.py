"""Attention splat maps (paper Fig. 2): where each head's attention lands on the grid."""

from __future__ import annotations

import torch

from nca.layers.neighbourhood import Neighbourhood

#: One colour per head (cycled for more heads).
HEAD_PALETTE = torch.tensor(
    [
        [1.0, 0.2, 0.2],
        [0.2, 0.8, 0.2],
        [0.2, 0.4, 1.0],
        [1.0, 0.8, 0.1],
        [0.8, 0.2, 0.9],
        [0.1, 0.9, 0.9],
    ]
)


def splat_attention(attention: torch.Tensor, neighbourhood: Neighbourhood) -> torch.Tensor:
    """Every cell splats its attention weights onto the neighbours it attends to.

    Args:
        attention: ``(B, H', W', heads, M)`` weights over the ``M`` members of
            ``neighbourhood``.
        neighbourhood: Gives the members' ``offsets()`` and ``radius``.

    Returns:
        ``(B, heads, H', W')``: the attention each cell receives, per head, scaled so
        each head's largest value is 1. Mass that falls outside the grid is dropped.

    Raises:
        ValueError: the map is not of a 2-D grid (a splat map is an image).
    """
    if attention.ndim != 5:
        raise ValueError(
            f"splat_attention draws 2-D grids: attention must be (B, H', W', heads, M), got "
            f"{tuple(attention.shape)} ({attention.ndim - 3}-D cells)"
        )
    batch, height, width, heads, _ = attention.shape
    r_h, r_w = neighbourhood.radius
    splat = attention.new_zeros(batch, heads, height + 2 * r_h, width + 2 * r_w)
    for m, (di, dj) in enumerate(neighbourhood.offsets()):
        splat[:, :, r_h + di : r_h + di + height, r_w + dj : r_w + dj + width] += attention[
            ..., m
        ].permute(0, 3, 1, 2)
    splat = splat[:, :, r_h : r_h + height, r_w : r_w + width]
    return splat / splat.flatten(2).amax(-1).clamp(min=1e-8)[..., None, None]


def colour_heads(splat: torch.Tensor) -> torch.Tensor:
    """``(B, heads, H', W')`` splats as one RGB map ``(B, 3, H', W')``, a colour per head
    (:data:`HEAD_PALETTE`), averaged over heads."""
    heads = splat.shape[1]
    colours = HEAD_PALETTE[torch.arange(heads) % len(HEAD_PALETTE)].to(splat)
    return torch.einsum("bhxy,hc->bcxy", splat, colours) / heads
