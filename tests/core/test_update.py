import pytest
import torch

from nca.core import (
    CellLayout,
    apply_update,
    draw_update_mask,
    firing_rows,
    make_generator,
    scatter_rows,
)


@pytest.mark.parametrize("rate", [0.25, 0.5, 0.75])
def test_mask_statistics_match_sigma(rate):
    cells = torch.zeros(64, 5, 32, 32)
    mask = draw_update_mask(cells, rate, make_generator(0))
    assert mask.shape == (64, 1, 32, 32)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    n = mask.numel()
    # 65,536 Bernoulli(σ) draws: the mean is within 5 standard errors of σ
    tolerance = 5 * (rate * (1 - rate) / n) ** 0.5
    assert abs(mask.mean().item() - rate) < tolerance


def test_synchronous_rate_draws_nothing():
    g = make_generator(0)
    state = g.get_state()
    assert draw_update_mask(torch.zeros(1, 2, 4, 4), 1.0, g) is None
    assert torch.equal(g.get_state(), state)


def test_masks_are_reproducible_from_the_generator():
    cells = torch.zeros(2, 3, 8, 8)
    a = draw_update_mask(cells, 0.5, make_generator(7))
    b = draw_update_mask(cells, 0.5, make_generator(7))
    c = draw_update_mask(cells, 0.5, make_generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_apply_update_residual_on_firing_cells_shared_by_channels():
    layout = CellLayout(1, 1, 3, positional_channels=1)
    cells = torch.randn(2, layout.cell_channels, 4, 4)
    update = torch.randn(2, layout.updatable_channels, 4, 4)
    mask = (torch.rand(2, 1, 4, 4) < 0.5).float()
    new = apply_update(layout, cells, update, mask)
    fixed = layout.fixed_slice
    assert torch.equal(new[:, fixed], cells[:, fixed])
    upd = layout.updatable_slice
    torch.testing.assert_close(new[:, upd], cells[:, upd] + mask * update)
    changed = (new != cells).any(dim=1, keepdim=True)
    # a cell either changes in all its updatable channels or in none
    assert torch.equal(changed.float(), mask)


def test_bad_rate_and_update_shape():
    with pytest.raises(ValueError, match=r"update rate σ must be in \(0, 1\]"):
        draw_update_mask(torch.zeros(1, 1, 2, 2), 1.5)
    with pytest.raises(ValueError, match=r"update rate σ must be in \(0, 1\]"):
        draw_update_mask(torch.zeros(1, 1, 2, 2), 0.0)
    layout = CellLayout(1, 1, 2)
    with pytest.raises(ValueError, match=r"rule returned an update of shape \(1, 4, 2, 2\)"):
        apply_update(layout, torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 2, 2), None)


def test_firing_rows_and_scatter_rows_round_trip():
    mask = draw_update_mask(torch.zeros(3, 2, 5, 4), 0.5, make_generator(1))
    rows = firing_rows(mask)
    flat = mask.permute(0, 2, 3, 1).reshape(-1)
    assert torch.equal(rows, flat.nonzero().squeeze(1))
    values = torch.randn(len(rows), 7, requires_grad=True)
    update = scatter_rows(values, rows, mask.shape[:1] + mask.shape[2:])
    assert update.shape == (3, 7, 5, 4)
    assert torch.all(update * (1 - mask) == 0)  # zero where no cell fires
    torch.testing.assert_close(update.permute(0, 2, 3, 1).reshape(-1, 7)[rows], values)
    (update.sum() * 2).backward()
    torch.testing.assert_close(values.grad, torch.full_like(values, 2.0))


def test_firing_rows_names_a_bad_mask():
    with pytest.raises(ValueError, match=r"must be \(B, 1, \*cells\), got \(2, 3, 4, 4\)"):
        firing_rows(torch.ones(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"got \(2, 1, 4, 4, 4, 4\)"):
        firing_rows(torch.ones(2, 1, 4, 4, 4, 4))
