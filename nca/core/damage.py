"""Damage: overwrite a random region of the grid's state (paper §4.1.2, Fig. 4a)."""

from __future__ import annotations

import torch

from nca.core.layout import CellLayout
from nca.core.random import randint, uniform


def damage(
    layout: CellLayout,
    cells: torch.Tensor,
    *,
    fraction: float | tuple[float, float] = (0.5, 0.5),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Overwrite a random rectangle's output and hidden channels with U(-1, 1).

    The paper damages an ``H/2 × W/2`` region (``fraction=(0.5, 0.5)``). Each
    sample gets its own uniformly placed region; positional and input
    channels are left alone.

    Args:
        layout: The cell layout.
        cells: ``(B, C, H', W')``.
        fraction: Region size as a fraction of ``(H', W')``, each in (0, 1]; one
            number applies to both.
        generator: Random source for position and values (any device).

    Returns:
        ``(damaged, region)``: the new grid ``(B, C, H', W')`` and the boolean
        region mask ``(B, 1, H', W')``.
    """
    layout.check_cells(cells)
    if isinstance(fraction, (int, float)):
        fraction = (float(fraction), float(fraction))
    if len(fraction) != 2 or not all(0 < f <= 1 for f in fraction):
        raise ValueError(f"damage fraction must be two numbers in (0, 1], got {fraction!r}")
    batch, _, height, width = cells.shape
    region_h = max(1, round(height * fraction[0]))
    region_w = max(1, round(width * fraction[1]))
    device = cells.device
    top = randint(height - region_h + 1, (batch,), generator=generator, device=device)
    left = randint(width - region_w + 1, (batch,), generator=generator, device=device)
    rows = torch.arange(height, device=device).view(1, height, 1)
    cols = torch.arange(width, device=device).view(1, 1, width)
    inside_rows = (rows >= top.view(-1, 1, 1)) & (rows < (top + region_h).view(-1, 1, 1))
    inside_cols = (cols >= left.view(-1, 1, 1)) & (cols < (left + region_w).view(-1, 1, 1))
    region = (inside_rows & inside_cols).unsqueeze(1)

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
    """Zero a random disc of every grid (Mordvintsev et al., 2020, "regenerating").

    Centres are uniform in the middle half of the grid (``[-0.5, 0.5]`` in coordinates
    spanning ``[-1, 1]``), radii uniform in ``radius`` (fractions of the half-side), as in
    the article's notebook. Every channel inside the disc is set to 0.

    Args:
        cells: ``(B, C, H', W')``.
        radius: ``(smallest, largest)`` radius.
        generator: Random source (any device).

    Returns:
        ``(damaged, disc)``: the grid and the boolean disc ``(B, 1, H', W')``.
    """
    low, high = radius
    if not 0 < low <= high:
        raise ValueError(f"radius must be (low, high) with 0 < low <= high, got {radius!r}")
    batch, _, height, width = cells.shape
    device = cells.device
    centre = uniform((batch, 2), generator=generator, device=device) - 0.5
    size = low + (high - low) * uniform((batch,), generator=generator, device=device)
    ys = torch.linspace(-1, 1, height, device=device).view(1, height, 1)
    xs = torch.linspace(-1, 1, width, device=device).view(1, 1, width)
    dy = ys - centre[:, 0].view(-1, 1, 1)
    dx = xs - centre[:, 1].view(-1, 1, 1)
    disc = ((dx**2 + dy**2) < size.view(-1, 1, 1) ** 2).unsqueeze(1)
    return cells.masked_fill(disc, 0.0), disc
