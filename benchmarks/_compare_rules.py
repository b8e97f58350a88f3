"""Rule variants trained on one task with the same budget, each by ``nca train``.

A :class:`Variant` is a row label, a rule and extra ``nca train`` arguments.
:func:`train_variants` trains each with ``nca train --task TASK --preset quick`` in a
subprocess (``--iterations`` iterations, the learning rate decayed once, validation and
checkpoints only at the end, the run in a folder the caller owns) and collects its
metrics log, its ``eval.json`` and its wall time; :func:`curve_lines` tabulates a logged
metric against iterations and :func:`stack_pictures` puts the runs' evaluation pictures
in one column.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _machine import cpu_model  # benchmarks/ is the script directory


@dataclass(frozen=True)
class Variant:
    """One row: ``rule`` trained with the extra ``nca train`` arguments ``options``."""

    label: str
    rule: str
    options: tuple[str, ...] = ()


@dataclass
class Trained:
    """What one variant's run left: its directory, the wall time of ``nca train``
    (training and evaluation), the metrics log and ``eval.json``."""

    variant: Variant
    run: Path
    seconds: float
    records: list[dict[str, Any]]
    evaluation: dict[str, Any]

    def curve(self, key: str) -> dict[int, float]:
        """A training metric at every logged iteration."""
        return {r["step"]: r[key] for r in self.records if r["kind"] == "train"}


def run_nca(args: Sequence[str], threads: int) -> None:
    """``python -m nca ARGS`` with ``threads`` OpenMP threads; exits with its output if
    it fails."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "nca", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")


def train_variants(
    task: str,
    variants: Iterable[Variant],
    folder: Path,
    *,
    iterations: int,
    milestone: int,
    log_every: int,
    threads: int,
    options: Sequence[str] = (),
    summary: Callable[[Trained], str] | None = None,
) -> dict[str, Trained]:
    """Train each variant on ``task``'s quick preset, its run in ``folder``.

    Args:
        options: ``nca train`` arguments for every variant (before each variant's own).
        summary: A short text per run for the progress line on stderr.
    """
    results: dict[str, Trained] = {}
    for i, variant in enumerate(variants):
        run = folder / f"{i}-{variant.rule}"
        args = [
            "train", "--rule", variant.rule, "--task", task, "--preset", "quick",
            "--iterations", str(iterations), "-o", f"lr_milestones={milestone}",
            "-o", f"log_every={log_every}", "-o", f"validate_every={iterations}",
            "-o", f"checkpoint_every={iterations}", *options, *variant.options,
            "--run-dir", str(run), "--device", "cpu", "--quiet",
        ]  # fmt: skip
        start = time.perf_counter()
        run_nca(args, threads)
        seconds = time.perf_counter() - start
        records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        evaluation = json.loads((run / "eval.json").read_text())
        trained = Trained(variant, run, seconds, records, evaluation)
        results[variant.label] = trained
        note = f", {summary(trained)}" if summary else ""
        print(f"{variant.label}: {seconds:.0f} s{note}", file=sys.stderr)
    return results


def chosen(variants: Sequence[Variant], rules: str) -> list[Variant]:
    """The variants whose rule is among the comma-separated ``rules``."""
    names = rules.split(",")
    return [v for v in variants if v.rule in names]


def every_tenth(steps: Iterable[int], iterations: int) -> list[int]:
    """The logged iterations at multiples of ``max(10, iterations // 10)``, and the last."""
    steps = sorted(steps)
    return [s for s in steps if s % max(10, iterations // 10) == 0 or s == steps[-1]]


def curve_lines(
    title: str, results: Mapping[str, Trained], key: str, steps: Iterable[int], fmt: str
) -> list[str]:
    """A Markdown table of metric ``key`` at ``steps``: one column per run."""
    lines = [
        "",
        title,
        "",
        "| iteration | " + " | ".join(results) + " |",
        "| ---: |" + " ---: |" * len(results),
    ]
    curves = [r.curve(key) for r in results.values()]
    for step in steps:
        values = " | ".join(format(c.get(step, float("nan")), fmt) for c in curves)
        lines.append(f"| {step} | {values} |")
    return lines


def stack_pictures(paths: Sequence[Path], output: Path) -> None:
    """The pictures at ``paths`` one under another (left-aligned, white) in ``output``."""
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in paths]
    width = max(i.width for i in images)
    sheet = Image.new("RGB", (width, sum(i.height for i in images)), "white")
    y = 0
    for image in images:
        sheet.paste(image, (0, y))
        y += image.height
    sheet.save(output)


def arguments(description: str, *, iterations: int) -> argparse.ArgumentParser:
    """The options every comparison script takes (add your own before parsing)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--iterations", type=int, default=iterations)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    return parser


def machine_line(threads: int) -> str:
    """The report's machine line."""
    return f"Machine: {cpu_model()}, {threads} threads, {time.strftime('%Y-%m-%d')}  "
