"""U-Net baseline: a feed-forward denoiser (paper §4, Table 1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nca.layers.init import Initialisation, check_initialisation, initialise_
from nca.layers.unet import LEAKY_SLOPE
from nca.layers.unet import UNet as UNetNetwork
from nca.rules.base import FeedForwardRule


@dataclass
class UNetConfig:
    """Configuration of the :class:`UNet` baseline.

    Attributes:
        image_channels: Image channels in and out (1 grayscale, 3 RGB).
        features: Initial feature maps (paper: 24).
        downsamplings: Max-pool steps (paper: 2 for 32×32 images).
        init: ``he`` (Kaiming-normal with the LeakyReLU(0.1) gain, zero biases; paper
            §4) or ``pytorch`` (PyTorch's defaults, what the authors' release uses);
            see :mod:`nca.layers.init`.
    """

    image_channels: int = 1
    features: int = 24
    downsamplings: int = 2
    init: Initialisation = "he"

    def __post_init__(self) -> None:
        for name in ("image_channels", "features", "downsamplings"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_initialisation(self.init)


class UNet(FeedForwardRule):
    """U-Net baseline (Noise2Noise-style, 24 features, 2 downsamplings): masked image -> image."""

    config_class = UNetConfig
    capabilities = frozenset({"features"})

    def __init__(self, config: UNetConfig) -> None:
        super().__init__(config)
        self.image_channels = config.image_channels
        self.net = UNetNetwork(
            config.image_channels, config.image_channels, config.features, config.downsamplings
        )
        initialise_(self.net, config.init, negative_slope=LEAKY_SLOPE)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Bottleneck features, the linear-probe features (paper §4.2).

        Args:
            images: ``(B, C, H, W)``, ``H`` and ``W`` divisible by ``2**downsamplings``.

        Returns:
            Channels-first ``(B, F, H/2^k, W/2^k)`` with ``F`` = ``features`` and
            ``k`` = ``downsamplings`` (``(B, 24, H/4, W/4)`` by default).
        """
        return self.net.encode(images)[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``."""
        return self.net(images)
