"""Short CPU denoising run on MNIST for ViTCA, UNetCA, U-Net and ViT, same budget.

Each model is trained by ``nca train --task denoise --preset quick`` on full
MNIST (read from ``--data-root``, e.g. the project's ``../shared/data``),
then evaluated on the first ``--eval-subset`` test digits under both evaluation
protocols (``full``: all nine noise configurations per image, per-image PSNR; and
``authors``: the release's one seeded configuration per batch of 32, pooled-MSE
PSNR per batch, by ``nca eval -o eval_protocol=authors``). Prints (and optionally
writes) the evaluation tables and the wall time of each run. Not a reproduction of
the paper's Table 1: 600 iterations at 16×16 instead of 100K at 32×32.

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
            authors_report = run_dir / "eval-authors.json"
            authors_cmd = [
                sys.executable,
                "-m",
                "nca",
                "eval",
                str(run_dir),
                "--device",
                "cpu",
                "--quiet",
                "-o",
                "eval_protocol=authors",
                "--out",
                str(authors_report),
            ]
            start = time.perf_counter()
            proc = subprocess.run(authors_cmd, capture_output=True, text=True, env=env)
            authors_seconds = time.perf_counter() - start
            if proc.returncode:
                raise SystemExit(f"{rule} (authors eval) failed:\n{proc.stdout}\n{proc.stderr}")
            authors = json.loads(authors_report.read_text())
            config = json.loads((run_dir / "config.json").read_text())
            model = create_rule(rule, **config["rule"]["config"])
            results[rule] = {
                "seconds": elapsed,
                "authors_seconds": authors_seconds,
                "params": parameter_count(model),
                "authors": authors,
                **evaluation,
            }
            print(
                f"{rule}: {elapsed:.0f} s, mean PSNR {evaluation['mean']['psnr']:.2f} (full), "
                f"{authors['mean']['psnr']:.2f} (authors)",
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
        "Two evaluation protocols of the same trained models (`docs/reproducing.md`): "
        "**full** = every test digit under all nine noise configurations, per-image PSNR "
        "averaged (the default); **authors** = the release's test loop: batches of "
        f"{first['authors']['authors_batch_size']} in order, one configuration drawn per "
        "batch with a fixed seed, PSNR of each batch's pooled MSE averaged over batches "
        "(`-o eval_protocol=authors`, the `paper` preset).",
        "",
        "| model | parameters | train + eval time | PSNR full | PSNR authors | full − authors "
        "| SSIM full | SSIM authors | 1x1/50% PSNR out (full) | 1x1/50% PSNR in |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rule, r in results.items():
        mid = r["rows"]["1x1/50%"]
        full, authors = r["mean"], r["authors"]["mean"]
        lines.append(
            f"| {rule} | {r['params']:,} | {r['seconds']:.0f} s | {full['psnr']:.2f} | "
            f"{authors['psnr']:.2f} | {full['psnr'] - authors['psnr']:+.2f} | "
            f"{full['ssim']:.3f} | {authors['ssim']:.3f} | {mid['psnr']:.2f} | "
            f"{mid['input_psnr']:.2f} |"
        )
    # The authors' protocol draws one configuration per batch, so its mean also moves with
    # the drawn mix of configurations; weighting the full protocol's per-configuration
    # PSNR by that mix separates the two effects.
    counts = first["authors"]["batches"]
    lines += [
        "",
        "The drawn configurations ("
        + ", ".join(f"{c}: {n}" for c, n in counts.items())
        + f" of {sum(counts.values())} batches) are not a uniform mix, which moves the "
        "authors' mean too. Below, *full, same mix* weights the full protocol's "
        "per-configuration PSNR by that mix, so *same mix − authors* is the effect of the "
        "PSNR definition alone (pooled MSE per batch vs per-image PSNR):",
        "",
        "| model | PSNR authors | full, same mix | same mix − authors | full (uniform) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for rule, r in results.items():
        batches = r["authors"]["batches"]
        mixed = sum(r["rows"][c]["psnr"] * n for c, n in batches.items()) / sum(batches.values())
        authors = r["authors"]["mean"]["psnr"]
        lines.append(
            f"| {rule} | {authors:.2f} | {mixed:.2f} | {mixed - authors:+.2f} | "
            f"{r['mean']['psnr']:.2f} |"
        )
    lines += [
        "",
        "Masked inputs under the same protocols: "
        + "; ".join(
            f"{rule} {r['mean']['input_psnr']:.2f} (full) / "
            f"{r['authors']['mean']['input_psnr']:.2f} (authors)"
            for rule, r in list(results.items())[:1]
        )
        + " dB (the same for every model). The authors' evaluation takes "
        + ", ".join(f"{rule} {r['authors_seconds']:.0f} s" for rule, r in results.items())
        + " (one configuration per image instead of nine).",
    ]
    lines += [
        "",
        "PSNR (dB) of outputs per noise configuration, full protocol (masked input in brackets):",
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
