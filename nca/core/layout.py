"""Cell layout: which channels of a cell hold what, on a grid of 1, 2 or 3 dimensions.

A cell grid is a tensor of shape ``(B, C, *spatial)``: ``(B, C, L')`` in 1-D,
``(B, C, H', W')`` in 2-D (logical NCHW; rules may use ``torch.channels_last``
memory format), ``(B, C, D', H', W')`` in 3-D. The layout's ``patch_size`` has one
entry per spatial dimension, so it declares the grid's dimension. Each cell stores, in
the order of the authors' released code (paper Fig. 3, §3):

1. positional channels ``C_γ·P`` (optional, e.g. Fourier features of xy),
2. input channels ``C_i·P`` (the injected, possibly masked, image patch),
3. output channels ``C_o·P`` (the current output patch, read by the loss),
4. hidden channels ``C_h`` (free state the rule can use to communicate),

where ``P`` is the number of pixels (voxels) per cell, e.g. ``P_H·P_W`` in 2-D. With
non-overlapping patches, an ``H×W`` image becomes a grid of ``H/P_H × W/P_W`` cells.
Patch pixels are flattened as ``(p_h p_w c)`` (in N-D ``(p_0 ... p_n c)``), the same
order as the authors' ``patchify``.

Only the output and hidden groups may be changed by an update rule; they are
contiguous, so "the updatable channels" are a single slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from einops import rearrange

Group = Literal["positional", "input", "output", "hidden"]
#: Spatial dimensions a grid may have: PyTorch's conv{1,2,3}d and *pool{1,2,3}d.
DIMENSIONS: tuple[int, ...] = (1, 2, 3)
#: Names of the spatial axes in messages, by dimension.
AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
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
        positional_channels: Positional channels per *pixel*, ``C_γ``, (0 for none);
            a cell holds ``C_γ·P`` of them.
        patch_size: Pixels per cell along each spatial dimension (``(P_H, P_W)`` in 2-D,
            ``(P,)`` in 1-D, ``(P_D, P_H, P_W)`` in 3-D); its length is the grid's
            dimension, 1 to 3.
    """

    input_channels: int
    output_channels: int
    hidden_channels: int
    positional_channels: int = 0
    patch_size: tuple[int, ...] = (1, 1)

    def __post_init__(self) -> None:
        _check_positive("input_channels", self.input_channels, allow_zero=True)
        _check_positive("output_channels", self.output_channels)
        _check_positive("hidden_channels", self.hidden_channels, allow_zero=True)
        _check_positive("positional_channels", self.positional_channels, allow_zero=True)
        patch = tuple(self.patch_size)
        if len(patch) not in DIMENSIONS:
            raise ValueError(
                f"patch_size has one entry per spatial dimension, 1 to 3; got "
                f"{self.patch_size!r} ({len(patch)} entries)"
            )
        for p in patch:
            _check_positive("patch_size entries", p)
        object.__setattr__(self, "patch_size", patch)

    # ----------------------------------------------------------------- sizes
    @property
    def dims(self) -> int:
        """Spatial dimensions of the grid (1, 2 or 3)."""
        return len(self.patch_size)

    @property
    def patch_area(self) -> int:
        """``P``: pixels (voxels) per cell, e.g. ``P_H·P_W`` in 2-D."""
        return math.prod(self.patch_size)

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
        """Raise a clear error unless ``cells`` is a ``(B, C, *spatial)`` grid of this
        layout (``dims`` spatial dimensions)."""
        if not isinstance(cells, torch.Tensor):
            raise TypeError(f"cells must be a torch.Tensor, got {type(cells).__name__}")
        if cells.ndim != 2 + self.dims or cells.shape[1] != self.cell_channels:
            shape = ", ".join(("B", str(self.cell_channels), *AXES[self.dims]))
            raise ValueError(
                f"cells must have shape ({shape}) for this layout ({self.describe()}), got "
                f"{tuple(cells.shape)}"
            )

    def group(self, cells: torch.Tensor, group: Group) -> torch.Tensor:
        """View of one group's channels: ``(B, C, *spatial) -> (B, C_group, *spatial)``."""
        self.check_cells(cells)
        return cells[:, self.slice(group)]

    def cell_grid_size(self, image_size: tuple[int, ...]) -> tuple[int, ...]:
        """Cell-grid size (e.g. ``(H', W')``) of an image of ``image_size`` pixels (e.g.
        ``(H, W)``); errors if it is not divisible by the patch size."""
        size = tuple(int(n) for n in image_size)
        if len(size) != self.dims or any(n % p for n, p in zip(size, self.patch_size, strict=True)):
            shown, patch = "x".join(map(str, size)), "x".join(map(str, self.patch_size))
            raise ValueError(
                f"image size {shown} is not divisible by the patch size {patch}; use an "
                f"image size that is a multiple of the patch size"
            )
        return tuple(n // p for n, p in zip(size, self.patch_size, strict=True))

    # ----------------------------------------------------- image <-> cell grid
    def _patterns(self) -> tuple[str, str, dict[str, int]]:
        """einops patterns ``pixels -> patches`` (``b c (a0 p0) (a1 p1) -> b (p0 p1 c) a0
        a1`` in 2-D) and the patch sizes by name."""
        axes = [f"a{i}" for i in range(self.dims)]
        sizes = {f"p{i}": p for i, p in enumerate(self.patch_size)}
        pixels = "b c " + " ".join(f"({a} {p})" for a, p in zip(axes, sizes, strict=True))
        patches = f"b ({' '.join(sizes)} c) {' '.join(axes)}"
        return pixels, patches, sizes

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """Images to per-cell patch channels.

        Args:
            images: ``(B, C, *spatial)`` (``(B, C, H, W)`` in 2-D), each spatial size a
                multiple of the patch size.

        Returns:
            ``(B, C·P, *cells)``, e.g. ``(B, C·P_H·P_W, H/P_H, W/P_W)``.
        """
        if images.ndim != 2 + self.dims:
            shape = ", ".join(("B", "C", *AXES[self.dims]))
            raise ValueError(f"images must have shape ({shape}), got {tuple(images.shape)}")
        self.cell_grid_size(images.shape[2:])
        pixels, patches, sizes = self._patterns()
        return rearrange(images, f"{pixels} -> {patches}", **sizes)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`patchify`: ``(B, C·P, *cells) -> (B, C, *spatial)``."""
        if patches.ndim != 2 + self.dims or patches.shape[1] % self.patch_area:
            cells = ", ".join(f"{a}'" for a in AXES[self.dims])
            raise ValueError(
                f"patches must have shape (B, C*{self.patch_area}, {cells}), "
                f"got {tuple(patches.shape)}"
            )
        pixels, patch_names, sizes = self._patterns()
        return rearrange(patches, f"{patch_names} -> {pixels}", **sizes)

    def image(self, cells: torch.Tensor, group: Group = "output") -> torch.Tensor:
        """Read a patch group back as an image: ``(B, C, *cells) -> (B, C_g, *spatial)``.

        Valid for the ``positional``, ``input`` and ``output`` groups.
        """
        if group == "hidden":
            raise ValueError(
                "the hidden group has no image form; use layout.group(cells, 'hidden')"
            )
        return self.unpatchify(self.group(cells, group))

    def describe(self) -> str:
        """One-line summary, e.g. ``input 1 | output 1 | hidden 32 (patch 1x1, C=34)``
        (``patch 1x1x1`` in 3-D, ``patch 1`` in 1-D)."""
        parts = [f"{g} {self.group_size(g)}" for g in GROUPS if self.group_size(g)]
        patch = "x".join(map(str, self.patch_size))
        return " | ".join(parts) + f" (patch {patch}, C={self.cell_channels})"
