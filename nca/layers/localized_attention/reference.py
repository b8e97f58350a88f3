"""Reference localized attention: global attention with a banded mask.

Slow (``O(N²)``) and obviously correct; the other backends are tested against
it. Implements paper Eq. 1 with the attention matrix restricted to each cell's
neighbourhood (Fig. 3 *localize*), for every border mode.
"""

from __future__ import annotations

import torch
from einops import rearrange

from nca.layers.neighbourhood import Neighbourhood


def _neighbour_index(nbhd: Neighbourhood, height: int, width: int, device) -> torch.Tensor:
    """``(N, M)`` flat index of each member (wrapped for circular; clamped when outside)."""
    rows = torch.arange(height, device=device).view(height, 1, 1)
    cols = torch.arange(width, device=device).view(1, width, 1)
    di = torch.tensor([o[0] for o in nbhd.offsets()], device=device).view(1, 1, -1)
    dj = torch.tensor([o[1] for o in nbhd.offsets()], device=device).view(1, 1, -1)
    r, c = rows + di, cols + dj
    if nbhd.border == "circular":
        r, c = r % height, c % width
    else:
        r, c = r.clamp(0, height - 1), c.clamp(0, width - 1)
    return (r * width + c).reshape(height * width, -1)


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, nbhd: Neighbourhood
) -> tuple[torch.Tensor, torch.Tensor]:
    """Localized multi-head attention, the slow and plain way.

    Args:
        q: Queries ``(B, H, W, heads, d_head)``.
        k: Keys, same shape.
        v: Values, same shape.
        nbhd: Neighbourhood size and border mode.

    Returns:
        ``(out, attn)``: ``(B, H, W, heads, d_head)`` and weights ``(B, H, W, heads, M)``.
    """
    batch, height, width, heads, d_head = q.shape
    nbhd.check_grid(height, width)
    n = height * width
    qf, kf, vf = (rearrange(t, "b x y h d -> b h (x y) d") for t in (q, k, v))
    logits = qf @ kf.transpose(-1, -2) * d_head**-0.5  # (B, h, N, N)

    index = _neighbour_index(nbhd, height, width, q.device)  # (N, M)
    outside = nbhd.outside_mask(height, width, q.device).reshape(n, -1)  # (N, M)
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
    out = rearrange(out, "b h (x y) d -> b x y h d", x=height)
    attn = rearrange(member, "b h (x y) m -> b x y h m", x=height)
    return out, attn
