"""Positional information for ViT-style rules (paper §3, §4.1.1 "PE type").

* :func:`sinusoidal_encoding` — the handcrafted Transformer encoding added to
  tokens (the ViTCA baseline), over the flattened (row-major) token index.
* :func:`xy_fourier_encoding` — per-pixel channels concatenated to cells:
  Fourier features of xy coordinates in [-1, 1] with ``J`` frequencies
  ``2^0 π … 2^(J-1) π`` (``sincos5``: 4J channels), optionally followed by the
  raw coordinates (``sincos5xy``: 4J + 2), or the raw coordinates alone (``xy``: 2).
"""

from __future__ import annotations

import math

import torch


def sinusoidal_encoding(
    tokens: int, dim: int, *, device=None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Transformer sinusoidal encoding ``(tokens, dim)``.

    Even channels ``2i`` hold ``sin(n·10000^(-2i/dim))``; odd channels ``2i+1``
    hold ``cos(n·10000^(-(2i+1)/dim))``, exactly as the authors' release
    computes it (the odd frequencies use their own index).
    """
    position = torch.arange(tokens, device=device, dtype=torch.float64).unsqueeze(1)
    scale = -math.log(10000.0) / dim
    even = torch.arange(0, dim, 2, device=device, dtype=torch.float64)
    odd = torch.arange(1, dim, 2, device=device, dtype=torch.float64)
    encoding = torch.zeros(tokens, dim, device=device, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(position * torch.exp(even * scale))
    encoding[:, 1::2] = torch.cos(position * torch.exp(odd * scale))
    return encoding.to(dtype)


def xy_grid(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(2, H, W)`` pixel coordinates in [-1, 1]: channel 0 is x (column), 1 is y (row)."""
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y])


def xy_fourier_encoding(
    height: int,
    width: int,
    *,
    frequencies: int = 5,
    fourier: bool = True,
    raw_xy: bool = False,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Per-pixel positional channels ``(C_γ, H, W)``.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        frequencies: ``J``; frequencies ``2^l π`` for ``l < J``.
        fourier: Include ``sin`` and ``cos`` of x and y at every frequency (``4J`` channels:
            ``sin(x_l), sin(y_l), cos(x_l), cos(y_l)`` blocks of ``J``).
        raw_xy: Append the raw coordinates (2 channels).
    """
    if not (fourier or raw_xy):
        raise ValueError("xy_fourier_encoding needs fourier=True and/or raw_xy=True")
    xy = xy_grid(height, width, device=device, dtype=dtype)
    parts = []
    if fourier:
        bands = (2.0 ** torch.arange(frequencies, device=device, dtype=dtype)) * math.pi
        angles = torch.cat([bands.view(-1, 1, 1) * xy[0], bands.view(-1, 1, 1) * xy[1]])
        parts += [torch.sin(angles), torch.cos(angles)]
    if raw_xy:
        parts.append(xy)
    return torch.cat(parts)
