"""``nca play`` for grow runs: the pattern grown from one cell, on white (an image),
or its voxels (a volume)."""

from __future__ import annotations

import torch

from nca import Playground
from nca_grow.analysis import on_white


class GrowPlayground(Playground):
    """A grow model's grid, seeded with one live cell in the centre.

    Args:
        model: The task's :class:`~nca.core.GridModel`.
        size: Grid ``(H, W)`` or ``(D, H, W)`` (the training target's padded size).
    """

    def __init__(self, model, size: tuple[int, ...]) -> None:
        super().__init__(model.automaton)
        self.model = model
        self.size = size

    def seed(self) -> torch.Tensor:
        device = next(self.model.parameters()).device
        return self.model.seed(1, self.size, device)

    def render(self, cells: torch.Tensor) -> torch.Tensor:
        """RGB ``(3, H, W)`` on white; a volume's premultiplied RGBA ``(4, D, H, W)``."""
        rgba = self.model.output(cells).float().clamp(0, 1)
        return rgba[0] if rgba.ndim == 5 else on_white(rgba)[0]
