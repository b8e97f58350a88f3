"""Pre-norm Transformer encoder block over a grid of tokens (paper Fig. 3)."""

from __future__ import annotations

import torch
from timm.layers import Mlp
from torch import nn

from nca.layers.attention import LocalizedSelfAttention
from nca.layers.layernorm_linear import layernorm_linear
from nca.layers.localized_attention import AttentionBackend
from nca.layers.neighbourhood import Neighbourhood


class LocalizedEncoderBlock(nn.Module):
    """``x + MHSA*(LN(x))`` then ``x + MLP(LN(x))`` with a 2-layer GELU MLP.

    Parameters are timm's ``Mlp`` and ``nn.LayerNorm`` modules; the forward pass
    fuses each LayerNorm with the projection after it for a leaner backward.
    Under bf16 autocast the fused parts (LayerNorm → QKV → attention with the
    ``shifted`` backend, LayerNorm → ``fc1`` and its GELU) run in float32 and
    ``to_out`` and ``fc2`` in bf16 (see :mod:`nca.layers`).

    Args:
        dim: Token size ``d``.
        heads: Attention heads.
        mlp_dim: Hidden size of the MLP.
        neighbourhood: Attention neighbourhood and border mode.
        backend: Localized-attention implementation.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_dim: int,
        neighbourhood: Neighbourhood,
        backend: AttentionBackend = "shifted",
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = LocalizedSelfAttention(dim, heads, neighbourhood, backend)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden_features=mlp_dim, out_features=dim, act_layer=nn.GELU)

    def forward(self, tokens: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, *cells, d) -> (B, *cells, d)`` (1 to 3 cell axes, those of the
        neighbourhood), or ``(N, d)`` for the flat ``rows`` ``(N,)``.

        With ``rows`` (the cells that fire, :func:`nca.core.update.firing_rows`) every
        cell still supplies keys and values, but queries, the MLP and the result are
        computed for those rows only: the dense result's rows, at a fraction of the cost.
        """
        if rows is not None:
            attended = self.attn(tokens, norm=self.norm1, rows=rows)
            tokens = tokens.reshape(-1, tokens.shape[-1]).index_select(0, rows) + attended
        else:
            tokens = tokens + self.attn(tokens, norm=self.norm1)
        # norm2 -> fc1 fused so backward recomputes the normalisation (see layernorm_linear)
        hidden = self.mlp.act(layernorm_linear(tokens, self.norm2, self.mlp.fc1))
        return tokens + self.mlp.fc2(hidden)
