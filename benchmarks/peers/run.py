"""The growing NCA (``--task grow``, the default) or self-classifying MNIST (``--task
classify``) trained side by side in the toolkit, CAX and NCALab, at the articles'
settings, from the same weights and data.

Writes one setup file (grow: the target, the update MLP's initial weights from the
toolkit's convca initialisation with a fixed seed; classify: the training digits of the
classify task's data source and the learned perception's and MLP's initial weights; both:
every iteration's ``T``), then runs each system's child (``ours_TASK.py``,
``cax_TASK.py``, ``cax_TASK.py --variant dense``, ``ncalab_TASK.py``) in its own virtual
environment and process, interleaved in rounds
(the order rotating), with the same thread count (torch threads, OMP/MKL, XLA flags)
and, where ``taskset`` exists, the same CPUs. Before each round it waits for the load
average to fall below ``--max-load`` (at most ``--quiet-timeout`` seconds) and records
the load before and after every child. Each child trains ``--warmup`` untimed
iterations (compilation included), then ``--iterations`` timed ones.

The table gives, per system, the medians over rounds of iterations/s and cell-steps/s
(batch x cells x T per second of the timed iterations), the warm-up's seconds (JIT
compilation of every rollout length for CAX), the child's peak resident memory
(``ru_maxrss`` of the whole process from ``wait4``: the framework's baseline included,
which is also given), and the loss of the last iteration; "vs ours by round" is the
range over rounds of each round's ratio to ours (paired within a round, so a load that
drifts between rounds cancels).

Run with the toolkit's Python, from the repository root:
python benchmarks/peers/run.py [--task classify] [--iterations 20] [--warmup 3] [--rounds 3]
    [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(HERE.parent)]
from _common import RESULT_PREFIX  # noqa: E402  (benchmarks/peers is the script directory)
from _machine import cpu_model  # noqa: E402
from _report import emit  # noqa: E402

#: Default home of the peers' virtual environments (see setup_venvs.sh).
PEERS_DIR = Path(os.environ.get("NCA_PEERS_DIR", "/work/peers"))
GROW_SYSTEMS = (
    "ours",
    "cax",
    "cax-dense",
    "cax-unrolled",
    "cax-dense-unrolled",
    "ncalab",
    "ours-compiled",
    "ours-checkpoint",
    "ours-fixed-point",
)
CLASSIFY_SYSTEMS = ("ours", "cax", "cax-dense", "cax-unrolled", "ncalab", "ours-depthwise")
#: The systems each task has children for.
TASK_SYSTEMS = {"grow": GROW_SYSTEMS, "classify": CLASSIFY_SYSTEMS}
#: Every system name (``--systems``' choices).
SYSTEMS = tuple(dict.fromkeys(GROW_SYSTEMS + CLASSIFY_SYSTEMS))
#: What a task's run defaults to where not told: the articles' T and pool sizes
#: (classify: the task's ``steps`` and ``pool_size``, fixed T = 20).
TASK_DEFAULTS = {
    "grow": {"steps_min": 64, "steps_max": 96, "pool_size": 1024},
    "classify": {"steps_min": 20, "steps_max": 20, "pool_size": 160},
}


@dataclass
class Child:
    """One system's child: its Python, script and extra arguments."""

    name: str
    python: Path
    script: str
    extra: tuple[str, ...] = ()
    jax: bool = False


@dataclass
class Run:
    """What one child run gave."""

    system: str
    round: int
    result: dict | None
    maxrss_mib: float
    wall_s: float
    cpu_s: float
    load_before: float
    load_after: float
    error: str = ""
    command: list[str] = field(default_factory=list)


