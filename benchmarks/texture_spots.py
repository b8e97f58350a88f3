"""convca vs ViTCA growing the default texture (spots), same CPU budget: style loss
against iterations, the evaluation, and a picture grid.

Each rule is trained by ``nca train --task texture --preset quick`` (48x48 torus, batch
4, T ~ U{24, 48}, Gram loss of VGG16 relu1_1-5_1, overflow loss) for ``--iterations``
iterations with the learning rate decayed at 2/3, then evaluated by the task. The
picture (``--picture``) has one row per rule: target, grown at T on the training grid,
grown for ``eval_steps`` on a 64x64 grid. The harness is ``_compare_rules.py``.

Usage:
    python benchmarks/texture_spots.py --iterations 300 \\
        --vgg-weights ../shared/weights/lpips_vgg16_features.pth \\
        --output benchmarks/results/texture_spots_cpu.md \\
        --picture benchmarks/results/texture_spots_cpu.png
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _compare_rules import (  # benchmarks/ is the script directory
    Variant,
    arguments,
    chosen,
    curve_lines,
    every_tenth,
    machine_line,
    stack_pictures,
    train_variants,
)
from _report import emit

#: Both rules with the task preset's rule defaults (RGB + 9 hidden; ViTCA position-free
#: on the torus).
VARIANTS = [Variant("convca", "convca"), Variant("vitca (positional=none, circular)", "vitca")]


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], iterations=300)
    parser.add_argument("--vgg-weights", default="")
    parser.add_argument("--rules", default="convca,vitca", help="rule names to run")
    parser.add_argument("--picture", type=Path)
    args = parser.parse_args()
    milestone = max(1, round(args.iterations * 2 / 3))
    vgg = ["--vgg-weights", args.vgg_weights] if args.vgg_weights else []
    with tempfile.TemporaryDirectory() as tmp:
        results = train_variants(
            "texture", chosen(VARIANTS, args.rules), Path(tmp), iterations=args.iterations,
            milestone=milestone, log_every=10, threads=args.threads, options=vgg,
            summary=lambda r: f"loss_T {r.evaluation['loss_T']:.1f}",
        )  # fmt: skip
        if args.picture:
            stack_pictures([r.run / "eval.png" for r in results.values()], args.picture)
    first = next(iter(results.values())).evaluation
    large = next(k for k in first if k.startswith("loss_") and k.endswith("px"))
    lines = [
        "# Growing the spots texture: convca vs ViTCA, same short CPU budget",
        "",
        f"Command: `python benchmarks/texture_spots.py --iterations {args.iterations} "
        "--vgg-weights ../shared/weights/lpips_vgg16_features.pth`  ",
        machine_line(args.threads),
        f"Budget: the texture `quick` preset (48x48 torus, batch 4, T ~ U{{24,48}}, pool 64, "
        f"Adam 2e-3 decayed x0.3 at {milestone}) for {args.iterations} iterations; both rules "
        "with RGB + 9 hidden channels. The article's notebook: 4,000 iterations on a 128x128 "
        "torus, T ~ U{32,95}, pool 256.",
        "",
        "Style loss: the task's Gram loss (sum over VGG16 relu1_1-5_1 of the mean squared "
        "Gram difference); `seed` is the empty grid (uniform grey), the untrained baseline.",
        "",
        f"| rule | train + eval time | loss of the seed | loss at T = 48 | {large} |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, r in results.items():
        e = r.evaluation
        lines.append(
            f"| {label} | {r.seconds:.0f} s | {e['loss_seed']:.1f} | {e['loss_T']:.1f} | "
            f"{e[large]:.1f} |"
        )
    steps = every_tenth(next(iter(results.values())).curve("style"), args.iterations)
    lines += curve_lines(
        "Training style loss (this iteration's batch of pool grids) against iterations:",
        results, "style", steps, ".1f",
    )  # fmt: skip
    if args.picture:
        lines += ["", f"Pictures: `{args.picture.name}` (rows: " + ", ".join(results) + "; "
                  "columns: target, grown at T, grown on a 64x64 grid)."]  # fmt: skip
    emit(lines, args.output)


if __name__ == "__main__":
    main()
