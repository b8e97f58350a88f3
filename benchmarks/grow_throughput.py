"""Training throughput of each CA rule on the grow task, and what the task adds.

Every rule trains on the ``grow`` quick preset's grid (the 20-pixel lizard padded by 6,
a 32x28 grid, batch 4) with a fixed T = 40: *grow step* is ``nca.Trainer.step`` of the
regenerating experiment (pool sampling with a loss sort, reseeding, disc damage,
living-cell masking, write-back); *bare rollout* is the same rule rolled out from seeds
with no alive masking, no pool and no damage, then the same L2 loss, backward and Adam
step. Their ratio is the task's overhead. Runs alternate, so machine noise hits both
alike; the table reports medians. Cell-steps per second = batch x cells x T / seconds.

Run: python benchmarks/grow_throughput.py [--iterations 5] [--repeats 3] [--output FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _machine import cpu_model  # benchmarks/ is the script directory
from _report import emit

STEPS = 40
RULES = {
    "convca": {"hidden_channels": 12, "laplacian": False},
    "vitca": {"hidden_channels": 12},
    "unetca": {"hidden_channels": 12},
}


def _trainer(rule_name: str, folder: Path):
    import torch

    from nca import RunContext, Trainer, create_rule, create_task

    task = create_task(
        "grow",
        preset="quick",
        steps_min=STEPS,
        steps_max=STEPS,
        log_every=10**6,
        validate_every=10**6,
        checkpoint_every=10**6,
    )
    torch.manual_seed(0)
    rule = create_rule(rule_name, image_channels=4, input_channels=0, **RULES[rule_name])
    with torch.no_grad():  # an active rule: a zeroed last layer would grow nothing
        for p in rule.parameters():
            p.add_(torch.randn_like(p) * 1e-2)
    return Trainer(task, rule, RunContext(folder, seed=0, quiet=True))


def grow_step(trainer, iterations: int) -> float:
    """Seconds per ``Trainer.step`` (after one warm-up step)."""
    trainer.step()
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.step()
    return (time.perf_counter() - start) / iterations


def bare_rollout(trainer, iterations: int) -> float:
    """Seconds per iteration of seed -> plain rollout -> L2 -> backward -> Adam."""
    import torch

    from nca import CellularAutomaton

    model, target = trainer.model, trainer.data.target
    automaton = CellularAutomaton(model.rule, update_rate=0.5)
    optimizer = torch.optim.Adam(model.rule.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    size = tuple(target.shape[-2:])

    def once():
        cells = automaton(model.seed(4, size, "cpu"), STEPS, generator=generator).cells
        loss = ((model.rgba(cells) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    once()
    start = time.perf_counter()
    for _ in range(iterations):
        once()
    return (time.perf_counter() - start) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    import torch

    from nca import parameter_count

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in RULES:
            trainer = _trainer(name, Path(tmp) / name)
            cells = 4 * trainer.data.target.shape[-2] * trainer.data.target.shape[-1] * STEPS
            full, bare = [], []
            for _ in range(args.repeats):
                full.append(grow_step(trainer, args.iterations))
                bare.append(bare_rollout(trainer, args.iterations))
            f, b = statistics.median(full), statistics.median(bare)
            rows.append((name, parameter_count(trainer.rule), f, b, cells))
            print(f"{name}: grow step {f:.3f} s, bare {b:.3f} s", flush=True)
    lines = [
        "# Grow task: training throughput per rule, and the task's overhead",
        "",
        f"Command: `python benchmarks/grow_throughput.py --iterations {args.iterations} "
        f"--repeats {args.repeats}`  ",
        f"Machine: {cpu_model()}, {args.threads} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}  ",
        "Setting: the grow `quick` preset's grid (32x28 cells, batch 4), T = 40, 16-channel "
        "cells (RGBA + 12 hidden); medians of alternating repeats.",
        "",
        "| rule | parameters | grow step (s) | bare rollout (s) | overhead | "
        "cell-steps / s (grow step) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, params, f, b, cells in rows:
        lines.append(
            f"| {name} | {params:,} | {f:.3f} | {b:.3f} | {f / b - 1:+.0%} | {cells / f:,.0f} |"
        )
    emit(lines, args.output)


if __name__ == "__main__":
    main()
