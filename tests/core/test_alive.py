"""Living-cell masking, the single-cell seed, the seed pool and disc damage (the grow
task's core pieces, Mordvintsev et al. 2020)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nca import (
    AliveMasking,
    CellLayout,
    CellularAutomaton,
    SlotPool,
    circle_damage,
    living_mask,
    single_cell_seed,
)
from nca.core.alive import neighbourhood_max

LAYOUT = CellLayout(0, 4, 2)  # RGBA + 2 hidden, no input channels


def test_living_mask_is_the_3x3_neighbourhood_of_alpha_above_the_threshold():
    alpha = torch.zeros(1, 1, 7, 7)
    alpha[0, 0, 3, 3] = 0.2
    alpha[0, 0, 0, 6] = 0.1  # not above the threshold
    alive = living_mask(alpha)
    expected = torch.zeros(1, 1, 7, 7, dtype=torch.bool)
    expected[0, 0, 2:5, 2:5] = True
    assert torch.equal(alive, expected)
    with pytest.raises(ValueError, match=r"alpha must have shape \(B, 1, \*cells\)"):
        living_mask(torch.zeros(1, 2, 3, 3))
    with pytest.raises(ValueError, match=r"1 to 3 spatial dimensions.*got \(1, 1, 2, 2, 2, 2\)"):
        living_mask(torch.zeros(1, 1, 2, 2, 2, 2))


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_neighbourhood_max_is_max_pooling_of_kernel_3_with_padding_1(dims, dtype):
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[dims]
    generator = torch.Generator().manual_seed(dims)
    for spatial in [(1,) * dims, (2,) * dims, tuple(range(3, 3 + dims))]:
        values = torch.randn(2, 3, *spatial, generator=generator).to(dtype)
        flat = values.view(-1)
        flat[0], flat[-1] = float("nan"), float("-inf")  # NaN spreads; -inf is a value
        values.requires_grad_(dtype != torch.bfloat16)
        mine, pooled = neighbourhood_max(values), pool(values, 3, stride=1, padding=1)
        assert not mine.requires_grad and mine.dtype == dtype
        assert torch.equal(mine.isnan(), pooled.isnan())
        assert torch.equal(mine.nan_to_num(), pooled.detach().nan_to_num())


def test_single_cell_seed_sets_alpha_and_hidden_of_the_centre_cell():
    cells = single_cell_seed(LAYOUT, 2, (5, 6), alive_from=3)
    assert cells.shape == (2, 6, 5, 6)
    assert cells.sum() == 2 * 3  # alpha + 2 hidden channels, one cell per grid
    assert torch.all(cells[:, 3:, 2, 3] == 1) and torch.all(cells[:, :3] == 0)
    with pytest.raises(ValueError, match="alive_from must index one of the 6 channels"):
        single_cell_seed(LAYOUT, 1, (3, 3), alive_from=6)


class _AddOne(nn.Module):
    """A rule that adds 1 to every updatable channel everywhere."""

    def __init__(self):
        super().__init__()
        self.layout = LAYOUT
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, cells):
        return self.weight * torch.ones_like(cells[:, LAYOUT.updatable_slice])


def test_alive_masking_keeps_only_cells_alive_before_and_after_the_update():
    seed = single_cell_seed(LAYOUT, 1, (7, 7), alive_from=3)
    plain = CellularAutomaton(_AddOne(), update_rate=1.0)
    masked = CellularAutomaton(_AddOne(), update_rate=1.0, alive=AliveMasking(3))
    assert torch.all(plain(seed, 1).cells[:, 3] >= 1)  # everything grew
    grown = masked(seed, 1).cells
    alive = torch.zeros(7, 7, dtype=torch.bool)
    alive[2:5, 2:5] = True  # the seed's neighbourhood: alive before and after
    assert torch.all(grown[0, :, alive] > 0) and torch.all(grown[0, :, ~alive] == 0)
    assert torch.all(masked(seed, 3).cells[0, 3, 1:6, 1:6] > 0)  # one ring per step
    with pytest.raises(ValueError, match="alpha channel 9 is outside the cell's 6 channels"):
        AliveMasking(9).mask(seed)


def test_seed_pool_samples_distinct_entries_and_writes_them_back():
    seed = single_cell_seed(LAYOUT, 1, (4, 4), alive_from=3)[0]
    pool = SlotPool(seed, 16, torch.Generator().manual_seed(0))
    indices, cells = pool.sample(8)
    assert len(set(indices.tolist())) == 8 and torch.equal(cells[0], seed)
    pool.commit(indices, cells + 1)
    assert torch.equal(pool.cells[indices], cells + 1)
    untouched = sorted(set(range(16)) - set(indices.tolist()))
    assert torch.equal(pool.cells[untouched], seed.expand(8, -1, -1, -1))
    restored = SlotPool(seed, 1)
    restored.load_state_dict(pool.state_dict())
    assert torch.equal(restored.cells, pool.cells)
    assert torch.equal(restored.sample(4)[0], pool.sample(4)[0])  # the generator too
    with pytest.raises(ValueError, match="cannot sample 17 entries from a pool of 16"):
        pool.sample(17)


def test_circle_damage_zeroes_one_disc_per_grid():
    cells = torch.ones(64, 3, 24, 24)
    damaged, disc = circle_damage(cells, generator=torch.Generator().manual_seed(0))
    assert torch.equal(damaged == 0, disc.expand_as(damaged))
    area = disc.flatten(1).float().mean(1)  # radius 0.1-0.4 of the half-side
    assert area.min() > 0 and area.max() < 3.15 * 0.4**2 / 4 + 0.02
    assert torch.all(disc[:, :, 0, 0] == 0)  # centres in the middle half
    with pytest.raises(ValueError, match="radius must be"):
        circle_damage(cells, radius=(0.5, 0.2))


def test_alive_masking_on_the_cell_itself_uses_no_neighbourhood():
    cells = torch.zeros(1, 3, 3, 3)
    cells[0, 0, 1, 1] = 0.5  # channel 0: a fixed "pixel" channel
    own = AliveMasking(0, 0.1, neighbourhood=False).mask(cells)
    pooled = AliveMasking(0, 0.1).mask(cells)
    assert own.sum() == 1 and own[0, 0, 1, 1]
    assert pooled.sum() == 9


def test_seed_pool_from_grids_keeps_labels_through_commit_and_state():
    grids = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 2, 2, 2).clone()
    pool = SlotPool.from_grids(grids, torch.Generator().manual_seed(0), torch.tensor([3, 1, 4, 1]))
    indices, cells = pool.sample(2)
    assert torch.equal(cells[:, 0, 0, 0], indices.float())
    pool.commit(indices, cells + 10, torch.tensor([9, 9]))
    assert torch.all(pool.labels[indices] == 9)
    restored = SlotPool(grids[0], 4)
    restored.load_state_dict(pool.state_dict())
    assert torch.equal(restored.labels, pool.labels) and torch.equal(restored.cells, pool.cells)
    with pytest.raises(ValueError, match="labels must have shape"):
        SlotPool.from_grids(grids, labels=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="has no labels"):
        SlotPool(grids[0], 4).commit(indices, cells, torch.tensor([1, 2]))
