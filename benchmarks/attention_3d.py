"""Benchmark localized attention on 3-D grids: every backend against ``reference``.

Three measurements, each configuration in a fresh subprocess (CPU):

* **the attention op alone**: one ``LocalizedSelfAttention`` call as a ViTCA block makes
  it (LayerNorm → QKV → localized attention over the 26-neighbour ``3×3×3`` Moore
  neighbourhood → output projection), forward and backward, on ``B × S³`` tokens; the
  ``shifted+sparse`` row queries half of the cells (σ = 0.5), as a sparse step does;
  with the largest difference of its output and input gradient from ``reference``'s;
* **a small ViTCA rollout** on ``B`` grayscale ``S³`` grids, ``T`` steps at σ = 0.5,
  L1 + overflow loss, back-propagated through every step (no checkpointing);
* with ``--base DIR`` (a copy of the code before the N-D generalisation), the 2-D
  ``benchmarks/vitca_rollout.py`` worker of that copy and of this checkout, interleaved
  in alternating order, and the new/old speed ratio per round.

Speed is the median over repeats (and rounds) of forward + backward milliseconds; peak
memory is the resident set's peak above the process's baseline, from a separate run
with glibc's mmap threshold pinned (see ``_memory.py``). ``reference`` rolls out once
(it takes minutes), the other backends every round.

Usage:
    python benchmarks/attention_3d.py [--batch 2] [--size 16] [--steps 16] [--repeats 2]
        [--rounds 3] [--base /tmp/vitca-base] [--output results.md]
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
from _report import emit

HERE = Path(__file__).resolve()
BACKENDS = ["reference", "conv", "shifted", "shifted+sparse"]
#: The small ViTCA of the rollouts (and the op's sizes): d = 32, 2 heads, 3×3×3.
RULE = {"embed_dim": 32, "heads": 2, "mlp_dim": 64, "hidden_channels": 8, "dims": 3}
#: The 2-D comparison: vitca_rollout.py's first CPU setting and backends.
SETTING_2D = {"batch": 8, "size": 32, "steps": 16}
BACKENDS_2D = ["shifted", "shifted+sparse", "conv"]


def _op(args: argparse.Namespace):
    """The attention layer, its pre-norm, input tokens and the query rows of a backend."""
    import torch
    from torch import nn

    from nca.layers.attention import LocalizedSelfAttention
    from nca.layers.neighbourhood import Neighbourhood

    backend, *flags = args.backend.split("+")
    torch.manual_seed(0)
    dim, heads = RULE["embed_dim"], RULE["heads"]
    layer = LocalizedSelfAttention(dim, heads, Neighbourhood((3, 3, 3)), backend)
    norm = nn.LayerNorm(dim)
    tokens = torch.randn(args.batch, *(args.size,) * 3, dim, requires_grad=True)
    rows = None
    if "sparse" in flags:
        count = tokens[..., 0].numel()
        rows = torch.randperm(count, generator=torch.Generator().manual_seed(1))[: count // 2]
        rows = rows.sort().values
    return layer, norm, tokens, rows


def _op_iteration(args: argparse.Namespace):
    layer, norm, tokens, rows = _op(args)

    def iteration() -> tuple[float, float]:
        tokens.grad = None
        start = time.perf_counter()
        out = layer(tokens, norm=norm, rows=rows)
        mid = time.perf_counter()
        out.square().sum().backward()
        return mid - start, time.perf_counter() - mid

    return iteration


def _rollout_iteration(args: argparse.Namespace):
    import torch

    from nca import CellularAutomaton, create_rule, make_generator, overflow_losses

    backend, *flags = args.backend.split("+")
    torch.manual_seed(0)
    rule = create_rule("vitca", attention_backend=backend, **RULE)
    ca = CellularAutomaton(rule, update_rate=0.5, sparse_update="sparse" in flags)
    images = torch.rand(
        args.batch, 1, *(args.size,) * 3, generator=torch.Generator().manual_seed(0)
    )

    def iteration() -> tuple[float, float]:
        rule.zero_grad(set_to_none=True)
        start = time.perf_counter()
        out = ca(ca.seed(images), args.steps, generator=make_generator(0)).cells
        loss = (ca.output_image(out) - images).abs().mean() + overflow_losses(ca.layout, out).total
        mid = time.perf_counter()
        loss.backward()
        return mid - start, time.perf_counter() - mid

    return iteration


def worker(args: argparse.Namespace) -> dict:
    """Run in a subprocess: time (or, with ``--memory``, the peak of) one configuration."""
    import torch

    import nca

    torch.set_num_threads(args.threads)
    iteration = (_op_iteration if args.kind == "op" else _rollout_iteration)(args)
    if args.memory:
        return {"peak_mib": peak_bytes(iteration, "cpu") / 2**20}
    if args.warmup:
        iteration()
    times = [iteration() for _ in range(args.repeats)]
    forward = statistics.median(t[0] for t in times)
    backward = statistics.median(t[1] for t in times)
    return {"forward_ms": forward * 1e3, "backward_ms": backward * 1e3, "nca": nca.__file__}


def accuracy(args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """Largest |difference| from ``reference`` of each backend's op output and token
    gradient (float32, the op's sizes, the same weights and tokens; ``shifted+sparse``
    against the reference's rows)."""
    import torch

    torch.set_num_threads(args.threads)
    args.backend = "reference"
    layer, norm, ref_tokens, _ = _op(args)
    ref_out = layer(ref_tokens, norm=norm)
    results = {}
    for backend in BACKENDS:
        args.backend = backend
        layer, norm, tokens, rows = _op(args)
        out = layer(tokens, norm=norm, rows=rows)
        want = ref_out if rows is None else ref_out.reshape(-1, ref_out.shape[-1])[rows]
        (grad,) = torch.autograd.grad(out.square().sum(), tokens)
        (want_grad,) = torch.autograd.grad(want.square().sum(), ref_tokens, retain_graph=True)
        results[backend] = (
            (out - want).abs().max().item(),
            (grad - want_grad).abs().max().item(),
        )
    return results


def _spawn(args: list[str], env: dict[str, str] | None = None, script: Path = HERE) -> dict:
    cmd = [sys.executable, str(script), "--worker", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or dict(os.environ))
    if proc.returncode:
        raise RuntimeError(f"worker failed ({' '.join(cmd)}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(kind: str, backend: str, args: argparse.Namespace, memory: bool) -> dict:
    """One configuration: its speed and (``memory``) its peak, each in a fresh process."""
    sizes = {"batch": args.batch, "size": args.size, "steps": args.steps, "threads": args.threads}
    common = ["--kind", kind, "--backend", backend, *(f"--{k}={v}" for k, v in sizes.items())]
    once = backend == "reference" and kind == "rollout"  # minutes per iteration
    repeats = ["--repeats", "1" if once else str(args.repeats), *([] if once else ["--warmup"])]
    result = _spawn([*common, *repeats])
    if memory:
        env = dict(os.environ, **CPU_MEMORY_ENV)
        result["peak_mib"] = _spawn([*common, "--memory"], env)["peak_mib"]
    print(f"  {kind} {backend}: {result}", file=sys.stderr, flush=True)
    return result


def table_3d(kind: str, args: argparse.Namespace, errors: dict | None) -> list[str]:
    """Every backend's medians over the rounds, and its ratios to ``reference``."""
    runs: dict[str, list[dict]] = {b: [] for b in BACKENDS}
    for round_ in range(args.rounds):  # interleaved: drift hits every backend alike
        for backend in BACKENDS:
            if backend == "reference" and kind == "rollout" and round_:
                continue
            runs[backend].append(measure(kind, backend, args, memory=round_ == 0))
    ms = {
        b: statistics.median(r["forward_ms"] + r["backward_ms"] for r in rs)
        for b, rs in runs.items()
    }
    columns = ["backend", "forward ms", "backward ms", "fwd+bwd ms", "× reference speed",
               "peak MiB", "× reference memory"]  # fmt: skip
    if errors:
        columns.append("max abs Δ out / grad vs reference")
    lines = ["| " + " | ".join(columns) + " |", "| --- |" + " ---: |" * (len(columns) - 1)]
    for backend, rs in runs.items():
        f = statistics.median(r["forward_ms"] for r in rs)
        b = statistics.median(r["backward_ms"] for r in rs)
        peak = rs[0]["peak_mib"]
        row = (f"| {backend} | {f:,.1f} | {b:,.1f} | {ms[backend]:,.1f} | "
               f"{ms['reference'] / ms[backend]:.1f} | {peak:,.0f} | "
               f"{peak / runs['reference'][0]['peak_mib']:.3f} |")  # fmt: skip
        if errors:
            row += " {:.1e} / {:.1e} |".format(*errors[backend])
        lines.append(row)
    return [*lines, ""]


def _tree_env(tree: Path) -> dict[str, str]:
    """An environment importing ``nca`` from ``tree``; checked, since an installed copy
    could shadow it."""
    env = dict(os.environ, PYTHONPATH=f"{tree}:{tree}/plugins")
    code = "import nca; print(nca.__file__)"
    found = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, text=True,
                           capture_output=True, check=True).stdout.strip()  # fmt: skip
    if not Path(found).resolve().is_relative_to(tree):
        raise RuntimeError(f"nca imports from {found}, not from {tree}")
    return env


def compare_2d(args: argparse.Namespace) -> list[str]:
    """The 2-D rollout benchmark's worker from the old copy and this checkout, interleaved."""
    trees = {"old": Path(args.base).resolve(), "new": HERE.parents[1]}
    envs = {name: _tree_env(tree) for name, tree in trees.items()}
    setting = [f"--{k}={v}" for k, v in SETTING_2D.items()]
    lines = ["| backend | old fwd+bwd ms | new fwd+bwd ms | new / old time | per round |",
             "| --- | ---: | ---: | ---: | --- |"]  # fmt: skip
    for backend in BACKENDS_2D:
        times: dict[str, list[float]] = {"old": [], "new": []}
        for round_ in range(args.rounds_2d):
            for name in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
                cmd = [*setting, "--backend", backend, "--repeats", str(args.repeats),
                       "--threads", str(args.threads)]  # fmt: skip
                r = _spawn(cmd, envs[name], trees[name] / "benchmarks" / "vitca_rollout.py")
                times[name].append(r["forward_ms"] + r["backward_ms"])
                print(
                    f"  2-D {backend} {name} #{round_}: {times[name][-1]:.0f} ms", file=sys.stderr
                )
        old, new = statistics.median(times["old"]), statistics.median(times["new"])
        per_round = " / ".join(
            f"{n / o:.3f}" for o, n in zip(times["old"], times["new"], strict=True)
        )
        lines.append(f"| {backend} | {old:,.0f} | {new:,.0f} | {new / old:.3f} | {per_round} |")
    return [*lines, ""]


def report(args: argparse.Namespace) -> list[str]:
    import torch

    b, s, t = args.batch, args.size, args.steps
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    command = " ".join(["python", "benchmarks/attention_3d.py", *sys.argv[1:]])
    lines = ["# Localized attention on 3-D grids (CPU)", "", f"Command: `{command}`  ",
             f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
             f"Python {platform.python_version()}, threads: {args.threads}, "
             f"{time.strftime('%Y-%m-%d')}; load average at the start: {load}", "",
             f"### The attention op alone: B = {b}, {s}³ tokens, d = {RULE['embed_dim']}, "
             f"{RULE['heads']} heads, 3×3×3 (M = 27), zeros border; median of {args.rounds} "
             f"interleaved rounds of {args.repeats} iterations", ""]  # fmt: skip
    errors = accuracy(args)
    lines += table_3d("op", args, errors)
    lines += [f"### Small ViTCA rollout: B = {b}, grayscale {s}³, T = {t}, σ = 0.5, "
              f"{RULE}, BPTT (reference: one iteration)", ""]  # fmt: skip
    lines += table_3d("rollout", args, None)
    if args.base:
        title = (f"### 2-D: `benchmarks/vitca_rollout.py` worker (baseline ViTCA), old "
                 f"({args.base}) and new code, B = 8, 32×32, T = 16; {args.rounds_2d} rounds "
                 f"interleaved in alternating order, {args.repeats} iterations each")  # fmt: skip
        lines += [title, ""]
        lines += compare_2d(args)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [*lines, f"Load average at the end: {load}.", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=["op", "rollout"], default="op", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="shifted", help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=16, help="cells along each of the 3 axes")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--base", help="a copy of the code before the change: also compare 2-D")
    parser.add_argument("--rounds-2d", type=int, default=5, help="interleaved 2-D rounds")
    parser.add_argument("--output", type=Path, help="also write the tables (markdown) here")
    args = parser.parse_args()
    for name in ("batch", "size", "steps", "repeats", "rounds", "rounds_2d", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.worker:
        print(json.dumps(worker(args)))
        return
    emit(report(args), args.output)


if __name__ == "__main__":
    main()
