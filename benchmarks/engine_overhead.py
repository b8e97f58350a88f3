"""What the training engine costs: ``nca.Trainer.step`` against a hand-written loop.

Both train the same ViTCA on the same denoising batches (the ``quick`` preset's
16x16 digits, batch 16, pool on even iterations) from the same initial weights:
the hand-written loop does only what Algorithm 1 needs (mask, seed, rollout,
L1 + overflow, backward, gradient normalisation, AdamW + cosine), the engine adds
its streams, finiteness checks, metric reductions and hooks. Runs alternate,
so machine noise hits both alike; the table reports medians and their ratio.

Run: python benchmarks/engine_overhead.py [--iterations 40] [--repeats 5] [--output FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _machine import cpu_model  # benchmarks/ is the script directory
from _report import emit

SETTINGS = dict(image_size=16, batch_size=16, steps_min=8, steps_max=16, pool_size=256)
SETTINGS.update(curriculum_start=50, curriculum_end=500, lpips="off", train_subset=512)
SETTINGS.update(log_every=10**6, validate_every=10**6, checkpoint_every=10**6)


def _task(iterations: int):
    from nca import create_task

    return create_task("denoise", iterations=iterations, **SETTINGS)


def _rule(task):
    """ViTCA as the task configures it (16x16 grayscale)."""
    from nca import create_rule, resolve_task_rule

    resolved = resolve_task_rule(task, "vitca")
    return create_rule(resolved.name, resolved.config)


def engine(iterations: int) -> float:
    """Seconds per iteration of ``Trainer.step``."""
    import torch

    from nca import RunContext, Trainer

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as run_dir:
        task = _task(iterations)
        trainer = Trainer(task, _rule(task), RunContext(run_dir, quiet=True))
        trainer.step()  # warm-up
        start = time.perf_counter()
        for _ in range(iterations):
            trainer.step()
        return (time.perf_counter() - start) / iterations


def hand_written(iterations: int) -> float:
    """Seconds per iteration of the bare Algorithm 1 loop."""
    import torch
    from nca_denoise.masking import mask_images

    from nca import (
        CellularAutomaton,
        ShufflePool,
        load_images,
        make_generator,
        normalize_gradients_,
        overflow_losses,
    )

    torch.manual_seed(0)
    rule = _rule(_task(iterations))
    ca = CellularAutomaton(rule)
    train = load_images("embedded-mnist", "train", image_size=16).subset(512)
    optimizer = torch.optim.AdamW(rule.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations + 1)
    g, pool, b = make_generator(0), ShufflePool(256, generator=make_generator(1)), 16

    def step(i: int) -> None:
        start = int(torch.randint(0, len(train) - b + 1, (1,), generator=g))
        targets = train.batch(torch.arange(start, start + b), "cpu")
        if len(pool) > b and i % 2 == 0:
            entries = pool.sample(b)
            cells, targets = entries.cells, entries.targets
        else:
            cells = ca.seed(mask_images(targets, (1, 0.25), g))
        steps = int(torch.randint(8, 17, (1,), generator=g))
        out = ca(cells, steps, generator=g).cells
        loss = 100 * (ca.output_image(out) - targets).abs().mean()
        loss = loss + 100 * overflow_losses(ca.layout, out).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        normalize_gradients_(rule.parameters())
        optimizer.step()
        scheduler.step()
        pool.add(out.detach(), targets)

    step(1)  # warm-up
    begin = time.perf_counter()
    for i in range(2, iterations + 2):
        step(i)
    return (time.perf_counter() - begin) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    times: dict[str, list[float]] = {"hand-written loop": [], "nca.Trainer": []}
    for _ in range(args.repeats):  # alternate, so noise hits both alike
        times["hand-written loop"].append(hand_written(args.iterations))
        times["nca.Trainer"].append(engine(args.iterations))
    base = statistics.median(times["hand-written loop"])
    lines = [
        "# Training engine overhead",
        "",
        f"Command: `python benchmarks/engine_overhead.py --iterations {args.iterations} "
        f"--repeats {args.repeats}`  ",
        f"Machine: {cpu_model()}, torch {torch.__version__}, {args.threads} threads, "
        f"{time.strftime('%Y-%m-%d')}",
        "",
        "ViTCA (paper defaults) denoising 16x16 digits, batch 16, T ~ U{8,16}, pool on even "
        f"iterations; median of {args.repeats} runs of {args.iterations} iterations.",
        "",
        "| loop | ms / iteration | × hand-written |",
        "| --- | ---: | ---: |",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median * 1e3:.1f} | {median / base:.3f} |")
    emit(lines, args.output)


if __name__ == "__main__":
    main()
