"""Localized attention for a subset of query cells: the cells that fire this step.

With the asynchronous update (σ = 0.5) only the firing cells' update survives
:func:`nca.core.update.apply_update`, yet every cell's key and value is needed by
its neighbours. :func:`prenorm_sparse_attention` therefore computes the pre-norm
and the K/V projections on the whole grid, and the Q projection and the attention
itself only for the ``N`` firing cells (rows of the flattened ``(B, *cells)`` grid of 1
to 3 cell axes: ``B·H·W`` rows in 2-D).
Values and gradients are those of the dense
:func:`~nca.layers.localized_attention.prenorm.prenorm_shifted_attention` at those
rows (tests check them); after the attention, the rest of the last encoder block
and the head also run on ``N`` rows (see :class:`nca.rules.ViTCA`).

Like the dense fused function it saves only the input tokens, the LayerNorm
statistics and the attention weights, and recomputes the rest in backward. K and V
are written straight into ``(B·prod(cells) + 1, d)`` buffers (no padded copy; the last row
is the zero key and value of out-of-grid members), and the firing cells' neighbours
are gathered from them by index, one neighbour offset at a time, so no ``M``-fold
copy of K or V is ever held.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nca.layers.layernorm_linear import layernorm_backward
from nca.layers.neighbourhood import Neighbourhood


def neighbour_rows(
    rows: torch.Tensor, nbhd: Neighbourhood, batch: int, *size: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rows of the flattened grid holding each query cell's neighbours.

    Args:
        rows: ``(N,)`` flat row-major indices of the query cells in the ``(B, *cells)``
            grid (``b·H·W + i·W + j`` in 2-D).
        nbhd: Neighbourhood and border mode.
        batch: Grid batch ``B``.
        *size: The grid's cells, one entry per axis (``H, W`` in 2-D).

    Returns:
        ``(neighbours, outside)``: ``(M, N)`` flat indices, members in the
        neighbourhood's row-major order, wrapped for a ``circular`` border; a member
        outside the grid points at row ``B·prod(size)``, the zero key and value appended
        after the grid. ``outside`` is the ``(M, N)`` bool mask of those members (``None``
        for ``circular``).
    """
    nbhd.check_grid(*size)
    cells = math.prod(size)
    sample, within = rows // cells, rows % cells
    offsets = torch.tensor(nbhd.offsets(), device=rows.device)  # (M, dims)
    coords = []  # (M, N) neighbour coordinate per axis, the last axis first
    for axis in reversed(range(len(size))):
        coords.append((within % size[axis]).unsqueeze(0) + offsets[:, axis : axis + 1])
        within = within // size[axis]
    flat = torch.zeros_like(coords[0])
    outside = torch.zeros(coords[0].shape, dtype=torch.bool, device=rows.device)
    for n, coord in zip(size, reversed(coords), strict=True):  # the first axis first
        outside |= (coord < 0) | (coord >= n)
        flat = flat * n + (coord % n if nbhd.border == "circular" else coord)
    if nbhd.border == "circular":
        return sample * cells + flat, None
    return (sample * cells + flat).masked_fill(outside, batch * cells), outside


