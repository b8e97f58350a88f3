"""Benchmark a ViTCA training rollout (forward + backward) per attention backend.

For each setting and backend a fresh subprocess builds the baseline ViTCA
(paper §4: 1 block, 4 heads, d = 128, C_h = 32, 3×3, grayscale), seeds a batch,
rolls it out ``T`` steps at σ = 0.5, takes an L1 + overflow loss and
backpropagates. It reports the median over repeats of:

* cell-steps per second: ``B·H·W·T`` / (forward + backward seconds), from a
  run with the normal allocator;
* peak memory above the process's baseline, from a separate run: on CPU the
  peak resident set size (``VmHWM`` after resetting it through
  ``/proc/self/clear_refs``) with glibc's mmap threshold pinned so freed
  tensors go back to the OS and RSS tracks live memory (that makes
  allocation slower, hence the separate run); on CUDA
  ``torch.cuda.max_memory_allocated`` (same run).

The ``+compile`` rows run that backend with the CA step compiled
(``CellularAutomaton.compile_step``, ``torch.compile``); the ``+sparse`` rows with
the automaton's ``sparse_update`` (the rule computes queries, MLP and head for the
firing cells only; the same values and gradients).

On a CUDA machine it also measures the paper's Table 8 setting (B = 32, RGB
32×32, T = 32; gradient checkpointing off and with 16 segments): forward and
backward milliseconds and peak memory, next to the paper's Table 8 (229 / 355 ms
and 17.0 GB without checkpointing, 232 / 576 ms and 2.5 GB with it; their
hardware).

Usage:
    python benchmarks/vitca_rollout.py [--repeats 5] [--rounds 3] [--output results.md]

With ``--rounds K`` every backend runs K times, interleaved with the others, each
in a fresh process: the table gives the medians and each round's ratio to that
round's conv run, since a shared machine drifts by tens of percent between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import cpu_model  # benchmarks/ is the script directory
from _memory import CPU_MEMORY_ENV, peak_bytes

CPU_SETTINGS = [  # (batch, image size, steps)
    (8, 32, 16),
    (32, 32, 16),
    (8, 64, 16),
]
#: ``name+compile``: that backend with the CA step compiled (``torch.compile``);
#: ``name+sparse``: with the automaton's ``sparse_update``
BACKENDS = ["conv", "shifted", "shifted+compile", "shifted+sparse", "shifted+sparse+compile"]


def worker(args: argparse.Namespace) -> dict:
    """Run in a subprocess: measure one backend on one setting."""
    import torch

    from nca import CellularAutomaton, create_rule, make_generator, overflow_losses

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    backend, *flags = args.backend.split("+")
    if set(flags) - {"compile", "sparse"}:
        raise ValueError(f"unknown backend flags in {args.backend!r}: use +compile, +sparse")
    compiled = "compile" in flags
    rule = create_rule("vitca", image_channels=args.channels, attention_backend=backend)
    rule.to(device)
    ca = CellularAutomaton(rule, update_rate=0.5, sparse_update="sparse" in flags)
    if compiled:
        step = ca.compile_step()
    images = torch.rand(args.batch, args.channels, args.size, args.size, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def iteration() -> tuple[float, float]:
        rule.zero_grad(set_to_none=True)
        sync()
        start = time.perf_counter()
        out = ca(
            ca.seed(images),
            args.steps,
            generator=make_generator(0, device),
            checkpoint_segments=args.segments,
        ).cells
        loss = (ca.output_image(out) - images).abs().mean() + overflow_losses(ca.layout, out).total
        sync()
        mid = time.perf_counter()
        loss.backward()
        sync()
        return mid - start, time.perf_counter() - mid

    iteration()  # warm-up (and compilation)
    if compiled and not step.active:
        raise RuntimeError(f"compilation failed: {step.failure}")
    forward, backward, peaks = [], [], []
    times: list[tuple[float, float]] = []
    for _ in range(args.repeats):
        peaks.append(peak_bytes(lambda: times.append(iteration()), args.device))
        forward.append(times[-1][0])
        backward.append(times[-1][1])
    f, b = statistics.median(forward), statistics.median(backward)
    return {
        "forward_ms": f * 1e3,
        "backward_ms": b * 1e3,
        "cell_steps_per_s": args.batch * args.size**2 * args.steps / (f + b),
        "peak_mib": statistics.median(peaks) / 2**20,
    }


def _spawn(args: list[str], env: dict[str, str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"worker failed ({' '.join(cmd)}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_worker(
    backend: str,
    batch: int,
    size: int,
    steps: int,
    channels: int,
    segments: int,
    device: str,
    repeats: int,
    threads: int,
    memory: bool = True,
) -> dict:
    args = [
        "--backend",
        backend,
        "--batch",
        str(batch),
        "--size",
        str(size),
        "--steps",
        str(steps),
        "--channels",
        str(channels),
        "--segments",
        str(segments),
        "--device",
        device,
        "--repeats",
        str(repeats),
        "--threads",
        str(threads),
    ]
    result = _spawn(args, dict(os.environ))
    if device == "cpu" and memory:
        # slower allocation that lets RSS track live memory: a separate run
        env = dict(os.environ, **CPU_MEMORY_ENV)
        memory_args = [*args[:-4], "--repeats", str(max(2, repeats // 2)), *args[-2:]]
        result["peak_mib"] = _spawn(memory_args, env)["peak_mib"]
    return result


def cpu_tables(args: argparse.Namespace) -> list[str]:
    lines = []
    for batch, size, steps in CPU_SETTINGS:
        lines += [
            f"### B = {batch}, {size}×{size} grayscale, T = {steps}, σ = 0.5, "
            f"{args.threads} threads (median of {args.rounds} interleaved rounds of "
            f"{args.repeats} iterations each)",
            "",
            "| backend | forward ms | backward ms | cell-steps/s | × conv | × conv per round "
            "| peak MiB above baseline | × conv |",
            "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
        ]
        rounds: dict[str, list[dict]] = {backend: [] for backend in args.backends}
        for round_ in range(args.rounds):  # interleaved: drift hits every backend alike
            for backend in args.backends:
                r = run_worker(backend, batch, size, steps, 1, 0, "cpu", args.repeats,
                               args.threads, memory=round_ == 0)  # fmt: skip
                rounds[backend].append(r)
                print(f"  {backend} B={batch} {size}x{size} #{round_}: {r}", file=sys.stderr)
        base = rounds.get("conv")
        for backend, runs in rounds.items():
            f = statistics.median(r["forward_ms"] for r in runs)
            b = statistics.median(r["backward_ms"] for r in runs)
            rate = statistics.median(r["cell_steps_per_s"] for r in runs)
            peak = runs[0]["peak_mib"]
            speed = memory = per_round = "-"
            if base:
                speed = f"{rate / statistics.median(r['cell_steps_per_s'] for r in base):.2f}"
                per_round = " / ".join(
                    f"{r['cell_steps_per_s'] / c['cell_steps_per_s']:.2f}"
                    for r, c in zip(runs, base, strict=True)
                )
                memory = f"{peak / base[0]['peak_mib']:.3f}"
            lines.append(
                f"| {backend} | {f:.0f} | {b:.0f} | {rate:,.0f} | {speed} | {per_round} | "
                f"{peak:.0f} | {memory} |"
            )
        lines.append("")
    return lines


def cuda_tables(args: argparse.Namespace) -> list[str]:
    lines = [
        "### Paper Table 8 setting: B = 32, RGB 32×32, T = 32, CUDA",
        "",
        "| backend | checkpointing | forward ms | backward ms | peak GiB | paper fwd / bwd ms "
        "| paper GB |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    paper = {0: ("229 / 355", "17.0"), 16: ("232 / 576", "2.5")}  # Table 8 (their GPU)
    for backend in args.backends:
        for segments in (0, 16):
            r = run_worker(backend, 32, 32, 32, 3, segments, "cuda", args.repeats, args.threads)
            lines.append(
                f"| {backend} | {'16 segments' if segments else 'off'} | {r['forward_ms']:.1f} | "
                f"{r['backward_ms']:.1f} | {r['peak_mib'] / 1024:.2f} | {paper[segments][0]} | "
                f"{paper[segments][1]} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)  # a row survives a cut-short run
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="shifted")
    parser.add_argument("--backends", nargs="+", default=BACKENDS)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--segments", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (CPU tables)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, help="also write the tables (markdown) here")
    parser.add_argument("--cuda-only", action="store_true", help="skip the CPU settings")
    args = parser.parse_args()
    for name in ("repeats", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.worker:
        print(json.dumps(worker(args)))
        return

    import torch

    header = [
        "# ViTCA training rollout benchmark",
        "",
        f"Command: `python benchmarks/vitca_rollout.py --repeats {args.repeats} "
        f"--rounds {args.rounds}`  ",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs visible, "
        f"torch {torch.__version__}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}",
        "",
    ]
    lines = [] if args.cuda_only else cpu_tables(args)
    if torch.cuda.is_available():
        lines += cuda_tables(args)
    else:
        lines += ["(No CUDA device: the paper's Table 8 GPU setting was not measured.)", ""]
    text = "\n".join(header + lines)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
