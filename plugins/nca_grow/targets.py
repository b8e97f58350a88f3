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


def load_target(target: str, size: int, padding: int) -> torch.Tensor:
    """``(4, S + 2p, S' + 2p)`` premultiplied RGBA in [0, 1]: the image shrunk to fit
    ``size`` (its aspect kept), then padded with transparent cells, as in the article."""
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
    return torch.nn.functional.pad(rgba, (padding, padding, padding, padding))
