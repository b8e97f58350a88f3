"""Cell fusion and mitosis (paper App. A.1).

Fusion merges each 2×2 group of cells into one (average pooling, stride 2);
mitosis duplicates each cell to its right, bottom-right and bottom neighbours.
:func:`octave_plan` lays out the paper's schedule, generalised to ``k`` octaves:

    for each octave: 2 steps, stash the fixed channels, fuse
    T - 4k steps at the coarsest grid
    for each octave: mitosis, re-inject the stashed channels, 2 steps

so the total number of rule applications is still ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

#: Steps before each fusion and after each mitosis (paper App. A.1).
STEPS_AROUND_FUSION = 2


def fuse(cells: torch.Tensor) -> torch.Tensor:
    """2×2 average-pool of cells: ``(B, C, H', W') -> (B, C, H'/2, W'/2)``."""
    height, width = cells.shape[-2:]
    if height % 2 or width % 2 or height < 2 or width < 2:
        raise ValueError(
            f"cannot fuse a {height}x{width} cell grid: fusion needs an even height and width"
        )
    return F.avg_pool2d(cells, kernel_size=2, stride=2)


def mitosis(cells: torch.Tensor) -> torch.Tensor:
    """2×2 duplication of cells: ``(B, C, H', W') -> (B, C, 2H', 2W')``."""
    return cells.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


@dataclass(frozen=True)
class Phase:
    """One phase of a rollout: ``steps`` rule applications, or a resolution change."""

    kind: Literal["steps", "fuse", "mitosis"]
    steps: int = 0
    #: The long run at the coarsest grid; the only one worth checkpointing.
    main: bool = False


def octave_plan(steps: int, octaves: int) -> list[Phase]:
    """The paper's fusion/mitosis schedule for ``steps`` total steps.

    Args:
        steps: Total rule applications ``T``.
        octaves: Number of fusions ``k`` (0 = plain rollout).

    Returns:
        Phases in execution order. With ``k = 0`` a single ``steps`` phase.
    """
    if octaves < 0:
        raise ValueError(f"octaves must be >= 0, got {octaves}")
    around = 2 * STEPS_AROUND_FUSION * octaves
    if octaves and steps < around:
        raise ValueError(
            f"{octaves} octave(s) of fusion/mitosis need at least {around} steps "
            f"({STEPS_AROUND_FUSION} before each fusion and after each mitosis), got T={steps}"
        )
    down = [Phase("steps", STEPS_AROUND_FUSION), Phase("fuse")] * octaves
    up = [Phase("mitosis"), Phase("steps", STEPS_AROUND_FUSION)] * octaves
    return [*down, Phase("steps", steps - around, main=True), *up]


def check_octaves_fit(grid_size: tuple[int, int], octaves: int) -> None:
    """Raise unless a grid of ``grid_size`` cells can be fused ``octaves`` times."""
    factor = 2**octaves
    height, width = grid_size
    if octaves and (height % factor or width % factor):
        raise ValueError(
            f"a {height}x{width} cell grid cannot be fused {octaves} time(s): "
            f"height and width must be multiples of {factor}"
        )
