"""Pictures the analyses draw: legends beside the curves, colour keys under class maps."""

import pytest
import torch

from nca.analysis.media import curves_figure, save_animation


def test_the_legend_sits_beside_the_axes_not_over_the_curves():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    curves = {"cell_accuracy": [10.0, 50, 90, 95], "majority_accuracy": [20.0, 60, 95, 99],
              "agreement": [5.0, 30, 80, 90]}  # fmt: skip
    fig = curves_figure(curves, xlabel="step", ylabel="%")
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    axes = fig.axes[0].get_window_extent()
    assert legend.x0 >= axes.x1  # wholly to the right of the plotting area
    figure = fig.bbox
    assert legend.x1 <= figure.x1 + 1  # and inside the saved picture
    plt.close(fig)


def test_an_animation_can_carry_a_colour_key(tmp_path):
    from PIL import Image

    frames = [torch.ones(2, 3, 8, 8) * 0.5, torch.ones(2, 3, 8, 8)]
    plain = Image.open(save_animation(frames, tmp_path / "plain.gif"))
    key = [("0", (1.0, 0.0, 0.0)), ("1", (0.0, 0.0, 1.0))]
    keyed = Image.open(save_animation(frames, tmp_path / "keyed.gif", key=key))
    assert keyed.width == plain.width and keyed.height > plain.height
    pixels = keyed.convert("RGB")
    swatch = pixels.getpixel((2 + 5, plain.height + 2 + 5))  # inside the first swatch
    assert swatch[0] > 200 and swatch[1] < 50 and swatch[2] < 50
    second = pixels.getpixel((22 + 2 + 5, plain.height + 2 + 5))
    assert second[2] > 200 and second[0] < 50


def test_grids_can_name_their_rows_and_small_images_are_scaled_up(tmp_path):
    from PIL import Image

    from nca import readable_scale, save_grid

    rows = [torch.zeros(4, 1, 16, 16), torch.ones(4, 1, 16, 16)]
    assert readable_scale(rows[0]) == 4 and readable_scale(torch.zeros(1, 1, 64, 64)) == 1
    plain = Image.open(save_grid(rows, tmp_path / "plain.png", scale=4))
    named = Image.open(save_grid(rows, tmp_path / "named.png", scale=4,
                                 labels=("input", "target")))  # fmt: skip
    assert plain.height == named.height == 2 + 2 * (64 + 2)
    assert named.width > plain.width  # the label margin
    margin = named.convert("L").crop((0, 0, named.width - plain.width, named.height))
    assert min(margin.getdata()) < 128  # text drawn in it
