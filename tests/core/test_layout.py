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
    with pytest.raises(ValueError, match="patch_size"):
        CellLayout(1, 1, 1, patch_size=(2,))
    layout = CellLayout(1, 1, 1, patch_size=(4, 4))
    with pytest.raises(ValueError, match="not divisible by the patch size 4x4"):
        layout.patchify(torch.zeros(1, 1, 6, 8))
    with pytest.raises(ValueError, match=r"cells must have shape \(B, 33, H, W\)"):
        layout.check_cells(torch.zeros(1, 5, 2, 2))
