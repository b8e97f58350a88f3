"""What the viewer needs from a trained task model: one grid to seed, run and draw.

A task opts into ``nca play`` by returning a :class:`Playground` from
:meth:`nca.tasks.Task.playground`. The viewer does everything generic itself
(stepping at a chosen σ, damage, pausing, hidden-channel and attention views);
the playground only knows how this task seeds a grid and what its output looks
like, and may offer choices such as the test image.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from nca.core.automaton import CellularAutomaton


@dataclass(frozen=True)
class PlayChoice:
    """A task-specific drop-down of the viewer (e.g. which test image is the input).

    Attributes:
        name: Key sent back by the page (``choose`` messages).
        label: What the page shows next to it.
        options: The values offered.
        value: The one in use.
    """

    name: str
    label: str
    options: tuple[str, ...]
    value: str


class Playground(ABC):
    """One interactive grid of a trained model (each viewer tab gets its own).

    Args:
        automaton: The task model's automaton (rule, σ, living-cell masking, noise).
    """

    def __init__(self, automaton: CellularAutomaton) -> None:
        if not isinstance(automaton, CellularAutomaton):
            raise TypeError(
                f"a Playground runs a CellularAutomaton, got {type(automaton).__name__}"
            )
        self.automaton = automaton

    @abstractmethod
    def seed(self) -> torch.Tensor:
        """A fresh grid ``(1, C, *cells)`` (``(1, C, H', W')`` in 2-D) on the rule's
        device and dtype."""

    @abstractmethod
    def render(self, cells: torch.Tensor) -> torch.Tensor:
        """The task's picture of a grid, in ``[0, 1]``: RGB ``(3, H, W)`` of a 2-D grid;
        RGB ``(3, W)`` of a 1-D row (the viewer stacks the rows into a space-time
        diagram); premultiplied RGBA ``(4, D, H, W)`` of a 3-D volume (the viewer draws
        the voxels whose alpha is above 0.1, on white, from the tab's camera)."""

    def choices(self) -> list[PlayChoice]:
        """The task's drop-downs (none by default)."""
        return []

    def choose(self, name: str, value: str, cells: torch.Tensor) -> torch.Tensor:
        """Apply a choice; returns the grid to continue from (by default a new seed).

        Raises:
            ValueError: ``name`` is not a choice, or ``value`` not one of its options.
        """
        choices = {c.name: c for c in self.choices()}
        if name not in choices:
            valid = ", ".join(choices) or "none (this task has no choices)"
            raise ValueError(f"unknown choice {name!r}; valid: {valid}")
        raise NotImplementedError(f"{type(self).__name__} offers {name!r} but cannot apply it")

    @staticmethod
    def check_option(choice: PlayChoice, value: str) -> int:
        """The index of ``value`` among ``choice.options``; a clear error otherwise."""
        if value not in choice.options:
            shown = ", ".join(choice.options[:12]) + (", ..." if len(choice.options) > 12 else "")
            raise ValueError(f"{choice.name} has no option {value!r}; valid: {shown}")
        return choice.options.index(value)


def as_rgb(images: torch.Tensor) -> torch.Tensor:
    """``(C, *size)`` with 1 (grey) or 3 channels as RGB ``(3, *size)`` clamped to
    ``[0, 1]``."""
    if images.shape[0] == 1:
        images = images.expand(3, *images.shape[1:])
    if images.shape[0] != 3:
        raise ValueError(f"expected 1 or 3 image channels, got {images.shape[0]}")
    return images.float().clamp(0, 1)
