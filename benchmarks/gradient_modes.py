"""bptt vs checkpoint vs fixed-point training of ViTCA: peak memory against T, PSNR
after the same denoising budget, and how close each gradient is to BPTT's.

Three parts, each optional:

* ``--memory``: one training iteration (forward + backward, L1 + overflow loss) of the
  baseline ViTCA (shifted backend, grayscale) from a fresh grid for each ``T`` and mode,
  in a fresh subprocess; peak memory above the baseline (``_memory.py``). The
  fixed-point forward is forced to take all ``T`` steps (``tol=1e-12``, ``max_steps=T``)
  so the columns compare equal forward work; its backward is the implicit solve
  (``backward_max_steps`` VJPs, then the phantom fallback). The last layer is drawn
  randomly (``zero_last_layer=false``), so the rule does work from the first step.
* ``--denoise N``: ``nca train --rule vitca --task denoise`` (the CPU ``quick`` preset:
  16x16 embedded MNIST, batch 16) for ``N`` iterations in each mode, then the task's
  evaluation (1x1 noise at 50 %, ``T = 64``). Also the fraction of fixed-point
  iterations whose gradient was the phantom fallback.
* ``--cosine RUN``: on the trained ``RUN`` (a denoise run directory), the gradient of one
  loss (16 test digits, 1x1 noise at 50 %) in each mode, and its cosine similarity to
  BPTT through ``T = 64`` asynchronous steps. A second BPTT with other update masks is
  the noise floor: the stochastic masks make two BPTT gradients differ too.

Usage:
    python benchmarks/gradient_modes.py --memory --denoise 300 \\
        --output benchmarks/results/gradient_modes_cpu.md
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
from _memory import CPU_MEMORY_ENV, peak_bytes
from _report import emit

MODES = ("bptt", "checkpoint", "fixed-point")
#: memory columns: (label, gradient mode, fixed-point tolerance)
#: (label, gradient mode, forward tol, backward solver)
MEMORY_COLUMNS = (
    ("bptt", "bptt", None, None),
    ("checkpoint", "checkpoint", None, None),
    ("fixed-point, T steps + phantom fallback", "fixed-point", 1e-12, None),
    ("fixed-point, implicit (GMRES)", "fixed-point", 1e9, "gmres"),
    ("fixed-point, implicit (Picard)", "fixed-point", 1e9, "picard"),
)
STEPS = (8, 16, 32, 64, 128, 256)


# ------------------------------------------------------------------ memory
def memory_worker(args: argparse.Namespace) -> dict:
    import torch

    from nca import (
        CellularAutomaton,
        FixedPointConfig,
        create_rule,
        make_generator,
        overflow_losses,
    )

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = args.device
    rule = create_rule("vitca", attention_backend="shifted", zero_last_layer=False).to(device)
    ca = CellularAutomaton(rule, update_rate=0.5)
    images = torch.rand(args.batch, 1, args.size, args.size, generator=make_generator(0))
    images = images.to(device)
    fixed_point = FixedPointConfig(
        tol=args.tol, max_steps=args.steps, backward_solver=args.backward_solver
    )

    def iteration() -> None:
        rule.zero_grad(set_to_none=True)
        result = ca(
            ca.seed(images), args.steps, generator=make_generator(1, device),
            gradient=args.mode, fixed_point=fixed_point,
        )  # fmt: skip
        out = result.cells
        loss = (ca.output_image(out) - images).abs().mean() + overflow_losses(ca.layout, out).total
        loss.backward()

    iteration()  # warm-up
    start = time.perf_counter()
    peak = peak_bytes(iteration, device)
    return {"peak_mib": peak / 2**20, "seconds": time.perf_counter() - start}


def memory_table(args: argparse.Namespace) -> list[str]:
    env = dict(os.environ, **CPU_MEMORY_ENV)
    rows = []
    for steps in args.steps_list:
        cells = []
        for _, mode, tol, backward_solver in MEMORY_COLUMNS:
            cmd = [sys.executable, __file__, "--memory-worker", "--mode", mode,
                   "--steps", str(steps), "--batch", str(args.batch), "--size", str(args.size),
                   "--threads", str(args.threads), "--tol", str(tol or 1e-3),
                   "--backward-solver", backward_solver or "gmres",
                   "--device", args.device]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"memory T={steps} {mode} tol={tol} {backward_solver}: {result}",
                  file=sys.stderr)  # fmt: skip
            cells.append(f"{result['peak_mib']:.0f} ({result['seconds']:.1f} s)")
        rows.append(f"| {steps} | " + " | ".join(cells) + " |")
    return [
        f"## Peak memory of one training iteration against T (B = {args.batch}, "
        f"{args.size}x{args.size} grayscale, ViTCA shifted, σ = 0.5, {args.device}, "
        f"{args.threads} threads)",
        "",
        "MiB above the process's baseline (CUDA: `max_memory_allocated`), and the "
        "iteration's seconds (on CPU measured in the memory run, whose allocator is slowed "
        "on purpose: compare within a row).",
        "",
        "| T | " + " | ".join(label for label, *_ in MEMORY_COLUMNS) + " |",
        "| ---: | " + " | ".join("---:" for _ in MEMORY_COLUMNS) + " |",
        *rows,
        "",
        "`checkpoint` is ⌊T/2⌋ segments (paper App. A.2). The fixed-point columns run "
        "Picard iteration of the expected update without a graph. *T steps + phantom "
        "fallback*: `tol=1e-12`, so the forward takes all T steps, does not converge, and "
        "the gradient is the fallback's 8 unrolled steps (checkpointed step by step). "
        "*implicit*: `tol=1e9`, so the forward stops at its first step and the gradient "
        "is the implicit solve (32 vector-Jacobian products through one evaluation, then "
        "its own fallback), by GMRES (the default; it keeps up to 32 basis vectors) or "
        "Picard: the cost of the implicit backward, which does not depend on T.",
        "",
    ]


# ------------------------------------------------------------------ denoise
def _train_denoise(mode: str, run: Path, args: argparse.Namespace) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, "-m", "nca", "train", "--rule", "vitca", "--task", "denoise",
           "--preset", "quick", "--iterations", str(args.denoise), "-o", f"gradient={mode}",
           "-o", "log_every=1", "-o", "eval_subset=256", "--run-dir", str(run),
           "--device", "cpu", "--quiet"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"{mode} failed:\n{proc.stdout}\n{proc.stderr}")


def _denoise_row(mode: str, run: Path) -> str:
    row = json.loads((run / "eval.json").read_text())["rows"]["1x1/50%"]
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    seconds = train[-1]["time"] - train[0]["time"]
    fallback = [r["fp_fallback"] for r in train if "fp_fallback" in r]
    steps = [r["fp_forward_steps"] for r in train if "fp_forward_steps" in r]
    last = sum(r["reconstruction"] for r in train[-50:]) / len(train[-50:])
    share = f"{100 * sum(fallback) / len(fallback):.0f} %" if fallback else "-"
    mean_steps = f"{sum(steps) / len(steps):.1f}" if steps else "-"
    print(f"denoise {mode}: {row}", file=sys.stderr)
    return (
        f"| {mode} | {len(train)} | {seconds:.0f} | {last:.4f} | {row['psnr']:.2f} | "
        f"{row['input_psnr']:.2f} | {mean_steps} | {share} |"
    )


def denoise_table(args: argparse.Namespace) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.denoise_from or args.keep_runs or Path(tmp)
        for mode in MODES:
            run = root / f"denoise-{mode}"
            if not args.denoise_from:
                _train_denoise(mode, run, args)
            rows.append(_denoise_row(mode, run))
    return [
        "## Denoising after the same budget in each mode",
        "",
        "The quick preset (16x16 embedded MNIST, batch 16, T ~ U{8, 32}), evaluated on 256 "
        "test digits under 1x1 noise at 50 %, T = 64 at test. Reconstruction: the training "
        "L1, mean of the last 50 iterations. Seconds: first to last training record of "
        "the run's log (the machine was shared during the bptt run: compare within a run).",
        "",
        "| gradient | iterations | train s | reconstruction | PSNR | input PSNR "
        "| forward steps (fp) | phantom fallbacks (fp) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
    ]


# ------------------------------------------------------------------ cosine
def fixed_point_cases(reachable_tol: str, reachable_backward_tol: float) -> list[tuple]:
    """The fixed-point gradients compared with BPTT: ``(label, mode, config, seed)``.

    Args:
        reachable_tol: A forward tolerance the model at hand reaches (near its residual),
            as written in the table, e.g. ``"2e-2"``.
        reachable_backward_tol: The backward tolerance used with it.
    """
    from nca import FixedPointConfig

    configs = [
        ("fixed-point, implicit (GMRES)", FixedPointConfig()),
        ("fixed-point, implicit (Picard)", FixedPointConfig(backward_solver="picard")),
        ("fixed-point, implicit, tol 1e-4, 256 steps, 128 VJPs (GMRES)",
         FixedPointConfig(tol=1e-4, max_steps=256, backward_tol=1e-4, backward_max_steps=128)),
        ("fixed-point, implicit, tol 1e-4, 256 steps, 128 VJPs (Picard)",
         FixedPointConfig(tol=1e-4, max_steps=256, backward_tol=1e-4, backward_max_steps=128,
                          backward_solver="picard")),
        ("fixed-point, implicit, tol 1e-4, 256 steps, 512 VJPs (Picard)",
         FixedPointConfig(tol=1e-4, max_steps=256, backward_tol=1e-4, backward_max_steps=512,
                          backward_solver="picard")),
        (f"fixed-point, implicit, tol {reachable_tol} (reachable here)",
         FixedPointConfig(tol=float(reachable_tol), backward_tol=reachable_backward_tol,
                          backward_max_steps=128)),
        ("fixed-point, phantom 8", FixedPointConfig(backward="phantom")),
        ("fixed-point, phantom 32", FixedPointConfig(backward="phantom", phantom_steps=32)),
    ]  # fmt: skip
    return [(label, "fixed-point", config, 0) for label, config in configs]


def cosine_table(args: argparse.Namespace) -> list[str]:
    import torch
    from nca_denoise.masking import mask_images

    from nca import FixedPointConfig, load_images, load_run, make_generator

    torch.set_num_threads(args.threads)
    stored = load_run(args.cosine)
    task, model = stored.task, stored.model
    params = list(model.rule.parameters())
    for p in params:
        p.requires_grad_(True)
    model.train()
    cfg = task.config
    images = load_images(cfg.dataset, "test", image_size=cfg.image_size).batch(torch.arange(16))
    masked = mask_images(images, (1, 0.5), make_generator(3))

    def gradient(mode: str, fixed_point=None, seed: int = 0, steps: int = 64):
        model.gradient, model.fixed_point = mode, fixed_point or FixedPointConfig()
        out = model.run(masked, steps=steps, generator=make_generator(seed))
        loss = (out.images - images).abs().mean() + out.overflow
        grads = torch.autograd.grad(loss, params)
        return torch.cat([g.flatten() for g in grads]), out.fixed_point

    cases = [("bptt, other masks", "bptt", None, 1), ("bptt, T = 128", "bptt", None, 0, 128)]
    cases += fixed_point_cases(reachable_tol="2e-2", reachable_backward_tol=1e-2)
    rows = _cosine_rows(gradient, cases)
    return [
        f"## Gradient against BPTT on the trained model (`{args.cosine_label}`)",
        "",
        "One loss (L1 + overflow) of 16 test digits under 1x1 noise at 50 %; the reference "
        "is BPTT through T = 64 asynchronous steps.",
        "",
        "| gradient | cosine to BPTT | norm / BPTT's | fixed-point solve |",
        "| --- | ---: | ---: | --- |",
        *rows,
        "",
    ]


def _cosine_rows(gradient, cases: list[tuple]) -> list[str]:
    """One table row per case, against ``gradient("bptt")`` (``gradient(mode, config,
    seed[, steps]) -> (flat gradient, fixed-point stats)``)."""
    reference, _ = gradient("bptt")
    rows = []
    for label, mode, config, seed, *steps in cases:
        grad, stats = gradient(mode, config, seed, *steps)
        rows.append(_cosine_row(label, grad, reference, stats))
    return rows


def _cosine_row(label: str, grad, reference, stats) -> str:
    """One table row: cosine and norm ratio to the reference, and how the solve went."""
    import torch

    cosine = float(torch.nn.functional.cosine_similarity(grad, reference, dim=0))
    ratio = float(grad.norm() / reference.norm())
    solve = "-"
    if stats is not None:
        back = (
            f"{stats.backward_steps} VJPs, residual {stats.backward_residual:.1e}"
            if stats.backward_steps is not None
            else "none"
        )
        solve = (
            f"{stats.forward_steps} steps, residual {stats.forward_residual:.1e}; "
            f"backward {back}; gradient {stats.gradient}"
        )
    print(f"cosine {label}: {cosine:.4f}", file=sys.stderr)
    return f"| {label} | {cosine:.4f} | {ratio:.3f} | {solve} |"


def grow_cosine_table(args: argparse.Namespace) -> list[str]:
    """The same comparison on a trained grow (regenerating) run, from its grown pattern:
    a model trained to persist, whose grown state is the nearest thing to a converged
    equilibrium this CPU budget gives."""
    import torch
    from nca_grow.evaluation import per_sample_loss

    from nca import FixedPointConfig, load_run, make_generator

    torch.set_num_threads(args.threads)
    stored = load_run(args.cosine_grow)
    task, model = stored.task, stored.model
    target = task.target  # (1, 4, H', W'), premultiplied RGBA
    params = list(model.rule.parameters())
    with torch.no_grad():  # 4 lizards grown for 300 steps: the start of every gradient
        seeds = model.seed(4, tuple(target.shape[-2:]), "cpu")
        grown = model.run(seeds, 300, generator=make_generator(5))
    for p in params:
        p.requires_grad_(True)

    def gradient(mode: str, fixed_point=None, seed: int = 0, steps: int = 64):
        result = model.automaton(
            grown.clone(),
            steps,
            generator=make_generator(seed),
            gradient=mode,
            fixed_point=fixed_point or FixedPointConfig(),
        )
        loss = per_sample_loss(model.output(result.cells), target).mean()
        grads = torch.autograd.grad(loss, params)
        return torch.cat([g.flatten() for g in grads]), result.fixed_point

    cases = [("bptt, other masks", "bptt", None, 1, 64), ("bptt, T = 128", "bptt", None, 0, 128),
             ("bptt, T = 256", "bptt", None, 0, 256)]  # fmt: skip
    cases += fixed_point_cases(reachable_tol="3e-3", reachable_backward_tol=1e-3)
    rows = _cosine_rows(gradient, cases)
    return [
        f"## Gradient against BPTT on a trained grow run (`{args.cosine_grow}`)",
        "",
        "The grow task's loss (mean squared RGBA error) of 4 lizards grown for 300 steps, "
        "after T = 64 more asynchronous steps; the reference is BPTT through them.",
        "",
        "| gradient | cosine to BPTT | norm / BPTT's | fixed-point solve |",
        "| --- | ---: | ---: | --- |",
        *rows,
        "",
    ]


def plot_memory(table: Path, path: Path) -> None:
    """Draw the memory table of a results file (log-log, MiB against T)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = table.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| T |"))
    labels = [c.strip() for c in lines[start].strip("|").split("|")][1:]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append([int(cells[0])] + [float(c.split()[0]) for c in cells[1:]])
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for k, label in enumerate(labels, start=1):
        ax.plot([r[0] for r in rows], [r[k] for r in rows], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("rollout steps T")
    ax.set_ylabel("peak MiB of one iteration")
    ax.set_title("ViTCA training memory against T (CPU)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--denoise", type=int, default=0, metavar="ITERATIONS")
    parser.add_argument("--keep-runs", type=Path, help="keep the denoise runs here")
    parser.add_argument(
        "--denoise-from", type=Path, help="tabulate denoise runs kept by --keep-runs earlier"
    )
    parser.add_argument("--cosine", metavar="RUN", help="a trained denoise run directory")
    parser.add_argument("--cosine-grow", metavar="RUN", help="a trained grow run or checkpoint")
    parser.add_argument("--cosine-label", default="", help="how the cosine run was trained")
    parser.add_argument("--steps-list", type=int, nargs="+", default=list(STEPS))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where --memory measures")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--plot-from", type=Path, help="draw this results file's memory table")
    parser.add_argument("--plot", type=Path, help="where --plot-from draws (PNG)")
    parser.add_argument("--memory-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="bptt", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--tol", type=float, default=1e-3, help=argparse.SUPPRESS)
    parser.add_argument("--backward-solver", default="gmres", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_worker:
        print(json.dumps(memory_worker(args)))
        return
    if args.plot_from:
        plot_memory(args.plot_from, args.plot or args.plot_from.with_suffix(".png"))
        return
    lines = [
        "# Gradient modes: bptt, checkpoint, fixed-point",
        "",
        f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`  ",
        f"Machine: {cpu_model()}, {args.threads} threads, {time.strftime('%Y-%m-%d')}"
        + (f", {_gpu_name()}" if args.device.startswith("cuda") else ""),
        "",
    ]
    if args.memory:
        lines += memory_table(args)
    if args.denoise or args.denoise_from:
        lines += denoise_table(args)
    if args.cosine:
        args.cosine_label = args.cosine_label or args.cosine
        lines += cosine_table(args)
    if args.cosine_grow:
        lines += grow_cosine_table(args)
    emit(lines, args.output)


if __name__ == "__main__":
    main()
