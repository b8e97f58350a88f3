"""Asynchronous stochastic cell updates (paper Fig. 3, §3.1: σ = 50 %).

Each step, every cell fires with probability ``σ`` (one Bernoulli draw per cell,
shared by all of its channels) and adds the rule's update to its output and
hidden channels; positional and input channels never change. ``σ = 1`` is a
synchronous update.

Masks are drawn from an explicit :class:`torch.Generator` and passed to
:func:`apply_update` as data, so a checkpointed step recomputed in backward
sees exactly the same mask as the forward pass.
"""

from __future__ import annotations

import math

import torch

from nca.core.layout import CellLayout
from nca.core.random import SampleGenerators, uniform

#: Paper §3.1: σ = 50 %.
PAPER_UPDATE_RATE = 0.5


def check_update_rate(rate: float) -> float:
    """Validate σ: a number in (0, 1]."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or math.isnan(rate):
        raise TypeError(f"update rate must be a number in (0, 1], got {rate!r}")
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"update rate σ must be in (0, 1] (1 = synchronous), got {rate}")
    return float(rate)


def draw_update_mask(
    cells: torch.Tensor,
    rate: float,
    generator: torch.Generator | SampleGenerators | None = None,
) -> torch.Tensor | None:
    """Draw which cells fire this step.

    Args:
        cells: Cell grid ``(B, C, *cells)``; only its shape, dtype and device are used.
        rate: Update probability σ in (0, 1].
        generator: Random source (any device; per-sample generators draw each sample's
            mask from its own); ``None`` uses the global RNG.

    Returns:
        ``(B, 1, *cells)`` mask of 0/1 in ``cells.dtype``, or ``None`` when
        ``rate == 1`` (every cell fires; no draw is made).
    """
    rate = check_update_rate(rate)
    if rate == 1.0:
        return None
    noise = uniform((cells.shape[0], 1, *cells.shape[2:]), generator=generator, device=cells.device)
    return (noise < rate).to(cells.dtype)


def firing_rows(mask: torch.Tensor) -> torch.Tensor:
    """Flat indices of the firing cells, for rules that compute only their update.

    Args:
        mask: ``(B, 1, *cells)`` 0/1 firing mask from :func:`draw_update_mask`.

    Returns:
        ``(N,)`` int64 indices of the cells with ``mask == 1`` (in 2-D
        ``b·H'·W' + i·W' + j``), ascending: the rows of the grid read channels-last and
        flattened, ``cells.movedim(1, -1).reshape(-1, C)``.
    """
    if mask.ndim not in (3, 4, 5) or mask.shape[1] != 1:
        raise ValueError(f"firing mask must be (B, 1, *cells), got {tuple(mask.shape)}")
    return mask.reshape(-1).nonzero().squeeze(1)


def scatter_rows(values: torch.Tensor, rows: torch.Tensor, grid: torch.Size) -> torch.Tensor:
    """A channels-first update that is ``values`` at ``rows`` and zero elsewhere.

    Args:
        values: ``(N, C)`` per-cell updates of the rows in :func:`firing_rows` order.
        rows: ``(N,)`` their flat indices.
        grid: ``(B, *cells)`` the grid's batch and spatial size.

    Returns:
        ``(B, C, *cells)``; differentiable in ``values``.
    """
    full = values.new_zeros(math.prod(grid), values.shape[-1])
    full = full.index_copy(0, rows, values)
    return full.view(*grid, -1).movedim(-1, 1)


def apply_update(
    layout: CellLayout,
    cells: torch.Tensor,
    update: torch.Tensor,
    mask: torch.Tensor | None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Residual update of the updatable channels of the firing cells.

    Args:
        layout: The cell layout.
        cells: ``(B, C, *cells)``.
        update: ``(B, C_o·P + C_h, *cells)`` from the rule.
        mask: ``(B, 1, *cells)`` 0/1 firing mask, or ``None`` for all cells.
        noise: Residual noise added to the update before it is masked (Randazzo et al.'s
            "residual noise"), the update's shape; ``None``: none.

    Returns:
        New grid ``(B, C, *cells)``; fixed channels are passed through untouched.
    """
    expected = (cells.shape[0], layout.updatable_channels, *cells.shape[2:])
    if tuple(update.shape) != expected:
        raise ValueError(
            f"rule returned an update of shape {tuple(update.shape)}; expected {expected} "
            f"(output + hidden channels of layout {layout.describe()})"
        )
    if noise is not None:
        update = update + noise
    if mask is not None:
        update = update * mask
    fixed = layout.fixed_slice.stop
    if fixed == 0:  # no fixed channels (growing, textures): no copy through a concatenation
        return cells + update
    return torch.cat([cells[:, :fixed], cells[:, fixed:] + update], dim=1)
