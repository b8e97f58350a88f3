"""Cell fusion and mitosis (paper App. A.1).

Fusion merges each 2×2 group of cells into one (average pooling, stride 2; pairs in 1-D,
2×2×2 blocks in 3-D); mitosis duplicates each cell to its right, bottom-right and bottom
neighbours (every neighbour of its block in N-D).
:func:`octave_plan` lays out the schedule, generalised to ``k`` octaves:

    for each octave: 2 steps, stash the fixed channels, fuse
    T - 4k steps at the coarsest grid      (``total``: the paper's text)
    T steps at the coarsest grid           (``coarsest``: the authors' release)
    for each octave: mitosis, re-inject the stashed channels, 2 steps

With ``total`` the number of rule applications is ``T``; with ``coarsest`` it is
``T + 4k``, as the release's ``forward`` runs ``step_n`` steps between the fusions and
the mitoses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

#: Steps before each fusion and after each mitosis (paper App. A.1).
STEPS_AROUND_FUSION = 2
#: What ``T`` counts with octaves: every rule application (``total``, the paper's
#: "T - 4 times at the downsampled resolution") or the run at the coarsest grid only
#: (``coarsest``, the authors' release: ``T + 4k`` applications in all).
OctaveSteps = Literal["total", "coarsest"]
OCTAVE_STEPS: tuple[str, ...] = ("total", "coarsest")


#: Average pooling by the grid's number of spatial dimensions.
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def fuse(cells: torch.Tensor) -> torch.Tensor:
    """2×2 (N-D: 2^n) average-pool of cells: ``(B, C, H', W') -> (B, C, H'/2, W'/2)``."""
    size = tuple(cells.shape[2:])
    if len(size) not in _AVG_POOL:
        raise ValueError(f"cells must have 1 to 3 spatial dimensions, got {tuple(cells.shape)}")
    if any(n % 2 or n < 2 for n in size):
        shown = "x".join(map(str, size))
        raise ValueError(f"cannot fuse a {shown} cell grid: fusion needs every side even")
    return _AVG_POOL[len(size)](cells, kernel_size=2, stride=2)


def mitosis(cells: torch.Tensor) -> torch.Tensor:
    """2×2 (N-D: 2^n) duplication of cells: ``(B, C, H', W') -> (B, C, 2H', 2W')``."""
    for dim in range(2, cells.ndim):
        cells = cells.repeat_interleave(2, dim=dim)
    return cells


@dataclass(frozen=True)
class Phase:
    """One phase of a rollout: ``steps`` rule applications, or a resolution change."""

    kind: Literal["steps", "fuse", "mitosis"]
    steps: int = 0
    #: The long run at the coarsest grid; the only one worth checkpointing.
    main: bool = False


def octave_plan(steps: int, octaves: int, counting: OctaveSteps = "total") -> list[Phase]:
    """The fusion/mitosis schedule of a rollout of ``steps`` steps.

    Args:
        steps: ``T``: all rule applications (``total``) or those at the coarsest grid
            (``coarsest``).
        octaves: Number of fusions ``k`` (0 = plain rollout).
        counting: What ``steps`` counts (see :data:`OctaveSteps`).

    Returns:
        Phases in execution order. With ``k = 0`` a single ``steps`` phase.
    """
    if octaves < 0:
        raise ValueError(f"octaves must be >= 0, got {octaves}")
    if counting not in OCTAVE_STEPS:
        raise ValueError(
            f"octave step counting must be one of {', '.join(OCTAVE_STEPS)}, got {counting!r}"
        )
    around = 2 * STEPS_AROUND_FUSION * octaves
    coarse_steps = steps if counting == "coarsest" else steps - around
    if counting == "total" and octaves and steps < around:
        raise ValueError(
            f"{octaves} octave(s) of fusion/mitosis need at least {around} steps "
            f"({STEPS_AROUND_FUSION} before each fusion and after each mitosis), got T={steps}"
        )
    down = [Phase("steps", STEPS_AROUND_FUSION), Phase("fuse")] * octaves
    up = [Phase("mitosis"), Phase("steps", STEPS_AROUND_FUSION)] * octaves
    return [*down, Phase("steps", coarse_steps, main=True), *up]


def check_octaves_fit(grid_size: tuple[int, ...], octaves: int) -> None:
    """Raise unless a grid of ``grid_size`` cells can be fused ``octaves`` times."""
    factor = 2**octaves
    if octaves and any(n % factor for n in grid_size):
        sides = "height and width" if len(grid_size) == 2 else "every side"
        raise ValueError(
            f"a {'x'.join(map(str, grid_size))} cell grid cannot be fused {octaves} time(s): "
            f"{sides} must be multiples of {factor}"
        )
