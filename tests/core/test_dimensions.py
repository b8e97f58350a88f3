"""The core on grids of 1, 2 and 3 spatial dimensions: seeding, injection, update
masks, rollouts (plain, checkpointed, with octaves and noise, fixed point), living-cell
masking, damage (boxes and balls), pools and GridModel; 0 or 4 dimensions are refused."""

import pytest
import torch
from torch import nn

from nca import (
    AliveMasking,
    CellLayout,
    CellularAutomaton,
    FixedPointConfig,
    GridModel,
    SlotPool,
    circle_damage,
    damage,
    fixed_point_rollout,
    fuse,
    living_mask,
    make_generator,
    mitosis,
)

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


class TinyRule(nn.Module):
    """A CA rule of any dimension: one 3^n convolution of the cell, tanh."""

    kind = "ca"

    def __init__(self, dims: int, inputs: int = 1, outputs: int = 1, hidden: int = 2) -> None:
        super().__init__()
        self.layout = CellLayout(inputs, outputs, hidden, patch_size=(1,) * dims)
        torch.manual_seed(0)
        self.conv = CONV[dims](self.layout.cell_channels, self.layout.updatable_channels, 3,
                               padding=1)  # fmt: skip

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(cells)) * 0.1

    def positional_encoding(self, *size, device, dtype):
        return None


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_rollouts_of_every_kind_in_every_dimension(dims):
    rule = TinyRule(dims)
    ca = CellularAutomaton(rule)
    images = torch.rand(2, 1, *(8,) * dims, generator=make_generator(0))
    cells = ca.seed(images)
    assert cells.shape == (2, rule.layout.cell_channels, *(8,) * dims)
    plain = ca(cells, 6, generator=make_generator(1)).cells
    checkpointed = ca(cells, 6, generator=make_generator(1), checkpoint_segments=3).cells
    torch.testing.assert_close(checkpointed, plain)
    assert torch.equal(plain[:, :1], images)  # inputs are never updated
    octaves = ca(cells, 8, generator=make_generator(2), octaves=2).cells
    assert octaves.shape == cells.shape
    noisy = CellularAutomaton(rule, update_noise=0.02)(cells, 3, generator=make_generator(3))
    assert noisy.cells.shape == cells.shape
    injected = ca.inject(plain, images.flip(-1))
    assert torch.equal(injected[:, :1], images.flip(-1))
    loss = ca(cells, 4, generator=make_generator(4), gradient="checkpoint").cells.square().sum()
    loss.backward()
    assert rule.conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_fixed_point_and_fusion_in_every_dimension(dims):
    rule = TinyRule(dims)
    ca = CellularAutomaton(rule)
    cells = ca.seed(torch.rand(1, 1, *(4,) * dims, generator=make_generator(0)))
    out, stats = fixed_point_rollout(ca.step, rule.layout, cells, FixedPointConfig(max_steps=60),
                                     rate=0.5, generator=make_generator(1))  # fmt: skip
    assert out.shape == cells.shape and stats.forward_steps <= 60
    grid = torch.arange(4.0**dims).view(1, 1, *(4,) * dims)
    assert fuse(grid).shape == (1, 1, *(2,) * dims)
    assert fuse(grid).view(-1)[0] == grid[(0, 0, *[slice(0, 2)] * dims)].mean()
    assert torch.equal(fuse(mitosis(grid)), grid)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_living_cells_damage_and_pools_in_every_dimension(dims):
    alpha = torch.zeros(1, 1, *(5,) * dims)
    alpha[(0, 0, *(2,) * dims)] = 0.5
    alive = living_mask(alpha)
    assert alive.sum() == 3**dims  # the 3^n neighbourhood of the one live cell
    rule = TinyRule(dims, inputs=0, outputs=4)
    model = GridModel(rule, blank="single-cell", alive=AliveMasking(3))
    seeds = model.seed(2, 7)
    assert seeds.shape == (2, rule.layout.cell_channels, *(7,) * dims)
    assert seeds.sum() == 2 * 3  # alpha and two hidden channels of the centre cell
    grown = model.run(seeds, 4, make_generator(0))
    assert torch.all(grown[:, 3:][~model.alive(grown).expand_as(grown[:, 3:])] == 0)
    _, box = damage(rule.layout, grown, generator=make_generator(1))
    assert box.shape == (2, 1, *(7,) * dims) and box.sum(dim=tuple(range(1, dims + 2))).min() > 0
    balled, ball = circle_damage(torch.ones(2, 3, *(16,) * dims), radius=(0.3, 0.3),
                                 generator=make_generator(2))  # fmt: skip
    assert torch.equal(balled == 0, ball.expand_as(balled)) and ball.any()
    pool = SlotPool(seeds[0], 4, make_generator(3))
    indices, sampled = pool.sample(2)
    pool.commit(indices, sampled + 1)
    assert pool.cells.shape == (4, *seeds.shape[1:])


def test_a_ball_is_round_in_3d():
    _, ball = circle_damage(torch.ones(1, 1, 33, 33, 33), radius=(0.5, 0.5),
                            generator=make_generator(0))  # fmt: skip
    centre = torch.stack(torch.where(ball[0, 0])).float().mean(1)
    extents = [int(ball[0, 0].any(dim=[d for d in range(3) if d != a]).sum()) for a in range(3)]
    assert max(extents) - min(extents) <= 1  # as wide along every axis
    assert ball.sum() == pytest.approx(4 / 3 * torch.pi * 8**3, rel=0.1)  # radius 0.5 * 16
    assert torch.all((centre - 16).abs() <= 8)


@pytest.mark.parametrize("patch", [(), (1, 1, 1, 1)])
def test_zero_or_four_dimensions_are_refused_in_one_line(patch):
    with pytest.raises(ValueError, match="one entry per spatial dimension, 1 to 3") as refused:
        CellLayout(1, 1, 1, patch_size=patch)
    assert "\n" not in str(refused.value)
    with pytest.raises(ValueError, match="1 to 3 spatial dimensions"):
        living_mask(torch.zeros(1, 1, *(3,) * max(len(patch), 4)))
