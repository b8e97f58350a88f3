"""Make the grow task's default 3-D targets: small coloured voxel shapes (run once).

The volumes are committed as ``plugins/nca_grow/targets/<name>.npy``: uint8 RGBA of shape
``(D, H, W, 4)``, straight (not premultiplied) alpha, axis 0 the depth (front to back),
axis 1 up to down, axis 2 left to right. They are drawn here from a few spheres, boxes
and cones, so their provenance is this script (no third-party data; CC0).

Usage:
    python scripts/make_voxel_targets.py [--side 24]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "plugins" / "nca_grow" / "targets"


def _grid(side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre coordinates ``(z, y, x)`` in [-1, 1], each ``(side, side, side)``."""
    axis = (np.arange(side) + 0.5) / side * 2 - 1
    return np.meshgrid(axis, axis, axis, indexing="ij")


def _paint(volume: np.ndarray, inside: np.ndarray, colour: tuple[int, int, int]) -> None:
    volume[inside] = (*colour, 255)


def snowman(side: int) -> np.ndarray:
    """Three white spheres stacked, an orange nose, two black eyes."""
    z, y, x = _grid(side)
    volume = np.zeros((side, side, side, 4), np.uint8)
    for centre_y, radius in ((0.5, 0.45), (-0.1, 0.33), (-0.58, 0.24)):
        _paint(volume, x**2 + (y - centre_y) ** 2 + z**2 < radius**2, (235, 240, 250))
    nose = (x**2 + (y + 0.58) ** 2 < 0.06**2) & (z < -0.15) & (z > -0.45)
    _paint(volume, nose, (245, 130, 30))
    for eye_x in (-0.1, 0.1):
        eye = (x - eye_x) ** 2 + (y + 0.68) ** 2 + (z + 0.2) ** 2 < 0.06**2
        _paint(volume, eye, (20, 20, 20))
    return volume


def tree(side: int) -> np.ndarray:
    """A brown trunk under a green cone."""
    z, y, x = _grid(side)
    volume = np.zeros((side, side, side, 4), np.uint8)
    trunk = (x**2 + z**2 < 0.13**2) & (y > 0.45) & (y < 0.95)
    _paint(volume, trunk, (120, 75, 35))
    height = (0.5 - y) / 1.4  # 0 at the cone's base (y = 0.5), 1 at its tip (y = -0.9)
    cone = (height >= 0) & (height <= 1) & (np.sqrt(x**2 + z**2) < 0.7 * (1 - height))
    _paint(volume, cone, (40, 150, 60))
    return volume


def mushroom(side: int) -> np.ndarray:
    """A cream stem under a red cap with white spots."""
    z, y, x = _grid(side)
    volume = np.zeros((side, side, side, 4), np.uint8)
    stem = (x**2 + z**2 < 0.22**2) & (y > -0.1) & (y < 0.9)
    _paint(volume, stem, (240, 225, 190))
    cap = (x**2 + (y - 0.05) ** 2 + z**2 < 0.8**2) & (y < -0.05)
    _paint(volume, cap, (210, 40, 40))
    for spot in ((0.0, -0.7, 0.0), (0.45, -0.5, 0.2), (-0.4, -0.45, -0.35), (0.1, -0.4, -0.6)):
        dot = cap & ((x - spot[0]) ** 2 + (y - spot[1]) ** 2 + (z - spot[2]) ** 2 < 0.16**2)
        _paint(volume, dot, (250, 250, 250))
    return volume


SHAPES = {"snowman": snowman, "tree": tree, "mushroom3d": mushroom}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=24)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, shape in SHAPES.items():
        volume = shape(args.side)
        np.save(OUT / f"{name}.npy", volume)
        filled = int((volume[..., 3] > 0).sum())
        print(f"{name}: {volume.shape}, {filled} opaque voxels -> {OUT / (name + '.npy')}")


if __name__ == "__main__":
    main()
