"""convca vs ViTCA (with and without positions) growing the lizard, same CPU budget.

Each rule is trained by ``nca train --task grow --preset quick`` (the regenerating
experiment on a 32x28 grid, batch 4, T ~ U{32, 48}) for ``--iterations`` iterations
with the learning rate decayed at 80 %, then evaluated by the task: PSNR of the grown
RGBA at T = 48 and at 10 T, after a disc of damage, after T steps of recovery, and the
steps back to within 1 dB. Prints (and optionally writes) the table and the loss at
every logged iteration.

Usage:
    python benchmarks/grow_lizard.py --iterations 300 --output benchmarks/results/grow_lizard_cpu.md
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

#: label -> (rule, options); every rule gets the article's cell: RGBA + 12 hidden.
VARIANTS = {
    "convca": ("convca", []),
    "vitca": ("vitca", ["-o", "rule.hidden_channels=12"]),
    # no positional encoding: position-free like convca
    "vitca, positional=none": (
        "vitca",
        ["-o", "rule.hidden_channels=12", "-o", "rule.positional=none"],
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    milestone = max(1, round(args.iterations * 0.8))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (rule, options) in VARIANTS.items():
            run = Path(tmp) / label.replace(", ", "-").replace("=", "-")
            cmd = [
                sys.executable, "-m", "nca", "train", "--rule", rule, "--task", "grow",
                "--preset", "quick", "--iterations", str(args.iterations),
                "-o", f"lr_milestones={milestone}", "-o", "log_every=10",
                "-o", f"validate_every={args.iterations}",
                "-o", f"checkpoint_every={args.iterations}",
                *options, "--run-dir", str(run), "--device", "cpu", "--quiet",
            ]  # fmt: skip
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            seconds = time.perf_counter() - start
            if proc.returncode:
                raise SystemExit(f"{label} failed:\n{proc.stdout}\n{proc.stderr}")
            records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
            losses = {r["step"]: r["loss"] for r in records if r["kind"] == "train"}
            evaluation = json.loads((run / "eval.json").read_text())
            results[label] = {"seconds": seconds, "losses": losses, "eval": evaluation}
            print(f"{label}: {seconds:.0f} s, psnr_T {evaluation['psnr_T']:.2f}", file=sys.stderr)
    lines = [
        "# Growing the lizard: convca vs ViTCA, same short CPU budget",
        "",
        f"Command: `python benchmarks/grow_lizard.py --iterations {args.iterations}`  ",
        f"Machine: {cpu_model()}, {args.threads} threads, {time.strftime('%Y-%m-%d')}  ",
        f"Budget: the grow `quick` preset (regenerating, 32x28 grid, batch 4, T ~ U{{32,48}}, "
        f"Adam 2e-3) for {args.iterations} iterations, decayed x0.1 at {milestone}; both "
        "rules with RGBA + 12 hidden channels. The article: 8,000 iterations of batch 8 on "
        "a 72x72 grid, T ~ U{64,96}.",
        "",
        "| rule | train + eval time | psnr_T | psnr_10T | psnr_damaged | psnr_recovered "
        "| recovery steps (within 1 dB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rule, r in results.items():
        e = r["eval"]
        lines.append(
            f"| {rule} | {r['seconds']:.0f} s | {e['psnr_T']:.2f} | {e['psnr_10T']:.2f} | "
            f"{e['psnr_damaged']:.2f} | {e['psnr_recovered']:.2f} | {e['recovery_steps']:.0f} |"
        )
    steps = sorted(next(iter(results.values()))["losses"])
    shown = [s for s in steps if s % max(10, args.iterations // 10) == 0 or s == steps[-1]]
    lines += [
        "",
        "Training loss (L2 of RGBA, this iteration's batch) against iterations:",
        "",
        "| iteration | " + " | ".join(results) + " |",
        "| ---: |" + " ---: |" * len(results),
    ]
    for step in shown:
        lines.append(
            f"| {step} | " + " | ".join(f"{r['losses'][step]:.4f}" for r in results.values()) + " |"
        )
    emit(lines, args.output)


if __name__ == "__main__":
    main()
