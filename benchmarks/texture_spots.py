"""convca vs ViTCA growing the default texture (spots), same CPU budget: style loss
against iterations, the evaluation, and a picture grid.

Each rule is trained by ``nca train --task texture --preset quick`` (48x48 torus, batch
4, T ~ U{24, 48}, Gram loss of VGG16 relu1_1-5_1, overflow loss) for ``--iterations``
iterations with the learning rate decayed at 2/3, then evaluated by the task. The
picture (``--picture``) has one row per rule: target, grown at T on the training grid,
grown for ``eval_steps`` on a 64x64 grid.

Usage:
    python benchmarks/texture_spots.py --iterations 300 \\
        --vgg-weights ../shared/weights/lpips_vgg16_features.pth \\
        --output benchmarks/results/texture_spots_cpu.md \\
        --picture benchmarks/results/texture_spots_cpu.png
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

VARIANTS = {"convca": "convca", "vitca (positional=none, circular)": "vitca"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--vgg-weights", default="")
    parser.add_argument("--rules", default="convca,vitca", help="rule names to run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--picture", type=Path)
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    milestone = max(1, round(args.iterations * 2 / 3))
    chosen = [label for label, rule in VARIANTS.items() if rule in args.rules.split(",")]
    results, pictures = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for label in chosen:
            run = Path(tmp) / VARIANTS[label]
            cmd = [
                sys.executable, "-m", "nca", "train", "--rule", VARIANTS[label],
                "--task", "texture", "--preset", "quick", "--iterations", str(args.iterations),
                "-o", f"lr_milestones={milestone}", "-o", "log_every=10",
                "-o", f"validate_every={args.iterations}",
                "-o", f"checkpoint_every={args.iterations}",
                "--run-dir", str(run), "--device", "cpu", "--quiet",
            ] + (["--vgg-weights", args.vgg_weights] if args.vgg_weights else [])  # fmt: skip
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            seconds = time.perf_counter() - start
            if proc.returncode:
                raise SystemExit(f"{label} failed:\n{proc.stdout}\n{proc.stderr}")
            records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
            losses = {r["step"]: r["style"] for r in records if r["kind"] == "train"}
            evaluation = json.loads((run / "eval.json").read_text())
            results[label] = {"seconds": seconds, "losses": losses, "eval": evaluation}
            if args.picture:
                copy = Path(tmp) / f"{VARIANTS[label]}.png"
                shutil.copy(run / "eval.png", copy)
                pictures.append(copy)
            print(f"{label}: {seconds:.0f} s, loss_T {evaluation['loss_T']:.1f}", file=sys.stderr)
        if args.picture:
            from PIL import Image

            images = [Image.open(p).convert("RGB") for p in pictures]
            width = max(i.width for i in images)
            sheet = Image.new("RGB", (width, sum(i.height for i in images)), "white")
            y = 0
            for image in images:
                sheet.paste(image, (0, y))
                y += image.height
            sheet.save(args.picture)
    first = next(iter(results.values()))["eval"]
    large = next(k for k in first if k.startswith("loss_") and k.endswith("px"))
    lines = [
        "# Growing the spots texture: convca vs ViTCA, same short CPU budget",
        "",
        f"Command: `python benchmarks/texture_spots.py --iterations {args.iterations} "
        "--vgg-weights ../shared/weights/lpips_vgg16_features.pth`  ",
        f"Machine: {cpu_model()}, {args.threads} threads, {time.strftime('%Y-%m-%d')}  ",
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
        e = r["eval"]
        lines.append(
            f"| {label} | {r['seconds']:.0f} s | {e['loss_seed']:.1f} | {e['loss_T']:.1f} | "
            f"{e[large]:.1f} |"
        )
    steps = sorted(next(iter(results.values()))["losses"])
    shown = [s for s in steps if s % max(10, args.iterations // 10) == 0 or s == steps[-1]]
    lines += [
        "",
        "Training style loss (this iteration's batch of pool grids) against iterations:",
        "",
        "| iteration | " + " | ".join(results) + " |",
        "| ---: |" + " ---: |" * len(results),
    ]
    for step in shown:
        lines.append(
            f"| {step} | "
            + " | ".join(f"{r['losses'].get(step, float('nan')):.1f}" for r in results.values())
            + " |"
        )
    if args.picture:
        lines += ["", f"Pictures: `{args.picture.name}` (rows: " + ", ".join(results) + "; "
                  "columns: target, grown at T, grown on a 64x64 grid)."]  # fmt: skip
    emit(lines, args.output)


if __name__ == "__main__":
    main()
