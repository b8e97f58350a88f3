"""A realistic starting grid for comparing an exported step with PyTorch."""

from __future__ import annotations

import torch

from nca.core.automaton import CellularAutomaton
from nca.core.seed import single_cell_seed


def check_state(
    automaton: CellularAutomaton,
    batch: int,
    grid: tuple[int, ...],
    generator: torch.Generator,
) -> torch.Tensor:
    """A freshly seeded grid, as the automaton's tasks start one.

    * with input channels: :meth:`~nca.core.CellularAutomaton.seed` of uniform random
      images (each pixel in [0, 1));
    * without, with living-cell masking: one live cell in the centre (growing);
    * without, otherwise: :meth:`~nca.core.CellularAutomaton.seed` of an empty image
      (the rule's ``constant`` or ``random`` cell init).

    Args:
        automaton: The automaton.
        batch: Grids ``B``.
        grid: Cell-grid size, one entry per spatial dimension (``(H', W')`` in 2-D,
            ``(L',)`` in 1-D, ``(D', H', W')`` in 3-D).
        generator: Source of the random images and inits.

    Returns:
        ``(B, C, *grid)`` in the dtype of the rule's parameters.
    """
    layout = automaton.layout
    param = next(automaton.rule.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    size = tuple(n * p for n, p in zip(grid, layout.patch_size, strict=True))
    if layout.input_channels or automaton.alive is None:
        images = torch.rand(batch, layout.input_channels, *size, generator=generator).to(dtype)
        return automaton.seed(images, generator=generator)
    cells = single_cell_seed(layout, batch, grid, alive_from=automaton.alive.channel, dtype=dtype)
    if layout.positional_channels:
        encoding = automaton.rule.positional_encoding(*size, device=cells.device, dtype=dtype)
        cells[:, layout.slice("positional")] = layout.patchify(encoding.unsqueeze(0))
    return cells