def _project(normed, rows, qkv_weight, heads):
    """``(q_in (N, d), q (N, h, d_h), k, v)``: Q of the query rows, and K and V
    ``(B·prod(cells) + 1, d)`` of every cell, each with a last zero row for out-of-grid members
    (contiguous rows: gathering them was 1.7× faster than from a strided view)."""
    dim = normed.shape[-1]
    flat = normed.reshape(-1, dim)
    q_in = flat.index_select(0, rows)
    q = F.linear(q_in, qkv_weight[:dim]).view(-1, heads, dim // heads)
    k, v = flat.new_empty(2, flat.shape[0] + 1, dim).unbind(0)
    for out, weight in ((k, qkv_weight[dim : 2 * dim]), (v, qkv_weight[2 * dim :])):
        torch.mm(flat, weight.t(), out=out[:-1])
        out[-1] = 0
    return q_in, q, k, v


def sparse_attention_forward(q, k, v, neighbours, bias, scale):
    """``(out (N, h, d_h), attn (M, N, h))`` of queries ``q`` over their neighbours' rows
    of ``k`` and ``v`` (``(R, d)``)."""
    members = neighbours.shape[0]
    logits = q.new_empty(members, *q.shape[:-1])
    product = torch.empty_like(q)
    for m in range(members):
        torch.mul(q, k.index_select(0, neighbours[m]).view_as(q), out=product)
        torch.sum(product, dim=-1, out=logits[m])
    logits.mul_(scale)
    if bias is not None:
        logits.add_(bias)
    attn = torch.softmax(logits, dim=0)
    out = torch.empty_like(q)
    for m in range(members):
        value = v.index_select(0, neighbours[m]).view_as(q)
        if m == 0:
            torch.mul(attn[0].unsqueeze(-1), value, out=out)
        else:
            out.addcmul_(attn[m].unsqueeze(-1), value)
    return out, attn


def sparse_attention_backward(grad_out, q, k, v, attn, neighbours, scale):
    """Gradients ``(∂q, ∂kv)`` of :func:`sparse_attention_forward`, ``∂kv`` ``(R, 2d)``
    holding ``∂k | ∂v`` (one scatter per member instead of two)."""
    members, (count, heads, d_head) = neighbours.shape[0], q.shape
    dim = heads * d_head
    grad_out = grad_out.contiguous()
    grad_attn = q.new_empty(attn.shape)
    product = torch.empty_like(grad_out)
    for m in range(members):
        torch.mul(grad_out, v.index_select(0, neighbours[m]).view_as(q), out=product)
        torch.sum(product, dim=-1, out=grad_attn[m])
    grad_logits = attn * (grad_attn - (attn * grad_attn).sum(0, keepdim=True))
    grad_logits.mul_(scale)
    grad_q = torch.empty_like(q)
    grad_kv = q.new_zeros(k.shape[0], 2 * dim)
    contribution = q.new_empty(count, 2 * dim)  # this member's ∂k | ∂v rows
    grad_k_rows = contribution[:, :dim].view(count, heads, d_head)
    grad_v_rows = contribution[:, dim:].view(count, heads, d_head)
    compiling = torch.compiler.is_compiling()
    for m in range(members):
        a_m, s_m = attn[m].unsqueeze(-1), grad_logits[m].unsqueeze(-1)
        if compiling:  # dynamo breaks the graph at an `out=` view that is not contiguous
            contribution = torch.cat([(s_m * q).flatten(1), (a_m * grad_out).flatten(1)], 1)
        else:  # eager: one reused buffer
            torch.mul(s_m, q, out=grad_k_rows)
            torch.mul(a_m, grad_out, out=grad_v_rows)
        grad_kv.index_add_(0, neighbours[m], contribution)  # accumulates repeated rows
        key = k.index_select(0, neighbours[m]).view_as(q)
        if m == 0:
            torch.mul(s_m, key, out=grad_q)
        else:
            grad_q.addcmul_(s_m, key)
    return grad_q, grad_kv


class _PreNormSparseAttention(torch.autograd.Function):
    """LayerNorm -> QKV -> attention of the query rows, recomputing in backward;
    float32 under autocast."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, tokens, norm_weight, norm_bias, qkv_weight, rows, heads, nbhd, eps):
        batch, *size, dim = tokens.shape
        normed, mean, rstd = torch.native_layer_norm(tokens, (dim,), norm_weight, norm_bias, eps)
        _, q, k, v = _project(normed, rows, qkv_weight, heads)
        neighbours, outside = neighbour_rows(rows, nbhd, batch, *size)
        bias = None
        if nbhd.border == "exclude":
            bias = torch.zeros(outside.shape, device=tokens.device, dtype=tokens.dtype)
            bias = bias.masked_fill(outside, float("-inf")).unsqueeze(-1)  # (M, N, 1)
        scale = (dim // heads) ** -0.5
        out, attn = sparse_attention_forward(q, k, v, neighbours, bias, scale)
        ctx.save_for_backward(tokens, mean, rstd, norm_weight, norm_bias, qkv_weight, rows, attn)
        ctx.heads, ctx.nbhd, ctx.scale, ctx.eps = heads, nbhd, scale, eps
        ctx.mark_non_differentiable(attn)
        return out, attn

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad_out, _grad_attn):
        tokens, mean, rstd, norm_weight, norm_bias, qkv_weight, rows, attn = ctx.saved_tensors
        batch, *size, dim = tokens.shape
        normed = torch.native_layer_norm(tokens, (dim,), norm_weight, norm_bias, ctx.eps)[0]
        q_in, q, k, v = _project(normed, rows, qkv_weight, ctx.heads)
        neighbours, _ = neighbour_rows(rows, ctx.nbhd, batch, *size)
        grad_q, grad_kv = sparse_attention_backward(grad_out, q, k, v, attn, neighbours, ctx.scale)
        grad_kv, grad_q = grad_kv[:-1], grad_q.reshape(-1, dim)  # drop the zero row
        grad_qkv_weight = torch.cat([grad_q.t() @ q_in, grad_kv.t() @ normed.reshape(-1, dim)])
        grad_normed = (grad_kv @ qkv_weight[dim:]).index_add_(0, rows, grad_q @ qkv_weight[:dim])
        grad_tokens, grad_norm_weight, grad_norm_bias = layernorm_backward(
            grad_normed.view_as(tokens), tokens, mean, rstd, norm_weight, norm_bias
        )
        return (
            grad_tokens, grad_norm_weight, grad_norm_bias, grad_qkv_weight,
            None, None, None, None,
        )  # fmt: skip


def prenorm_sparse_attention(
    tokens: torch.Tensor,
    norm: nn.LayerNorm,
    to_qkv: nn.Linear,
    heads: int,
    nbhd: Neighbourhood,
    rows: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-norm localized attention of the query ``rows`` only.

    Args:
        tokens: ``(B, *cells, d)`` block input (before the pre-attention LayerNorm), with
            1 to 3 cell axes (``(B, H, W, d)`` in 2-D).
        norm: The pre-attention LayerNorm over ``d``.
        to_qkv: Bias-free ``d → 3d`` projection, laid out ``(three heads d_head)``.
        heads: Number of heads.
        nbhd: Neighbourhood size and border mode.
        rows: ``(N,)`` int64 flat row-major indices of the query cells in the
            ``(B, *cells)`` grid (``b·H·W + i·W + j`` in 2-D;
            :func:`nca.core.update.firing_rows`), each at most once.

    Returns:
        ``(out, attn)``: ``(N, heads, d/heads)`` and ``(N, heads, M)``, equal to the rows
        ``rows`` of the dense backends' results (flattened over ``B, *cells``).
    """
    if to_qkv.bias is not None:
        raise ValueError("prenorm_sparse_attention expects a bias-free QKV projection")
    nbhd.check_grid(*tokens.shape[1:-1])
    out, attn = _PreNormSparseAttention.apply(
        tokens.contiguous(), norm.weight, norm.bias, to_qkv.weight, rows, heads, nbhd, norm.eps
    )
    return out, attn.permute(1, 2, 0)
