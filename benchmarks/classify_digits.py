"""convca vs ViTCA self-classifying digits, same CPU budget; accuracy against iterations.

Each rule is trained by ``nca train --task classify --preset quick`` (the mutating pool,
batch 16, T = 20, residual noise; digits 0, 1, 2 of the embedded MNIST sample unless
``--digits`` says otherwise) for ``--iterations`` iterations, then evaluated by the task
on the embedded sample's test digits and, when ``--mnist-root`` holds MNIST, on the real
MNIST test split (``nca eval -o eval_dataset=mnist``). Prints (and optionally writes)
the table, the training cell accuracy at every logged iteration, and the article's
numbers beside them.

Usage:
    python benchmarks/classify_digits.py --iterations 200 --mnist-root ../shared/data \\
        --mnist-count 500 \\
        --output benchmarks/results/classify_digits_cpu.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model  # benchmarks/ is the script directory
from _report import emit

#: label -> (rule, options); both rules get the article's cell: pixel, 9 hidden, 10 logits.
VARIANTS = {
    "convca (learned 3x3, 40 wide)": ("convca", []),
    "vitca": ("vitca", ["-o", "rule.hidden_channels=9"]),
}
#: The article's table (L2 + noise, MNIST test split, 100,000 iterations).
ARTICLE = "top cell accuracy 95.4 % (step 65), 95.3 % at step 200; total agreement 88.1 % at 200"


def _run(cmd: list[str], env: dict) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--digits", default="0,1,2", help="classes; 'all' for ten")
    parser.add_argument("--mnist-root", type=Path, help="folder holding MNIST/ (offline copy)")
    parser.add_argument("--mnist-count", type=int, default=0, help="MNIST test digits; 0: all")
    parser.add_argument("--rules", default="convca,vitca", help="rule names to run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    digits = "" if args.digits == "all" else args.digits
    milestone = max(1, round(args.iterations * 0.75))
    names = args.rules.split(",")
    chosen = [label for label, (rule, _) in VARIANTS.items() if rule in names]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label in chosen:
            rule, options = VARIANTS[label]
            run = Path(tmp) / rule
            cmd = [
                sys.executable, "-m", "nca", "train", "--rule", rule, "--task", "classify",
                "--preset", "quick", "--iterations", str(args.iterations),
                "-o", f"digits={digits}", "-o", f"lr_milestones={milestone}",
                "-o", "log_every=25", "-o", f"validate_every={args.iterations}",
                "-o", f"checkpoint_every={args.iterations}",
                *options, "--run-dir", str(run), "--device", "cpu", "--quiet",
            ]  # fmt: skip
            start = time.perf_counter()
            _run(cmd, env)
            seconds = time.perf_counter() - start
            records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
            accuracy = {r["step"]: r["cell_accuracy"] for r in records if r["kind"] == "train"}
            embedded = json.loads((run / "eval.json").read_text())
            mnist = None
            if args.mnist_root and (args.mnist_root / "MNIST").is_dir():
                report = run / "eval-mnist.json"
                _run([sys.executable, "-m", "nca", "eval", str(run), "-o", "eval_dataset=mnist",
                      "-o", f"data_root={args.mnist_root}", "-o", f"eval_count={args.mnist_count}",
                      "--out", str(report), "--device", "cpu", "-q"], env)  # fmt: skip
                mnist = json.loads(report.read_text())
            results[label] = {"seconds": seconds, "accuracy": accuracy,
                              "embedded": embedded, "mnist": mnist}  # fmt: skip
            print(f"{label}: {seconds:.0f} s", file=sys.stderr)
    first = next(iter(results.values()))["embedded"]
    steps = first["mutation_after"]
    mnist_flag = f" --mnist-root {args.mnist_root}" if args.mnist_root else ""
    lines = [
        "# Self-classifying digits: convca vs ViTCA, same short CPU budget",
        "",
        f"Command: `python benchmarks/classify_digits.py --iterations {args.iterations} "
        f"--digits {args.digits}{mnist_flag} --mnist-count {args.mnist_count}`  ",
        f"Machine: {cpu_model()}, {args.threads} threads, {time.strftime('%Y-%m-%d')}  ",
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
        for name, e in (("embedded", r["embedded"]), ("MNIST", r["mnist"])):
            if e is None:
                continue
            lines.append(
                f"| {label} | {r['seconds']:.0f} s | {e['digits']} ({name}) | "
                f"{e['cell_accuracy_T']:.1f} | {e[f'cell_accuracy_{steps}']:.1f} | "
                f"{e[f'majority_accuracy_{steps}']:.1f} | {e[f'agreement_{steps}']:.1f} | "
                f"{e.get('cell_accuracy_mutated', float('nan')):.1f} |"
            )
    lines += [
        "",
        "Training cell accuracy (%, this iteration's batch) against iterations:",
        "",
        "| iteration | " + " | ".join(results) + " |",
        "| ---: |" + " ---: |" * len(results),
    ]
    shown = sorted(first and next(iter(results.values()))["accuracy"])
    for step in shown:
        lines.append(
            f"| {step} | "
            + " | ".join(f"{r['accuracy'].get(step, float('nan')):.1f}" for r in results.values())
            + " |"
        )
    emit(lines, args.output)


if __name__ == "__main__":
    main()
