"""Cell neighbourhoods for localized attention: offsets, border handling, masks.

A neighbourhood of ``N_H × N_W`` cells (odd sizes, centred on the cell; 3×3 is
the Moore neighbourhood) has ``M = N_H·N_W`` members, ordered row-major by
offset ``(di, dj)`` from ``(-N_H//2, -N_W//2)`` to ``(N_H//2, N_W//2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F

#: How neighbours outside the grid are treated:
#: ``zeros`` - zero keys/values that still take part in the softmax (authors' code),
#: ``exclude`` - left out of the softmax, ``circular`` - the grid wraps (a torus).
Border = Literal["zeros", "exclude", "circular"]
BORDERS: tuple[str, ...] = get_args(Border)


@dataclass(frozen=True)
class Neighbourhood:
    """An ``N_H × N_W`` neighbourhood with a border mode.

    Attributes:
        size: ``(N_H, N_W)``, odd positive integers.
        border: One of ``zeros``, ``exclude``, ``circular``.
    """

    size: tuple[int, int] = (3, 3)
    border: Border = "zeros"

    def __post_init__(self) -> None:
        size = tuple(self.size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 and s % 2 == 1 for s in size):
            raise ValueError(
                f"neighbourhood size must be two odd positive integers (N_H, N_W), e.g. (3, 3); "
                f"got {self.size!r}"
            )
        if self.border not in BORDERS:
            raise ValueError(f"unknown border mode {self.border!r}; valid: {', '.join(BORDERS)}")
        object.__setattr__(self, "size", size)

    @property
    def radius(self) -> tuple[int, int]:
        return self.size[0] // 2, self.size[1] // 2

    @property
    def members(self) -> int:
        """``M = N_H·N_W``."""
        return self.size[0] * self.size[1]

    def offsets(self) -> list[tuple[int, int]]:
        """Row-major ``(di, dj)`` offsets of the ``M`` members."""
        r_h, r_w = self.radius
        return [(di, dj) for di in range(-r_h, r_h + 1) for dj in range(-r_w, r_w + 1)]

    def check_grid(self, height: int, width: int) -> None:
        """Circular wrapping needs the grid to be at least as large as the neighbourhood."""
        if self.border == "circular" and (height < self.size[0] or width < self.size[1]):
            raise ValueError(
                f"circular border needs a grid of at least {self.size[0]}x{self.size[1]} cells "
                f"for a {self.size[0]}x{self.size[1]} neighbourhood, got {height}x{width}"
            )

    def pad(self, x: torch.Tensor, *, channels_last: bool = True) -> torch.Tensor:
        """Pad a grid by the radius: zeros, or wrapped for ``circular``.

        Args:
            x: ``(B, H, W, ...)`` if ``channels_last`` else ``(B, C, H, W)``.

        Returns:
            ``(B, H + 2r_h, W + 2r_w, ...)`` (resp. ``(B, C, H + 2r_h, W + 2r_w)``).
        """
        r_h, r_w = self.radius
        if channels_last and self.border != "circular":
            # constant padding of dims 1 and 2 directly: no layout round trip
            trailing = (0, 0) * (x.ndim - 3)
            return F.pad(x, (*trailing, r_w, r_w, r_h, r_h))
        if channels_last:
            trailing = x.shape[3:]
            x = x.reshape(*x.shape[:3], -1).permute(0, 3, 1, 2)
        if self.border == "circular":
            padded = F.pad(x, (r_w, r_w, r_h, r_h), mode="circular")
        else:
            padded = F.pad(x, (r_w, r_w, r_h, r_h))
        if channels_last:
            padded = padded.permute(0, 2, 3, 1).reshape(
                padded.shape[0], padded.shape[2], padded.shape[3], *trailing
            )
        return padded

    def outside_mask(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """``(H, W, M)`` bool: True where a member lies outside the grid (never for circular)."""
        rows = torch.arange(height, device=device).view(height, 1, 1)
        cols = torch.arange(width, device=device).view(1, width, 1)
        di = torch.tensor([o[0] for o in self.offsets()], device=device).view(1, 1, -1)
        dj = torch.tensor([o[1] for o in self.offsets()], device=device).view(1, 1, -1)
        outside = (rows + di < 0) | (rows + di >= height) | (cols + dj < 0) | (cols + dj >= width)
        if self.border == "circular":
            outside = torch.zeros_like(outside)
        return outside
