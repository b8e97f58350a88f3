"""3-D growing: training throughput and peak memory of the toolkit against a hand-written
PyTorch 3-D NCA loop.

For each rule and grid (24³ and 32³ cells, the snowman volume padded to that grid):

* *grow step*: ``nca.Trainer.step`` of the grow task's ``quick3d`` preset at that grid and
  a fixed T (pool sampling, reseeding, ball damage, alive masking, write-back, the L2
  loss, per-parameter gradient normalisation, Adam: all the task does);
* *toolkit loop*: the same rule and automaton (alive masking on) rolled out from
  single-cell seeds with ``CellularAutomaton``, then the L2 loss, backward and Adam: no
  pool, no damage;
* *hand-written* (convca only): the same NCA written in plain PyTorch in this file and
  nowhere else (identity + one Sobel derivative per axis as a depthwise ``conv3d``, a
  128-unit 1×1×1 MLP, σ = 0.5 stochastic update, alive masking by ``max_pool3d`` on
  alpha > 0.1 before and after the update), the same loss, backward and Adam. Its
  parameter count is checked equal to the toolkit rule's.

The toolkit loop against the hand-written one is the cost of the toolkit's generality;
it must be within noise of 1. Runs alternate (grow step, toolkit loop, hand-written,
...), so machine noise hits all alike; the table gives medians. Peak memory is the
resident set's rise during one call (``_memory.peak_bytes``; the script re-executes
itself with ``MALLOC_MMAP_THRESHOLD_`` so RSS tracks live tensors).
Cell-steps per second = batch × cells × T / seconds.

Run: python benchmarks/grow3d_throughput.py [--sizes 24 32] [--rules convca vitca]
     [--iterations 2] [--repeats 3] [--output FILE]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _memory import CPU_MEMORY_ENV, peak_bytes  # benchmarks/ is the script directory
from _report import emit
from _throughput import Case, arguments, build_trainer, machine_line, seconds_per_call

#: Per rule: (batch, T, rule options). convca: the article's cell (RGBA + 12 hidden,
#: 128 MLP units, identity + Sobel); ViTCA: the grow task's ViTCA with the same cell,
#: at a smaller T, as its 27-cell attention per cell costs far more than a convca update.
SETTINGS = {
    "convca": (4, 24, {"hidden_channels": 12, "mlp_channels": 128, "laplacian": False}),
    "vitca": (4, 8, {"hidden_channels": 12}),
}


def grid_options(size: int, batch: int, steps: int) -> dict:
    """quick3d task options for a ``size``³ grid (the snowman at ``size`` - 8, padded by 4)."""
    return {
        "target_size": size - 8, "target_padding": 4, "batch_size": batch,
        "steps_min": steps, "steps_max": steps,
    }  # fmt: skip


class HandWrittenNCA3d:
    """A plain PyTorch 3-D growing NCA: 16 RGBA + hidden channels, fixed identity + Sobel
    perception, a 1×1×1 MLP with a zeroed last layer, σ = 0.5, alive masking."""

    def __init__(self, channels: int = 16, hidden: int = 128):
        import torch
        from torch import nn

        smooth, derivative = torch.tensor([1.0, 2.0, 1.0]), torch.tensor([-1.0, 0.0, 1.0])
        identity = torch.zeros(3, 3, 3)
        identity[1, 1, 1] = 1
        kernels = [identity]
        for axis in (2, 1, 0):  # the toolkit's order (last axis first), so weights carry over
            vs = [derivative if i == axis else smooth for i in range(3)]
            kernels.append(torch.einsum("i,j,k->ijk", *vs) / 32)
        self.kernel = torch.stack(kernels)[:, None].repeat(channels, 1, 1, 1, 1)  # (4C,1,3,3,3)
        self.channels = channels
        self.mlp = nn.Sequential(
            nn.Conv3d(4 * channels, hidden, 1), nn.ReLU(), nn.Conv3d(hidden, channels, 1)
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def alive(self, cells):
        import torch.nn.functional as F

        return F.max_pool3d(cells[:, 3:4], 3, stride=1, padding=1) > 0.1

    def step(self, cells, fire):
        """One update of ``cells`` ``(B, C, D, H, W)`` where ``fire`` ``(B, 1, D, H, W)``."""
        import torch.nn.functional as F

        before = self.alive(cells)
        perceived = F.conv3d(cells, self.kernel, padding=1, groups=self.channels)
        cells = cells + self.mlp(perceived) * fire
        return cells * (before & self.alive(cells))

    def rollout(self, cells, steps: int, generator):
        import torch

        for _ in range(steps):
            fire = torch.rand(cells[:, :1].shape, generator=generator) < 0.5
            cells = self.step(cells, fire)
        return cells

    def seeds(self, batch: int, size: int):
        import torch

        cells = torch.zeros(batch, self.channels, size, size, size)
        cells[:, 3:, size // 2, size // 2, size // 2] = 1.0
        return cells


@dataclass
class Row:
    rule: str
    size: int
    batch: int
    steps: int
    parameters: int
    seconds: dict[str, float]
    peak_mib: dict[str, float]

    @property
    def cell_steps(self) -> int:
        return self.batch * self.size**3 * self.steps


def loops(trainer, rule_name: str, size: int, batch: int, steps: int) -> dict[str, Callable]:
    """The calls to time: the grow step, the toolkit loop and (convca) the hand-written."""
    import torch

    from nca import parameter_count

    target = trainer.data.target  # (1, 4, D, H, W)
    automaton = trainer.model.automaton
    optimizer = torch.optim.Adam(trainer.rule.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)

    def toolkit() -> None:
        cells = trainer.model.seed(batch, (size,) * 3, "cpu")
        out = automaton(cells, steps, generator=generator).cells
        loss = (trainer.model.output(out) - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    calls = {"grow step": trainer.step, "toolkit loop": toolkit}
    if rule_name == "convca":
        hand = HandWrittenNCA3d()
        if parameter_count(hand.mlp) != parameter_count(trainer.rule):
            raise RuntimeError("the hand-written NCA does not match the toolkit's convca")
        hand_optimizer = torch.optim.Adam(hand.mlp.parameters(), lr=1e-4)

        def handwritten() -> None:
            cells = hand.rollout(hand.seeds(batch, size), steps, generator)
            loss = (cells[:, :4] - target).square().mean()
            hand_optimizer.zero_grad()
            loss.backward()
            hand_optimizer.step()

        calls["hand-written"] = handwritten
    return calls


def measure(rule_name: str, size: int, args) -> Row:
    import torch

    from nca import parameter_count

    torch.set_num_threads(args.threads)
    batch, steps, rule_options = SETTINGS[rule_name]
    case = Case("grow", rule_name, steps, lambda t: (None, None),
                grid_options(size, batch, steps), rule_options, preset="quick3d")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(case, Path(tmp))
        if tuple(trainer.data.target.shape[-3:]) != (size,) * 3:
            raise RuntimeError(f"grid {tuple(trainer.data.target.shape[-3:])}, not {size}³")
        calls = loops(trainer, rule_name, size, batch, steps)
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.repeats):
            for name, call in calls.items():
                times[name].append(seconds_per_call(call, args.iterations, args.threads))
        peaks = {name: peak_bytes(call, "cpu") / 2**20 for name, call in calls.items()}
        row = Row(rule_name, size, batch, steps, parameter_count(trainer.rule),
                  {n: statistics.median(t) for n, t in times.items()}, peaks)  # fmt: skip
    print(f"{rule_name} {size}^3: {row.seconds} s, {row.peak_mib} MiB", flush=True)
    return row


def table(rows: list[Row], args) -> list[str]:
    sizes, rules = " ".join(map(str, args.sizes)), " ".join(args.rules)
    lines = [
        "# 3-D growing: training throughput and peak memory, toolkit against hand-written",
        "",
        f"Command: `python benchmarks/grow3d_throughput.py --sizes {sizes} --rules {rules} "
        f"--iterations {args.iterations} --repeats {args.repeats}`  ",
        machine_line(args.threads) + f"load before the run: {os.getloadavg()[0]:.2f}  ",
        "Seconds per training iteration (median of alternating repeats); cell-steps/s of "
        "the grow step; peak MiB = resident-set rise during one iteration.",
        "",
        "| rule | grid | batch, T | parameters | grow step s | toolkit loop s | "
        "hand-written s | toolkit / hand | cell-steps/s (grow step) | peak MiB (grow / "
        "toolkit / hand) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        s, p = r.seconds, r.peak_mib
        hand = s.get("hand-written")
        ratio = f"{s['toolkit loop'] / hand:.2f}" if hand else "—"
        peaks = " / ".join(f"{p[n]:.0f}" for n in ("grow step", "toolkit loop", "hand-written")
                           if n in p)  # fmt: skip
        lines.append(
            f"| {r.rule} | {r.size}³ | {r.batch}, {r.steps} | {r.parameters:,} | "
            f"{s['grow step']:.3f} | {s['toolkit loop']:.3f} | "
            f"{f'{hand:.3f}' if hand else '—'} | {ratio} | "
            f"{r.cell_steps / s['grow step']:,.0f} | {peaks} |"
        )
    return lines


def main() -> None:
    if any(os.environ.get(k) != v for k, v in CPU_MEMORY_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **CPU_MEMORY_ENV})
    parser = arguments(__doc__.splitlines()[0], iterations=2, repeats=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[24, 32])
    parser.add_argument("--rules", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()
    if any(size < 12 for size in args.sizes):
        parser.error(f"--sizes must be at least 12 (the target is size - 8), got {args.sizes}")
    rows = [measure(rule, size, args) for rule in args.rules for size in args.sizes]
    emit(table(rows, args), args.output)


if __name__ == "__main__":
    main()
