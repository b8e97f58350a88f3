"""A small but real task used by the tests: train a rule to reproduce its input
image in its output channels, save a checkpoint, evaluate it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from nca import (
    CellularAutomaton,
    RunContext,
    Task,
    config_to_dict,
    create_rule,
    load_checkpoint,
    make_generator,
    normalize_gradients_,
    overflow_losses,
    save_checkpoint,
)


@dataclass
class ToyConfig:
    """Config of the toy task.

    Attributes:
        iterations: Optimiser steps.
        batch_size: Images per batch.
        image_size: Side of the random square images.
        steps: CA steps per iteration.
        lr: AdamW learning rate.
        mode: Which images to draw.
    """

    iterations: int = 20
    batch_size: int = 4
    image_size: int = 8
    steps: int = 4
    lr: float = 1e-2
    mode: Literal["blocks", "noise"] = "blocks"

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")


def _images(cfg: ToyConfig, generator: torch.Generator) -> torch.Tensor:
    side = cfg.image_size
    if cfg.mode == "noise":
        return torch.rand(cfg.batch_size, 1, side, side, generator=generator)
    coarse = torch.rand(cfg.batch_size, 1, side // 2, side // 2, generator=generator)
    return coarse.repeat_interleave(2, -1).repeat_interleave(2, -2)


class ToyTask(Task):
    """Toy autoencoding task for tests."""

    name = "toy"
    config_class = ToyConfig
    cli_options = ("iterations", "batch_size", "mode")
    presets = {"tiny": {"iterations": 2, "batch_size": 2}}

    def _loss(self, rule, images, generator):
        if rule.kind == "feedforward":
            return (rule(images) - images).abs().mean()
        ca = CellularAutomaton(rule)
        out = ca(ca.seed(images), self.config.steps, generator=generator).cells
        return (ca.output_image(out) - images).abs().mean() + overflow_losses(ca.layout, out).total

    def train(self, rule, run: RunContext):
        rule.to(run.device)
        optimizer = torch.optim.AdamW(rule.parameters(), lr=self.config.lr)
        generator = make_generator(run.seed)
        first = last = None
        for _ in range(self.config.iterations):
            loss = self._loss(rule, _images(self.config, generator), generator)
            optimizer.zero_grad()
            loss.backward()
            normalize_gradients_(rule.parameters())
            optimizer.step()
            first = float(loss.detach()) if first is None else first
            last = float(loss.detach())
        save_checkpoint(
            Path(run.run_dir) / "checkpoints" / "last.pt",
            {
                "rule": {"name": rule.rule_name, "config": config_to_dict(rule.config)},
                "task": {"name": "toy", "config": config_to_dict(self.config)},
                "model": rule.state_dict(),
            },
        )
        return {"first_loss": first, "last_loss": last}

    def evaluate(self, checkpoint, run: RunContext):
        data = load_checkpoint(checkpoint)
        rule = create_rule(data["rule"]["name"], **data["rule"]["config"])
        rule.load_state_dict(data["model"])
        with torch.no_grad():
            generator = make_generator(run.seed)
            loss = self._loss(rule, _images(self.config, generator), generator)
        return {"loss": float(loss)}
