"""``GridModel``: the one model of the grid tasks (grow, texture, classify), configured,
not subclassed: how a blank grid starts, which cells live, how outputs are read."""

import pytest
import torch

from nca import AliveMasking, GridModel, create_rule, make_generator
from tests.conftest import activate


def _rule(**options):
    torch.manual_seed(0)
    return activate(create_rule("convca", hidden_channels=3, mlp_channels=8, **options))


def test_single_cell_seed_is_one_live_cell_from_the_alive_channel_on():
    rule = _rule(image_channels=4, input_channels=0)
    alpha = rule.layout.slice("output").start + 3
    model = GridModel(rule, blank="single-cell", alive=AliveMasking(alpha))
    cells = model.seed(2, (5, 7))
    assert cells.shape == (2, rule.layout.cell_channels, 5, 7)
    assert torch.all(cells[:, alpha:, 2, 3] == 1) and cells.sum() == 2 * (cells.shape[1] - alpha)
    assert model.alive(cells)[0, 0, 1:4, 2:5].all() and not model.alive(cells)[0, 0, 0, 0]


def test_empty_seed_output_offset_and_every_cell_alive_without_masking():
    rule = _rule(image_channels=3, input_channels=0)
    model = GridModel(rule, output_offset=0.5)
    cells = model.seed(1, 6)
    assert cells.shape[-2:] == (6, 6) and cells.abs().sum() == 0
    assert torch.equal(model.output(cells), torch.full((1, 3, 6, 6), 0.5))
    assert model.alive(cells).all()


def test_seed_with_images_zeroes_the_state_and_inject_clears_newly_dead_cells():
    rule = _rule(image_channels=10, input_channels=1)
    model = GridModel(rule, alive=AliveMasking(0, 0.1, neighbourhood=False))
    images = torch.zeros(1, 1, 4, 4)
    images[..., :2, :] = 1.0
    cells = model.seed_with(images)
    assert torch.equal(cells[:, :1], images)
    assert cells[:, rule.layout.updatable_slice].abs().sum() == 0
    cells[:, rule.layout.updatable_slice] = 1.0  # every cell has a state
    swapped = model.inject(cells, images.flip(-2))  # the bottom half lives now
    state = swapped[:, rule.layout.updatable_slice]
    assert torch.all(state[..., 2:, :] == 1) and torch.all(state[..., :2, :] == 0)


def test_rollouts_keep_dead_cells_empty_and_follow_the_gradient_mode():
    rule = _rule(image_channels=4, input_channels=0)
    alpha = rule.layout.slice("output").start + 3
    model = GridModel(rule, blank="single-cell", alive=AliveMasking(alpha), gradient="checkpoint")
    cells = model.seed(1, (9, 9))
    out = model.run(cells, 3, make_generator(0))
    assert out[..., 0, 0].abs().sum() == 0  # far from the seed: never alive
    plain = GridModel(rule, blank="single-cell", alive=AliveMasking(alpha))
    assert torch.allclose(plain.run(cells, 3, make_generator(0)), out)
    loss = model.rollout(cells, 3, generator=make_generator(0)).cells.sum()
    loss.backward()
    assert all(p.grad is not None for p in rule.parameters())


def test_bad_settings_are_refused_in_one_line():
    rule = _rule(image_channels=4, input_channels=0)
    with pytest.raises(ValueError, match="blank must be one of empty, single-cell, got 'full'"):
        GridModel(rule, blank="full")
    with pytest.raises(ValueError, match="a single-cell seed needs living-cell masking"):
        GridModel(rule, blank="single-cell")
