"""Reading one LandCoverRep tile and converting it to uint8 RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BANDS = 3  # R, G, B
#: Float tiles whose maximum is at most this hold [0, 1] values (rounding slack included).
UNIT_MAX = 1.0 + 1e-3


class LandCoverTileError(ValueError):
    """A tile file does not hold what LandCoverRep tiles hold."""


def read_tile(path: Path) -> np.ndarray:
    """The first three bands of one tile, ``(3, H, W)``, in the file's dtype and scale.

    Tiles may be height-width-band (what ``ToTensor`` expects) or band-height-width;
    the band axis is the short one.
    """
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise LandCoverTileError(f"cannot read tile {str(path)!r}: {err}") from err
    if array.ndim != 3:
        raise LandCoverTileError(
            f"tile {str(path)!r} has shape {array.shape}; expected (H, W, bands) or (bands, H, W)"
        )
    if array.shape[-1] < array.shape[0]:  # (H, W, bands)
        array = np.moveaxis(array, -1, 0)
    if array.shape[0] < BANDS or array.shape[0] >= min(array.shape[1:]):
        raise LandCoverTileError(
            f"tile {str(path)!r} has shape {array.shape}; expected at least {BANDS} bands "
            f"(R, G, B, ...) along its first or last axis"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise LandCoverTileError(f"tile {str(path)!r} has dtype {array.dtype}; expected numbers")
    rgb = array[:BANDS]
    if np.issubdtype(rgb.dtype, np.floating) and not np.isfinite(rgb).all():
        raise LandCoverTileError(f"tile {str(path)!r} holds NaN or infinite values")
    return rgb


def value_scale(tiles: list[np.ndarray]) -> float:
    """255 when the (first) tiles are floats in [0, 1], else 1 (integers or [0, 255] floats)."""
    floats = [t for t in tiles if np.issubdtype(t.dtype, np.floating)]
    if floats and max(float(t.max()) for t in floats) <= UNIT_MAX:
        return 255.0
    return 1.0


def to_uint8(tile: np.ndarray, scale: float, path: Path) -> np.ndarray:
    """``tile * scale`` rounded to uint8; a tile that does not fit the split's scale is an
    error naming the file (never silently darkened or clipped)."""
    if scale == 1.0 and np.issubdtype(tile.dtype, np.floating):
        peak = float(tile.max())
        if 0 < peak <= UNIT_MAX and not np.array_equal(tile, np.round(tile)):
            raise LandCoverTileError(
                f"tile {str(path)!r} holds fractional values up to {peak:g}, like a [0, 1] "
                f"tile, but the split's first tiles are in [0, 255]; tiles of one split must "
                f"share a value scale"
            )
    values = tile.astype(np.float64) * scale
    low, high = float(values.min()), float(values.max())
    if low < -0.5 or high > 255.5:
        expected = "[0, 1]" if scale == 255.0 else "[0, 255]"
        raise LandCoverTileError(
            f"tile {str(path)!r} has values in [{low / scale:g}, {high / scale:g}], outside the "
            f"split's range {expected}; tiles of one split must share a value scale"
        )
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
