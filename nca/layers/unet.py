"""The U-Net of the paper's baselines (§4 "Baseline models and variants").

Noise2Noise's U-Net (Lehtinen et al. 2018) as the ViTCA authors adapted it:
``F`` initial feature maps, ``downsamplings`` max-pool steps (2 for 32×32
images instead of Noise2Noise's 5), nearest-neighbour upsampling, skip
concatenations, LeakyReLU(0.1) after every convolution but the last, and a
fixed 64 → 32 tail before the output convolution. Every convolution has a
bias and "same" zero padding. In ``nca_mode`` every convolution except the
first is 1×1 (the UNetCA restriction): only the first convolution sees a 3×3
neighbourhood, but the 2×2 max-pools still mix cells, so each output depends on
a ``(2^k + 2) × (2^k + 2)`` window aligned to the ``2^k`` grid (6×6 for two
downsamplings; see :mod:`nca.rules.unetca`).

With ``F = 24`` (U-Net) and ``F = 48`` in NCA mode (UNetCA), this reproduces
the paper's Table 1 parameter counts exactly; see ``tests/rules/test_baselines.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Widths of the decoder tail (dec_conv1a, dec_conv1b), fixed as in Noise2Noise.
TAIL_WIDTHS = (64, 32)
LEAKY_SLOPE = 0.1


class ConvAct(nn.Sequential):
    """Conv2d ("same" padding, bias) followed by LeakyReLU(0.1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding="same"),
            nn.LeakyReLU(LEAKY_SLOPE),
        )


class UNet(nn.Module):
    """Noise2Noise-style U-Net.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        features: Initial feature maps ``F``.
        downsamplings: Number of 2× max-pool steps; inputs must be divisible by
            ``2**downsamplings``.
        nca_mode: Make every convolution after the first 1×1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        features: int = 24,
        downsamplings: int = 2,
        nca_mode: bool = False,
    ) -> None:
        super().__init__()
        if downsamplings < 1:
            raise ValueError(f"downsamplings must be >= 1, got {downsamplings}")
        k = 1 if nca_mode else 3
        self.downsamplings = downsamplings
        self.enc_conv0 = ConvAct(in_channels, features, 3)
        self.encoders = nn.ModuleList(ConvAct(features, features, k) for _ in range(downsamplings))
        self.bottleneck = ConvAct(features, features, k)
        # decoder stages from coarse to fine; the first sees F (upsampled) + F (skip),
        # later ones 2F (upsampled) + F (skip), as in Noise2Noise
        self.decoders = nn.ModuleList(
            nn.Sequential(
                ConvAct((2 if i == 0 else 3) * features, 2 * features, k),
                ConvAct(2 * features, 2 * features, k),
            )
            for i in range(downsamplings - 1)
        )
        up_channels = 2 * features if downsamplings > 1 else features
        self.tail = nn.Sequential(
            ConvAct(up_channels + in_channels, TAIL_WIDTHS[0], k),
            ConvAct(TAIL_WIDTHS[0], TAIL_WIDTHS[1], k),
        )
        self.out_conv = nn.Conv2d(TAIL_WIDTHS[1], out_channels, k, padding="same")

    def check_size(self, height: int, width: int) -> None:
        factor = 2**self.downsamplings
        if height % factor or width % factor:
            raise ValueError(
                f"U-Net with {self.downsamplings} downsamplings needs height and width divisible "
                f"by {factor}, got {height}x{width}"
            )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Bottleneck features ``(B, F, H/2^k, W/2^k)`` and the skip tensors."""
        self.check_size(*x.shape[-2:])
        skips = [x]
        h = self.enc_conv0(x)
        for i, encoder in enumerate(self.encoders):
            h = F.max_pool2d(encoder(h), 2)
            if i < self.downsamplings - 1:
                skips.append(h)
        return self.bottleneck(h), skips

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W) -> (B, out_channels, H, W)``."""
        h, skips = self.encode(x)
        for decoder in self.decoders:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = decoder(torch.cat([h, skips.pop()], dim=1))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.tail(torch.cat([h, skips.pop()], dim=1))
        return self.out_conv(h)
