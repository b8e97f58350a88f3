"""Pre-norm localized self-attention core with recomputation: ``LN → QKV → attention``.

The training-memory hot spot of ViTCA is what autograd keeps per CA step for
its attention: the normalised tokens, Q and the padded K and V (about five
token-sized tensors). :func:`prenorm_shifted_attention` fuses the pre-attention
LayerNorm, the bias-free QKV projection and the shifted-view attention into one
autograd function that saves only its input tokens, the LayerNorm statistics
and the ``M`` attention weights per head; backward recomputes the (cheap)
LayerNorm and the QKV matmul instead of storing them. Values and gradients are
those of ``shifted_attention(split(to_qkv(norm(x))))``; tests check them
against the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from nca.layers.layernorm_linear import layernorm_backward
from nca.layers.localized_attention.shifted import (
    attention_backward,
    attention_forward,
    border_bias,
    neighbour_windows,
)
from nca.layers.neighbourhood import CELL_AXES, Neighbourhood


def _qkv(normed, qkv_weight, heads, nbhd):
    """q and padded k/v, channels-last ``(B, *cells, heads, d_head)``, from normalised
    tokens ``(B, *cells, d)``.

    Three ``d → d`` products (the rows of the ``d → 3d`` weight) give contiguous
    q, k, v directly, so nothing is re-laid-out before padding.
    """
    axes = CELL_AXES[nbhd.dims]
    q, k, v = (
        rearrange(F.linear(normed, w), f"b {axes} (h d) -> b {axes} h d", h=heads)
        for w in qkv_weight.chunk(3)
    )
    return q, nbhd.pad(k), nbhd.pad(v)


def _unpad(grad_padded: torch.Tensor, nbhd: Neighbourhood, size: tuple[int, ...]):
    """Gradient w.r.t. the unpadded grid of ``size`` cells: crop, or fold wrapped borders
    back (circular), the last axis first (in 2-D: columns, then rows)."""
    if nbhd.border != "circular":
        crop = (slice(r, r + n) for r, n in zip(nbhd.radius, size, strict=True))
        return grad_padded[(slice(None), *crop)]
    grad = grad_padded
    for axis in reversed(range(nbhd.dims)):
        r, n, dim = nbhd.radius[axis], size[axis], axis + 1
        folded = grad.narrow(dim, r, n).clone()
        if r:
            folded.narrow(dim, n - r, r).add_(grad.narrow(dim, 0, r))
            folded.narrow(dim, 0, r).add_(grad.narrow(dim, r + n, r))
        grad = folded
    return grad


class _PreNormShiftedAttention(torch.autograd.Function):
    """LayerNorm -> QKV -> shifted attention, recomputing the first two in backward;
    float32 under autocast."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, tokens, norm_weight, norm_bias, qkv_weight, heads, nbhd, eps):
        size, dim = tuple(tokens.shape[1:-1]), tokens.shape[-1]
        normed, mean, rstd = torch.native_layer_norm(tokens, (dim,), norm_weight, norm_bias, eps)
        q, k_padded, v_padded = _qkv(normed, qkv_weight, heads, nbhd)
        windows, scale = neighbour_windows(nbhd, size), (dim // heads) ** -0.5
        bias = border_bias(nbhd, size, tokens)
        out, attn = attention_forward(q, k_padded, v_padded, bias, windows, scale)
        ctx.save_for_backward(tokens, mean, rstd, norm_weight, norm_bias, qkv_weight, attn)
        ctx.heads, ctx.nbhd, ctx.windows, ctx.scale, ctx.eps = heads, nbhd, windows, scale, eps
        ctx.mark_non_differentiable(attn)
        return out, attn

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad_out, _grad_attn):
        tokens, mean, rstd, norm_weight, norm_bias, qkv_weight, attn = ctx.saved_tensors
        size, dim = tuple(tokens.shape[1:-1]), tokens.shape[-1]
        # recompute, bit-identical to forward: LayerNorm, QKV projection, padding
        normed = torch.native_layer_norm(tokens, (dim,), norm_weight, norm_bias, ctx.eps)[0]
        q, k_padded, v_padded = _qkv(normed, qkv_weight, ctx.heads, ctx.nbhd)
        grad_q, grad_kp, grad_vp = attention_backward(
            grad_out, q, k_padded, v_padded, attn, ctx.windows, ctx.scale
        )
        grad_k = _unpad(grad_kp, ctx.nbhd, size)
        grad_v = _unpad(grad_vp, ctx.nbhd, size)
        # per-projection products: no (B, *cells, 3d) gradient is assembled
        normed_2d = normed.reshape(-1, dim)
        grad_qkv_weight = torch.empty_like(qkv_weight)
        grad_normed = None
        for index, grad in enumerate((grad_q, grad_k, grad_v)):
            grad_2d = grad.reshape(-1, dim)
            rows = slice(index * dim, (index + 1) * dim)
            torch.mm(grad_2d.t(), normed_2d, out=grad_qkv_weight[rows])
            term = grad_2d @ qkv_weight[rows]
            grad_normed = term if grad_normed is None else grad_normed.add_(term)
        grad_normed = grad_normed.view_as(tokens)
        grad_tokens, grad_norm_weight, grad_norm_bias = layernorm_backward(
            grad_normed, tokens, mean, rstd, norm_weight, norm_bias
        )
        return grad_tokens, grad_norm_weight, grad_norm_bias, grad_qkv_weight, None, None, None


def prenorm_shifted_attention(
    tokens: torch.Tensor,
    norm: nn.LayerNorm,
    to_qkv: nn.Linear,
    heads: int,
    nbhd: Neighbourhood,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``shifted_attention`` of ``to_qkv(norm(tokens))``, saving only what backward cannot
    cheaply recompute.

    Args:
        tokens: ``(B, *cells, d)`` block input (before the pre-attention LayerNorm), with
            1 to 3 cell axes (``(B, H, W, d)`` in 2-D).
        norm: The pre-attention LayerNorm over ``d``.
        to_qkv: Bias-free ``d → 3d`` projection, laid out ``(three heads d_head)``.
        heads: Number of heads.
        nbhd: Neighbourhood size and border mode.

    Returns:
        ``(out, attn)``: ``(B, *cells, heads, d/heads)`` and ``(B, *cells, heads, M)``.
        Under autocast both are float32: the LayerNorm, the QKV projection and the
        attention all run in float32, forward and backward.
    """
    if to_qkv.bias is not None:
        raise ValueError("prenorm_shifted_attention expects a bias-free QKV projection")
    nbhd.check_grid(*tokens.shape[1:-1])
    out, attn = _PreNormShiftedAttention.apply(
        tokens.contiguous(),
        norm.weight,
        norm.bias,
        to_qkv.weight,
        heads,
        nbhd,
        norm.eps,
    )
    return out, attn.movedim(0, -1)
