"""Multi-head self-attention localized to each cell's neighbourhood (paper §3, Eq. 2-3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import nn

from nca.layers.localized_attention import AttentionBackend, attend
from nca.layers.localized_attention.prenorm import prenorm_shifted_attention
from nca.layers.localized_attention.sparse import prenorm_sparse_attention
from nca.layers.neighbourhood import CELL_AXES, Neighbourhood


class LocalizedSelfAttention(nn.Module):
    """MHSA where each cell attends only to its neighbourhood (``N_H × N_W`` in 2-D; grids
    of 1 to 3 dimensions, as many as the neighbourhood has sizes).

    Q, K, V come from one bias-free ``d → 3d`` projection split into ``h`` heads
    of ``d/h`` channels; the heads' outputs are concatenated and projected by
    ``W`` (``d → d`` with bias), except with a single head, where the projection
    is the identity — as in the authors' release and as the paper's parameter
    counts require (Table 2, heads = 1: 76.0K).

    Args:
        dim: Token size ``d``.
        heads: Number of heads ``h`` (must divide ``d``).
        neighbourhood: Neighbourhood size and border mode.
        backend: Localized-attention implementation (``nca.layers.localized_attention``).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        neighbourhood: Neighbourhood,
        backend: AttentionBackend = "shifted",
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"embed size {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.neighbourhood = neighbourhood
        self.backend: AttentionBackend = backend
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Identity() if heads == 1 else nn.Linear(dim, dim)
        #: Heads whose attention is zeroed (paper Fig. 7); empty during training.
        self.masked_heads: tuple[int, ...] = ()
        #: Keep the last call's attention weights in :attr:`last_attention`.
        self.record_attention = False
        self.last_attention: torch.Tensor | None = None

    def mask_heads(self, heads: Sequence[int]) -> None:
        """Zero the attention of these heads from now on (``[]`` to unmask)."""
        bad = [h for h in heads if not 0 <= h < self.heads]
        if bad:
            raise ValueError(f"head indices {bad} out of range; this layer has {self.heads} heads")
        self.masked_heads = tuple(sorted(set(heads)))

    def forward(
        self,
        tokens: torch.Tensor,
        norm: nn.LayerNorm | None = None,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, *cells, d) -> (B, *cells, d)``; with ``norm``, attend over ``norm(tokens)``.

        ``*cells`` are the neighbourhood's 1 to 3 cell axes (``H, W`` in 2-D).

        With ``rows`` (``(N,)`` flat indices of query cells, see
        :func:`nca.core.update.firing_rows`) only those cells query: the result is
        ``(N, d)``, the dense result's rows. The ``shifted`` backend with ``norm`` then
        computes Q and the attention for those rows alone
        (:mod:`nca.layers.localized_attention.sparse`); the other backends, and a layer
        recording its attention, compute the dense result and take the rows.

        Passing the pre-norm here (rather than normalising first) lets the
        ``shifted`` backend recompute the LayerNorm and QKV projection in
        backward instead of storing Q, K and V for every CA step.

        Under autocast, that fused LayerNorm → QKV → attention runs in float32
        (see :mod:`nca.layers`) and the output projection ``to_out`` in bf16; with
        the other backends (or without ``norm``) the QKV projection is a plain
        ``nn.Linear`` and runs in bf16 too.
        """
        axes = CELL_AXES[self.neighbourhood.dims]
        sparse = rows is not None and norm is not None and self.backend == "shifted"
        if sparse and not self.record_attention:
            out, attn = prenorm_sparse_attention(
                tokens, norm, self.to_qkv, self.heads, self.neighbourhood, rows
            )
            return self.to_out(self._apply_head_mask(out, attn).flatten(1))
        if norm is not None and self.backend == "shifted":
            out, attn = prenorm_shifted_attention(
                tokens, norm, self.to_qkv, self.heads, self.neighbourhood
            )
        else:
            qkv = self.to_qkv(tokens if norm is None else norm(tokens))
            pattern = f"b {axes} (three h d) -> three b {axes} h d"
            q, k, v = rearrange(qkv, pattern, three=3, h=self.heads)
            out, attn = attend(q, k, v, self.neighbourhood, self.backend)
        out = self._apply_head_mask(out, attn, record=self.record_attention)
        out = rearrange(out, f"b {axes} h d -> b {axes} (h d)")
        if rows is not None:
            out = out.reshape(-1, out.shape[-1]).index_select(0, rows)
        return self.to_out(out)

    def _apply_head_mask(
        self, out: torch.Tensor, attn: torch.Tensor, record: bool = False
    ) -> torch.Tensor:
        """Zero the masked heads of ``out`` (``(..., heads, d_head)``); keep ``attn``
        (``(..., heads, M)``, masked alike) when ``record``."""
        if self.masked_heads:
            keep = torch.ones(self.heads, device=out.device, dtype=out.dtype)
            keep[list(self.masked_heads)] = 0
            out = out * keep.view(-1, 1)
            attn = attn * keep.view(-1, 1)
        if record:
            self.last_attention = attn.detach()
        return out
