"""The eca task's quick preset on elementary rules 90, 30 and 110: how well a 1-D convca
learns each, on rows it never saw.

Each rule is trained by ``nca train --rule convca --task eca --preset quick
--rule-number N`` (rows of 32 cells, 3000 iterations of batch 32, rollouts of 1-16
generations) and evaluated by the task on 128 unseen rows over k = 64 generations: the
cell accuracy (mean over the generations and at the last one), the generations a row
stays exact (mean) and the share of rows exact through all 64. Writes the table and,
with ``--pictures DIR``, each rule's predicted and true space-time diagrams.

Usage:
    python benchmarks/eca_rules.py --output benchmarks/results/eca_rules_cpu.md \\
        --pictures docs/tasks/eca
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model  # benchmarks/ is the script directory
from _report import emit

RULES = (90, 30, 110)


def train(rule: int, folder: Path, iterations: int | None) -> tuple[dict, float]:
    """Train and evaluate one rule; its eval.json and the seconds it took."""
    run = folder / f"rule{rule}"
    command = [sys.executable, "-m", "nca", "train", "--rule", "convca", "--task", "eca",
               "--preset", "quick", "--rule-number", str(rule), "--run-dir", str(run),
               "--device", "cpu", "--quiet"]  # fmt: skip
    if iterations:
        command += ["-o", f"iterations={iterations}", "-o", f"lr_milestones={iterations * 4 // 5}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True,
                   env={**os.environ, "OMP_NUM_THREADS": "2"})  # fmt: skip
    return json.loads((run / "eval.json").read_text()), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--pictures", type=Path, help="folder for rule<N>.png diagrams")
    parser.add_argument("--iterations", type=int, help="override the preset (a quick check)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rule in RULES:
            report, seconds = train(rule, Path(tmp), args.iterations)
            k = report["k"]
            rows.append((rule, report["cell_accuracy"], report[f"cell_accuracy_at_{k}"],
                         report["exact_generations"], report["exact_rows"], seconds))  # fmt: skip
            if args.pictures:
                args.pictures.mkdir(parents=True, exist_ok=True)
                shutil.copy(
                    Path(tmp) / f"rule{rule}" / "eval.png", args.pictures / f"rule{rule}.png"
                )
    load = os.getloadavg()[0]
    lines = [
        "# eca: elementary rules learned by a 1-D convca (quick preset)",
        "",
        f"Machine: {cpu_model()}, 2 threads, load average {load:.1f} at the end. "
        f"Command: `python benchmarks/eca_rules.py"
        + (f" --iterations {args.iterations}" if args.iterations else "")
        + "`; each rule: `nca train --rule convca --task eca --preset quick --rule-number N` "
        "(seed 0), evaluated on 128 rows it never saw over k = 64 generations.",
        "",
        "| rule | cell accuracy (mean over k) | cell accuracy at k | exact generations (mean) "
        "| rows exact through k | train + eval s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rule, accuracy, last, exact, whole, seconds in rows:
        lines.append(f"| {rule} | {accuracy:.2f} % | {last:.2f} % | {exact:.1f} | {whole:.1f} % "
                     f"| {seconds:.0f} |")  # fmt: skip
    emit(lines, args.output)


if __name__ == "__main__":
    main()
