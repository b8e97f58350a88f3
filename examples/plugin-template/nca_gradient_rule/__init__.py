"""A complete third-party NCA update rule in one file.

Perceive: each cell sees its own state and the x/y gradients of its neighbours'
state (Sobel filters). Update: a per-cell MLP proposes a change and a sigmoid
gate decides how much of it to apply. The last layer starts at zero, so an
untrained rule leaves the grid unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nca import CARule, CellLayout


@dataclass
class GradientCAConfig:
    """Configuration of :class:`GradientCA`; ``GradientCA(config)`` builds the rule.

    Attributes:
        image_channels: Image channels (1 grayscale, 3 RGB); tasks set it per dataset.
        hidden_channels: Hidden channels per cell.
        width: Hidden width of the update MLP.
    """

    image_channels: int = 1
    hidden_channels: int = 16
    width: int = 64


class GradientCA(CARule):
    """Gated gradient-perception NCA (a plugin example)."""

    config_class = GradientCAConfig
    presets = {"small": {"hidden_channels": 8, "width": 32}}

    def __init__(self, config: GradientCAConfig) -> None:
        super().__init__(config)  # type-checks the config and stores it as self.config
        self.layout = CellLayout(
            config.image_channels, config.image_channels, config.hidden_channels
        )
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
        channels = self.layout.cell_channels
        kernel = torch.stack([sobel, sobel.T]).unsqueeze(1).repeat(channels, 1, 1, 1)
        self.register_buffer("kernel", kernel, persistent=False)
        self.mlp = nn.Sequential(
            nn.Conv2d(3 * channels, config.width, 1),
            nn.ReLU(),
            nn.Conv2d(config.width, 2 * self.layout.updatable_channels, 1),
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C_out + C_hidden, H, W)`` gated update."""
        gradients = F.conv2d(F.pad(cells, (1, 1, 1, 1)), self.kernel, groups=cells.shape[1])
        proposal, gate = self.mlp(torch.cat([cells, gradients], dim=1)).chunk(2, dim=1)
        return proposal * torch.sigmoid(gate)
