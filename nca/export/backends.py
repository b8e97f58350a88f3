"""Localized-attention backends of a CA rule, and a copy with another backend.

ViTCA's ``shifted`` and ``conv`` backends compute the same attention as the slow
``reference`` backend from the same weights; only the implementation differs. An
exporter that cannot trace one of them can export a copy that uses another.
"""

from __future__ import annotations

import copy

from torch import nn

from nca.layers.attention import LocalizedSelfAttention
from nca.layers.localized_attention import BACKENDS


def attention_layers(module: nn.Module) -> list[LocalizedSelfAttention]:
    """Every :class:`~nca.layers.attention.LocalizedSelfAttention` inside ``module``."""
    return [m for m in module.modules() if isinstance(m, LocalizedSelfAttention)]


def attention_backend(module: nn.Module) -> str | None:
    """The backend ``module``'s attention layers use (``None``: it has none).

    Raises:
        ValueError: The layers use different backends (name them one at a time).
    """
    backends = sorted({layer.backend for layer in attention_layers(module)})
    if len(backends) > 1:
        raise ValueError(f"the attention layers use several backends: {', '.join(backends)}")
    return backends[0] if backends else None


def with_attention_backend(module: nn.Module, backend: str) -> nn.Module:
    """A deep copy of ``module`` whose attention layers all use ``backend``.

    The weights are copied unchanged (a backend holds no parameters); a rule config
    with an ``attention_backend`` field is updated too, so the copy describes itself.

    Args:
        module: A rule, an automaton or a task model.
        backend: ``shifted``, ``conv`` or ``reference``.

    Raises:
        ValueError: ``backend`` is unknown, or ``module`` has no attention layers.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if not attention_layers(module):
        raise ValueError(f"{type(module).__name__} has no localized attention layers")
    clone = copy.deepcopy(module)
    for layer in attention_layers(clone):
        layer.backend = backend
    for sub in clone.modules():
        config = getattr(sub, "config", None)
        if config is not None and hasattr(config, "attention_backend"):
            config.attention_backend = backend
    return clone
