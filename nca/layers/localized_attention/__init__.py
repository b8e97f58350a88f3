"""Localized (neighbourhood) multi-head attention backends.

All backends take ``q, k, v`` of shape ``(B, *cells, heads, d_head)`` with 1 to 3 cell
axes (``(B, L, ...)``, ``(B, H, W, ...)``, ``(B, D, H, W, ...)``; as many as the
neighbourhood has sizes) and return ``(out, attn)`` with ``out`` like ``q`` and ``attn``
``(B, *cells, heads, M)``:

* ``reference`` — global attention with a banded mask; slow, obviously correct.
* ``conv`` — the authors' one-hot-convolution gather; the speed/memory baseline.
* ``shifted`` — shifted views and a custom backward; the fast default.

The fused pre-norm forms take the block's tokens ``(B, *cells, d)`` instead:
:mod:`~nca.layers.localized_attention.prenorm` (the ``shifted`` backend with the
LayerNorm and QKV projection recomputed in backward) and
:mod:`~nca.layers.localized_attention.sparse` (the firing cells' queries only).

:func:`attend` dispatches to one by name. (The function is deliberately not
called ``localized_attention``: re-exported from :mod:`nca.layers` under the
subpackage's own name, it would shadow this subpackage and break
``import nca.layers.localized_attention.prenorm as ...``.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch

from nca.layers.localized_attention.conv import conv_attention
from nca.layers.localized_attention.reference import reference_attention
from nca.layers.localized_attention.shifted import shifted_attention
from nca.layers.neighbourhood import AXIS_NAMES, Neighbourhood

AttentionBackend = Literal["shifted", "conv", "reference"]
BACKENDS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {
    "shifted": shifted_attention,
    "conv": conv_attention,
    "reference": reference_attention,
}
assert set(BACKENDS) == set(get_args(AttentionBackend))


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    nbhd: Neighbourhood,
    backend: AttentionBackend = "shifted",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Localized multi-head attention with the named backend.

    Args:
        q: Queries ``(B, *cells, heads, d_head)``, one cell axis per entry of the
            neighbourhood's size (``(B, H, W, heads, d_head)`` in 2-D).
        k: Keys, same shape.
        v: Values, same shape.
        nbhd: Neighbourhood size and border mode.
        backend: One of :data:`BACKENDS` (``shifted``, ``conv``, ``reference``).

    Returns:
        ``(out, attn)``: ``(B, *cells, heads, d_head)`` and weights
        ``(B, *cells, heads, M)``.

    Raises:
        ValueError: unknown backend, ``q``, ``k``, ``v`` of different shapes, or not one
            cell axis per neighbourhood dimension.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if q.ndim != nbhd.dims + 3 or q.shape != k.shape or q.shape != v.shape:
        axes = ", ".join(AXIS_NAMES[nbhd.dims])
        raise ValueError(
            f"q, k, v must share the shape (B, {axes}, heads, d_head) for a "
            f"{nbhd.dims}-D neighbourhood {nbhd.size}; got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    return BACKENDS[backend](q, k, v, nbhd)


__all__ = [
    "BACKENDS",
    "AttentionBackend",
    "attend",
    "conv_attention",
    "reference_attention",
    "shifted_attention",
]
