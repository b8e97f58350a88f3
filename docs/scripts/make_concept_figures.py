"""Draw the figures of docs/concepts.md from the toolkit itself.

Run: python docs/scripts/make_concept_figures.py [OUT]  (default: docs/concepts/)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from nca import CellLayout, draw_update_mask, fuse, make_generator, mitosis

OUT = Path(__file__).resolve().parents[1] / "concepts"


def layout_figure() -> None:
    layout = CellLayout(1, 1, 32, positional_channels=22)  # ViTCA, sincos5xy, grayscale
    colours = {
        "positional": "#9ecae1",
        "input": "#fdae6b",
        "output": "#74c476",
        "hidden": "#bcbddc",
    }
    fig, ax = plt.subplots(figsize=(8, 2.0))
    narrow = 0
    for group, colour in colours.items():
        sl = layout.slice(group)
        width = sl.stop - sl.start
        ax.barh(0, width, left=sl.start, color=colour, edgecolor="black")
        label = f"{group} {width}" if width < 4 else f"{group}\n{width}"
        if width < 4:  # thin groups: label below the bar, staggered
            ax.annotate(
                label,
                xy=((sl.start + sl.stop) / 2, -0.4),
                xytext=((sl.start + sl.stop) / 2 - 6 + 9 * narrow, -0.85),
                fontsize=8,
                ha="center",
                arrowprops={"arrowstyle": "-", "lw": 0.6},
            )
            narrow += 1
        else:
            ax.text((sl.start + sl.stop) / 2, 0, label, ha="center", va="center", fontsize=8)
    upd = layout.updatable_slice
    ax.annotate("", xy=(upd.start, 0.55), xytext=(upd.stop, 0.55), arrowprops={"arrowstyle": "<->"})
    ax.text((upd.start + upd.stop) / 2, 0.62, "updated by the rule", ha="center", fontsize=8)
    ax.set_xlim(0, layout.cell_channels)
    ax.set_ylim(-1.0, 0.9)
    ax.set_yticks([])
    ax.set_xlabel("channel of one cell (ViTCA, grayscale, sincos5xy positions)")
    fig.tight_layout()
    fig.savefig(OUT / "layout.png", dpi=120)
    plt.close(fig)


def async_figure() -> None:
    cells = torch.zeros(1, 1, 16, 16)
    fig, axes = plt.subplots(1, 3, figsize=(7, 2.6))
    for ax, rate in zip(axes, (0.25, 0.5, 1.0), strict=True):
        mask = draw_update_mask(cells, rate, make_generator(0))
        mask = torch.ones(16, 16) if mask is None else mask[0, 0]
        ax.imshow(mask, cmap="Greens", vmin=0, vmax=1)
        ax.set_title(f"σ = {rate:g}: {int(mask.sum())} of 256 cells fire", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(OUT / "async.png", dpi=120)
    plt.close(fig)


def fusion_figure() -> None:
    from nca import load_images

    digit = load_images("embedded-mnist", "test", image_size=16).batch(torch.arange(1))
    fused = fuse(digit)
    restored = mitosis(fused)
    fig, axes = plt.subplots(1, 3, figsize=(7, 2.6))
    for ax, image, title in zip(
        axes,
        (digit, fused, restored),
        ("16×16 cells", "fusion: 8×8", "mitosis: 16×16 again"),
        strict=True,
    ):
        ax.imshow(image[0, 0], cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(OUT / "fusion.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    import sys

    OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    OUT.mkdir(parents=True, exist_ok=True)
    layout_figure()
    async_figure()
    fusion_figure()
    print(f"wrote {sorted(p.name for p in OUT.glob('*.png'))}")
