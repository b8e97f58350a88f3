"""UNetCA: the U-Net turned into an NCA update rule (paper §4, Table 1).

48 initial feature maps and every convolution except the first 1×1. Its input
is the whole cell (input, output, hidden channels) and its output an update of
the output and hidden channels; the last layer starts at zero. The core runs it
like ViTCA (seed, inject, asynchronous updates at σ = 50 %).

Receptive field (measured: ``tests/rules/test_baselines.py``). The 1×1
convolutions do not make the update local to a 3×3 neighbourhood: the max-pools
still mix cells, so a cell's update depends on the ``2^k × 2^k`` tile of the
coarsest pooling grid that contains it (``k`` = ``downsamplings``; tiles start
at multiples of ``2^k``), widened by one cell on every side by the first 3×3
convolution — a ``(2^k + 2) × (2^k + 2)`` window, **6×6 by default** (k = 2),
not centred on the cell (clipped at the grid's border, e.g. 5×5 at a corner).
The rule is therefore equivariant only to shifts by multiples of ``2^k`` cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nca.core.layout import CellLayout
from nca.core.seed import CELL_INITS, CellInit
from nca.layers.unet import UNet, he_init_
from nca.rules.base import CARule


@dataclass
class UNetCAConfig:
    """Configuration of :class:`UNetCA`.

    Attributes:
        image_channels: Image channels ``C_i = C_o`` (1 grayscale, 3 RGB).
        hidden_channels: Hidden channels per cell ``C_h`` (paper: 32).
        features: Initial feature maps (paper: 48).
        downsamplings: Max-pool steps (paper: 2 for 32×32 images).
        cell_init: How grids are seeded: ``constant`` (0.5 / 0) or ``random``.
    """

    image_channels: int = 1
    hidden_channels: int = 32
    features: int = 48
    downsamplings: int = 2
    cell_init: CellInit = "constant"

    def __post_init__(self) -> None:
        for name in ("image_channels", "features", "downsamplings"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_channels < 0:
            raise ValueError(f"hidden_channels must be >= 0, got {self.hidden_channels}")
        if self.cell_init not in CELL_INITS:
            raise ValueError(f"cell_init must be one of {CELL_INITS}, got {self.cell_init!r}")


class UNetCA(CARule):
    """UNetCA: U-Net update rule (48 features, 1×1 convolutions after the first).

    A cell's update depends on a ``(2^k + 2)``-square window (6×6 by default)
    aligned to the ``2^k`` pooling grid; see the module docstring.
    """

    config_class = UNetCAConfig

    def __init__(self, config: UNetCAConfig) -> None:
        super().__init__(config)
        self.cell_init = config.cell_init
        self.layout = CellLayout(
            config.image_channels, config.image_channels, config.hidden_channels
        )
        self.net = UNet(
            self.layout.cell_channels,
            self.layout.updatable_channels,
            config.features,
            config.downsamplings,
            nca_mode=True,
        )
        he_init_(self.net)
        nn.init.zeros_(self.net.out_conv.weight)  # zero-initialised last layer (paper §4)
        nn.init.zeros_(self.net.out_conv.bias)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        """``(B, C, H', W') -> (B, C_o + C_h, H', W')`` update."""
        self.layout.check_cells(cells)
        return self.net(cells)
