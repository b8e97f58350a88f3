import pytest
import torch

from nca.core import CellLayout, normalize_gradients_, overflow_losses


def test_overflow_losses_are_zero_in_range_and_match_algorithm_1():
    layout = CellLayout(1, 2, 3)
    cells = torch.zeros(2, layout.cell_channels, 4, 4)
    cells[:, layout.slice("output")] = 0.5
    assert overflow_losses(layout, cells).total == 0
    cells[0, layout.slice("output").start, 0, 0] = 1.5  # 0.5 above 1
    cells[1, layout.slice("output").start, 1, 1] = -0.25  # 0.25 below 0
    cells[0, layout.slice("hidden").start, 2, 2] = -3.0  # 2 below -1
    losses = overflow_losses(layout, cells)
    b, h, w = 2, 4, 4
    torch.testing.assert_close(losses.output, torch.tensor(0.75 / (2 * b * h * w)))  # 1/C_o, 1/bHW
    torch.testing.assert_close(losses.hidden, torch.tensor(2.0 / (3 * b * h * w)))
    cells[0, layout.slice("input")] = 9.0  # input channels are not penalised
    torch.testing.assert_close(overflow_losses(layout, cells).total, losses.total)


def test_overflow_with_patches_is_the_mean_over_values():
    layout = CellLayout(1, 1, 2, patch_size=(2, 2))
    cells = torch.zeros(1, layout.cell_channels, 2, 2)  # a 4×4 image, 2·4 hidden values
    cells[0, layout.slice("hidden").start, 0, 0] = 2.0
    torch.testing.assert_close(overflow_losses(layout, cells).hidden, torch.tensor(1 / 8))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_overflow_losses_do_not_overflow_in_half_precision(dtype):
    layout = CellLayout(3, 3, 32)
    cells = torch.full((32, layout.cell_channels, 64, 64), 1.5, dtype=dtype)
    losses = overflow_losses(layout, cells)
    assert losses.output.dtype == torch.float32
    torch.testing.assert_close(losses.output, torch.tensor(0.5))
    torch.testing.assert_close(losses.hidden, torch.tensor(0.5))


def test_per_parameter_gradient_normalisation():
    layer = torch.nn.Linear(3, 2)
    layer.weight.grad = torch.full((2, 3), 2.0)
    layer.bias.grad = torch.zeros(2)
    norms = normalize_gradients_(layer.parameters())
    torch.testing.assert_close(norms, torch.tensor([24**0.5, 0.0]))
    torch.testing.assert_close(torch.linalg.vector_norm(layer.weight.grad), torch.tensor(1.0))
    assert torch.all(layer.bias.grad == 0)  # eps keeps zero gradients finite
