"""UNetCA: the U-Net turned into an NCA update rule (paper §4, Table 1).

48 initial feature maps and every convolution except the first 1×1. Its input
is the whole cell (input, output, hidden channels) and its output an update of
the output and hidden channels; the last layer starts at zero (paper §4;
``zero_last_layer``). The core runs it like ViTCA (seed, inject, asynchronous
updates at σ = 50 %).

Initialisation: He with the LeakyReLU(0.1) gain (``init="he"``, the paper's
text) or PyTorch's defaults (``init="pytorch"``). The authors' release uses
PyTorch's defaults and, unlike for ViTCA, does *not* zero UNetCA's last layer:
``init=pytorch, zero_last_layer=false`` is the release's UNetCA.

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

from nca.core.layout import CellLayout
from nca.core.seed import CELL_INITS, CellInit
from nca.layers.init import (
    Initialisation,
    check_flag,
    check_initialisation,
    initialise_,
    zero_layer_,
)
from nca.layers.unet import LEAKY_SLOPE, UNet
from nca.rules.base import CARule


@dataclass
class UNetCAConfig:
    """Configuration of :class:`UNetCA`.

    Attributes:
        image_channels: Output image channels ``C_o`` (1 grayscale, 3 RGB, 4 RGBA).
        input_channels: Injected input channels ``C_i``; unset: ``image_channels``
            (denoising); 0 for tasks without an input (growing from a seed).
        hidden_channels: Hidden channels per cell ``C_h`` (paper: 32).
        features: Initial feature maps (paper: 48).
        downsamplings: Max-pool steps (paper: 2 for 32×32 images).
        cell_init: How grids are seeded: ``constant`` (0.5 / 0) or ``random``.
        init: ``he`` (Kaiming-normal with the LeakyReLU(0.1) gain, zero biases; paper
            §4) or ``pytorch`` (PyTorch's defaults, what the authors' release uses);
            see :mod:`nca.layers.init`.
        zero_last_layer: Zero the output convolution so an untrained rule leaves the
            grid unchanged (paper §4). The authors' release does not zero UNetCA's
            last layer (it does ViTCA's): ``false`` with ``init=pytorch`` is the release.
    """

    image_channels: int = 1
    input_channels: int | None = None
    hidden_channels: int = 32
    features: int = 48
    downsamplings: int = 2
    cell_init: CellInit = "constant"
    init: Initialisation = "he"
    zero_last_layer: bool = True

    def __post_init__(self) -> None:
        for name in ("image_channels", "features", "downsamplings"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_channels < 0:
            raise ValueError(f"hidden_channels must be >= 0, got {self.hidden_channels}")
        if self.input_channels is not None and self.input_channels < 0:
            raise ValueError(f"input_channels must be >= 0 or unset, got {self.input_channels}")
        if self.cell_init not in CELL_INITS:
            raise ValueError(f"cell_init must be one of {CELL_INITS}, got {self.cell_init!r}")
        check_initialisation(self.init)
        check_flag(self.zero_last_layer, "zero_last_layer")


class UNetCA(CARule):
    """UNetCA: U-Net update rule (48 features, 1×1 convolutions after the first).

    A cell's update depends on a ``(2^k + 2)``-square window (6×6 by default)
    aligned to the ``2^k`` pooling grid; see the module docstring.
    """

    config_class = UNetCAConfig

    def __init__(self, config: UNetCAConfig) -> None:
        super().__init__(config)
        self.cell_init = config.cell_init
        inputs = config.image_channels if config.input_channels is None else config.input_channels
        self.layout = CellLayout(inputs, config.image_channels, config.hidden_channels)
        self.net = UNet(
            self.layout.cell_channels,
            self.layout.updatable_channels,
            config.features,
            config.downsamplings,
            nca_mode=True,
        )
        initialise_(self.net, config.init, negative_slope=LEAKY_SLOPE)
        if config.zero_last_layer:  # paper §4: an untrained rule leaves the grid unchanged
            zero_layer_(self.net.out_conv)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        """``(B, C, H', W') -> (B, C_o + C_h, H', W')`` update."""
        self.layout.check_cells(cells)
        return self.net(cells)
