"""Layers used by rules: neighbourhoods and localized attention backends."""

from nca.layers.localized_attention import (
    BACKENDS,
    AttentionBackend,
    localized_attention,
)
from nca.layers.neighbourhood import BORDERS, Border, Neighbourhood

__all__ = [
    "BACKENDS",
    "BORDERS",
    "AttentionBackend",
    "Border",
    "Neighbourhood",
    "localized_attention",
]
