"""What a tab's frame shows for grids of each dimension.

* 2-D: the task's picture as it is;
* 3-D: the voxels seen by the tab's camera (:mod:`nca.play.voxels`);
* 1-D: a space-time diagram, one row per step, the newest at the bottom; once the
  picture is full, the oldest rows scroll off the top.
"""

from __future__ import annotations

from collections import deque

import torch

#: A voxel of a volume's picture is drawn when its alpha exceeds this (the grow task's
#: living-cell threshold).
VOXEL_ALPHA = 0.1
#: Side in pixels of a 3-D frame (the volume fits at any angle).
VOXEL_FRAME = 256


def diverging(values: torch.Tensor) -> torch.Tensor:
    """Values ``(*shape)`` as RGB ``(3, *shape)``: white at 0, red towards +1, blue
    towards -1."""
    values = values.float().clamp(-1, 1)
    positive, negative = values.clamp(min=0), (-values).clamp(min=0)
    return torch.stack([1 - negative, 1 - positive - negative, 1 - positive])


def upsample(values: torch.Tensor, patch: tuple[int, ...]) -> torch.Tensor:
    """Cell values ``(*cells)`` repeated to the image's size (``patch`` per axis)."""
    for axis, size in enumerate(patch):
        values = values.repeat_interleave(size, axis)
    return values


def voxel_colours(rgba: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A volume's premultiplied RGBA ``(4, D, H, W)`` as its colours on white
    ``(3, D, H, W)`` and its solid voxels ``(D, H, W)`` (alpha > :data:`VOXEL_ALPHA`)."""
    if rgba.ndim != 4 or rgba.shape[0] != 4:
        raise ValueError(f"a volume's picture is RGBA (4, D, H, W), got {tuple(rgba.shape)}")
    rgba = rgba.float().clamp(0, 1)
    return (rgba[:3] + 1 - rgba[3:]).clamp(0, 1), rgba[3] > VOXEL_ALPHA


class SpaceTime:
    """The rows of a 1-D run's space-time diagram.

    Args:
        capacity: Rows kept (the picture's height); older rows scroll off.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a space-time diagram keeps at least 1 row, got {capacity}")
        self.capacity = capacity
        self.cells: deque[torch.Tensor] = deque(maxlen=capacity)
        self.pictures: deque[torch.Tensor] = deque(maxlen=capacity)

    def clear(self) -> None:
        self.cells.clear()
        self.pictures.clear()

    def add(self, cells: torch.Tensor, picture: torch.Tensor) -> None:
        """Append a row: the grid ``(C, W)`` and its picture RGB ``(3, W)``."""
        self.cells.append(cells.detach().cpu())
        self.pictures.append(picture.detach().float().cpu())

    def replace_last(self, cells: torch.Tensor, picture: torch.Tensor) -> None:
        """Redraw the newest row (the grid changed without a step, e.g. damage)."""
        if self.cells:
            self.cells.pop()
            self.pictures.pop()
        self.add(cells, picture)

    def picture(self, rows: list[torch.Tensor] | None = None) -> torch.Tensor:
        """RGB ``(3, capacity, W)``: ``rows`` (default: the task's pictures, each
        ``(3, W)``) top down, white below them."""
        rows = list(self.pictures) if rows is None else rows
        width = rows[0].shape[-1]
        image = torch.ones(3, self.capacity, width)
        image[:, : len(rows)] = torch.stack(rows, dim=1)
        return image
