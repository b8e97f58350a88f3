"""Damage: overwrite a random region of the grid's state (paper §4.1.2, Fig. 4a)."""

from __future__ import annotations

import torch

from nca.core.layout import CellLayout
from nca.core.random import randint, uniform


def _axis(length: int, dim: int, dims: int, values: torch.Tensor) -> torch.Tensor:
    """``values`` (one per position along spatial axis ``dim``) shaped to broadcast over
    ``(B, *cells)``."""
    shape = [1] * (dims + 1)
    shape[1 + dim] = length
    return values.view(shape)


def damage(
    layout: CellLayout,
    cells: torch.Tensor,
    *,
    fraction: float | tuple[float, ...] = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Overwrite a random box's output and hidden channels with U(-1, 1).

    The paper damages an ``H/2 × W/2`` region (``fraction=0.5``). Each
    sample gets its own uniformly placed region; positional and input
    channels are left alone.

    Args:
        layout: The cell layout.
        cells: ``(B, C, *cells)`` (``(B, C, H', W')`` in 2-D).
        fraction: Region size as a fraction of each side, each in (0, 1]; one number
            applies to every side.
        generator: Random source for position and values (any device).

    Returns:
        ``(damaged, region)``: the new grid ``(B, C, *cells)`` and the boolean
        region mask ``(B, 1, *cells)``.
    """
    layout.check_cells(cells)
    sizes, dims = tuple(cells.shape[2:]), layout.dims
    if isinstance(fraction, (int, float)):
        fraction = (float(fraction),) * dims
    if len(fraction) != dims or not all(0 < f <= 1 for f in fraction):
        raise ValueError(
            f"damage fraction must be {dims} number(s) in (0, 1] (one per side), got {fraction!r}"
        )
    batch, device = cells.shape[0], cells.device
    extents = [max(1, round(n * f)) for n, f in zip(sizes, fraction, strict=True)]
    starts = [
        randint(n - e + 1, (batch,), generator=generator, device=device)
        for n, e in zip(sizes, extents, strict=True)
    ]
    region = None
    for dim, (n, start, extent) in enumerate(zip(sizes, starts, extents, strict=True)):
        position = _axis(n, dim, dims, torch.arange(n, device=device))
        first = start.view(-1, *[1] * dims)
        inside = (position >= first) & (position < first + extent)
        region = inside if region is None else region & inside
    region = region.unsqueeze(1)

    updatable = cells[:, layout.updatable_slice]
    noise = uniform(updatable.shape, generator=generator, device=device).to(cells.dtype)
    damaged = torch.where(region, noise * 2 - 1, updatable)
    fixed = layout.fixed_slice.stop
    return torch.cat([cells[:, :fixed], damaged], dim=1), region


def circle_damage(
    cells: torch.Tensor,
    *,
    radius: tuple[float, float] = (0.1, 0.4),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero a random disc (a ball in 3-D, a segment in 1-D) of every grid (Mordvintsev
    et al., 2020, "regenerating").

    Centres are uniform in the middle half of the grid (``[-0.5, 0.5]`` in coordinates
    spanning ``[-1, 1]``), radii uniform in ``radius`` (fractions of the half-side), as in
    the article's notebook. Every channel inside the ball is set to 0.

    Args:
        cells: ``(B, C, *cells)`` with 1 to 3 spatial dimensions.
        radius: ``(smallest, largest)`` radius.
        generator: Random source (any device).

    Returns:
        ``(damaged, ball)``: the grid and the boolean ball ``(B, 1, *cells)``.
    """
    low, high = radius
    if not 0 < low <= high:
        raise ValueError(f"radius must be (low, high) with 0 < low <= high, got {radius!r}")
    sizes = tuple(cells.shape[2:])
    if not 1 <= len(sizes) <= 3:
        raise ValueError(f"cells must have 1 to 3 spatial dimensions, got {tuple(cells.shape)}")
    batch, dims, device = cells.shape[0], len(sizes), cells.device
    centre = uniform((batch, dims), generator=generator, device=device) - 0.5
    size = low + (high - low) * uniform((batch,), generator=generator, device=device)
    squared = 0
    for dim in reversed(range(dims)):  # the last axis first: x² + y² as in 2-D
        coordinate = _axis(sizes[dim], dim, dims, torch.linspace(-1, 1, sizes[dim], device=device))
        squared = squared + (coordinate - centre[:, dim].view(-1, *[1] * dims)) ** 2
    ball = (squared < size.view(-1, *[1] * dims) ** 2).unsqueeze(1)
    return cells.masked_fill(ball, 0.0), ball
