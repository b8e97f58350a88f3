"""convca vs ViTCA self-classifying digits, same CPU budget; accuracy against iterations.

Each rule is trained by ``nca train --task classify --preset quick`` (the mutating pool,
batch 16, T = 20, residual noise; digits 0, 1, 2 of the embedded MNIST sample unless
``--digits`` says otherwise) for ``--iterations`` iterations, then evaluated by the task
on the embedded sample's test digits and, when ``--mnist-root`` holds MNIST, on the real
MNIST test split (``nca eval -o eval_dataset=mnist``). Prints (and optionally writes)
the table, the training cell accuracy at every logged iteration, and the article's
numbers beside them. The harness is ``_compare_rules.py``.

Usage:
    python benchmarks/classify_digits.py --iterations 200 --mnist-root ../shared/data \\
        --mnist-count 500 \\
        --output benchmarks/results/classify_digits_cpu.md
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from _compare_rules import (  # benchmarks/ is the script directory
    Variant,
    arguments,
    chosen,
    curve_lines,
    machine_line,
    run_nca,
    train_variants,
)
from _report import emit

#: Both rules get the article's cell: pixel, 9 hidden, 10 logits.
VARIANTS = [
    Variant("convca (learned 3x3, 40 wide)", "convca"),
    Variant("vitca", "vitca", ("-o", "rule.hidden_channels=9")),
]
#: The article's table (L2 + noise, MNIST test split, 100,000 iterations).
ARTICLE = "top cell accuracy 95.4 % (step 65), 95.3 % at step 200; total agreement 88.1 % at 200"


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], iterations=600)
    parser.add_argument("--digits", default="0,1,2", help="classes; 'all' for ten")
    parser.add_argument("--mnist-root", type=Path, help="folder holding MNIST/ (offline copy)")
    parser.add_argument("--mnist-count", type=int, default=0, help="MNIST test digits; 0: all")
    parser.add_argument("--rules", default="convca,vitca", help="rule names to run")
    args = parser.parse_args()
    digits = "" if args.digits == "all" else args.digits
    milestone = max(1, round(args.iterations * 0.75))
    mnist = {}
    with tempfile.TemporaryDirectory() as tmp:
        results = train_variants(
            "classify", chosen(VARIANTS, args.rules), Path(tmp), iterations=args.iterations,
            milestone=milestone, log_every=25, threads=args.threads,
            options=["-o", f"digits={digits}"],
        )  # fmt: skip
        if args.mnist_root and (args.mnist_root / "MNIST").is_dir():
            for label, r in results.items():
                report = r.run / "eval-mnist.json"
                run_nca(["eval", str(r.run), "-o", "eval_dataset=mnist",
                         "-o", f"data_root={args.mnist_root}",
                         "-o", f"eval_count={args.mnist_count}",
                         "--out", str(report), "--device", "cpu", "-q"], args.threads)  # fmt: skip
                mnist[label] = json.loads(report.read_text())
    first = next(iter(results.values())).evaluation
    steps = first["mutation_after"]
    mnist_flag = f" --mnist-root {args.mnist_root}" if args.mnist_root else ""
    lines = [
        "# Self-classifying digits: convca vs ViTCA, same short CPU budget",
        "",
        f"Command: `python benchmarks/classify_digits.py --iterations {args.iterations} "
        f"--digits {args.digits}{mnist_flag} --mnist-count {args.mnist_count}`  ",
        machine_line(args.threads),
        f"Budget: the classify `quick` preset (mutating pool of 160, batch 16, T = 20, "
        f"residual noise 0.02, Adam 3e-3 decayed x0.1 at {milestone}) for {args.iterations} "
        f"iterations on digits {args.digits} of the embedded sample (4,000 training digits). "
        f"The article: 100,000 iterations on all of MNIST; {ARTICLE}.",
        "",
        f"Evaluation: the task's (every digit's cells after T = 20 and after {steps} steps; "
        f"then each digit swapped for another and {steps} more steps).",
        "",
        f"| rule | train + eval time | test digits | cell acc. at T | cell acc. at {steps} "
        f"| majority at {steps} | agreement at {steps} | cell acc. after mutation |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in results.items():
        for name, e in (("embedded", r.evaluation), ("MNIST", mnist.get(label))):
            if e is None:
                continue
            lines.append(
                f"| {label} | {r.seconds:.0f} s | {e['digits']} ({name}) | "
                f"{e['cell_accuracy_T']:.1f} | {e[f'cell_accuracy_{steps}']:.1f} | "
                f"{e[f'majority_accuracy_{steps}']:.1f} | {e[f'agreement_{steps}']:.1f} | "
                f"{e.get('cell_accuracy_mutated', float('nan')):.1f} |"
            )
    steps_logged = sorted(next(iter(results.values())).curve("cell_accuracy"))
    lines += curve_lines(
        "Training cell accuracy (%, this iteration's batch) against iterations:",
        results, "cell_accuracy", steps_logged, ".1f",
    )  # fmt: skip
    emit(lines, args.output)


if __name__ == "__main__":
    main()
