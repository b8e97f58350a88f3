"""Seeding a cell grid and injecting inputs into it (paper §3.1, App. A.2)."""

from __future__ import annotations

from typing import Literal, get_args

import torch

from nca.core.layout import AXES, CellLayout
from nca.core.random import uniform

CellInit = Literal["constant", "random"]
CELL_INITS: tuple[str, ...] = get_args(CellInit)

#: Paper §3.1: output channels start at 0.5 (a gray image), hidden channels at 0.
CONSTANT_OUTPUT_VALUE = 0.5
CONSTANT_HIDDEN_VALUE = 0.0


def _check_images(layout: CellLayout, images: torch.Tensor, name: str = "images") -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 2 + layout.dims or images.shape[1] != layout.input_channels:
        shape = ", ".join(("B", str(layout.input_channels), *AXES[layout.dims]))
        raise ValueError(
            f"{name} must have shape ({shape}) for a layout with {layout.input_channels} "
            f"input channel(s), got {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {images.dtype}")


def seed(
    layout: CellLayout,
    images: torch.Tensor,
    *,
    init: CellInit = "constant",
    mask: torch.Tensor | None = None,
    positional: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Create a fresh cell grid holding ``images`` as input.

    Args:
        layout: The cell layout.
        images: Input images, ``(B, C_i, *spatial)`` (``(B, C_i, H, W)`` in 2-D); already
            masked, or see ``mask``.
        init: ``"constant"`` (output 0.5, hidden 0; the paper's default) or
            ``"random"`` (output ~ U(0, 1), hidden ~ U(-1, 1); App. A.2).
        mask: Optional keep-mask applied on injection, see :func:`inject`.
        positional: Positional channels per pixel, ``(C_γ, *spatial)`` or
            ``(B, C_γ, *spatial)``; required iff ``layout.positional_channels > 0``.
        generator: Source of randomness for ``init="random"``.

    Returns:
        Cell grid ``(B, C, *cells)`` (``(B, C, H/P_H, W/P_W)`` in 2-D) with the dtype and
        device of ``images``.
    """
    _check_images(layout, images)
    if init not in CELL_INITS:
        raise ValueError(f"unknown cell init {init!r}; valid: {', '.join(CELL_INITS)}")
    batch, spatial = images.shape[0], tuple(images.shape[2:])
    grid = layout.cell_grid_size(spatial)
    cells = images.new_zeros(batch, layout.cell_channels, *grid)

    out_shape = (batch, layout.group_size("output"), *grid)
    hid_shape = (batch, layout.group_size("hidden"), *grid)
    if init == "constant":
        cells[:, layout.slice("output")] = CONSTANT_OUTPUT_VALUE
        cells[:, layout.slice("hidden")] = CONSTANT_HIDDEN_VALUE
    else:
        kwargs = {"generator": generator, "device": images.device}
        cells[:, layout.slice("output")] = uniform(out_shape, **kwargs).to(images.dtype)
        cells[:, layout.slice("hidden")] = (uniform(hid_shape, **kwargs) * 2 - 1).to(images.dtype)

    if layout.positional_channels:
        if positional is None:
            raise ValueError(
                f"this layout has {layout.positional_channels} positional channel(s) per pixel: "
                f"pass positional=(C_γ, *spatial) tensor (the rule's positional encoding)"
            )
        if positional.ndim == 1 + layout.dims:
            positional = positional.unsqueeze(0).expand(batch, *positional.shape)
        expected = (batch, layout.positional_channels, *spatial)
        if tuple(positional.shape) != expected:
            raise ValueError(
                f"positional must have shape {expected[1:]} or {expected}, "
                f"got {tuple(positional.shape)}"
            )
        cells[:, layout.slice("positional")] = layout.patchify(positional.to(cells))
    elif positional is not None:
        raise ValueError("positional was given but the layout has positional_channels=0")

    return inject(layout, cells, images, mask=mask)


def inject(
    layout: CellLayout,
    cells: torch.Tensor,
    images: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Write (masked) images into the input channels of a fresh or live grid.

    Nothing but the input channels changes, so a rollout can be fed new inputs
    mid-way (paper Fig. 4f). The result is a new tensor: autograd-safe.

    Args:
        layout: The cell layout.
        cells: Cell grid ``(B, C, *cells)`` (``(B, C, H', W')`` in 2-D).
        images: ``(B, C_i, *spatial)`` with each pixel size the cell size times the patch
            size (``H = H'·P_H``, ``W = W'·P_W``).
        mask: Optional keep-mask broadcastable to ``images`` (1 keeps a pixel,
            0 zeroes it), applied as ``images * mask``.

    Returns:
        The grid with its input channels replaced, same shape as ``cells``.
    """
    layout.check_cells(cells)
    _check_images(layout, images)
    expected = tuple(n * p for n, p in zip(cells.shape[2:], layout.patch_size, strict=True))
    if images.shape[0] != cells.shape[0] or tuple(images.shape[2:]) != expected:
        raise ValueError(
            f"images of shape {tuple(images.shape)} do not fit a cell grid of shape "
            f"{tuple(cells.shape)}: expected (B={cells.shape[0]}, {layout.input_channels}, "
            f"{', '.join(map(str, expected))})"
        )
    if mask is not None:
        try:
            torch.broadcast_shapes(mask.shape, images.shape)
        except RuntimeError as err:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the images' shape "
                f"{tuple(images.shape)}; use (B, 1, *spatial) or (B, C_i, *spatial)"
            ) from err
        images = images * mask
    patches = layout.patchify(images).to(cells)
    sl = layout.slice("input")
    return torch.cat([cells[:, : sl.start], patches, cells[:, sl.stop :]], dim=1)


def single_cell_seed(
    layout: CellLayout,
    batch: int,
    size: tuple[int, ...],
    *,
    alive_from: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """An empty grid with one live cell in the centre (Mordvintsev et al., 2020).

    Every channel is 0, except that the centre cell's channels from ``alive_from`` on
    (alpha and the hidden channels of an RGBA layout) are 1.

    Args:
        layout: The cell layout.
        batch: Grids ``B``.
        size: Grid size in cells, one entry per spatial dimension (``(H', W')`` in 2-D).
        alive_from: First channel set to 1 in the centre cell (the alpha channel).
        device: Where the grid lives.
        dtype: Its dtype.

    Returns:
        ``(B, C, *size)``.
    """
    size = tuple(size)
    if len(size) != layout.dims:
        raise ValueError(
            f"size has {len(size)} entries but the layout's grids have {layout.dims} "
            f"dimension(s): give one size per dimension"
        )
    if batch < 1 or any(n < 1 for n in size):
        raise ValueError(f"need batch >= 1 and a non-empty grid, got {batch} x {size}")
    if not 0 <= alive_from < layout.cell_channels:
        raise ValueError(
            f"alive_from must index one of the {layout.cell_channels} channels, got {alive_from}"
        )
    cells = torch.zeros(batch, layout.cell_channels, *size, device=device, dtype=dtype)
    cells[(slice(None), slice(alive_from, None), *(n // 2 for n in size))] = 1.0
    return cells
