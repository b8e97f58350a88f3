"""Probe classifiers: one linear layer, or the 2-layer MLP references of Table 3."""

from __future__ import annotations

import math

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


def train_classifier(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    generator: torch.Generator,
    device,
    progress=None,
) -> list[float]:
    """AdamW + cosine annealing over ``epochs`` of shuffled mini-batches (the denoise
    task's optimiser setup, without noise). Returns the mean loss per epoch."""
    model.to(device).train()
    steps = epochs * math.ceil(len(features) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(features), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            x = features[index].to(device=device, dtype=torch.float32)  # float16 storage
            y = labels[index].to(device)
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(index)
            if progress is not None:
                progress(1)
        losses.append(total / len(order))
    return losses


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
