"""Linear probes on MNIST of the models trained by ``benchmarks/denoise_mnist.py``.

For each kept run (``--runs-dir``) a linear classifier is trained on the frozen
model's features (``nca train --task probe --preset quick --from RUN``), and the
raw-pixel references (linear, 2-layer MLPs with 100 and 1000 hidden units) are
trained on the same images. Prints (and optionally writes) accuracy, classifier
size and time. A short CPU budget, not the paper's Table 3 protocol.

A ViT run is probed on the tokens its ``features`` setting names (``embedding``,
``LN1(embed + PE)`` before the blocks, unless it was trained with ``final``);
``--features-per-epoch`` recomputes CA features every epoch (the release; slower).

Usage:
    python benchmarks/denoise_mnist.py --data-root ../shared/data --runs-dir /tmp/mnist-runs
    python benchmarks/probe_mnist.py --data-root ../shared/data --runs-dir /tmp/mnist-runs \\
        --output benchmarks/results/probe_mnist_cpu.md
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

from _report import emit  # benchmarks/ is the script directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--features-per-epoch",
        action="store_true",
        help="recompute CA features every epoch with fresh update masks (the release)",
    )
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    common = [
        "--task",
        "probe",
        "--preset",
        "quick",
        "--dataset",
        "mnist",
        "--data-root",
        args.data_root,
        "--device",
        "cpu",
        "--quiet",
    ]
    per_epoch = ["--features-per-epoch"] if args.features_per_epoch else []
    jobs = [
        (run.name, ["--from", str(run), *per_epoch])
        for run in sorted(args.runs_dir.iterdir())
        if (run / "checkpoints" / "last.pt").is_file()
    ]
    jobs += [
        (f"pixels, {c}", ["--features", "pixels", "--classifier", c, "--image-size", "16"])
        for c in ("linear", "mlp100", "mlp1000")
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, extra) in enumerate(jobs):
            run_dir = Path(tmp) / f"probe{index}"
            cmd = [sys.executable, "-m", "nca", "train", *common, *extra, "--run-dir", str(run_dir)]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode:
                raise SystemExit(f"{label} failed:\n{proc.stdout}\n{proc.stderr}")
            result = json.loads((run_dir / "probe.json").read_text())
            if "vit_features" in result:  # which ViT tokens were probed
                label = f"{label} ({result['vit_features']} tokens)"
            rows.append((label, result, time.perf_counter() - start))
            print(f"{label}: {result['test_accuracy']:.1f} %", file=sys.stderr)
    first = rows[0][1]
    lines = [
        "# Linear probes on MNIST, short CPU run",
        "",
        f"Command: `python benchmarks/probe_mnist.py --data-root {args.data_root} --runs-dir RUNS` "
        "after `benchmarks/denoise_mnist.py --runs-dir RUNS` (models: "
        "`benchmarks/results/denoise_mnist_cpu.md`).  ",
        f"Protocol: the probe task's `quick` preset: first {first['train_images']} training and "
        f"{first['test_images']} test digits at {first['image_size']}x{first['image_size']}, "
        "CA features after the source run's evaluation steps on the unmasked input ("
        + (
            "recomputed every epoch with fresh update masks"
            if args.features_per_epoch
            else "computed once with fixed update masks"
        )
        + "), 5 epochs of AdamW 1e-3 + cosine, "
        f"batch 32; {args.threads} threads, {time.strftime('%Y-%m-%d')}.",
        "",
        "| features | classifier | feature dim | classifier params | test accuracy % "
        "| train accuracy % | time |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r, seconds in rows:
        lines.append(
            f"| {label} | {r['classifier']} | {r['feature_dim']:,} | "
            f"{r['classifier_parameters']:,} | {r['test_accuracy']:.1f} | "
            f"{r['train_accuracy']:.1f} | {seconds:.0f} s |"
        )
    emit(lines, args.output)


if __name__ == "__main__":
    main()