def children(peers: Path, task: str = "grow") -> dict[str, Child]:
    """The children of ``task``'s systems, by system name."""
    cax, ncalab = peers / "cax-venv" / "bin" / "python", peers / "ncalab-venv" / "bin" / "python"
    if task == "classify":
        ours = Path(sys.executable)
        return {
            "ours": Child("ours", ours, "ours_classify.py"),
            "cax": Child("cax", cax, "cax_classify.py", ("--variant", "conv"), jax=True),
            "cax-dense": Child(
                "cax-dense", cax, "cax_classify.py", ("--variant", "dense"), jax=True
            ),
            "cax-unrolled": Child(
                "cax-unrolled", cax, "cax_classify.py", ("--rollout", "unrolled"), jax=True
            ),
            "ncalab": Child("ncalab", ncalab, "ncalab_classify.py"),
            "ours-depthwise": Child(
                "ours-depthwise", ours, "ours_classify.py", ("--perception", "depthwise")
            ),
        }
    return {
        "ours": Child("ours", Path(sys.executable), "ours_grow.py"),
        "ours-compiled": Child(
            "ours-compiled", Path(sys.executable), "ours_grow.py", ("--compile",)
        ),
        "ours-checkpoint": Child(
            "ours-checkpoint", Path(sys.executable), "ours_grow.py", ("--gradient", "checkpoint")
        ),
        "ours-fixed-point": Child(
            "ours-fixed-point", Path(sys.executable), "ours_grow.py", ("--gradient", "fixed-point")
        ),
        "cax": Child("cax", cax, "cax_grow.py", ("--variant", "conv"), jax=True),
        "cax-dense": Child("cax-dense", cax, "cax_grow.py", ("--variant", "dense"), jax=True),
        "cax-unrolled": Child(
            "cax-unrolled", cax, "cax_grow.py", ("--rollout", "unrolled"), jax=True
        ),
        "cax-dense-unrolled": Child(
            "cax-dense-unrolled",
            cax,
            "cax_grow.py",
            ("--variant", "dense", "--rollout", "unrolled"),
            jax=True,
        ),
        "ncalab": Child("ncalab", ncalab, "ncalab_grow.py"),
    }


