"""Training throughput with 1 vs 2 processes (torch.distributed, gloo on CPU).

Runs the same short denoise training (ViTCA, batch 16 per process, 16×16 digits)
with ``torchrun --nproc-per-node 1`` and ``2``, ``--threads`` threads per process,
and reports iterations per second and images per second (batch × processes ×
it/s) from the runs' metrics. On a 2-core machine expect little gain: the two
processes share the same cores.

Usage:
    python benchmarks/ddp_throughput.py --output benchmarks/results/ddp_cpu.md
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


def run(processes: int, threads: int, iterations: int, run_dir: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(processes),
        "-m",
        "nca",
        "train",
        "--rule",
        "vitca",
        "--task",
        "denoise",
        "--preset",
        "quick",
        "--iterations",
        str(iterations),
        "-o",
        "validate_every=100000",
        "-o",
        "log_every=10",
        "--eval-subset",
        "16",
        "--run-dir",
        str(run_dir),
        "--device",
        "cpu",
        "-q",
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rate = [r["it_per_s"] for r in records if r["kind"] == "train"][-1]
    return {"it_per_s": rate, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for processes, threads in ((1, 2), (2, 1), (2, 2)):
            result = run(processes, threads, args.iterations, Path(tmp) / f"p{processes}t{threads}")
            rows.append((processes, threads, result))
            print(processes, threads, result, file=sys.stderr)
    base = rows[0][2]["it_per_s"] * 16
    lines = [
        "# Data-parallel training throughput on CPU (gloo)",
        "",
        f"Command: `python benchmarks/ddp_throughput.py --iterations {args.iterations}`  ",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs visible, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}. ViTCA, quick preset (batch 16 per process, 16×16 "
        f"digits, T ~ U{{8,16}}), {args.iterations} iterations; it/s measured by the trainer "
        "over the run (excluding start-up), wall time includes start-up and evaluation.",
        "",
        "| processes | threads each | iterations/s | images/s | × 1 process | wall time |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for processes, threads, r in rows:
        images = r["it_per_s"] * 16 * processes
        lines.append(
            f"| {processes} | {threads} | {r['it_per_s']:.2f} | {images:.1f} | "
            f"{images / base:.2f} | {r['wall_s']:.0f} s |"
        )
    emit(lines, args.output)


if __name__ == "__main__":
    main()
