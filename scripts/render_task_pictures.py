"""Train each classic-NCA task's quick preset and run its ``nca analyze`` experiments,
copying the pictures the docs show to ``docs/tasks/<task>/``.

Every picture is labelled in the docs with the budget that produced it (the quick
preset, on CPU). Takes about 15 minutes on 2 CPU cores.

Usage:
    python scripts/render_task_pictures.py --runs /tmp/task-pictures \\
        --vgg-weights ../shared/weights/lpips_vgg16_features.pth \\
        [--tasks grow,classify,texture,grow3d]

``grow3d`` is the grow task's quick3d preset on the ``tree`` volume (pictures prefixed
``3d-`` in ``docs/tasks/grow/``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tasks"

#: task -> [(experiment, options, [(file in the experiment folder, name in the docs)])]
EXPERIMENTS = {
    "grow": [
        ("growth", ["-o", "count=4"], [("growth.gif", "growth.gif"),
                                       ("psnr.png", "growth-psnr.png")]),
        ("regeneration", ["-o", "count=4"], [("frames.png", "regeneration-frames.png"),
                                             ("psnr.png", "regeneration-psnr.png")]),
        ("persistence", ["-o", "count=4"], [("frames.png", "persistence-frames.png"),
                                            ("psnr.png", "persistence-psnr.png")]),
    ],
    "classify": [
        ("class-map", ["-o", "count=8"], [("class_map.gif", "class-map.gif")]),
        ("mutation", ["-o", "count=8"], [("frames.png", "mutation-frames.png"),
                                         ("accuracy.png", "mutation-accuracy.png")]),
        ("persistence", [], [("accuracy.png", "persistence-accuracy.png")]),
    ],
    "texture": [
        ("growth", ["-o", "count=2"], [("growth.gif", "growth.gif"),
                                       ("frames.png", "growth-frames.png"),
                                       ("loss.png", "growth-loss.png")]),
        ("persistence", [], [("frames.png", "persistence-frames.png")]),
    ],
    "grow3d": [
        ("growth", ["-o", "count=4"], [("turntable.gif", "3d-turntable.gif"),
                                       ("psnr.png", "3d-growth-psnr.png")]),
        ("regeneration", ["-o", "count=4"], [("frames.png", "3d-regeneration-frames.png"),
                                             ("psnr.png", "3d-regeneration-psnr.png")]),
    ],
}  # fmt: skip

#: entry -> (task, extra `nca train` options, docs folder); others: (entry, [], entry)
RUNS = {"grow3d": ("grow", ["--preset", "quick3d", "--target", "tree"], "grow")}


def nca(*args: str) -> None:
    command = [sys.executable, "-m", "nca", *args]
    print("$ nca " + " ".join(args), flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="folder for the runs")
    parser.add_argument("--vgg-weights", default="", help="VGG16 features (texture, offline)")
    parser.add_argument("--tasks", default=",".join(EXPERIMENTS))
    args = parser.parse_args()
    for entry in args.tasks.split(","):
        task, extra, docs = RUNS.get(entry, (entry, [], entry))
        run = args.runs / entry
        if task == "texture" and args.vgg_weights:
            extra = [*extra, "--vgg-weights", args.vgg_weights]
        if not (run / "eval.json").is_file():
            nca("train", "--rule", "convca", "--task", task, "--run-dir", str(run), "--quiet",
                "--device", "cpu", *extra)  # fmt: skip
        folder = DOCS / docs
        folder.mkdir(parents=True, exist_ok=True)
        if entry == task and (run / "eval.png").is_file():
            shutil.copy(run / "eval.png", folder / "eval.png")
        for experiment, options, files in EXPERIMENTS[entry]:
            out = run / "analysis" / experiment
            nca("analyze", experiment, str(run), "--out", str(out), *options)
            for name, target in files:
                shutil.copy(out / name, folder / target)
                print(f"  -> {folder / target}")


if __name__ == "__main__":
    main()
