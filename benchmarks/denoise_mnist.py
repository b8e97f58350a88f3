"""Short CPU denoising run on MNIST for ViTCA, UNetCA, U-Net and ViT, same budget.

Each model is trained by ``nca train --task denoise --preset quick`` on full
MNIST (read from ``--data-root``, e.g. the project's ``../shared/data``),
then evaluated on the first ``--eval-subset`` test digits for all nine noise
configurations. Prints (and optionally writes) the evaluation tables and the
wall time of each run. Not a reproduction of the paper's Table 1: 600
iterations at 16×16 instead of 100K at 32×32.

Usage:
    python benchmarks/denoise_mnist.py --data-root ../shared/data \
        --output benchmarks/results/denoise_mnist_cpu.md
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

RULES = ["vitca", "unetca", "unet", "vit"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--rules", nargs="+", default=RULES)
    parser.add_argument("--eval-subset", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--runs-dir",
        type=Path,
        help="keep the run directories here (for benchmarks/probe_mnist.py)",
    )
    args = parser.parse_args()

    import torch

    from nca import create_rule, parameter_count

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs_dir or Path(tmp)
        for rule in args.rules:
            run_dir = runs / rule
            cmd = [
                sys.executable,
                "-m",
                "nca",
                "train",
                "--rule",
                rule,
                "--task",
                "denoise",
                "--preset",
                "quick",
                "--dataset",
                "mnist",
                "--data-root",
                args.data_root,
                "--eval-subset",
                str(args.eval_subset),
                "--run-dir",
                str(run_dir),
                "--device",
                "cpu",
                "--quiet",
            ]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            elapsed = time.perf_counter() - start
            if proc.returncode:
                raise SystemExit(f"{rule} failed:\n{proc.stdout}\n{proc.stderr}")
            evaluation = json.loads((run_dir / "eval.json").read_text())
            config = json.loads((run_dir / "config.json").read_text())
            model = create_rule(rule, **config["rule"]["config"])
            results[rule] = {"seconds": elapsed, "params": parameter_count(model), **evaluation}
            print(
                f"{rule}: {elapsed:.0f} s, mean PSNR {evaluation['mean']['psnr']:.2f}",
                file=sys.stderr,
            )

    first = next(iter(results.values()))
    lines = [
        "# Denoising on MNIST, short CPU run, same budget for every model",
        "",
        f"Command: `python benchmarks/denoise_mnist.py --data-root {args.data_root} "
        f"--eval-subset {args.eval_subset}`  ",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs visible, {args.threads} threads, "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}  ",
        "Budget: the `quick` preset (600 iterations, batch 16, 16×16 digits, T ~ U{8,16}, "
        "pool 256, curriculum to all nine configurations by iteration 500); evaluation on the "
        f"first {args.eval_subset} MNIST test digits, 32 CA steps, σ = 0.5. "
        f"Notes: {'; '.join(first['notes'])}.",
        "",
        "| model | parameters | train + eval time | mean PSNR out | mean SSIM out "
        "| 1x1/50% PSNR out | 1x1/50% PSNR in |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rule, r in results.items():
        mid = r["rows"]["1x1/50%"]
        lines.append(
            f"| {rule} | {r['params']:,} | {r['seconds']:.0f} s | {r['mean']['psnr']:.2f} | "
            f"{r['mean']['ssim']:.3f} | {mid['psnr']:.2f} | {mid['input_psnr']:.2f} |"
        )
    lines += [
        "",
        "PSNR (dB) of outputs per noise configuration (masked input in brackets):",
        "",
        "| noise | " + " | ".join(results) + " |",
        "| --- |" + " ---: |" * len(results),
    ]
    for config in first["rows"]:
        cells = [
            f"{r['rows'][config]['psnr']:.2f} ({r['rows'][config]['input_psnr']:.2f})"
            for r in results.values()
        ]
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    emit(lines, args.output)


if __name__ == "__main__":
    main()
