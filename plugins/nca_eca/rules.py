"""Elementary cellular automata (Wolfram 1983): rows of 0/1 cells, each cell's next state
a fixed function of itself and its two neighbours, numbered 0-255.

The rows here have a fixed boundary: the cells beyond either end are 0, as a rule's
zero padding sees them (a ring would need every rule's circular padding).
"""

from __future__ import annotations

import torch


def rule_table(number: int) -> torch.Tensor:
    """``(8,)`` next states of rule ``number``, indexed by ``4·left + 2·centre + right``."""
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 255:
        raise ValueError(f"an elementary rule is numbered 0 to 255, got {number!r}")
    return torch.tensor([(number >> i) & 1 for i in range(8)], dtype=torch.float32)


def eca_step(rows: torch.Tensor, number: int) -> torch.Tensor:
    """One generation of rule ``number`` on rows ``(B, W)`` of 0/1 (0 beyond the ends)."""
    padded = torch.nn.functional.pad(rows, (1, 1))
    left, right = padded[..., :-2], padded[..., 2:]
    index = (4 * left + 2 * rows + right).long()
    return rule_table(number).to(rows.device, rows.dtype)[index]


def space_time(rows: torch.Tensor, number: int, generations: int) -> torch.Tensor:
    """The space-time diagram ``(B, generations + 1, W)``: ``rows`` and each generation."""
    diagram = [rows]
    for _ in range(generations):
        diagram.append(eca_step(diagram[-1], number))
    return torch.stack(diagram, dim=1)


def random_rows(count: int, width: int, generator: torch.Generator, density: float = 0.5):
    """``(count, width)`` rows of independent cells, each 1 with probability ``density``."""
    return (torch.rand(count, width, generator=generator) < density).float()
