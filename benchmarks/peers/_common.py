"""What the driver and every peer's child share: the setup file, the weight layouts, the
timed loop and the one JSON line a child prints.

Standard library and NumPy only: each child imports this from its own virtual
environment (the toolkit's, CAX's, NCALab's).

The setup file (``setup.npz``, written by ``run.py``) holds the toolkit's layout:

- ``target``: ``(4, H, W)`` premultiplied RGBA, channels first;
- ``w1 (48, 128)``, ``b1 (128,)``, ``w2 (128, 16)``, ``b2 (16,)``: the update MLP as
  ``relu(p @ w1 + b1) @ w2 + b2``, where the perception ``p`` of channel ``c`` with
  filter ``f`` (0 identity, 1 Sobel x, 2 Sobel y) is feature ``3 c + f`` and the 16
  channels are RGBA then 12 hidden (alpha is channel 3);
- ``steps``: the rollout length ``T`` of every iteration (warm-up first), shared so that
  every system does the same work;
- scalars: ``batch``, ``pool_size``, ``fire_rate``, ``alive_threshold``, ``lr``, ``seed``.

A self-classifying MNIST setup (``run.py --task classify``, ``task = "classify"``) holds
instead, in the toolkit's classify layout (the cell: the pixel, 10 class logits, 9 hidden
channels):

- ``digits (N, 28, 28)`` uint8 and ``labels (N,)`` int64: the training digits of the
  classify task's data source (the embedded MNIST sample);
- ``wp (80, 20, 3, 3)``, ``bp (80,)``: the learned perception, ``relu(conv3x3(x, wp) +
  bp)`` with zero padding (PyTorch's layout: output, input channel, row, column);
- ``w1 (80, 80)``, ``b1 (80,)``, ``w2 (80, 19)``, ``b2 (19,)``: the update MLP as
  ``relu(p @ w1 + b1) @ w2 + b2``, its outputs the 19 updatable channels (logits, hidden);
- ``steps`` as above (every ``T`` the article's 20 unless run.py is told otherwise);
- scalars as above, and ``update_noise`` (the residual noise's standard deviation).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

#: The line prefix of a child's result (the driver reads the last such line).
RESULT_PREFIX = "PEER_RESULT "
CHANNELS = 16
HIDDEN = 12
FILTERS = 3  # identity, Sobel x, Sobel y
#: The toolkit's channels: RGBA first, then the hidden ones; alpha is channel 3.
ALPHA = 3
#: The gradient normalisation's epsilon (the article's Algorithm: ``g / (|g| + 1e-8)``).
GRAD_EPS = 1e-8


def load_setup(path: str | Path) -> dict:
    """The setup file as plain arrays and Python scalars (``task``: ``grow`` where a
    setup predates the classify one)."""
    with np.load(path) as data:
        setup = {k: data[k] for k in data.files}
    for key in ("batch", "pool_size", "seed"):
        setup[key] = int(setup[key])
    for key in ("fire_rate", "alive_threshold", "lr", "update_noise"):
        if key in setup:
            setup[key] = float(setup[key])
    setup["task"] = str(setup.get("task", "grow"))
    return setup


def grid_cells(setup: dict) -> int:
    """Cells of one grid: the growing target's ``(4, H, W)`` or a digit's ``(H, W)``."""
    if "target" in setup:
        return int(np.prod(setup["target"].shape[1:]))
    return int(np.prod(setup["digits"].shape[1:]))


# ------------------------------------------------------------------ weight layouts
def cax_channel_order() -> np.ndarray:
    """``order[g]``: the toolkit channel of CAX channel ``g``. CAX reads alpha from the
    last channel and RGBA from the last four (``state[..., -4:]``), so its growing NCA
    holds the 12 hidden channels first, then RGBA."""
    return (np.arange(CHANNELS) + ALPHA + 1) % CHANNELS


#: CAX's filters per channel: identity, then ``grad_kernel``'s derivative along axis 0
#: (rows: the toolkit's Sobel y), then along axis 1 (Sobel x).
CAX_FILTER_ORDER = np.array([0, 2, 1])


def to_cax(w1, b1, w2, b2):
    """The toolkit's MLP in CAX's layout: perception feature ``3 g + f`` of CAX channel
    ``g`` and filter ``f`` (its order), outputs in CAX's channel order."""
    order = cax_channel_order()
    rows = (order[:, None] * FILTERS + CAX_FILTER_ORDER[None, :]).reshape(-1)
    return w1[rows], b1, w2[:, order], b2[order]


def to_ncalab(w1):
    """The first layer's rows in NCALab's perception order: the 16 channels, then their
    Sobel x, then their Sobel y (``torch.cat([x, sobel_x(x), sobel_y(x)], 1)``), i.e.
    feature ``16 f + c``. NCALab's channels are the toolkit's (RGBA, then hidden)."""
    rows = (np.arange(FILTERS)[:, None] + FILTERS * np.arange(CHANNELS)[None, :]).reshape(-1)
    return w1[rows]


