"""A complete task in 80 lines: reproduce block images in the output channels. It trains
every rule, resumes and runs under torchrun: the engine does that; a task is data, an
objective and an evaluation.

Run:        python examples/05_minimal_task.py --rule convca:tiny --run-dir runs/copy
Resume:     python examples/05_minimal_task.py --run-dir runs/copy --resume
torchrun:   torchrun --nproc-per-node 2 examples/05_minimal_task.py --run-dir runs/copy2
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from nca import Losses, Task, TrainerConfig, launch, make_generator, psnr


@dataclass
class CopyConfig(TrainerConfig):
    """The engine's settings (iterations, lr, ...) plus the task's own.

    Attributes:
        batch_size: Images per iteration.
        image_size: Side of the square images.
        steps: CA steps per iteration.
    """

    iterations: int = 200
    lr: float = 2e-3
    log_every: int = 20
    batch_size: int = 8
    image_size: int = 16
    steps: int = 8


def blocks(count: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """``(count, 1, side, side)`` images of random 4x4 blocks."""
    coarse = torch.rand(count, 1, side // 4, side // 4, generator=generator)
    return coarse.repeat_interleave(4, -1).repeat_interleave(4, -2)


class CopyTask(Task):
    """Reproduce block images in the output channels (a minimal task)."""

    name = "copy"
    config_class = CopyConfig

    def train_data(self, run):
        return None  # images are drawn fresh each iteration

    def sample_batch(self, data, state):
        cfg = self.config  # every draw from the run's streams: resume is exact
        return blocks(cfg.batch_size, cfg.image_size, state.streams.data).to(state.device)

    def objective(self, model, images, state):
        out = model.run(images, steps=self.config.steps, generator=state.streams.steps)
        l1 = (out.images - images).abs().mean()
        return Losses(l1 + out.overflow, {"l1": l1})

    def evaluate(self, model, run):
        images = blocks(64, self.config.image_size, make_generator(1234)).to(run.device)
        output = model(images, steps=self.config.steps, generator=make_generator(0, run.device))
        return {"psnr": float(psnr(output, images).mean())}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", default="convca:tiny")
    parser.add_argument("--run-dir", default="runs/copy")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stop-after", type=int)
    args = parser.parse_args()
    task = CopyTask(CopyConfig(iterations=args.iterations))
    metrics = launch(
        task, rule=args.rule, run_dir=args.run_dir, resume=args.resume, stop_after=args.stop_after
    )
    print({k: round(v, 4) for k, v in metrics.items()})
