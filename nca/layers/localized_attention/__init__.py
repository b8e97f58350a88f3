"""Localized (neighbourhood) multi-head attention backends.

All backends take ``q, k, v`` of shape ``(B, H, W, heads, d_head)`` and return
``(out, attn)`` with ``out`` like ``q`` and ``attn`` ``(B, H, W, heads, M)``:

* ``reference`` — global attention with a banded mask; slow, obviously correct.
* ``conv`` — the authors' one-hot-convolution gather; the speed/memory baseline.
* ``shifted`` — shifted views and a custom backward; the fast default.

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
from nca.layers.neighbourhood import Neighbourhood

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
        q: Queries ``(B, H, W, heads, d_head)``.
        k: Keys, same shape.
        v: Values, same shape.
        nbhd: Neighbourhood size and border mode.
        backend: One of :data:`BACKENDS` (``shifted``, ``conv``, ``reference``).

    Returns:
        ``(out, attn)``: ``(B, H, W, heads, d_head)`` and weights ``(B, H, W, heads, M)``.

    Raises:
        ValueError: unknown backend, or ``q``, ``k``, ``v`` of different shapes.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if q.ndim != 5 or q.shape != k.shape or q.shape != v.shape:
        raise ValueError(
            "q, k, v must share the shape (B, H, W, heads, d_head); got "
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
