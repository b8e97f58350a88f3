import pytest
import torch

from nca.core import CellLayout


def test_group_order_and_slices_follow_the_paper():
    layout = CellLayout(
        input_channels=3,
        output_channels=3,
        hidden_channels=32,
        positional_channels=2,
        patch_size=(2, 2),
    )
    # positional, input, output, hidden (authors' code order), patch groups scale by P_H·P_W
    assert layout.slice("positional") == slice(0, 8)
    assert layout.slice("input") == slice(8, 20)
    assert layout.slice("output") == slice(20, 32)
    assert layout.slice("hidden") == slice(32, 64)
    assert layout.cell_channels == 64
    assert layout.updatable_slice == slice(20, 64)
    assert layout.updatable_channels == 44
    assert layout.fixed_slice == slice(0, 20)


def test_only_output_and_hidden_are_updatable():
    layout = CellLayout(1, 1, 4)
    assert [g for g in ("positional", "input", "output", "hidden") if layout.is_updatable(g)] == [
        "output",
        "hidden",
    ]
    with pytest.raises(KeyError, match="valid groups"):
        layout.is_updatable("colour")


@pytest.mark.parametrize("patch", [(1, 1), (2, 2), (4, 2)])
def test_patchify_round_trip_and_pixel_order(patch):
    layout = CellLayout(3, 3, 0, patch_size=patch)
    images = torch.randn(2, 3, 8, 8)
    patches = layout.patchify(images)
    assert patches.shape == (2, 3 * patch[0] * patch[1], 8 // patch[0], 8 // patch[1])
    assert torch.equal(layout.unpatchify(patches), images)
    # channel index = (p1 * P_W + p2) * C + c  (the authors' "(p1 p2 c)" order)
    p1, p2, c = patch[0] - 1, patch[1] - 1, 2
    assert torch.equal(
        patches[:, (p1 * patch[1] + p2) * 3 + c, 1, 0], images[:, c, patch[0] + p1, p2]
    )


def test_image_reads_back_groups():
    layout = CellLayout(1, 1, 2, patch_size=(2, 2))
    cells = torch.randn(1, layout.cell_channels, 3, 3)
    out = layout.image(cells, "output")
    assert out.shape == (1, 1, 6, 6)
    assert torch.equal(layout.patchify(out), cells[:, layout.slice("output")])
    with pytest.raises(ValueError, match="hidden group has no image form"):
        layout.image(cells, "hidden")


def test_bad_values_get_clear_errors():
    with pytest.raises(ValueError, match="input_channels must be a non-negative integer, got -1"):
        CellLayout(-1, 1, 1)
    with pytest.raises(ValueError, match="output_channels must be a positive integer, got 0"):
        CellLayout(1, 0, 1)
    assert CellLayout(0, 4, 12).cell_channels == 16  # no inputs: growing from a seed
    for patch in ((), (1, 1, 1, 1)):  # 0-D and 4-D grids
        with pytest.raises(
            ValueError,
            match=r"one entry per spatial dimension, 1 to 3; got \(.*\) \([04] entries\)",
        ):
            CellLayout(1, 1, 1, patch_size=patch)
    layout = CellLayout(1, 1, 1, patch_size=(4, 4))
    with pytest.raises(ValueError, match="not divisible by the patch size 4x4"):
        layout.patchify(torch.zeros(1, 1, 6, 8))
    with pytest.raises(ValueError, match=r"cells must have shape \(B, 33, H, W\)"):
        layout.check_cells(torch.zeros(1, 5, 2, 2))


@pytest.mark.parametrize("patch", [(2,), (1,), (2, 1, 3), (1, 1, 1)])
def test_grids_of_one_and_three_dimensions(patch):
    layout = CellLayout(2, 3, 4, positional_channels=1, patch_size=patch)
    assert layout.dims == len(patch)
    assert layout.patch_area == torch.tensor(patch).prod()
    size = tuple(4 * p for p in patch)
    images = torch.randn(2, 3, *size)
    patches = layout.patchify(images)
    assert patches.shape == (2, 3 * layout.patch_area, *(4,) * len(patch))
    assert torch.equal(layout.unpatchify(patches), images)
    # a pixel's channels stay together: (p_0 ... p_n c), channel fastest
    corner = (0,) * len(patch)
    assert torch.equal(patches[(slice(None), slice(0, 3), *corner)], images[(..., *corner)])
    cells = torch.zeros(1, layout.cell_channels, *(4,) * len(patch))
    layout.check_cells(cells)
    axes = {1: "L", 2: "H, W", 3: "D, H, W"}[len(patch)]
    with pytest.raises(
        ValueError, match=rf"cells must have shape \(B, {layout.cell_channels}, {axes}\)"
    ):
        layout.check_cells(cells[:, :, None])
    assert layout.cell_grid_size(size) == (4,) * len(patch)
    assert f"patch {'x'.join(map(str, patch))}" in layout.describe()