# ---------------------------------------------------- self-classifying MNIST layouts
CLASSES = 10
CLASSIFY_HIDDEN = 9
#: The toolkit's classify cell: the pixel (channel 0, fixed), the 10 class logits
#: (1-10), the 9 hidden channels (11-19); a rule updates the last 19.
CLASSIFY_CHANNELS = 1 + CLASSES + CLASSIFY_HIDDEN


def digit_images(setup: dict) -> np.ndarray:
    """The setup's digits as the toolkit feeds them: float32 ``(N, H, W)`` in [0, 1]."""
    return setup["digits"].astype(np.float32) / 255.0


def cax_classify_order() -> np.ndarray:
    """``order[g]``: the toolkit channel of CAX channel ``g``. CAX's example holds the
    logits first (``state[..., :10]``), then the hidden channels, and the pixel last
    (``state[..., -1:]``, where its alive mask looks)."""
    return (np.arange(CLASSIFY_CHANNELS) + 1) % CLASSIFY_CHANNELS


def to_cax_classify(wp, bp, w1, b1, w2, b2):
    """The toolkit's classify weights in CAX's layout.

    Returns:
        ``kernel (3, 3, 20, 80)`` (flax's row, column, input, output; inputs in CAX's
        channel order), ``bp (80,)``, ``w1 (80, 80)``, ``b1 (80,)``, ``w2 (80, 20)``,
        ``b2 (20,)``: CAX's update writes all 20 channels; its first 19 are the toolkit's
        updatable ones in the same order (logits, hidden), the pixel's column is zero
        (the example restores the pixel after each step, so it never gets a gradient).
    """
    kernel = np.ascontiguousarray(wp[:, cax_classify_order()].transpose(2, 3, 1, 0))
    w2_cax = np.concatenate([w2, np.zeros((w2.shape[0], 1), w2.dtype)], axis=1)
    b2_cax = np.concatenate([b2, np.zeros(1, b2.dtype)])
    return kernel, bp, w1, b1, w2_cax, b2_cax


def ncalab_classify_order() -> np.ndarray:
    """``order[n]``: the toolkit channel of NCALab channel ``n``. NCALab's cell is the
    image channels, the hidden channels, then the outputs (the class logits last)."""
    hidden = 1 + CLASSES + np.arange(CLASSIFY_HIDDEN)
    return np.concatenate([[0], hidden, 1 + np.arange(CLASSES)])


# ----------------------------------------------------------------------- children
def child_arguments(description: str) -> argparse.ArgumentParser:
    """The options every child takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--setup", type=Path, help="setup.npz written by run.py")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first iterations")
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--check-step",
        nargs=2,
        type=Path,
        metavar=("IN", "OUT"),
        help="equivalence check: one deterministic step of IN.npz's state, to OUT.npz",
    )
    return parser


def rss_mib() -> float:
    """This process's resident memory now (MiB), from /proc (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (``ru_maxrss``, MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(
    step: Callable[[int, int], float],
    steps: Sequence[int],
    warmup: int,
    prepare: Callable[[Sequence[int]], None] | None = None,
) -> dict:
    """Run ``step(i, T)`` (one training iteration; returns its loss once computed) for
    every ``T`` of ``steps``: the first ``warmup`` untimed, then
    ``prepare(measured steps)`` (e.g. compiling each rollout length, on copies), then
    the rest timed one by one."""
    baseline = rss_mib()
    losses: list[float] = []
    start = time.perf_counter()
    for i, t in enumerate(steps[:warmup]):
        losses.append(step(i, int(t)))
    if prepare is not None:
        prepare([int(t) for t in steps[warmup:]])
    warmup_s = time.perf_counter() - start
    seconds = []
    for i, t in enumerate(steps[warmup:], start=warmup):
        tick = time.perf_counter()
        losses.append(step(i, int(t)))
        seconds.append(time.perf_counter() - tick)
    return {
        "warmup_s": warmup_s,
        "seconds": seconds,
        "losses": losses,
        "rss_before_mib": baseline,
        "peak_rss_mib": peak_rss_mib(),
    }


def report(system: str, versions: dict, setup: dict, args, timing: dict, **extra) -> None:
    """Print the child's one result line: its timing, the work and its versions."""
    steps = [int(t) for t in setup["steps"][args.warmup : args.warmup + args.iterations]]
    cells = grid_cells(setup)
    total = sum(timing["seconds"])
    result = {
        "system": system,
        "versions": versions,
        "threads": args.threads,
        "iterations": len(timing["seconds"]),
        "warmup": args.warmup,
        "cell_steps": setup["batch"] * cells * sum(steps),
        "total_s": total,
        "it_per_s": len(timing["seconds"]) / total if total else 0.0,
        "cell_steps_per_s": setup["batch"] * cells * sum(steps) / total if total else 0.0,
        "final_loss": timing["losses"][-1],
        **timing,
        **extra,
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def schedule(setup: dict, args) -> list[int]:
    """The ``T`` of every iteration this child runs (warm-up, then timed)."""
    steps = [int(t) for t in setup["steps"][: args.warmup + args.iterations]]
    if len(steps) < args.warmup + args.iterations:
        raise SystemExit(
            f"the setup holds {len(steps)} rollout lengths; {args.warmup} + "
            f"{args.iterations} iterations need more (run.py --iterations)"
        )
    return steps
