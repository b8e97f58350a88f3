"""Optimiser and learning-rate schedule from a :class:`TrainerConfig`."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from nca.engine.config import TrainerConfig


def build_optimizer(
    parameters: Iterable[torch.nn.Parameter], config: TrainerConfig
) -> torch.optim.Optimizer:
    """AdamW (paper), Adam or SGD with momentum 0.9."""
    parameters = [p for p in parameters if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters")
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


def build_schedule(
    optimizer: torch.optim.Optimizer, config: TrainerConfig, iterations: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine annealing to 0 over ``iterations`` (paper), constant, or step decay."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=iterations)
    if config.lr_schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(config.lr_milestones), gamma=config.lr_gamma
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
