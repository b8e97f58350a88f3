"""Overflow losses of Algorithm 1 (lines 19-20).

``L_o_overflow = (1/C_o)·‖Z_o − clamp(Z_o, 0, 1)‖₁`` and
``L_h_overflow = (1/C_h)·‖Z_h − clamp(Z_h, −1, 1)‖₁``, both divided by ``b·H·W``
(line 22): with the paper's 1×1 patches each term is the mean absolute
overflow of its channel group. With larger patches Algorithm 1 is ambiguous
for the hidden channels (they exist once per cell, not per pixel); we follow
the authors' released code and take the mean over the hidden values too.
Sums accumulate in float32, so half-precision grids do not overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nca.core.layout import CellLayout

OUTPUT_RANGE = (0.0, 1.0)
HIDDEN_RANGE = (-1.0, 1.0)


@dataclass
class OverflowLosses:
    """The two overflow terms (float32 scalars) and their sum."""

    output: torch.Tensor
    hidden: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.output + self.hidden


def _mean_overflow(values: torch.Tensor, low: float, high: float) -> torch.Tensor:
    if values.numel() == 0:
        return values.new_zeros((), dtype=torch.float32)
    overflow = (values - values.clamp(low, high)).abs()
    return overflow.sum(dtype=torch.float32) / values.numel()


def overflow_losses(layout: CellLayout, cells: torch.Tensor) -> OverflowLosses:
    """Penalty for output values outside [0, 1] and hidden values outside [-1, 1].

    Args:
        layout: The cell layout.
        cells: ``(B, C, H', W')``.

    Returns:
        :class:`OverflowLosses` with scalar ``output`` and ``hidden`` terms.
    """
    layout.check_cells(cells)
    return OverflowLosses(
        output=_mean_overflow(layout.group(cells, "output"), *OUTPUT_RANGE),
        hidden=_mean_overflow(layout.group(cells, "hidden"), *HIDDEN_RANGE),
    )


def image_overflow(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute overflow of images outside [0, 1] (float32 scalar).

    The authors' release adds ``100 ×`` this term to the L1 loss of the feed-forward
    baselines (U-Net, ViT), which have no cells and so no hidden overflow.
    """
    return _mean_overflow(images, *OUTPUT_RANGE)
