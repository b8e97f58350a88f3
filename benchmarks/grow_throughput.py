"""Training throughput of each CA rule on the grow task, and what the task adds.

Every rule trains on the ``grow`` quick preset's grid (the 20-pixel lizard padded by 6,
a 32x28 grid, batch 4) with a fixed T = 40: *grow step* is ``nca.Trainer.step`` of the
regenerating experiment (pool sampling with a loss sort, reseeding, disc damage,
living-cell masking, write-back); *bare rollout* is the same rule rolled out from seeds
with no alive masking, no pool and no damage, then the same L2 loss, backward and Adam
step. Their ratio is the task's overhead. Runs alternate, so machine noise hits both
alike; the table reports medians. Cell-steps per second = batch x cells x T / seconds.
The harness is ``_throughput.py``.

Run: python benchmarks/grow_throughput.py [--iterations 5] [--repeats 3] [--output FILE]
"""

from __future__ import annotations

from _report import emit  # benchmarks/ is the script directory
from _throughput import Case, arguments, machine_line, measure

STEPS = 40
#: Every rule with the article's cell, RGBA + 12 hidden (convca: the preset's article rule).
RULE_OPTIONS = {"convca": {}, "vitca": {"hidden_channels": 12}, "unetca": {"hidden_channels": 12}}


def bare_grow(trainer):
    """Single-cell seeds of the task's batch and grid; the task's L2 loss on RGBA."""
    from nca_grow.evaluation import per_sample_loss

    model, target, batch = trainer.model, trainer.data.target, trainer.task.config.batch_size
    size = tuple(target.shape[-2:])
    return (
        lambda: model.seed(batch, size, "cpu"),
        lambda cells: per_sample_loss(model.output(cells), target).mean(),
    )


CASES = [
    Case("grow", rule, STEPS, bare_grow, {"steps_min": STEPS, "steps_max": STEPS}, options)
    for rule, options in RULE_OPTIONS.items()
]


def main() -> None:
    args = arguments(__doc__.splitlines()[0], iterations=5, repeats=3).parse_args()
    results = measure(CASES, iterations=args.iterations, repeats=args.repeats,
                      threads=args.threads)  # fmt: skip
    lines = [
        "# Grow task: training throughput per rule, and the task's overhead",
        "",
        f"Command: `python benchmarks/grow_throughput.py --iterations {args.iterations} "
        f"--repeats {args.repeats}`  ",
        machine_line(args.threads),
        "Setting: the grow `quick` preset's grid (32x28 cells, batch 4), T = 40, 16-channel "
        "cells (RGBA + 12 hidden); medians of alternating repeats.",
        "",
        "| rule | parameters | grow step (s) | bare rollout (s) | overhead | "
        "cell-steps / s (grow step) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.case.rule} | {r.parameters:,} | {r.task_seconds:.3f} | {r.bare_seconds:.3f} "
            f"| {r.overhead:+.0%} | {r.cell_steps_per_second:,.0f} |"
        )
    emit(lines, args.output)


if __name__ == "__main__":
    main()
