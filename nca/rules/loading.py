"""Rebuilding a stored rule from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from nca.checkpoint import load_checkpoint
from nca.rules.registry import create_rule


def load_rule(
    checkpoint: str | Path | dict, map_location: str | torch.device = "cpu"
) -> torch.nn.Module:
    """Rebuild the rule stored in a checkpoint (its ``rule`` and ``model`` keys).

    Args:
        checkpoint: A path, or a dict from :func:`load_checkpoint`.
        map_location: Where to load tensors.

    Returns:
        The rule (an ``nn.Module``) with the stored weights, in eval mode.
    """
    data = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint, map_location)
    missing = [k for k in ("rule", "model") if k not in data]
    if missing:
        raise ValueError(f"checkpoint has no {' or '.join(missing)} entry; keys: {sorted(data)}")
    rule = create_rule(data["rule"]["name"], **data["rule"]["config"])
    rule.load_state_dict(data["model"])
    return rule.eval()
