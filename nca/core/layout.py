"""Cell layout: which channels of a cell hold what.

A cell grid is a tensor of shape ``(B, C, H', W')`` (logical NCHW; rules may use
``torch.channels_last`` memory format). Each cell stores, in the order of the
authors' released code (paper Fig. 3, §3):

1. positional channels ``C_γ·P_H·P_W`` (optional, e.g. Fourier features of xy),
2. input channels ``C_i·P_H·P_W`` (the injected, possibly masked, image patch),
3. output channels ``C_o·P_H·P_W`` (the current output patch, read by the loss),
4. hidden channels ``C_h`` (free state the rule can use to communicate).

With ``P_H×P_W`` non-overlapping patches, an ``H×W`` image becomes a grid of
``H/P_H × W/P_W`` cells. Patch pixels are flattened as ``(p_h p_w c)``, the same
order as the authors' ``patchify``.

Only the output and hidden groups may be changed by an update rule; they are
contiguous, so "the updatable channels" are a single slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from einops import rearrange

Group = Literal["positional", "input", "output", "hidden"]
GROUPS: tuple[Group, ...] = ("positional", "input", "output", "hidden")
UPDATABLE_GROUPS: tuple[Group, ...] = ("output", "hidden")


def _check_positive(name: str, value: int, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        valid = "a non-negative integer" if allow_zero else "a positive integer"
        raise ValueError(f"{name} must be {valid}, got {value!r}")


@dataclass(frozen=True)
class CellLayout:
    """Named channel groups of a cell and image <-> cell-grid conversion.

    Attributes:
        input_channels: Image channels injected as input, ``C_i`` (1 grayscale, 3 RGB;
            0 for tasks without an input, e.g. growing from a seed).
        output_channels: Image channels produced as output, ``C_o``.
        hidden_channels: Hidden channels per cell, ``C_h``.
        positional_channels: Positional channels per *pixel*, ``C_γ`` (0 for none);
            a cell holds ``C_γ·P_H·P_W`` of them.
        patch_size: ``(P_H, P_W)``, pixels per cell.
    """

    input_channels: int
    output_channels: int
    hidden_channels: int
    positional_channels: int = 0
    patch_size: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        _check_positive("input_channels", self.input_channels, allow_zero=True)
        _check_positive("output_channels", self.output_channels)
        _check_positive("hidden_channels", self.hidden_channels, allow_zero=True)
        _check_positive("positional_channels", self.positional_channels, allow_zero=True)
        patch = tuple(self.patch_size)
        if len(patch) != 2:
            raise ValueError(f"patch_size must be (P_H, P_W), got {self.patch_size!r}")
        for p in patch:
            _check_positive("patch_size entries", p)
        object.__setattr__(self, "patch_size", patch)

    # ----------------------------------------------------------------- sizes
    @property
    def patch_area(self) -> int:
        """``P_H·P_W``, pixels per cell."""
        return self.patch_size[0] * self.patch_size[1]

    def group_size(self, group: Group) -> int:
        """Number of channels a cell holds for ``group``."""
        sizes = {
            "positional": self.positional_channels * self.patch_area,
            "input": self.input_channels * self.patch_area,
            "output": self.output_channels * self.patch_area,
            "hidden": self.hidden_channels,
        }
        if group not in sizes:
            raise KeyError(f"unknown channel group {group!r}; valid groups: {', '.join(GROUPS)}")
        return sizes[group]

    @property
    def cell_channels(self) -> int:
        """Total channels per cell, ``C`` (the ``L`` of the paper's §3)."""
        return sum(self.group_size(g) for g in GROUPS)

    def slice(self, group: Group) -> slice:
        """Channel slice of ``group`` within a cell."""
        start = 0
        for g in GROUPS:
            size = self.group_size(g)
            if g == group:
                return slice(start, start + size)
            start += size
        raise KeyError(f"unknown channel group {group!r}; valid groups: {', '.join(GROUPS)}")

    @property
    def fixed_slice(self) -> slice:
        """Channels a rule must not change: positional and input."""
        return slice(0, self.slice("input").stop)

    @property
    def updatable_slice(self) -> slice:
        """Channels a rule updates: output then hidden (contiguous)."""
        return slice(self.slice("output").start, self.cell_channels)

    @property
    def updatable_channels(self) -> int:
        """Number of channels in an update, ``C_o·P_H·P_W + C_h``."""
        return self.cell_channels - self.fixed_slice.stop

    def is_updatable(self, group: Group) -> bool:
        """Whether a rule may change ``group``."""
        self.group_size(group)  # validates the name
        return group in UPDATABLE_GROUPS

    # ------------------------------------------------------------ grid access
    def check_cells(self, cells: torch.Tensor) -> None:
        """Raise a clear error unless ``cells`` is a ``(B, C, H', W')`` grid of this layout."""
        if not isinstance(cells, torch.Tensor):
            raise TypeError(f"cells must be a torch.Tensor, got {type(cells).__name__}")
        if cells.ndim != 4 or cells.shape[1] != self.cell_channels:
            raise ValueError(
                f"cells must have shape (B, {self.cell_channels}, H, W) for this layout "
                f"({self.describe()}), got {tuple(cells.shape)}"
            )

    def group(self, cells: torch.Tensor, group: Group) -> torch.Tensor:
        """View of one group's channels: ``(B, C, H', W') -> (B, C_group, H', W')``."""
        self.check_cells(cells)
        return cells[:, self.slice(group)]

    def cell_grid_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Cell-grid size ``(H', W')`` for an ``(H, W)`` image; errors if not divisible."""
        height, width = image_size
        p_h, p_w = self.patch_size
        if height % p_h or width % p_w:
            raise ValueError(
                f"image size {height}x{width} is not divisible by the patch size {p_h}x{p_w}; "
                f"use an image size that is a multiple of the patch size"
            )
        return height // p_h, width // p_w

    # ----------------------------------------------------- image <-> cell grid
    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """Images to per-cell patch channels.

        Args:
            images: ``(B, C, H, W)`` with ``H, W`` multiples of the patch size.

        Returns:
            ``(B, C·P_H·P_W, H/P_H, W/P_W)``.
        """
        if images.ndim != 4:
            raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
        self.cell_grid_size(images.shape[-2:])
        p_h, p_w = self.patch_size
        return rearrange(images, "b c (h p1) (w p2) -> b (p1 p2 c) h w", p1=p_h, p2=p_w)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`patchify`: ``(B, C·P_H·P_W, H', W') -> (B, C, H'·P_H, W'·P_W)``."""
        if patches.ndim != 4 or patches.shape[1] % self.patch_area:
            raise ValueError(
                f"patches must have shape (B, C*{self.patch_area}, H', W'), "
                f"got {tuple(patches.shape)}"
            )
        p_h, p_w = self.patch_size
        return rearrange(patches, "b (p1 p2 c) h w -> b c (h p1) (w p2)", p1=p_h, p2=p_w)

    def image(self, cells: torch.Tensor, group: Group = "output") -> torch.Tensor:
        """Read a patch group back as an image: ``(B, C, H', W') -> (B, C_g, H, W)``.

        Valid for the ``positional``, ``input`` and ``output`` groups.
        """
        if group == "hidden":
            raise ValueError(
                "the hidden group has no image form; use layout.group(cells, 'hidden')"
            )
        return self.unpatchify(self.group(cells, group))

    def describe(self) -> str:
        """One-line summary, e.g. ``input 1 | output 1 | hidden 32 (patch 1x1, C=34)``."""
        parts = [f"{g} {self.group_size(g)}" for g in GROUPS if self.group_size(g)]
        p_h, p_w = self.patch_size
        return " | ".join(parts) + f" (patch {p_h}x{p_w}, C={self.cell_channels})"
