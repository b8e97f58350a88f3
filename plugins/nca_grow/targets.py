"""Targets of the grow task: the shipped emoji or any image file, as premultiplied RGBA."""

from __future__ import annotations

from pathlib import Path

import torch

#: Default targets shipped in ``nca_grow/targets`` (see its CREDITS.md).
DEFAULT_TARGETS = ("lizard", "butterfly", "mushroom")
TARGETS_DIR = Path(__file__).resolve().parent / "targets"


def target_path(target: str) -> Path:
    """The file of a default target's name, or ``target`` as a path."""
    if target in DEFAULT_TARGETS:
        return TARGETS_DIR / f"{target}.png"
    path = Path(target).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"target {target!r} is neither a default target ({', '.join(DEFAULT_TARGETS)}) "
            f"nor an image file"
        )
    return path


#: Grid sides are rounded up to a multiple of this (U-Net rules pool by 2 twice).
GRID_MULTIPLE = 4


def load_target(target: str, size: int, padding: int) -> torch.Tensor:
    """``(4, H', W')`` premultiplied RGBA in [0, 1]: the image shrunk to fit ``size`` (its
    aspect kept), padded with ``padding`` transparent cells on every side, as in the
    article, and then on the bottom and right up to sides divisible by 4 (so U-Net
    rules, which pool twice, can run on the grid)."""
    from PIL import Image, UnidentifiedImageError

    path = target_path(target)
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGBA")
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read target image {str(path)!r}: {err}") from None
    image.thumbnail((size, size), Image.LANCZOS)
    rgba = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    rgba = rgba.view(image.height, image.width, 4).permute(2, 0, 1).float() / 255.0
    rgba = torch.cat([rgba[:3] * rgba[3:], rgba[3:]])  # premultiplied alpha
    if float(rgba[3].max()) <= 0.1:
        raise ValueError(f"target {str(path)!r} is fully transparent: nothing to grow")
    rgba = torch.nn.functional.pad(rgba, (padding, padding, padding, padding))
    extra_h, extra_w = (-rgba.shape[1]) % GRID_MULTIPLE, (-rgba.shape[2]) % GRID_MULTIPLE
    return torch.nn.functional.pad(rgba, (0, extra_w, 0, extra_h))
