"""Where ConvCA's training step could be faster on a CPU: its pieces written other ways,
in a rollout of the article's growing NCA (forward and backward), side by side.

The step: alive mask before, identity + Sobel perception of 16 channels, the 48-128-16
update MLP, σ = 0.5 firing, alive mask after; batch 8 (``--batch``) on a 72x72 grid, T steps, an L2
loss on RGBA and its backward. One piece at a time is swapped:

* perception: one depthwise convolution of channel multiplier 3 (the ``toolkit`` row:
  convca until 2026-12-04) | the same filters as shifted slices and sums (``shifts``) |
  the cell itself concatenated with a depthwise convolution of the Sobel pair only, the
  MLP's first weight permuted to the new channel order (``identity not convolved``:
  NCALab's way) | the cell itself and one depthwise
  convolution (channel multiplier 1) per Sobel filter, interleaved into the toolkit's
  order (``one depthwise conv per filter``: what convca does since 2026-12-04);
* alive mask (with the per-filter perception): ``F.max_pool2d`` (the toolkit until
  2026-12-04) | maxima of shifted views (``alive mask as shifted maxima``: the toolkit
  since);
* memory format (with both of the above): NCHW | the perception's convolutions and the
  MLP's channels-last, the grid NCHW between steps (``channels-last perception and
  MLP``: the toolkit since);
* update MLP: two 1x1 convolutions (the toolkit) | batched matrix products on the
  ``(B, C, H·W)`` view (``baddbmm``) | matrix products on a channels-last copy
  (``linear``).

Every variant's cells and weight gradients are checked against the toolkit's before
timing (printed). Rounds alternate the variants; medians. A variant is worth adopting
only where it wins here *and* in the task's real step.

Run: python benchmarks/convca_step_variants.py [--steps 16] [--repeats 5] [--threads 2]
    [--batch 8] [--output FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F
from _machine import cpu_model  # benchmarks/ is the script directory
from _report import emit
from torch.utils.benchmark import Timer

CHANNELS, SIDE, HIDDEN = 16, 72, 128


def sobel_filters() -> torch.Tensor:
    """Identity, Sobel x, Sobel y: ``(3, 3, 3)``."""
    identity = torch.zeros(3, 3)
    identity[1, 1] = 1
    sobel_x = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
    return torch.stack([identity, sobel_x, sobel_x.T])


KERNEL = sobel_filters()[None].repeat(CHANNELS, 1, 1, 1).reshape(CHANNELS * 3, 1, 3, 3)


def perceive_conv(x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, KERNEL, padding=1, groups=CHANNELS)


SOBEL_KERNEL = sobel_filters()[1:][None].repeat(CHANNELS, 1, 1, 1).reshape(CHANNELS * 2, 1, 3, 3)
#: Where the toolkit's perception channel ``c·3 + f`` sits in ``perceive_split``'s output.
SPLIT_ORDER = torch.tensor(
    [c if f == 0 else CHANNELS + 2 * c + f - 1 for c in range(CHANNELS) for f in range(3)]
)


def perceive_split(x: torch.Tensor) -> torch.Tensor:
    """The cell itself, then only the Sobel pair convolved: ``(B, C + 2C, H, W)``, the
    channels in another order (the MLP's first weight is permuted to match)."""
    return torch.cat([x, F.conv2d(x, SOBEL_KERNEL, padding=1, groups=CHANNELS)], 1)


#: One depthwise kernel ``(C, 1, 3, 3)`` per Sobel filter (channel multiplier 1).
SOBEL_X, SOBEL_Y = (f.expand(CHANNELS, 1, 3, 3).contiguous() for f in sobel_filters()[1:])


def perceive_per_filter(x: torch.Tensor) -> torch.Tensor:
    """The cell itself and one multiplier-1 depthwise convolution per Sobel filter,
    interleaved into the toolkit's order ``c·3 + f`` (no weight permutation)."""
    gx = F.conv2d(x, SOBEL_X, padding=1, groups=CHANNELS)
    gy = F.conv2d(x, SOBEL_Y, padding=1, groups=CHANNELS)
    return torch.stack([x, gx, gy], 2).flatten(1, 2)


def perceive_channels_last(x: torch.Tensor) -> torch.Tensor:
    """:func:`perceive_per_filter` computed channels-last (NHWC) and stacked in the same
    order along the last dimension: the MLP's 1x1 convolutions then run channels-last
    too (convca since 2026-12-04)."""
    x = x.contiguous(memory_format=torch.channels_last)
    gx = F.conv2d(x, SOBEL_X, padding=1, groups=CHANNELS)
    gy = F.conv2d(x, SOBEL_Y, padding=1, groups=CHANNELS)
    last = [t.movedim(1, -1) for t in (x, gx, gy)]  # (B, H, W, C)
    return torch.stack(last, dim=-1).flatten(-2).movedim(-1, 1)


def perceive_shifts(x: torch.Tensor) -> torch.Tensor:
    padded = F.pad(x, (1, 1, 1, 1))
    across = padded[..., 2:] - padded[..., :-2]  # (B, C, H + 2, W): d/dx before smoothing
    gx = (across[:, :, :-2] + 2 * across[:, :, 1:-1] + across[:, :, 2:]) / 8
    down = padded[:, :, 2:] - padded[:, :, :-2]  # (B, C, H, W + 2)
    gy = (down[..., :-2] + 2 * down[..., 1:-1] + down[..., 2:]) / 8
    return torch.stack([x, gx, gy], 2).flatten(1, 2)


class MLP:
    """The update MLP's parameters, and its three ways of applying them."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.w1 = (torch.randn(HIDDEN, 3 * CHANNELS, generator=generator) * 0.1).requires_grad_()
        self.b1 = torch.zeros(HIDDEN, requires_grad=True)
        self.w2 = (torch.randn(CHANNELS, HIDDEN, generator=generator) * 0.1).requires_grad_()
        self.b2 = torch.zeros(CHANNELS, requires_grad=True)
        self.params = [self.w1, self.b1, self.w2, self.b2]

    def conv(self, p: torch.Tensor) -> torch.Tensor:
        hidden = F.relu(F.conv2d(p, self.w1[..., None, None], self.b1))
        return F.conv2d(hidden, self.w2[..., None, None], self.b2)

    def conv_split(self, p: torch.Tensor) -> torch.Tensor:
        """:meth:`conv` on :func:`perceive_split`'s channel order (same weights)."""
        w1 = torch.empty_like(self.w1).index_copy(1, SPLIT_ORDER, self.w1)
        hidden = F.relu(F.conv2d(p, w1[..., None, None], self.b1))
        return F.conv2d(hidden, self.w2[..., None, None], self.b2)

    def baddbmm(self, p: torch.Tensor) -> torch.Tensor:
        b, c, h, w = p.shape
        rows = p.reshape(b, c, h * w)
        hidden = F.relu(torch.baddbmm(self.b1[:, None], self.w1.expand(b, -1, -1), rows))
        out = torch.baddbmm(self.b2[:, None], self.w2.expand(b, -1, -1), hidden)
        return out.view(b, -1, h, w)

    def linear(self, p: torch.Tensor) -> torch.Tensor:
        b, c, h, w = p.shape
        rows = p.permute(0, 2, 3, 1).reshape(-1, c)
        out = F.linear(F.relu(F.linear(rows, self.w1, self.b1)), self.w2, self.b2)
        return out.view(b, h, w, -1).permute(0, 3, 1, 2).contiguous()


def alive(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x[:, 3:4], 3, 1, 1) > 0.1


def alive_shifted(x: torch.Tensor) -> torch.Tensor:
    """:func:`alive` with the 3x3 maximum as maxima of shifted views (the toolkit's
    ``neighbourhood_max`` since 2026-12-04)."""
    padded = F.pad(x[:, 3:4].detach(), (1, 1, 1, 1), value=float("-inf"))
    rows = torch.maximum(torch.maximum(padded[..., :-2], padded[..., 1:-1]), padded[..., 2:])
    peak = torch.maximum(torch.maximum(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])
    return peak > 0.1


def rollout(perceive, mlp, steps: int, batch: int, alive=alive) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    x = torch.zeros(batch, CHANNELS, SIDE, SIDE)
    x[:, 3:, SIDE // 2 - 8 : SIDE // 2 + 8, SIDE // 2 - 8 : SIDE // 2 + 8] = 1.0
    for _ in range(steps):
        before = alive(x)
        fire = torch.rand(batch, 1, SIDE, SIDE, generator=generator) < 0.5
        x = x + mlp(perceive(x)) * fire
        x = x * (alive(x) & before)
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8, help="grids (the article's 8)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    for name in ("steps", "repeats", "threads", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    mlp = MLP()
    variants = {
        "toolkit (depthwise conv, 1x1 conv MLP)": (perceive_conv, mlp.conv),
        "perception as shifts": (perceive_shifts, mlp.conv),
        "identity not convolved (cat; MLP weight permuted)": (perceive_split, mlp.conv_split),
        "one depthwise conv per filter (interleaved)": (perceive_per_filter, mlp.conv),
        "one depthwise conv per filter + alive mask as shifted maxima": (
            perceive_per_filter,
            mlp.conv,
            alive_shifted,
        ),
        "... + channels-last perception and MLP": (perceive_channels_last, mlp.conv, alive_shifted),
        "MLP as baddbmm": (perceive_conv, mlp.baddbmm),
        "MLP as channels-last linear": (perceive_conv, mlp.linear),
    }

    def run(pieces) -> tuple[torch.Tensor, list[torch.Tensor]]:
        perceive, update, *masking = pieces
        cells = rollout(perceive, update, args.steps, args.batch, *masking)
        (cells[:, :4] ** 2).mean().backward()
        grads = [p.grad.clone() for p in mlp.params]
        for p in mlp.params:
            p.grad = None
        return cells.detach(), grads

    reference = run(next(iter(variants.values())))
    differences = {}
    for name, pieces in variants.items():
        cells, grads = run(pieces)
        differences[name] = (
            float((cells - reference[0]).abs().max()),
            max(float((g - r).abs().max()) for g, r in zip(grads, reference[1], strict=True)),
        )
    times: dict[str, list[float]] = {name: [] for name in variants}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, pieces in variants.items():
            timer = Timer("fn()", globals={"fn": lambda p=pieces: run(p)},
                          num_threads=args.threads)  # fmt: skip
            times[name].append(timer.timeit(2).mean)
    load_after = os.getloadavg()[0]
    base = statistics.median(next(iter(times.values())))
    lines = [
        "# ConvCA's step pieces written other ways (the article's growing NCA, CPU)",
        "",
        f"Command: `python benchmarks/convca_step_variants.py --steps {args.steps} "
        f"--repeats {args.repeats} --threads {args.threads} --batch {args.batch}`  ",
        f"Machine: {cpu_model()}, {args.threads} threads, torch {torch.__version__}; "
        f"load (1-min) {load_before:.2f} -> {load_after:.2f}  ",
        f"Setting: batch {args.batch}, {SIDE}x{SIDE}, {CHANNELS} channels, MLP "
        f"{3 * CHANNELS}-{HIDDEN}-{CHANNELS}, σ = 0.5, alive masking, T = {args.steps}, "
        "forward + backward of an L2 loss; medians of alternating rounds.",
        "",
        "| variant | seconds | vs toolkit | max cell difference | max gradient difference |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        cell, grad = differences[name]
        lines.append(f"| {name} | {median:.3f} | {median / base:.2f}x | {cell:.1e} | {grad:.1e} |")
    emit(lines, args.output)


if __name__ == "__main__":
    main()
