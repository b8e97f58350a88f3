"""Positional information for ViT-style rules (paper §3, §4.1.1 "PE type"), on grids of
1, 2 or 3 dimensions.

* :func:`sinusoidal_encoding` — the handcrafted Transformer encoding added to
  tokens (the ViTCA baseline), over the flattened (row-major) token index.
* :func:`xy_fourier_encoding` — per-pixel channels concatenated to cells:
  Fourier features of the pixel coordinates in [-1, 1] (``x`` in 1-D, ``x, y`` in 2-D,
  ``x, y, z`` in 3-D) with ``J`` frequencies ``2^0 π … 2^(J-1) π`` (``sincos5``: ``2nJ``
  channels for ``n`` coordinates, 4J in 2-D), optionally followed by the raw
  coordinates (``sincos5xy``: ``2nJ + n``), or the raw coordinates alone (``xy``: ``n``).
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


def _check_size(size: tuple[int, ...]) -> None:
    if len(size) not in (1, 2, 3) or any(int(n) < 1 for n in size):
        raise ValueError(
            f"a grid size is 1 to 3 positive integers, one per spatial dimension; got {size}"
        )


def xy_grid(*size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(n, *size)`` pixel coordinates in [-1, 1] of a grid of ``n`` axes, the last axis
    first: channel 0 is x (the last axis: columns), 1 is y (rows), 2 is z (depth, the
    first axis of a 3-D grid). In 2-D ``(2, H, W)``: x (column), then y (row).
    """
    _check_size(size)
    axes = [torch.linspace(-1.0, 1.0, n, device=device, dtype=dtype) for n in size]
    grids = torch.meshgrid(*axes, indexing="ij")
    return torch.stack(grids[::-1])


def xy_fourier_encoding(
    *size: int,
    frequencies: int = 5,
    fourier: bool = True,
    raw_xy: bool = False,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Per-pixel positional channels ``(C_γ, *size)`` of the ``n`` coordinates of
    :func:`xy_grid` (``x``; ``x, y``; ``x, y, z``).

    Args:
        *size: Image size in pixels, one entry per dimension (``H, W`` in 2-D).
        frequencies: ``J``; frequencies ``2^l π`` for ``l < J``.
        fourier: Include ``sin`` and ``cos`` of every coordinate at every frequency
            (``2nJ`` channels: the ``sin`` blocks of ``J`` for x, y, … then the ``cos``
            blocks; in 2-D ``sin(x_l), sin(y_l), cos(x_l), cos(y_l)``).
        raw_xy: Append the raw coordinates (``n`` channels).
    """
    if not (fourier or raw_xy):
        raise ValueError("xy_fourier_encoding needs fourier=True and/or raw_xy=True")
    coords = xy_grid(*size, device=device, dtype=dtype)
    parts = []
    if fourier:
        bands = (2.0 ** torch.arange(frequencies, device=device, dtype=dtype)) * math.pi
        bands = bands.view(-1, *[1] * len(size))
        angles = torch.cat([bands * coordinate for coordinate in coords])
        parts += [torch.sin(angles), torch.cos(angles)]
    if raw_xy:
        parts.append(coords)
    return torch.cat(parts)
