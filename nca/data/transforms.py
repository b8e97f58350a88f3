"""Resampling and cropping of uint8 image batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Bilinear, antialiased resampling in chunks (bounded memory).

    Args:
        images: ``(N, C, h, w)`` uint8.
        size: Output side.
        chunk: Images resampled at a time.

    Returns:
        ``(N, C, size, size)`` uint8 (``images`` itself when already that size).
    """
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        resized = F.interpolate(
            images[start : start + chunk].float(),
            size=(size, size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        out[start : start + chunk] = resized.round().clamp(0, 255).to(torch.uint8)
    return out


def centre_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` window of ``(..., H, W)`` images, placed exactly as
    torchvision's ``CenterCrop`` places it (a view, no copy)."""
    h, w = images.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"cannot crop {size}x{size} from {h}x{w} images")
    top, left = round((h - size) / 2.0), round((w - size) / 2.0)  # as torchvision rounds
    return images[..., top : top + size, left : left + size]
