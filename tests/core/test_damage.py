import torch

from nca.core import CellLayout, damage, make_generator, seed


def test_damage_overwrites_a_half_size_region_of_output_and_hidden():
    layout = CellLayout(1, 1, 6, positional_channels=1)
    images = torch.rand(5, 1, 8, 8)
    cells = seed(layout, images, positional=torch.zeros(1, 8, 8))
    damaged, region = damage(layout, cells, generator=make_generator(0))
    assert region.shape == (5, 1, 8, 8)
    assert torch.all(region.sum(dim=(1, 2, 3)) == 16)  # H/2 × W/2 cells each
    for b in range(5):  # one contiguous 4×4 rectangle
        rows = region[b, 0].any(dim=1).nonzero().flatten()
        cols = region[b, 0].any(dim=0).nonzero().flatten()
        assert rows.numel() == 4 and cols.numel() == 4
        assert rows[-1] - rows[0] == 3 and cols[-1] - cols[0] == 3
    assert torch.equal(damaged[:, layout.fixed_slice], cells[:, layout.fixed_slice])
    upd_new, upd_old = damaged[:, layout.updatable_slice], cells[:, layout.updatable_slice]
    inside = region.expand_as(upd_new)
    assert torch.equal(upd_new[~inside], upd_old[~inside])
    values = upd_new[inside]
    assert values.min() >= -1 and values.max() < 1 and values.min() < -0.8 and values.max() > 0.8


def test_damage_is_seeded_and_positions_vary():
    layout = CellLayout(1, 1, 2)
    cells = torch.zeros(16, 4, 8, 8)
    a = damage(layout, cells, generator=make_generator(0))[1]
    b = damage(layout, cells, generator=make_generator(0))[1]
    assert torch.equal(a, b)
    assert len({tuple(m.nonzero()[0].tolist()) for m in a}) > 1


def test_scalar_fraction():
    layout = CellLayout(1, 1, 2)
    _, region = damage(layout, torch.zeros(2, 4, 8, 8), fraction=0.25, generator=make_generator(0))
    assert torch.all(region.sum(dim=(1, 2, 3)) == 4)
