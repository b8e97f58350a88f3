"""Mixed precision for the hand-written autograd functions.

Autocast does not reach inside a custom :class:`torch.autograd.Function`: under
bf16 autocast its forward would receive a mix of bf16 activations and float32
weights, and its backward (run without autocast) would multiply bf16 gradients
by float32 tensors. The recomputing functions of this package therefore run in
float32 whenever autocast is on — their work is elementwise and memory-bound,
and LayerNorm statistics want float32 anyway — while the surrounding layers
(MLPs, projections, convolutions) run in bf16 as autocast decides.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import torch

T = TypeVar("T")


def apply_in_float32(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``; under autocast, with autocast off and floating tensors cast to
    float32 (the cast is part of the graph, so gradients return in the caller's dtype)."""
    device_type = next(a.device.type for a in args if isinstance(a, torch.Tensor))
    if not torch.is_autocast_enabled(device_type):
        return function(*args)
    args = tuple(
        a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args
    )
    with torch.autocast(device_type, enabled=False):
        return function(*args)


def autocast_off(like: torch.Tensor) -> AbstractContextManager:
    """Disable autocast for ``like``'s device: a backward that runs while the caller is
    still inside an autocast region (CPU backward runs on the calling thread) must not
    have its float32 products recast."""
    return torch.autocast(like.device.type, enabled=False)
