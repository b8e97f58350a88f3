"""Writing pictures: PNG grids and GIF animations (PIL and torchvision only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` in [0, 1] (clamped), grayscale tiled to RGB."""
    images = images.detach().float().clamp(0, 1).cpu()
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def save_grid(
    rows: Sequence[torch.Tensor], path: Path, *, scale: int = 1, labels: Sequence[str] = ()
) -> Path:
    """One row per tensor ``(B, C, H, W)`` (same B), upscaled by ``scale`` (nearest), each
    row named by its entry of ``labels`` in a margin on the left (none: no margin)."""
    stacked = torch.cat([to_rgb(r) for r in rows])
    if scale > 1:
        stacked = stacked.repeat_interleave(scale, -2).repeat_interleave(scale, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not labels:
        save_image(stacked, path, nrow=rows[0].shape[0], padding=2, pad_value=1.0)
        return path
    from PIL import Image, ImageDraw

    grid = make_grid(stacked, nrow=rows[0].shape[0], padding=2, pad_value=1.0)
    picture = Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8"))
    margin = 7 * max(len(label) for label in labels) + 8  # PIL's default font: ~6 px a letter
    canvas = Image.new("RGB", (picture.width + margin, picture.height), "white")
    canvas.paste(picture, (margin, 0))
    draw, row_height = ImageDraw.Draw(canvas), stacked.shape[-2] + 2
    for index, label in enumerate(labels):
        draw.text((4, 2 + index * row_height + row_height // 2 - 6), label, fill="black")
    canvas.save(path)
    return path


def readable_scale(images: torch.Tensor, side: int = 64) -> int:
    """The whole-number upscaling that shows ``(B, C, H, W)`` images at least ``side``
    pixels on their shorter side (1 when they already are), at most 8."""
    return max(1, min(8, -(-side // min(images.shape[-2:]))))


def save_animation(
    frames: Sequence[torch.Tensor],
    path: Path,
    *,
    labels: Sequence[str] = (),
    scale: int = 4,
    duration_ms: int = 80,
    key: Sequence[tuple[str, Sequence[float]]] = (),
) -> Path:
    """A GIF of ``frames`` (each ``(B, C, H, W)``, shown as a row), with a caption per frame
    and, under every frame, a colour ``key`` of ``(label, (r, g, b) in [0, 1])`` swatches
    (e.g. the class of each colour)."""
    from PIL import Image, ImageDraw

    pictures = []
    for index, frame in enumerate(frames):
        rgb = to_rgb(frame).repeat_interleave(scale, -2).repeat_interleave(scale, -1)
        grid = make_grid(rgb, nrow=rgb.shape[0], padding=2, pad_value=1.0)
        array = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
        image = Image.fromarray(array)
        if index < len(labels):
            canvas = Image.new("RGB", (image.width, image.height + 14), "white")
            canvas.paste(image, (0, 14))
            ImageDraw.Draw(canvas).text((2, 1), labels[index], fill="black")
            image = canvas
        if key:
            image = _with_key(image, key)
        pictures.append(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0)
    return path


def _with_key(image, key: Sequence[tuple[str, Sequence[float]]]):
    """``image`` over a row of colour swatches, each followed by its label."""
    from PIL import Image, ImageDraw

    cell = 22  # a 10-pixel swatch and a label of up to two characters
    per_row = max(1, image.width // cell)
    rows = -(-len(key) // per_row)
    canvas = Image.new("RGB", (image.width, image.height + 14 * rows + 2), "white")
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, (label, rgb) in enumerate(key):
        x, y = (i % per_row) * cell + 2, image.height + 2 + (i // per_row) * 14
        colour = tuple(round(255 * float(c)) for c in rgb)
        draw.rectangle((x, y + 1, x + 9, y + 10), fill=colour, outline="black")
        draw.text((x + 12, y), label, fill="black")
    return canvas


def save_curves(
    curves: dict[str, Sequence[float]],
    path: Path,
    *,
    xlabel: str,
    ylabel: str,
    marks: Sequence[int] = (),
    title: str = "",
) -> Path | None:
    """A line plot (matplotlib, optional ``viz`` extra); ``None`` if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig = curves_figure(curves, xlabel=xlabel, ylabel=ylabel, marks=marks, title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def curves_figure(curves, *, xlabel: str, ylabel: str, marks: Sequence[int] = (),
                  title: str = ""):  # fmt: skip
    """The matplotlib figure of :func:`save_curves` (matplotlib must be importable): one
    line per curve, dashed marks, and the legend beside the axes, never over a curve."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5 if len(curves) > 1 else 6, 3.5))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    for mark in marks:
        ax.axvline(mark, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    fig.tight_layout()
    return fig
