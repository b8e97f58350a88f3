"""Cell neighbourhoods for localized attention: offsets, border handling, masks.

A neighbourhood has one odd size per spatial dimension of the grid, 1 to 3 of them
(``(3, 3)``: the 2-D Moore neighbourhood; ``(3,)``: a 1-D neighbourhood of 3 cells;
``(3, 3, 3)``: the 26-neighbour 3-D Moore neighbourhood), centred on the cell. Its
``M = N_0·…·N_n`` members are ordered row-major by offset, from ``(-N_0//2, …)`` to
``(N_0//2, …)`` (the last axis varies fastest; in 2-D ``(di, dj)`` with ``dj`` fastest).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F

#: How neighbours outside the grid are treated:
#: ``zeros`` - zero keys/values that still take part in the softmax (authors' code),
#: ``exclude`` - left out of the softmax, ``circular`` - the grid wraps (a torus).
Border = Literal["zeros", "exclude", "circular"]
BORDERS: tuple[str, ...] = get_args(Border)
#: Spatial dimensions a neighbourhood (and its grid) may have.
DIMENSIONS: tuple[int, ...] = (1, 2, 3)
#: einops names of the cell axes by dimension (``b x y h d`` in 2-D).
CELL_AXES = {1: "x", 2: "x y", 3: "x y z"}
#: Names of the cell axes in messages, by dimension.
AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _shown(size: Sequence[int]) -> str:
    return "x".join(map(str, size))


@dataclass(frozen=True)
class Neighbourhood:
    """A neighbourhood of one odd size per spatial dimension, with a border mode.

    Attributes:
        size: One odd positive size per spatial dimension, 1 to 3 entries: ``(N,)``,
            ``(N_H, N_W)`` (default ``(3, 3)``) or ``(N_D, N_H, N_W)``.
        border: One of ``zeros``, ``exclude``, ``circular``.
    """

    size: tuple[int, ...] = (3, 3)
    border: Border = "zeros"

    def __post_init__(self) -> None:
        size = tuple(self.size)
        odd = all(isinstance(s, int) and not isinstance(s, bool) and s > 0 and s % 2 for s in size)
        if len(size) not in DIMENSIONS or not odd:
            raise ValueError(
                f"neighbourhood size must be 1 to 3 odd positive integers, one per spatial "
                f"dimension, e.g. (3, 3); got {self.size!r}"
            )
        if self.border not in BORDERS:
            raise ValueError(f"unknown border mode {self.border!r}; valid: {', '.join(BORDERS)}")
        object.__setattr__(self, "size", size)

    @property
    def dims(self) -> int:
        """Spatial dimensions of the neighbourhood (and of the grids it applies to)."""
        return len(self.size)

    @property
    def radius(self) -> tuple[int, ...]:
        """``N // 2`` per dimension."""
        return tuple(n // 2 for n in self.size)

    @property
    def members(self) -> int:
        """``M``, the product of the sizes (``N_H·N_W`` in 2-D)."""
        return math.prod(self.size)

    def offsets(self) -> list[tuple[int, ...]]:
        """Row-major offsets of the ``M`` members, one entry per dimension."""
        return list(itertools.product(*(range(-r, r + 1) for r in self.radius)))

    def _check_dims(self, size: Sequence[int]) -> None:
        if len(size) != self.dims:
            raise ValueError(
                f"a {_shown(self.size)} neighbourhood needs a {self.dims}-D grid, got "
                f"{len(size)}-D cells {_shown(size)}"
            )

    def check_grid(self, *size: int) -> None:
        """Raise unless a grid of ``size`` cells (one entry per dimension) suits this
        neighbourhood: the same dimension, and (``circular``) at least as large."""
        self._check_dims(size)
        if self.border == "circular" and any(n < s for n, s in zip(size, self.size, strict=True)):
            raise ValueError(
                f"circular border needs a grid of at least {_shown(self.size)} cells "
                f"for a {_shown(self.size)} neighbourhood, got {_shown(size)}"
            )

    @property
    def pad_widths(self) -> tuple[int, ...]:
        """``F.pad`` widths of the cell axes, the last axis first: ``(r_W, r_W, r_H, r_H)``
        in 2-D."""
        return tuple(r for radius in reversed(self.radius) for r in (radius, radius))

    def pad(self, x: torch.Tensor, *, channels_last: bool = True) -> torch.Tensor:
        """Pad a grid by the radius: zeros, or wrapped for ``circular``.

        Args:
            x: ``(B, *cells, ...)`` if ``channels_last`` else ``(B, C, *cells)``, with
                :attr:`dims` cell axes (``(B, H, W, ...)`` / ``(B, C, H, W)`` in 2-D).

        Returns:
            ``(B, *padded, ...)`` (resp. ``(B, C, *padded)``), each cell axis ``n`` grown
            to ``n + 2r``.
        """
        dims, padding = self.dims, self.pad_widths
        if channels_last and self.border != "circular":
            # constant padding of the cell axes directly: no layout round trip
            trailing = (0, 0) * (x.ndim - 1 - dims)
            return F.pad(x, (*trailing, *padding))
        if channels_last:
            trailing = x.shape[1 + dims :]
            x = x.reshape(*x.shape[: 1 + dims], -1).movedim(-1, 1)
        if self.border == "circular":
            padded = F.pad(x, padding, mode="circular")
        else:
            padded = F.pad(x, padding)
        if channels_last:
            padded = padded.movedim(1, -1).reshape(*padded.shape[:1], *padded.shape[2:], *trailing)
        return padded

    def outside_mask(self, size: Sequence[int], device: torch.device | None = None) -> torch.Tensor:
        """``(*size, M)`` bool: True where a member lies outside a grid of ``size`` cells
        (never for ``circular``)."""
        size = tuple(size)
        self._check_dims(size)
        offsets = torch.tensor(self.offsets(), device=device).view(*[1] * len(size), -1, len(size))
        outside = torch.zeros(*size, self.members, dtype=torch.bool, device=device)
        if self.border == "circular":
            return outside
        for axis, n in enumerate(size):
            shape = [n if a == axis else 1 for a in range(len(size))]
            moved = torch.arange(n, device=device).view(*shape, 1) + offsets[..., axis]
            outside |= (moved < 0) | (moved >= n)
        return outside
