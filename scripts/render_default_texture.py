"""Render the texture task's default target: a Gray-Scott reaction-diffusion pattern.

A self-organised pattern is a fitting default for a self-organising texture: spots and
stripes grown by two diffusing, reacting chemicals (Pearson 1993's "mitosis"-like
regime), simulated on a torus so the picture tiles, then coloured. Deterministic (fixed
seed); the output is CC0 (no third-party content).

Usage:
    python scripts/render_default_texture.py plugins/nca_texture/textures/spots.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image


def laplacian(z: np.ndarray) -> np.ndarray:
    """5-point Laplacian on a torus."""
    return np.roll(z, 1, 0) + np.roll(z, -1, 0) + np.roll(z, 1, 1) + np.roll(z, -1, 1) - 4 * z


def gray_scott(size: int = 128, steps: int = 12000, feed: float = 0.0367, kill: float = 0.0649):
    """The ``v`` concentration after ``steps`` explicit Euler steps (Du = 0.16, Dv = 0.08)."""
    rng = np.random.default_rng(0)
    u, v = np.ones((size, size)), np.zeros((size, size))
    for _ in range(24):  # random square seeds of v
        y, x = rng.integers(0, size - 6, 2)
        u[y : y + 6, x : x + 6], v[y : y + 6, x : x + 6] = 0.5, 0.25
    v += 0.02 * rng.random((size, size))
    for _ in range(steps):
        uvv = u * v * v
        u += 0.16 * laplacian(u) - uvv + feed * (1 - u)
        v += 0.08 * laplacian(v) + uvv - (feed + kill) * v
    return v


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "plugins/nca_texture/textures/spots.png")
    v = gray_scott()
    v = (v - v.min()) / (v.max() - v.min())
    low, high = np.array([0.98, 0.93, 0.80]), np.array([0.70, 0.16, 0.10])  # cream, brick red
    rgb = low + v[..., None] * (high - low)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((rgb * 255).round().astype(np.uint8)).resize((96, 96), Image.LANCZOS).save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
