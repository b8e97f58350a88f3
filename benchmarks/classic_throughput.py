"""Training throughput of each CA rule on the classify and texture tasks, and what the
tasks add.

*task step* is ``nca.Trainer.step`` of the task's quick preset (classify: batch 16 of
28x28 digits, T = 20, living-cell masking, residual noise, the mutating pool; texture:
batch 4 of 48x48 toroidal grids, T fixed at 36, the pool with reseeding, the Gram loss
of VGG16 and the overflow loss). *bare rollout* is the same rule rolled out from the same
kind of seeds by a plain ``nca.CellularAutomaton`` (no masking, no noise, no pool), then
the same loss (classify: the per-cell L2; texture: the same VGG16 Gram loss), backward
and an Adam step. Their ratio is the task's overhead; for texture the VGG16 loss is in
both. Runs alternate, so machine noise hits both alike; the table reports medians.
Cell-steps per second = batch x cells x T / seconds of the task step.

Run:
    python benchmarks/classic_throughput.py \\
        --vgg-weights ../shared/weights/lpips_vgg16_features.pth
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _machine import cpu_model  # benchmarks/ is the script directory
from _report import emit

TEXTURE_STEPS = 36
RULES = ("convca", "vitca", "unetca")


def _trainer(task_name: str, rule_name: str, folder: Path, vgg: str):
    import dataclasses

    import torch

    from nca import RunContext, Trainer, create_rule, create_task, get_rule_class
    from nca.engine.launch import preset_rule_defaults

    quiet = dict(log_every=10**6, validate_every=10**6, checkpoint_every=10**6)
    if task_name == "texture":
        extra = dict(steps_min=TEXTURE_STEPS, steps_max=TEXTURE_STEPS, vgg_weights=vgg)
    else:
        extra = {}
    task = create_task(task_name, preset="quick", **quiet, **extra)
    torch.manual_seed(0)
    fields = {f.name for f in dataclasses.fields(get_rule_class(rule_name).config_class)}
    settings = task.rule_settings(fields)
    defaults = preset_rule_defaults(task, rule_name)
    rule = create_rule(rule_name, **{**defaults, **settings})
    with torch.no_grad():  # an active rule: a zeroed last layer would do nothing
        for p in rule.parameters():
            p.add_(torch.randn_like(p) * 1e-2)
    return Trainer(task, rule, RunContext(folder, seed=0, quiet=True))


def task_step(trainer, iterations: int) -> float:
    trainer.step()
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.step()
    return (time.perf_counter() - start) / iterations


def bare_rollout(trainer, task_name: str, iterations: int) -> float:
    import torch

    from nca import CellularAutomaton

    model, task = trainer.model, trainer.task
    automaton = CellularAutomaton(model.rule, update_rate=0.5)
    optimizer = torch.optim.Adam(model.rule.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    if task_name == "classify":
        from nca_classify.model import l2_loss

        images, labels = task._draw(task.config.batch_size, generator, "cpu")

        def once():
            cells = automaton(model.seed(images), task.config.steps, generator=generator).cells
            loss = l2_loss(model.logits(cells), model.alive(cells), labels).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    else:

        def once():
            seeds = model.seed(task.config.batch_size, task.config.grid_size, "cpu")
            cells = automaton(seeds, TEXTURE_STEPS, generator=generator).cells
            loss = task.style_loss(model.rgb(cells)).mean()
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
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vgg-weights", default="", help="VGG16 features file (offline)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    import torch

    from nca import parameter_count

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task_name in ("classify", "texture"):
            for name in RULES:
                trainer = _trainer(task_name, name, Path(tmp) / task_name / name, args.vgg_weights)
                cfg = trainer.task.config
                if task_name == "classify":
                    cells = cfg.batch_size * cfg.image_size**2 * cfg.steps
                else:
                    cells = cfg.batch_size * cfg.grid_size**2 * TEXTURE_STEPS
                full, bare = [], []
                for _ in range(args.repeats):
                    full.append(task_step(trainer, args.iterations))
                    bare.append(bare_rollout(trainer, task_name, args.iterations))
                f, b = statistics.median(full), statistics.median(bare)
                rows.append((task_name, name, parameter_count(trainer.rule), f, b, cells))
                print(f"{task_name} {name}: step {f:.3f} s, bare {b:.3f} s", flush=True)
    lines = [
        "# Classify and texture tasks: training throughput per rule, and the tasks' overhead",
        "",
        f"Command: `python benchmarks/classic_throughput.py --iterations {args.iterations} "
        f"--repeats {args.repeats} --vgg-weights ...`  ",
        f"Machine: {cpu_model()}, {args.threads} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}  ",
        "Setting: each task's `quick` preset with its rule defaults (classify: 16 digits of "
        f"28x28, T = 20; texture: 4 grids of 48x48, T = {TEXTURE_STEPS}); medians of "
        "alternating repeats.",
        "",
        "| task | rule | parameters | task step (s) | bare rollout + same loss (s) | overhead | "
        "cell-steps / s (task step) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for task_name, name, params, f, b, cells in rows:
        lines.append(
            f"| {task_name} | {name} | {params:,} | {f:.3f} | {b:.3f} | {f / b - 1:+.0%} | "
            f"{cells / f:,.0f} |"
        )
    emit(lines, args.output)


if __name__ == "__main__":
    main()
