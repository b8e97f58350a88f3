"""Overflow losses of Algorithm 1 (lines 19-20).

``L_o_overflow = (1/C_o)·‖Z_o − clamp(Z_o, 0, 1)‖₁`` and
``L_h_overflow = (1/C_h)·‖Z_h − clamp(Z_h, −1, 1)‖₁``, both later divided by
``b·H·W`` (line 22), ``H×W`` being the *image* size. For output channels this
is a plain mean. Hidden channels exist once per cell, not per pixel, so with
``P_H×P_W`` patches their sum is divided by ``C_h·b·H·W`` (not by the number
of hidden values): the paper's normalisation, exact for any patch size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nca.core.layout import CellLayout

OUTPUT_RANGE = (0.0, 1.0)
HIDDEN_RANGE = (-1.0, 1.0)


@dataclass
class OverflowLosses:
    """The two overflow terms (scalars) and their sum."""

    output: torch.Tensor
    hidden: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.output + self.hidden


def _overflow_sum(values: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return (values - values.clamp(low, high)).abs().sum()


def overflow_losses(layout: CellLayout, cells: torch.Tensor) -> OverflowLosses:
    """Penalty for output values outside [0, 1] and hidden values outside [-1, 1].

    Args:
        layout: The cell layout.
        cells: ``(B, C, H', W')``.

    Returns:
        :class:`OverflowLosses` with scalar ``output`` and ``hidden`` terms,
        normalised as in Algorithm 1 (see module docstring).
    """
    layout.check_cells(cells)
    batch, _, grid_h, grid_w = cells.shape
    pixels = batch * grid_h * grid_w * layout.patch_area  # b·H·W of the image
    out = _overflow_sum(layout.group(cells, "output"), *OUTPUT_RANGE)
    output = out / (layout.output_channels * pixels)
    if layout.hidden_channels:
        hid = _overflow_sum(layout.group(cells, "hidden"), *HIDDEN_RANGE)
        hidden = hid / (layout.hidden_channels * pixels)
    else:
        hidden = cells.new_zeros(())
    return OverflowLosses(output=output, hidden=hidden)
