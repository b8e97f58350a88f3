"""convca vs ViTCA (with and without positions) growing the lizard, same CPU budget.

Each rule is trained by ``nca train --task grow --preset quick`` (the regenerating
experiment on a 32x28 grid, batch 4, T ~ U{32, 48}) for ``--iterations`` iterations
with the learning rate decayed at 80 %, then evaluated by the task: PSNR of the grown
RGBA at T = 48 and at 10 T, after a disc of damage, after T steps of recovery, and the
steps back to within 1 dB. Prints (and optionally writes) the table and the loss at
every logged iteration. The harness is ``_compare_rules.py``.

Usage:
    python benchmarks/grow_lizard.py --iterations 300 --output benchmarks/results/grow_lizard_cpu.md
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _compare_rules import (  # benchmarks/ is the script directory
    Variant,
    arguments,
    curve_lines,
    every_tenth,
    machine_line,
    train_variants,
)
from _report import emit

#: Every rule gets the article's cell: RGBA + 12 hidden.
VARIANTS = [
    Variant("convca", "convca"),
    Variant("vitca", "vitca", ("-o", "rule.hidden_channels=12")),
    # no positional encoding: position-free like convca
    Variant("vitca, positional=none", "vitca",
            ("-o", "rule.hidden_channels=12", "-o", "rule.positional=none")),
]  # fmt: skip


def main() -> None:
    args = arguments(__doc__.splitlines()[0], iterations=300).parse_args()
    milestone = max(1, round(args.iterations * 0.8))
    with tempfile.TemporaryDirectory() as tmp:
        results = train_variants(
            "grow", VARIANTS, Path(tmp), iterations=args.iterations, milestone=milestone,
            log_every=10, threads=args.threads,
            summary=lambda r: f"psnr_T {r.evaluation['psnr_T']:.2f}",
        )  # fmt: skip
    lines = [
        "# Growing the lizard: convca vs ViTCA, same short CPU budget",
        "",
        f"Command: `python benchmarks/grow_lizard.py --iterations {args.iterations}`  ",
        machine_line(args.threads),
        f"Budget: the grow `quick` preset (regenerating, 32x28 grid, batch 4, T ~ U{{32,48}}, "
        f"Adam 2e-3) for {args.iterations} iterations, decayed x0.1 at {milestone}; both "
        "rules with RGBA + 12 hidden channels. The article: 8,000 iterations of batch 8 on "
        "a 72x72 grid, T ~ U{64,96}.",
        "",
        "| rule | train + eval time | psnr_T | psnr_10T | psnr_damaged | psnr_recovered "
        "| recovery steps (within 1 dB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in results.items():
        e = r.evaluation
        lines.append(
            f"| {label} | {r.seconds:.0f} s | {e['psnr_T']:.2f} | {e['psnr_10T']:.2f} | "
            f"{e['psnr_damaged']:.2f} | {e['psnr_recovered']:.2f} | {e['recovery_steps']:.0f} |"
        )
    steps = every_tenth(next(iter(results.values())).curve("loss"), args.iterations)
    lines += curve_lines(
        "Training loss (L2 of RGBA, this iteration's batch) against iterations:",
        results, "loss", steps, ".4f",
    )  # fmt: skip
    emit(lines, args.output)


if __name__ == "__main__":
    main()
