"""The NCA core in one page: seed a grid, roll it out asynchronously with
gradient checkpointing, train one step with the paper's losses and gradient
normalisation, keep the grids in a sample pool, damage them.

Run: python examples/01_core_rollout.py [--size 32] [--steps 16]
"""

from __future__ import annotations

import argparse

import torch

from nca import (
    CellularAutomaton,
    ShufflePool,
    create_rule,
    damage,
    make_generator,
    normalize_gradients_,
    overflow_losses,
    paper_checkpoint_segments,
)


def main(size: int = 32, steps: int = 16, batch: int = 4) -> dict[str, float]:
    g = make_generator(0)
    rule = create_rule("convca", hidden_channels=8, mlp_channels=32)
    ca = CellularAutomaton(rule, update_rate=0.5)  # σ = 50 % (paper §3.1)
    optimizer = torch.optim.AdamW(rule.parameters(), lr=1e-3)
    pool = ShufflePool(capacity=64, generator=make_generator(1))

    images = torch.rand(batch, 1, size, size, generator=g)
    cells = ca.seed(images)  # output 0.5, hidden 0, input = images
    print("layout:", ca.layout.describe(), "| grid:", tuple(cells.shape))

    result = ca(cells, steps, generator=g, checkpoint_segments=paper_checkpoint_segments(steps))
    out = result.cells
    reconstruction = (ca.output_image(out) - images).abs().mean()
    loss = reconstruction + overflow_losses(ca.layout, out).total
    optimizer.zero_grad()
    loss.backward()
    normalize_gradients_(rule.parameters())  # Algorithm 1, line 23
    optimizer.step()
    pool.add(out, images)  # Algorithm 1, lines 25-26

    before = pool.sample(batch).cells
    damaged, region = damage(ca.layout, before, generator=g)  # paper §4.1.2
    with torch.no_grad():
        recovered = ca(damaged, steps, generator=g).cells  # keep updating after damage
    metrics = {
        "loss": float(loss.detach()),
        "pool_size": float(len(pool)),
        "damaged_fraction": float(region.float().mean()),
        "damage_error": float((ca.output_image(damaged) - ca.output_image(before)).abs().mean()),
        "after_recovery_error": float(
            (ca.output_image(recovered) - ca.output_image(before)).abs().mean()
        ),
    }
    print(metrics)
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args()
    main(args.size, args.steps)
