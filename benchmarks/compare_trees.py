"""Training speed of two source trees of the toolkit, side by side (e.g. before and after
a refactor).

Each workload is one ``nca train`` command, the same for both trees, run in a subprocess
with ``PYTHONPATH=TREE:TREE/plugins`` (the same Python environment): the classic tasks'
quick presets with convca at a fixed T (the ``Trainer.step`` that
``classic_throughput.py`` and ``grow_throughput.py`` time) and the quick start, ViTCA
denoising. A run trains ``--iterations`` iterations (``--stop-after``: no evaluation),
logging every ``--log-every``; its speed is the iterations after the first log over
their time, from the metrics log's cumulative ``it_per_s`` (the first ``--log-every``
iterations, warm-up included, are left out). Rounds alternate the trees (old, new, then
new, old, ...), so machine noise hits both alike; the table reports medians and the
1-minute load average around each run.

Run:
    python benchmarks/compare_trees.py ../wt-base . --rounds 5 \\
        --vgg-weights ../shared/weights/lpips_vgg16_features.pth
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model  # benchmarks/ is the script directory
from _report import emit

#: label -> ``nca train`` arguments (both trees).
WORKLOADS = {
    "grow · convca, T = 40": ["--rule", "convca", "--task", "grow", "--preset", "quick",
                              "-o", "steps_min=40", "-o", "steps_max=40"],
    "classify · convca, T = 20": ["--rule", "convca", "--task", "classify", "--preset", "quick"],
    "texture · convca, T = 36": ["--rule", "convca", "--task", "texture", "--preset", "quick",
                                 "-o", "steps_min=36", "-o", "steps_max=36"],
    "denoise · vitca (quick start)": ["--rule", "vitca", "--task", "denoise"],
}  # fmt: skip


def commit(tree: Path) -> str:
    proc = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
                          capture_output=True, text=True)  # fmt: skip
    return proc.stdout.strip()[:72] or "(not a git tree)"


def train(tree: Path, arguments: list[str], run: Path, args) -> tuple[float, float]:
    """Steady iterations per second of one run in ``tree``, and its wall seconds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               PYTHONPATH=f"{tree}{os.pathsep}{tree / 'plugins'}")  # fmt: skip
    cmd = [
        sys.executable, "-m", "nca", "train", *arguments,
        "--stop-after", str(args.iterations), "-o", f"log_every={args.log_every}",
        "-o", "validate_every=1000000", "-o", "checkpoint_every=1000000",
        "--run-dir", str(run), "--device", "cpu", "--seed", "0", "--quiet",
    ]  # fmt: skip
    if "texture" in arguments and args.vgg_weights:
        cmd += ["--vgg-weights", str(Path(args.vgg_weights).resolve())]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"failed in {tree}: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    rates = {r["step"]: r["it_per_s"] for r in records if r["kind"] == "train"}
    first, last = min(rates), max(rates)
    elapsed = last / rates[last] - first / rates[first]  # it_per_s is cumulative
    return (last - first) / elapsed, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the reference tree")
    parser.add_argument("new", type=Path, help="the tree to compare with it")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--workloads", default="", help="comma-separated label prefixes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vgg-weights", default="", help="VGG16 features file (offline)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.iterations <= args.log_every:
        parser.error("--iterations must exceed --log-every")
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    prefixes = [p for p in args.workloads.split(",") if p]
    workloads = {k: v for k, v in WORKLOADS.items()
                 if not prefixes or k.startswith(tuple(prefixes))}  # fmt: skip
    speed = {(w, t): [] for w in workloads for t in trees}
    wall = {(w, t): [] for w in workloads for t in trees}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
            for w, arguments in workloads.items():
                for t in order:
                    loads.append(os.getloadavg()[0])
                    run = Path(tmp) / f"{round_}-{t}-{len(loads)}"
                    rate, seconds = train(trees[t], arguments, run, args)
                    speed[w, t].append(rate)
                    wall[w, t].append(seconds)
                    print(f"round {round_ + 1} {t} {w}: {rate:.2f} it/s, {seconds:.0f} s, "
                          f"load {loads[-1]:.1f}", file=sys.stderr, flush=True)  # fmt: skip
    loads.append(os.getloadavg()[0])
    import torch

    lines = [
        "# Training speed of two trees, side by side",
        "",
        f"Command: `python benchmarks/compare_trees.py OLD NEW --rounds {args.rounds} "
        f"--iterations {args.iterations} --log-every {args.log_every}"
        + (" --vgg-weights ...`  " if args.vgg_weights else "`  "),
        f"old: `{commit(trees['old'])}`  ",
        f"new: `{commit(trees['new'])}`  ",
        f"Machine: {cpu_model()}, {args.threads} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}; 1-minute load average before each run: median "
        f"{statistics.median(loads):.1f}, min {min(loads):.1f}, max {max(loads):.1f}  ",
        f"Each workload: `nca train ARGS --stop-after {args.iterations} -o log_every="
        f"{args.log_every} -o validate_every=1000000 -o checkpoint_every=1000000 --device cpu`"
        f" in each tree; it/s over iterations {args.log_every + 1}-{args.iterations}; "
        f"medians of {args.rounds} alternating rounds (old, new, then new, old, ...).",
        "",
        "| workload | `nca train` arguments | old it/s | new it/s | new / old (medians) | "
        "new / old per round: median (range) | old wall (s) | new wall (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for w, arguments in workloads.items():
        old, new = statistics.median(speed[w, "old"]), statistics.median(speed[w, "new"])
        ratios = [n / o for o, n in zip(speed[w, "old"], speed[w, "new"], strict=True)]
        lines.append(
            f"| {w} | `{' '.join(arguments)}` | {old:.2f} | {new:.2f} | {new / old:.3f} | "
            f"{statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
            f"{statistics.median(wall[w, 'old']):.1f} | {statistics.median(wall[w, 'new']):.1f} |"
        )
    lines += ["", "Per round (it/s, old / new):", ""]
    for w in workloads:
        pairs = zip(speed[w, "old"], speed[w, "new"], strict=True)
        lines.append(f"- {w}: " + ", ".join(f"{o:.2f} / {n:.2f}" for o, n in pairs))
    emit(lines, args.output)


if __name__ == "__main__":
    main()