# ------------------------------------------------------------------------ the setup
def write_picture(folder: Path) -> Path:
    """The grow task's lizard (40 px tall) centred on a transparent 40x40 canvas, so the
    article's padding of 16 gives its 72x72 grid."""
    from nca_grow.targets import target_path
    from ours_grow import PICTURE
    from PIL import Image

    lizard = Image.open(target_path("lizard")).convert("RGBA")
    lizard.thumbnail((40, 40), Image.LANCZOS)
    canvas = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    canvas.paste(lizard, ((40 - lizard.width) // 2, (40 - lizard.height) // 2))
    path = folder / PICTURE
    canvas.save(path)
    return path


def resolve(args):
    """``args`` with the task's defaults where not given (T range, pool size, systems);
    refuses systems the task has no child for. Idempotent."""
    for key, value in TASK_DEFAULTS[args.task].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.systems = list(args.systems or TASK_SYSTEMS[args.task])
    other = [n for n in args.systems if n not in TASK_SYSTEMS[args.task]]
    if other:
        raise SystemExit(
            f"--task {args.task} has no child for {', '.join(other)}; its systems: "
            f"{' '.join(TASK_SYSTEMS[args.task])}"
        )
    return args


def draw_steps(args, total: int) -> np.ndarray:
    """Every iteration's ``T`` (warm-up first), drawn once from U{steps_min, steps_max}."""
    rng = np.random.default_rng(args.seed)
    return rng.integers(args.steps_min, args.steps_max + 1, total)


def total_iterations(args) -> int:
    """Warm-up plus the most timed iterations any chosen system runs."""
    return args.warmup + max(iterations_of(args, n) for n in args.systems)


def write_setup(folder: Path, args) -> Path:
    """The task's setup file (see ``_common``) in ``folder``."""
    resolve(args)
    if args.task == "classify":
        return write_classify_setup(folder, args)
    return write_grow_setup(folder, args)


def write_classify_setup(folder: Path, args) -> Path:
    """``setup.npz`` for self-classifying MNIST: the classify task's training digits,
    the initial weights of the rule it resolves (convca's initialisation after
    ``torch.manual_seed(seed)``, the last layer zero), its settings and every ``T``."""
    import torch
    from nca_classify.data import load_digits
    from ours_classify import DATASET, classify_task, rule_weights

    from nca import create_rule, create_task, resolve_task_rule

    # the article's settings are the task's paper preset's: read, not repeated here
    cfg = create_task("classify", preset="paper", dataset=DATASET).config
    base = {
        "batch": cfg.batch_size,
        "pool_size": args.pool_size,
        "fire_rate": cfg.update_rate,
        "alive_threshold": cfg.alive_threshold,
        "update_noise": cfg.update_noise,
        "lr": cfg.lr,
        "seed": args.seed,
    }
    total = total_iterations(args)
    task = classify_task(base, total)
    torch.manual_seed(args.seed)
    resolved = resolve_task_rule(task, "convca")
    rule = create_rule(resolved.name, resolved.config)
    digits = load_digits(task.config, "train")
    path = folder / "setup.npz"
    np.savez(
        path,
        task="classify",
        digits=digits.images[:, 0].numpy(),
        labels=digits.labels.numpy(),
        steps=draw_steps(args, total),
        **rule_weights(rule),
        **base,
    )
    return path


def write_grow_setup(folder: Path, args) -> Path:
    """``setup.npz`` and its picture: the toolkit's target and initial weights, and the
    ``T`` of every iteration."""
    import torch
    from ours_grow import grow_task

    from nca import create_rule, resolve_task_rule

    picture = write_picture(folder)
    base = {
        "batch": 8,
        "pool_size": args.pool_size,
        "fire_rate": 0.5,
        "alive_threshold": 0.1,
        "lr": 2e-3,
        "seed": args.seed,
    }
    total = total_iterations(args)
    task = grow_task(base, picture, total)
    torch.manual_seed(args.seed)  # the convca initialisation of the first layer
    resolved = resolve_task_rule(task, "convca")
    rule = create_rule(resolved.name, resolved.config)
    first, last = rule.update_mlp[0], rule.update_mlp[-1]
    steps = draw_steps(args, total)
    path = folder / "setup.npz"
    np.savez(
        path,
        target=task.target[0].numpy(),
        steps=steps,
        w1=first.weight.detach().reshape(first.out_channels, -1).T.numpy(),
        b1=first.bias.detach().numpy(),
        w2=last.weight.detach().reshape(last.out_channels, -1).T.numpy(),
        b2=last.bias.detach().numpy(),
        **base,
    )
    return path


# ---------------------------------------------------------------------- running
def iterations_of(args, name: str) -> int:
    """``name``'s timed iterations: ``--iterations``, or its ``--iterations-of NAME=N``."""
    counts = dict(item.split("=", 1) for item in args.iterations_of or [])
    return int(counts.get(name, args.iterations))


def pinned_cpus(threads: int) -> list[int]:
    return sorted(os.sched_getaffinity(0))[:threads]


def xla_flags(args) -> str:
    eigen = args.xla_multi_thread_eigen
    if eigen == "auto":
        eigen = "true" if args.threads > 1 else "false"
    return f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={args.threads}"


def child_env(child: Child, args) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
    n = str(args.threads)
    env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n)
    if child.name.startswith("ours"):
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins")])
    if child.jax:
        env.update(XLA_FLAGS=xla_flags(args), JAX_PLATFORMS="cpu")
    return env


def command(child: Child, setup: Path, args) -> list[str]:
    cmd = [
        str(child.python),
        str(HERE / child.script),
        "--setup",
        str(setup),
        "--warmup",
        str(args.warmup),
        "--iterations",
        str(iterations_of(args, child.name)),
        "--threads",
        str(args.threads),
        *child.extra,
    ]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", ",".join(map(str, pinned_cpus(args.threads))), *cmd]
    return cmd


def run_child(child: Child, setup: Path, args, round_: int, log: Path) -> Run:
    """One child run: its result line, and its peak memory and CPU time from ``wait4``."""
    cmd = command(child, setup, args)
    load_before, start = os.getloadavg()[0], time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env(child, args), cwd=setup.parent
        )
        status, usage = wait(proc, args.child_timeout)
    wall = time.perf_counter() - start
    text = log.read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX) :]) if lines else None
    error = "" if result and status == 0 else f"exit {status}: " + text.strip()[-1500:]
    return Run(
        child.name,
        round_,
        result,
        usage.ru_maxrss / 1024,
        wall,
        usage.ru_utime + usage.ru_stime,
        load_before,
        os.getloadavg()[0],
        error,
        cmd,
    )


