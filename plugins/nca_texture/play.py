"""``nca play`` for texture runs: a texture growing on an empty (toroidal) grid."""

from __future__ import annotations

import torch

from nca import Playground


class TexturePlayground(Playground):
    """A texture model's grid of side ``size``, seeded empty as in training.

    Args:
        model: The task's :class:`~nca.core.GridModel`.
        size: Grid side (the task's evaluation size).
    """

    def __init__(self, model, size: int) -> None:
        super().__init__(model.automaton)
        self.model = model
        self.size = size

    def seed(self) -> torch.Tensor:
        return self.model.seed(1, self.size, next(self.model.parameters()).device)

    def render(self, cells: torch.Tensor) -> torch.Tensor:
        return self.model.output(cells)[0].clamp(0, 1)
