"""Probe classifiers: one linear layer, or the 2-layer MLP references of Table 3."""

from __future__ import annotations

import torch
from torch import nn

HIDDEN = {"mlp100": 100, "mlp1000": 1000}


def make_classifier(kind: str, features: int, classes: int) -> nn.Module:
    """``linear``: ``Linear(F, K)``; ``mlpN``: ``Linear(F, N) → ReLU → Linear(N, K)``."""
    if kind == "linear":
        return nn.Linear(features, classes)
    if kind in HIDDEN:
        return nn.Sequential(
            nn.Linear(features, HIDDEN[kind]), nn.ReLU(), nn.Linear(HIDDEN[kind], classes)
        )
    raise ValueError(f"unknown classifier {kind!r}; valid: linear, {', '.join(HIDDEN)}")


@torch.no_grad()
def accuracy(
    model: nn.Module, features: torch.Tensor, labels: torch.Tensor, device, batch_size: int = 1024
) -> float:
    """Top-1 accuracy (%)."""
    model.to(device).eval()
    correct = 0
    for start in range(0, len(features), batch_size):
        batch = features[start : start + batch_size].to(device=device, dtype=torch.float32)
        logits = model(batch)
        correct += int((logits.argmax(1).cpu() == labels[start : start + batch_size]).sum())
    return 100.0 * correct / len(features)