def wait(proc: subprocess.Popen, timeout: float):
    """Wait for ``proc`` (killed after ``timeout`` s): its exit status and resource use."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.2)


def wait_quiet(max_load: float, timeout: float) -> tuple[float, float, bool]:
    """Wait until the 1-minute load average is below ``max_load`` (at most ``timeout``
    s): (load when done, seconds waited, whether it got there)."""
    start = time.monotonic()
    while os.getloadavg()[0] >= max_load and time.monotonic() - start < timeout:
        time.sleep(5)
    load = os.getloadavg()[0]
    return load, time.monotonic() - start, load < max_load


def run_rounds(args, setup: Path, chosen: list[Child]) -> tuple[list[Run], list[dict]]:
    runs, rounds = [], []
    for r in range(args.rounds):
        load, waited, quiet = wait_quiet(args.max_load, args.quiet_timeout)
        order = chosen[r % len(chosen) :] + chosen[: r % len(chosen)]
        for child in order:
            print(f"round {r + 1}: {child.name} (load {os.getloadavg()[0]:.2f})", flush=True)
            run = run_child(child, setup, args, r + 1, setup.parent / f"{child.name}-{r + 1}.log")
            if run.error:
                print(f"  {child.name} failed: {run.error[-400:]}", flush=True)
            runs.append(run)
        rounds.append(
            {
                "round": r + 1,
                "load_before": load,
                "waited_s": waited,
                "quiet": quiet,
                "load_after": os.getloadavg()[0],
                "order": [c.name for c in order],
            }
        )
    return runs, rounds


# ---------------------------------------------------------------------- the report
#: What each peer lacks against the growing article's settings, and how it was matched.
GROW_NOTES = {
    "ours": "the grow task's `Trainer.step` (paper preset, persistent experiment: no damage)",
    "cax": "CAX's ConvPerceive + NCAUpdate (1x1-conv MLP) as in its growing example; matched: "
    "dropout 1-σ with step size σ (its dropout scales updates by 1/σ), the article's seed "
    "(alpha + hidden), pool sampled without replacement, per-parameter gradient "
    "normalisation as an optax transform; one compiled program per distinct T (in warm-up)",
    "ours-compiled": "as ours, with the compiled step (`-o compile=true`; compile time in "
    "the warm-up)",
    "ours-checkpoint": "as ours, rollouts differentiated through checkpointed segments "
    "(`-o gradient=checkpoint`: the paper's T/2 segments)",
    "ours-fixed-point": "as ours, differentiated at the fixed point (`-o gradient=fixed-point`: "
    "the solve replaces T; memory flat in T)",
    "cax-dense": "as cax, the update MLP as nnx.Linear layers instead of 1x1 convolutions",
    "cax-unrolled": "as cax, the T steps of its `_step` unrolled inside the jitted step "
    "instead of its `__call__`'s nnx.scan (XLA:CPU differentiates a convolution's kernel "
    "slowly inside a scan); one compiled program per distinct T, each T steps long",
    "cax-dense-unrolled": "as cax-dense, unrolled as cax-unrolled",
    "ncalab": "NCALab's GrowingNCAModel (fixed Sobel) + BasicNCATrainer.train_iteration; "
    "matched: the article's pool kept by the driver (NCALab's keeps the last batch), "
    "gradient normalisation in the optimiser's step, Adam betas (0.9, 0.999); not matched: "
    "alive masking after the update only, no bias on the last layer",
}
#: The same for self-classifying MNIST.
CLASSIFY_NOTES = {
    "ours": "the classify task's `Trainer.step` (paper preset on the embedded MNIST sample: "
    "convca with a learned 3x3 perception, the mutating pool)",
    "cax": "CAX's ConvPerceive (full learned 3x3 conv, bias, ReLU) + NCAUpdate (1x1-conv MLP) "
    "as in its self-classifying example, the setup's weights; matched: dropout 1-σ with step "
    "size σ, residual noise before the dropout (CAX has none), alive = own pixel > 0.1 "
    "(NCAUpdate: its 3x3 max), the mutating pool of 160 sampled without replacement (the "
    "example: 1024, with replacement, no mutation), L2 on living cells (pixel > 0.1, the "
    "example >= 0.1), per-parameter gradient normalisation (the example clips the global "
    "norm), constant lr (the example decays it)",
    "cax-dense": "as cax, the update MLP as nnx.Linear layers instead of 1x1 convolutions",
    "cax-unrolled": "as cax, the T steps of its `_step` unrolled inside the jitted step "
    "instead of its `__call__`'s nnx.scan (XLA:CPU differentiates the convolution's kernel "
    "slowly inside a scan)",
    "ncalab": "NCALab's ClassificationNCAModel at matched width (its own architecture and "
    "initialisation: identity + 3 learned depthwise 3x3 filters = 80 features, no ReLU, an "
    "80-wide MLP without a last bias) + BasicNCATrainer.train_iteration; matched: L2 on "
    "living cells instead of its cross-entropy, alive = own pixel > 0.1 (its mask looks at "
    "channel 3), residual noise, zero padding (its default: reflect), the driver's mutating "
    "pool (it has none), gradient normalisation in the optimiser's step, Adam betas (0.9, "
    "0.999); not matched: its mask also clears dead cells' faint pixels (<= 0.1)",
    "ours-depthwise": "as ours at NCALab's architecture, for equal work: convca's `depthwise` "
    "perception (the cell + 3 learned depthwise 3x3 filters = 80 features, no bias, no "
    "ReLU), the 80-wide MLP, convca's initialisation after torch.manual_seed(seed); its last "
    "layer keeps a bias (NCALab's has none)",
}
NOTES = {"grow": GROW_NOTES, "classify": CLASSIFY_NOTES}


def summarize(runs: list[Run], system: str) -> dict | None:
    ok = [r for r in runs if r.system == system and r.result and not r.error]
    if not ok:
        return None
    res = [r.result for r in ok]
    losses = {round(x["final_loss"], 7) for x in res}
    return {
        "rounds": len(ok),
        "it_per_s": statistics.median(x["it_per_s"] for x in res),
        "cell_steps_per_s": statistics.median(x["cell_steps_per_s"] for x in res),
        "warmup_s": statistics.median(x["warmup_s"] for x in res),
        "maxrss_mib": max(r.maxrss_mib for r in ok),
        "baseline_mib": statistics.median(x["rss_before_mib"] for x in res),
        "final_loss": res[0]["final_loss"],
        "loss_agrees": len(losses) == 1,
        "cpu_per_wall": statistics.median(r.cpu_s / r.wall_s for r in ok),
        "versions": res[0]["versions"],
        "compiled": res[0].get("compiled_programs"),
        "trained": res[0]["warmup"] + res[0]["iterations"],
    }


def paired_ratios(runs: list[Run], system: str) -> list[float]:
    """Per round, the system's cell-steps/s over ours in the same round: runs of one
    round are minutes apart, so a load that drifts between rounds cancels out."""
    speed = {
        (r.system, r.round): r.result["cell_steps_per_s"]
        for r in runs
        if r.result and not r.error and r.result.get("cell_steps_per_s")
    }
    rounds = sorted({r for (name, r) in speed if name == system})
    return [speed[system, r] / speed["ours", r] for r in rounds if ("ours", r) in speed]


def table(runs: list[Run], names: list[str], args) -> list[str]:
    rows = [
        "| system | it/s | cell-steps/s | vs ours | vs ours by round | warm-up (s) | "
        "peak RSS (MiB) | RSS before training (MiB) | loss @ iterations | CPU s / wall s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ours = summarize(runs, "ours")
    for name in names:
        s = summarize(runs, name)
        if s is None:
            rows.append(f"| {name} | failed | | | | | | | | |")
            continue
        ratio = f"{s['cell_steps_per_s'] / ours['cell_steps_per_s']:.2f}x" if ours else "-"
        paired = paired_ratios(runs, name)
        by_round = f"{min(paired):.2f}-{max(paired):.2f}x" if paired else "-"
        warm = f"{s['warmup_s']:.1f}" + (f" ({s['compiled']} programs)" if s["compiled"] else "")
        loss = f"{s['final_loss']:.5f} @ {s['trained']}"
        loss += "" if s["loss_agrees"] else " (varies by round)"
        rows.append(
            f"| {name} | {s['it_per_s']:.3f} | {s['cell_steps_per_s']:,.0f} | {ratio} "
            f"| {by_round} | {warm} "
            f"| {s['maxrss_mib']:,.0f} | {s['baseline_mib']:,.0f} | {loss} "
            f"| {s['cpu_per_wall']:.2f} |"
        )
    return rows


def versions_line(runs: list[Run], names: list[str]) -> str:
    seen: dict[str, str] = {}
    for name in names:
        s = summarize(runs, name)
        for k, v in (s["versions"] if s else {}).items():
            seen.setdefault(k, v)
    return ", ".join(f"{k} {v}" for k, v in seen.items())


def grow_settings(args, data) -> str:
    """The growing run's settings (its grid from the setup's target)."""
    grid = "x".join(map(str, data["target"].shape[1:]))
    return (
        f"Settings: 16 channels (RGBA + 12 hidden), identity + Sobel x/y, MLP 48-128-16 "
        f"(last layer zeroed; the first from convca's initialisation, seed {args.seed}), "
        f"σ = 0.5, alive masking (alpha > 0.1, 3x3 max), batch 8, the 40-px lizard on a "
        f"{grid} grid, pool {args.pool_size} (worst reseeded, no damage), L2 on RGBA, Adam "
        f"2e-3, per-parameter gradient normalisation; T ~ U{{{args.steps_min},"
        f"{args.steps_max}}} per iteration"
    )


def classify_settings(args, data) -> str:
    """The self-classifying run's settings, read from the setup."""
    grid = "x".join(map(str, data["digits"].shape[1:]))
    t = (
        f"T = {args.steps_min}"
        if args.steps_min == args.steps_max
        else f"T ~ U{{{args.steps_min},{args.steps_max}}}"
    )
    return (
        f"Settings: the classify task's paper preset: 20 channels (the pixel, 10 class "
        f"logits, 9 hidden), a learned 3x3 perception to 80 features with ReLU, an MLP "
        f"80-80-19 (last layer zeroed; the rest convca's initialisation, seed {args.seed}), "
        f"σ = {float(data['fire_rate'])}, residual noise N(0, {float(data['update_noise'])}), "
        f"living cells: pixel > {float(data['alive_threshold'])}, batch {int(data['batch'])}, "
        f"{grid} digits ({len(data['labels'])} training digits of the embedded MNIST "
        f"sample), the mutating pool of {args.pool_size} (a quarter of each batch fresh, a "
        f"quarter mutated), L2 on the class channels of living cells, Adam "
        f"{float(data['lr']):g}, per-parameter gradient normalisation; {t} per iteration"
    )


