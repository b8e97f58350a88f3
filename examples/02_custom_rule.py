"""A custom update rule in about 50 lines, registered and trained on denoising.

The rule: cells perceive their 3×3 neighbourhood's mean and max (pooling) and
update through a small per-cell MLP whose last layer starts at zero.

Run: python examples/02_custom_rule.py [--iterations 200]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nca import CARule, CellLayout, register_rule


@dataclass
class PoolingCAConfig:
    """Config of the pooling rule.

    Attributes:
        image_channels: Image channels.
        hidden_channels: Hidden channels per cell.
        width: MLP width.
    """

    image_channels: int = 1
    hidden_channels: int = 8
    width: int = 64


class PoolingCA(CARule):
    """Neighbourhood mean/max perception + per-cell MLP (an example rule)."""

    name = "pooling-ca"
    config_class = PoolingCAConfig

    def __init__(self, config: PoolingCAConfig):
        super().__init__(config)  # checks and stores self.config
        self.layout = CellLayout(
            config.image_channels, config.image_channels, config.hidden_channels
        )
        c = self.layout.cell_channels
        self.mlp = nn.Sequential(
            nn.Conv2d(3 * c, config.width, 1),
            nn.GELU(),
            nn.Conv2d(config.width, self.layout.updatable_channels, 1),
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        mean = F.avg_pool2d(cells, 3, stride=1, padding=1, count_include_pad=False)
        peak = F.max_pool2d(cells, 3, stride=1, padding=1)
        return self.mlp(torch.cat([cells, mean, peak], dim=1))


def main(iterations: int = 200) -> float:
    from nca import create_task, launch

    register_rule(PoolingCA)  # or expose it through an `nca.rules` entry point
    task = create_task(
        "denoise",
        image_size=16,
        iterations=iterations,
        batch_size=8,
        steps_min=8,
        steps_max=16,
        eval_steps=16,
        eval_subset=50,
        pool_size=64,
        curriculum_start=10,
        curriculum_end=100,
        validate_every=10**6,
        checkpoint_every=10**6,
        lpips="off",
    )
    with tempfile.TemporaryDirectory() as run_dir:
        final = launch(task, rule="pooling-ca", run_dir=run_dir, quiet=True)
    print(
        f"pooling-ca after {iterations} iterations: reconstruction L1 {final['reconstruction']:.4f}"
        f", PSNR {final['eval_psnr']:.2f} dB (masked inputs: {final['eval_input_psnr']:.2f})"
    )
    return final["reconstruction"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    main(parser.parse_args().iterations)
