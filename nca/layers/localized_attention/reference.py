"""Reference localized attention: global attention with a banded mask.

Slow (``O(N²)``) and obviously correct; the other backends are tested against
it. Implements paper Eq. 1 with the attention matrix restricted to each cell's
neighbourhood (Fig. 3 *localize*), for every border mode, on grids of 1, 2 or 3
dimensions.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange

from nca.layers.neighbourhood import CELL_AXES, Neighbourhood


def _neighbour_index(nbhd: Neighbourhood, size: tuple[int, ...], device) -> torch.Tensor:
    """``(N, M)`` flat (row-major) index of each member of each of the ``N`` cells of a
    grid of ``size`` (wrapped for circular; clamped when outside)."""
    offsets = torch.tensor(nbhd.offsets(), device=device)  # (M, dims)
    index = torch.zeros((*size, nbhd.members), dtype=torch.long, device=device)
    for axis, n in enumerate(size):
        shape = [n if a == axis else 1 for a in range(len(size))]
        moved = torch.arange(n, device=device).view(*shape, 1) + offsets[:, axis]
        moved = moved % n if nbhd.border == "circular" else moved.clamp(0, n - 1)
        index = index * n + moved
    return index.reshape(math.prod(size), -1)


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, nbhd: Neighbourhood
) -> tuple[torch.Tensor, torch.Tensor]:
    """Localized multi-head attention, the slow and plain way.

    Args:
        q: Queries ``(B, *cells, heads, d_head)``: ``(B, H, W, heads, d_head)`` in 2-D,
            ``(B, L, ...)`` in 1-D, ``(B, D, H, W, ...)`` in 3-D.
        k: Keys, same shape.
        v: Values, same shape.
        nbhd: Neighbourhood size (one entry per cell axis) and border mode.

    Returns:
        ``(out, attn)``: ``(B, *cells, heads, d_head)`` and weights
        ``(B, *cells, heads, M)``.
    """
    batch, *size, heads, d_head = q.shape
    nbhd.check_grid(*size)
    n = math.prod(size)
    axes = CELL_AXES[nbhd.dims]
    sizes = dict(zip(axes.split(), size, strict=True))
    qf, kf, vf = (rearrange(t, f"b {axes} h d -> b h ({axes}) d") for t in (q, k, v))
    logits = qf @ kf.transpose(-1, -2) * d_head**-0.5  # (B, h, N, N)

    index = _neighbour_index(nbhd, tuple(size), q.device)  # (N, M)
    outside = nbhd.outside_mask(size, q.device).reshape(n, -1)  # (N, M)
    # in-grid neighbours: a scatter (out-of-grid members add 0), not boolean indexing, and
    # no branch on tensor values below, so the graph is data-independent (ONNX export)
    band = torch.zeros(n, n, device=q.device).scatter_add_(1, index, (~outside).float()) > 0
    logits = logits.masked_fill(~band, float("-inf"))

    outside_count = outside.sum(-1).to(q.dtype)  # out-of-grid members per cell
    if nbhd.border == "zeros" and any(nbhd.radius):  # some border cell has outside members
        # each out-of-grid member is a zero key (logit 0, weight e^0) with a zero value:
        # together they add one column with logit log(count) to the softmax.
        extra = outside_count.log().view(1, 1, n, 1).expand(batch, heads, n, 1)
        weights = torch.softmax(torch.cat([logits, extra], dim=-1), dim=-1)
        virtual = weights[..., -1:] / outside_count.clamp(min=1).view(1, 1, n, 1)
        weights = weights[..., :-1]
    else:
        weights = torch.softmax(logits, dim=-1)
        virtual = torch.zeros_like(weights[..., :1])
    out = weights @ vf  # (B, h, N, d)

    member = weights.gather(-1, index.view(1, 1, n, -1).expand(batch, heads, n, -1))
    member = torch.where(outside.view(1, 1, n, -1), virtual.expand_as(member), member)
    out = rearrange(out, f"b h ({axes}) d -> b {axes} h d", **sizes)
    attn = rearrange(member, f"b h ({axes}) m -> b {axes} h m", **sizes)
    return out, attn
