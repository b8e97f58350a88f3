"""``Linear(LayerNorm(x))`` that keeps only ``x`` for backward.

Autograd would store both ``x`` (for the LayerNorm) and ``LayerNorm(x)`` (for
the Linear's weight gradient). Recomputing the normalisation in backward is a
cheap elementwise pass and halves what the pair keeps per CA step; values and
gradients are unchanged (``layernorm_linear`` is tested against the plain pair).

Under autocast the whole fused LayerNorm + Linear runs in float32, forward and
backward (see :mod:`nca.layers` for why and how).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def layernorm_backward(grad, x, mean, rstd, weight, bias):
    """Gradients ``(∂x, ∂weight, ∂bias)`` of a LayerNorm over the last dim, from the
    statistics its forward returned (shared by the recomputing autograd functions)."""
    return torch.ops.aten.native_layer_norm_backward(
        grad,
        x,
        [x.shape[-1]],
        mean,
        rstd,
        weight,
        bias,
        [True, weight is not None, bias is not None],
    )


class _LayerNormLinear(torch.autograd.Function):
    """``F.linear(LayerNorm(x))`` saving ``x`` and the statistics; float32 under autocast."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, x, norm_weight, norm_bias, weight, bias, eps):
        dim = x.shape[-1]
        normed, mean, rstd = torch.native_layer_norm(x, (dim,), norm_weight, norm_bias, eps)
        ctx.save_for_backward(x, mean, rstd, norm_weight, norm_bias, weight)
        ctx.eps, ctx.has_bias = eps, bias is not None
        return F.linear(normed, weight, bias)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad_out):
        x, mean, rstd, norm_weight, norm_bias, weight = ctx.saved_tensors
        dim = x.shape[-1]
        normed = torch.native_layer_norm(x, (dim,), norm_weight, norm_bias, ctx.eps)[0]
        grad_2d = grad_out.reshape(-1, grad_out.shape[-1])
        grad_weight = grad_2d.t() @ normed.reshape(-1, dim)
        grad_bias = grad_2d.sum(0) if ctx.has_bias else None
        grad_normed = grad_out @ weight
        grad_x, grad_norm_weight, grad_norm_bias = layernorm_backward(
            grad_normed, x, mean, rstd, norm_weight, norm_bias
        )
        return grad_x, grad_norm_weight, grad_norm_bias, grad_weight, grad_bias, None


def layernorm_linear(x: torch.Tensor, norm: nn.LayerNorm, linear: nn.Linear) -> torch.Tensor:
    """``linear(norm(x))``, memory-lean in backward.

    Args:
        x: ``(..., d)``.
        norm: LayerNorm over ``d``.
        linear: ``d -> out_features`` projection.

    Returns:
        ``(..., out_features)``: float32 under autocast (LayerNorm and Linear both run
        in float32 then), else ``x``'s dtype.
    """
    if tuple(norm.normalized_shape) != (x.shape[-1],):
        raise ValueError(
            f"LayerNorm over {tuple(norm.normalized_shape)} does not match the last dim of "
            f"x {tuple(x.shape)}"
        )
    return _LayerNormLinear.apply(
        x.contiguous(),
        norm.weight,
        norm.bias,
        linear.weight,
        linear.bias,
        norm.eps,
    )


class LayerNormLinear(nn.Module):
    """``Linear(LayerNorm(x))`` with the memory-lean backward of :func:`layernorm_linear`.

    Under autocast both the LayerNorm and the Linear run in float32 (unlike a plain
    ``nn.Linear``, which autocast runs in bf16).

    Args:
        in_features: Normalised and input size ``d``.
        out_features: Output size.
        bias: Whether the Linear has a bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_features)
        self.linear = nn.Linear(in_features, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., d) -> (..., out_features)``."""
        return layernorm_linear(x, self.norm, self.linear)
