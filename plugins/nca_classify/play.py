"""``nca play`` for classify runs: a digit whose living cells vote for its class."""

from __future__ import annotations

import torch

from nca import PlayChoice, Playground
from nca_classify.model import class_map


class ClassifyPlayground(Playground):
    """A self-classifying digit; choosing another digit swaps it into the running grid
    (the article's mutation: cells keep their state where the new digit is alive).

    Args:
        model: The task's :class:`~nca.core.GridModel`.
        images: Test digits ``(N, 1, H, W)`` in [0, 1].
        labels: Their classes ``(N,)``.
    """

    def __init__(self, model, images: torch.Tensor, labels: torch.Tensor) -> None:
        super().__init__(model.automaton)
        self.model = model
        self.images = images
        self.options = tuple(f"#{i} ({int(label)})" for i, label in enumerate(labels))
        self.index = 0

    def _digit(self) -> torch.Tensor:
        return self.images[self.index : self.index + 1]

    def seed(self) -> torch.Tensor:
        return self.model.seed_with(self._digit())

    def render(self, cells: torch.Tensor) -> torch.Tensor:
        return class_map(self.model, cells)[0]

    def choices(self) -> list[PlayChoice]:
        return [PlayChoice("image", "digit", self.options, self.options[self.index])]

    def choose(self, name: str, value: str, cells: torch.Tensor) -> torch.Tensor:
        choices = {c.name: c for c in self.choices()}
        if name not in choices:
            return super().choose(name, value, cells)
        self.index = self.check_option(choices[name], value)
        return self.model.inject(cells, self._digit())
