"""Targets of the grow task, as premultiplied RGBA: the shipped emoji or any image file
(2-D), the shipped voxel shapes or any ``.npy`` volume ``(D, H, W, 4)`` (3-D)."""

from __future__ import annotations

from pathlib import Path

import torch

from nca import open_image

#: Default targets shipped in ``nca_grow/targets`` (see its CREDITS.md): images and
#: voxel volumes (``scripts/make_voxel_targets.py``).
DEFAULT_TARGETS = ("lizard", "butterfly", "mushroom")
DEFAULT_VOLUMES = ("snowman", "tree", "mushroom3d")
TARGETS_DIR = Path(__file__).resolve().parent / "targets"


def target_path(target: str) -> Path:
    """The file of a default target's name, or ``target`` as a path."""
    if target in DEFAULT_TARGETS:
        return TARGETS_DIR / f"{target}.png"
    if target in DEFAULT_VOLUMES:
        return TARGETS_DIR / f"{target}.npy"
    path = Path(target).expanduser()
    if not path.is_file():
        defaults = ", ".join(DEFAULT_TARGETS + DEFAULT_VOLUMES)
        raise FileNotFoundError(
            f"target {target!r} is neither a default target ({defaults}) nor an image or "
            f".npy volume file"
        )
    return path


#: Grid sides are rounded up to a multiple of this (U-Net rules pool by 2 twice).
GRID_MULTIPLE = 4


def load_target(target: str, size: int, padding: int) -> torch.Tensor:
    """Premultiplied RGBA in [0, 1]: ``(4, H', W')`` for an image, ``(4, D', H', W')``
    for a volume. The target is shrunk to fit ``size`` (its aspect kept), padded with
    ``padding`` transparent cells on every side, as in the article, and then at the end
    of every axis up to sides divisible by 4 (so U-Net rules, which pool twice, can run
    on the grid)."""
    path = target_path(target)
    rgba = _load_volume(path, size) if path.suffix == ".npy" else _load_image(path, size)
    if float(rgba[3].max()) <= 0.1:
        raise ValueError(f"target {str(path)!r} is fully transparent: nothing to grow")
    rgba = torch.nn.functional.pad(rgba, (padding, padding) * (rgba.ndim - 1))
    extra = [(-n) % GRID_MULTIPLE for n in reversed(rgba.shape[1:])]
    return torch.nn.functional.pad(rgba, [p for e in extra for p in (0, e)])


def _load_image(path: Path, size: int) -> torch.Tensor:
    """``(4, H, W)`` premultiplied RGBA of an image file (any PIL mode, see
    :func:`nca.open_image`), shrunk to fit ``size``.

    Raises:
        BadImageFile: a ``ValueError`` naming the file and what is wrong with it.
    """
    from PIL import Image

    image = open_image(path, "RGBA")
    image.thumbnail((size, size), Image.LANCZOS)
    rgba = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    rgba = rgba.view(image.height, image.width, 4).permute(2, 0, 1).float() / 255.0
    return torch.cat([rgba[:3] * rgba[3:], rgba[3:]])  # premultiplied alpha


def _load_volume(path: Path, size: int) -> torch.Tensor:
    """``(4, D, H, W)`` premultiplied RGBA of a ``.npy`` volume ``(D, H, W, 4)`` (uint8
    0-255 or float 0-1, straight alpha), shrunk to fit ``size`` (trilinear, on the
    premultiplied colours)."""
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ValueError(f"cannot read target volume {str(path)!r}: {err}") from None
    if array.ndim != 4 or array.shape[-1] != 4:
        raise ValueError(
            f"target volume {str(path)!r} must have shape (D, H, W, 4) (RGBA voxels), got "
            f"{array.shape}"
        )
    volume = torch.from_numpy(np.asarray(array, dtype=np.float32)).permute(3, 0, 1, 2)
    if array.dtype == np.uint8:
        volume = volume / 255.0
    volume = torch.cat([volume[:3] * volume[3:], volume[3:]]).clamp(0, 1)
    scale = size / max(volume.shape[1:])
    if scale < 1:
        shape = [max(1, round(n * scale)) for n in volume.shape[1:]]
        volume = torch.nn.functional.interpolate(volume[None], size=shape, mode="trilinear",
                                                 align_corners=False)[0]  # fmt: skip
    return volume