TITLES = {
    "grow": "# Growing NCA: the toolkit, CAX and NCALab side by side",
    "classify": "# Self-classifying MNIST: the toolkit, CAX and NCALab side by side",
}
SETTINGS = {"grow": grow_settings, "classify": classify_settings}


def report_lines(args, runs, rounds, names, setup) -> list[str]:
    with np.load(setup) as data:
        settings = SETTINGS[args.task](args, data)
        steps, batch = data["steps"], int(data["batch"])
    w, n = args.warmup, max(iterations_of(args, name) for name in names)
    fewer = [
        f"{name} the first {iterations_of(args, name)}"
        for name in names
        if iterations_of(args, name) != n
    ]
    others = f" ({', '.join(fewer)})" if fewer else ""
    cpus = ",".join(map(str, pinned_cpus(args.threads)))
    pinning = f" (taskset -c {cpus})" if shutil.which("taskset") else " (no taskset)"
    lines = [
        TITLES[args.task],
        "",
        f"Command: `python benchmarks/peers/run.py {shlex.join(sys.argv[1:])}`  ",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {args.threads} threads per system"
        f"{pinning}"
        f", {time.strftime('%Y-%m-%d')}  ",
        f"Versions: {versions_line(runs, names)}  ",
        f"Threads: torch.set_num_threads({args.threads}), OMP/MKL/OPENBLAS_NUM_THREADS="
        f"{args.threads}, XLA_FLAGS=`{xla_flags(args)}`  ",
        f"{settings}, the same sequence in every system (warm-up "
        f"{list(map(int, steps[:w]))}, timed {list(map(int, steps[w : w + n]))}); {w} "
        f"warm-up + {n} timed iterations{others}, {args.rounds} round(s), medians  ",
        "Load (1-min average): "
        + "; ".join(
            f"round {r['round']} {r['load_before']:.2f} -> {r['load_after']:.2f}"
            f"{'' if r['quiet'] else ' (not quiet after ' + format(r['waited_s'], '.0f') + ' s)'}"
            for r in rounds
        ),
        "",
        *table(runs, names, args),
        "",
        "Peak RSS is `ru_maxrss` of the child process (wait4): the framework's own memory "
        f"included, which the column before training shows. Cell-steps/s = {batch} x cells x T of "
        "the timed iterations / their seconds; vs ours = the ratio of the medians; vs ours by "
        "round = the range of each round's ratio to ours in that round; warm-up = the untimed "
        "iterations plus, for CAX, compiling the timed iterations' other rollout lengths.",
        "",
        "| system | what ran; what it lacks and how it was matched |",
        "| --- | --- |",
        *(f"| {name} | {NOTES[args.task][name]} |" for name in names),
    ]
    failed = [r for r in runs if r.error]
    if failed:
        lines += ["", "Failures:", ""]
        lines += [f"- {r.system} round {r.round}: `{r.error.splitlines()[-1]}`" for r in failed]
    return lines


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--task",
        choices=tuple(TASK_SYSTEMS),
        default="grow",
        help="grow: the growing NCA; classify: self-classifying MNIST",
    )
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first iterations")
    parser.add_argument(
        "--iterations-of",
        action="append",
        metavar="SYSTEM=N",
        help="another timed count for one system (e.g. cax=5: its first 5 of the shared T)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--systems", nargs="+", choices=SYSTEMS, help="default: every system of the task"
    )
    parser.add_argument(
        "--peers-dir",
        type=Path,
        default=PEERS_DIR,
        help="where setup_venvs.sh made cax-venv and ncalab-venv",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps-min", type=int, help="default: grow 64, classify 20")
    parser.add_argument("--steps-max", type=int, help="default: grow 96, classify 20")
    parser.add_argument("--pool-size", type=int, help="default: grow 1024, classify 160")
    parser.add_argument(
        "--max-load",
        type=float,
        default=1.0,
        help="wait before each round for a 1-min load average below this",
    )
    parser.add_argument("--quiet-timeout", type=float, default=600.0)
    parser.add_argument("--child-timeout", type=float, default=7200.0)
    parser.add_argument(
        "--xla-multi-thread-eigen",
        choices=("auto", "true", "false"),
        default="auto",
        help="auto: false with 1 thread, else true",
    )
    parser.add_argument(
        "--workdir", type=Path, help="setup, logs and results.json (default: a temp dir)"
    )
    parser.add_argument("--output", type=Path)
    return parser


def main() -> None:
    args = resolve(arguments().parse_args())
    table_of = children(args.peers_dir, args.task)
    chosen = [table_of[n] for n in args.systems]
    missing = [c.name for c in chosen if not c.python.exists()]
    if missing:
        raise SystemExit(
            f"no virtual environment for {', '.join(missing)} under "
            f"{args.peers_dir}: run benchmarks/peers/setup_venvs.sh"
        )
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="nca-peers-"))
    folder.mkdir(parents=True, exist_ok=True)
    setup = write_setup(folder, args)
    print(f"setup: {setup}", flush=True)
    runs, rounds = run_rounds(args, setup, chosen)
    (folder / "results.json").write_text(
        json.dumps({"rounds": rounds, "runs": [r.__dict__ for r in runs]}, indent=1, default=str)
    )
    emit(report_lines(args, runs, rounds, args.systems, setup), args.output)


if __name__ == "__main__":
    main()
