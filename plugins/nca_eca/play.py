"""``nca play`` for eca runs: a row of cells whose every step becomes a row of the
viewer's scrolling space-time diagram."""

from __future__ import annotations

import torch

from nca import PlayChoice, Playground
from nca_eca.rules import random_rows

STARTS = ("one cell", "random row")


class ECAPlayground(Playground):
    """One row of a trained eca model, started from a single 1 in the middle (the
    classic picture of rule 90 or 30) or from a random row.

    Args:
        model: The task's :class:`~nca.core.GridModel`.
        width: Cells per row.
        density: Probability that a cell of a random row is 1.
    """

    def __init__(self, model, width: int, density: float) -> None:
        super().__init__(model.automaton)
        self.model = model
        self.width = width
        self.density = density
        self.start = STARTS[0]
        self._draws = 0  # each "random row" is a new one, reproducibly

    def seed(self) -> torch.Tensor:
        device = next(self.model.parameters()).device
        if self.start == STARTS[0]:
            row = torch.zeros(1, self.width)
            row[0, self.width // 2] = 1.0
        else:
            self._draws += 1
            generator = torch.Generator().manual_seed(self._draws)
            row = random_rows(1, self.width, generator, self.density)
        cells = self.model.seed(1, self.width, device)
        cells[:, self.model.layout.slice("output")] = row[:, None].to(device, cells.dtype)
        return cells

    def render(self, cells: torch.Tensor) -> torch.Tensor:
        """RGB ``(3, W)``: black where a cell is 1, white where it is 0."""
        state = self.model.output(cells)[0, 0].float().clamp(0, 1)
        return (1 - state).expand(3, -1)

    def choices(self) -> list[PlayChoice]:
        return [PlayChoice("start", "start from", STARTS, self.start)]

    def choose(self, name: str, value: str, cells: torch.Tensor) -> torch.Tensor:
        choices = {c.name: c for c in self.choices()}
        if name not in choices:
            return super().choose(name, value, cells)
        self.start = STARTS[self.check_option(choices[name], value)]
        return self.seed()
