"""A small but real task used by the CLI and registry tests: reproduce the input
image in the output channels (CA rules) or the output (feed-forward rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from nca import Losses, Task, TrainerConfig, make_generator


@dataclass
class ToyConfig(TrainerConfig):
    """Config of the toy task.

    Attributes:
        batch_size: Images per batch.
        image_size: Side of the random square images.
        steps: CA steps per iteration.
        mode: Which images to draw.
    """

    iterations: int = 20
    lr: float = 1e-2
    log_every: int = 1
    batch_size: int = 4
    image_size: int = 8
    steps: int = 4
    mode: Literal["blocks", "noise"] = "blocks"


def images(cfg: ToyConfig, generator: torch.Generator, count: int | None = None) -> torch.Tensor:
    side, count = cfg.image_size, count or cfg.batch_size
    if cfg.mode == "noise":
        return torch.rand(count, 1, side, side, generator=generator)
    coarse = torch.rand(count, 1, side // 2, side // 2, generator=generator)
    return coarse.repeat_interleave(2, -1).repeat_interleave(2, -2)


class ToyTask(Task):
    """Toy autoencoding task for tests."""

    name = "toy"
    config_class = ToyConfig
    cli_options = ("iterations", "batch_size", "mode")
    presets = {"tiny": {"iterations": 2, "batch_size": 2}}

    def train_data(self, run):
        return None

    def sample_batch(self, data, state):
        return images(self.config, state.streams.data).to(state.device)

    def objective(self, model, batch, state):
        out = model.run(batch, steps=self.config.steps, generator=state.streams.steps)
        l1 = (out.images - batch).abs().mean()
        return Losses(l1 + out.overflow, {"l1": l1})

    def evaluate(self, model, run):
        batch = images(self.config, make_generator(99), count=16).to(run.device)
        output = model(batch, steps=self.config.steps, generator=make_generator(0, run.device))
        return {"loss": float((output - batch).abs().mean())}
