"""ViTCA on grids of 1, 2 and 3 dimensions: its per-dimension options and how their 2-D
defaults are derived for ``dims``, contradictions refused in one line; it builds, rolls
out and back-propagates with every backend and positional option; the sparse update,
head masking and attention maps equal their dense counterparts in every dimension."""

import pytest
import torch

from nca import CellularAutomaton, RuleNeeds, create_rule, make_generator
from nca.analysis.splat import splat_attention
from nca.config import ConfigError
from nca.layers import BACKENDS
from nca.rules import rule_mismatch
from nca.rules.vitca import POSITIONAL_ENCODINGS
from tests.conftest import activate

SMALL = {"embed_dim": 8, "heads": 2, "mlp_dim": 8, "hidden_channels": 3}
GRID = {1: (7,), 2: (5, 6), 3: (4, 3, 5)}  # image (= cell) sizes, patch 1


def _images(dims, batch=2, seed=0):
    return torch.rand(batch, 1, *GRID[dims], generator=make_generator(seed))


@pytest.mark.parametrize(
    ("dims", "patch", "nbhd", "image"),
    [(1, (1,), (3,), (32,)), (2, (1, 1), (3, 3), (32, 32)), (3, (1, 1, 1), (3, 3, 3), (32,) * 3)],
)
def test_2d_defaults_become_the_dimensions_defaults(dims, patch, nbhd, image):
    rule = create_rule("vitca", dims=dims, **SMALL)
    config = rule.config
    assert (config.patch_size, config.neighbourhood, config.image_size) == (patch, nbhd, image)
    assert rule.dims == dims == rule.layout.dims and rule.layout.patch_size == patch
    assert rule.attention_neighbourhood().size == nbhd
    assert type(rule)(rule.config).config == config  # the stored config rebuilds it


def test_explicit_sizes_of_the_dimension_are_kept():
    rule = create_rule("vitca", dims=3, patch_size=(2, 1, 2), neighbourhood=(3, 1, 5),
                       image_size=(4, 6, 8), positional="learned", **SMALL)  # fmt: skip
    assert rule.layout.patch_size == (2, 1, 2) and rule.attention_neighbourhood().members == 15
    assert rule.pos_embedding.shape == (2, 6, 4, 8)  # the training grid's cells, then d
    assert rule.learned_grid == (2, 6, 4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dims": 4}, "dims must be 1, 2 or 3 (spatial dimensions), got 4"),
        ({"dims": 0}, "dims must be 1, 2 or 3 (spatial dimensions), got 0"),
        ({"dims": 3, "patch_size": (2, 2)},
         "patch_size (2, 2) has 2 entries but dims is 3; give one per dimension "
         "(e.g. (1, 1, 1)) or set dims to 2"),
        ({"neighbourhood": (3, 3, 3)},
         "neighbourhood (3, 3, 3) has 3 entries but dims is 2; give one per dimension "
         "(e.g. (3, 3)) or set dims to 3"),
        ({"dims": 1, "image_size": (8, 8, 8)}, "image_size (8, 8, 8) has 3 entries but dims is 1"),
        ({"dims": 1, "neighbourhood": (4,)}, "1 to 3 odd positive integers"),
        ({"dims": 3, "image_size": (6, 6, 6), "patch_size": (2, 4, 2)},
         "image_size (6, 6, 6) is not divisible by patch_size (2, 4, 2)"),
    ],
)  # fmt: skip
def test_a_bad_dims_and_size_combination_is_refused_in_one_line(options, message):
    with pytest.raises(ConfigError) as refused:
        create_rule("vitca", **options)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_task_of_another_dimension_sets_or_refuses_it():
    needs = RuleNeeds(input_channels=1, output_channels=1, image_size=(6, 6, 6), dims=3)
    rule = create_rule("vitca", **needs.settings(set(create_rule("vitca").config.__dict__)))
    assert rule.config.image_size == (6, 6, 6) and rule_mismatch(rule, needs) == []
    flat = create_rule("vitca", **SMALL)
    assert rule_mismatch(flat, needs) == ["it serves 1-D, 2-D, 3-D grids, the task's grids are 3-D"]
    with pytest.raises(ValueError, match=r"serves 3-D grids; got an image size of 2 entries"):
        rule.positional_encoding(6, 6, device="cpu", dtype=torch.float32)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("positional", POSITIONAL_ENCODINGS)
def test_every_positional_option_rolls_out_and_back_propagates(dims, positional):
    torch.manual_seed(dims)
    # a learned table trained on a larger grid is resized (linear / bilinear / trilinear)
    rule = activate(create_rule("vitca", dims=dims, positional=positional,
                                image_size=(8,) * dims, **SMALL))  # fmt: skip
    channels = {"sincos5": 10 * dims, "sincos5xy": 11 * dims, "xy": dims}.get(positional, 0)
    assert rule.layout.positional_channels == channels
    ca = CellularAutomaton(rule)
    cells = ca.seed(_images(dims))
    if channels:  # the encoding of a grid of this dimension fills the positional channels
        encoding = rule.positional_encoding(*GRID[dims], device="cpu", dtype=torch.float32)
        assert torch.equal(cells[:, :channels], encoding.expand(2, *encoding.shape))
    out = ca(cells, 4, generator=make_generator(1), checkpoint_segments=2).cells
    assert out.shape == cells.shape and torch.isfinite(out).all()
    assert not torch.allclose(out, cells)
    (ca.output_image(out) - _images(dims)).abs().mean().backward()
    for name, param in rule.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("backend", ["conv", "reference"])
@pytest.mark.parametrize("border", ["zeros", "exclude", "circular"])
def test_backends_give_the_same_rollout_and_gradients(dims, backend, border):
    torch.manual_seed(0)
    options = {**SMALL, "dims": dims, "border": border, "depth": 2, "positional": "sincos5xy"}
    fast = activate(create_rule("vitca", **options))
    other = create_rule("vitca", attention_backend=backend, **options)
    other.load_state_dict(fast.state_dict())

    def run(rule):
        ca = CellularAutomaton(rule)
        out = ca(ca.seed(_images(dims)), 3, generator=make_generator(0)).cells
        return out.detach(), torch.autograd.grad(out.square().mean(), list(rule.parameters()))

    (fast_out, fast_grads), (other_out, other_grads) = run(fast), run(other)
    torch.testing.assert_close(other_out, fast_out, atol=1e-5, rtol=1e-5)
    for a, b in zip(other_grads, fast_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("border", ["zeros", "circular"])
def test_the_sparse_update_equals_the_dense_one(dims, backend, border):
    torch.manual_seed(0)
    rule = activate(create_rule("vitca", dims=dims, attention_backend=backend, border=border,
                                **SMALL)).double()  # fmt: skip
    rule.mask_heads([1])
    cells = CellularAutomaton(rule).seed(_images(dims).double())
    cells = (cells + 0.1 * torch.randn_like(cells)).requires_grad_(True)
    firing = (torch.rand(2, 1, *GRID[dims], generator=make_generator(2)) < 0.5).double()
    dense, sparse = rule(cells) * firing, rule(cells, firing=firing)
    torch.testing.assert_close(sparse, dense)
    grad, inputs = torch.randn_like(dense), [cells, *rule.parameters()]
    expected = torch.autograd.grad((dense * grad).sum(), inputs)
    for a, b in zip(torch.autograd.grad((sparse * grad).sum(), inputs), expected, strict=True):
        torch.testing.assert_close(a, b)
    ca = CellularAutomaton(rule, sparse_update=True)  # and through the automaton
    rolled = ca(cells.detach(), 3, generator=make_generator(3)).cells
    dense = CellularAutomaton(rule)(cells.detach(), 3, generator=make_generator(3)).cells
    torch.testing.assert_close(rolled, dense)
    with pytest.raises(ValueError, match="firing mask must be"):
        rule(cells, firing=firing[..., :-1])


@pytest.mark.parametrize("dims", [1, 3])
def test_head_masking_and_attention_maps(dims):
    rule = activate(create_rule("vitca", dims=dims, **{**SMALL, "heads": 4}))
    cells = CellularAutomaton(rule).seed(_images(dims))
    rule.record_attention()
    full = rule(cells)
    (maps,) = rule.attention_maps()
    members = 3**dims
    assert maps.shape == (2, *GRID[dims], 4, members)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, *GRID[dims], 4))
    rule.mask_heads([1, 3])
    masked = rule(cells)
    (masked_maps,) = rule.attention_maps()
    assert torch.all(masked_maps[..., [1, 3], :] == 0)
    torch.testing.assert_close(masked_maps[..., [0, 2], :], maps[..., [0, 2], :])
    assert not torch.allclose(masked, full)
    with pytest.raises(ValueError, match=r"splat_attention draws 2-D grids.*\d-D cells\)$"):
        splat_attention(maps, rule.attention_neighbourhood())


def test_a_circular_3d_grid_is_a_torus():
    """Without positions and with a wrapping border, shifting the grid along any axis
    shifts the update the same way: the neighbourhood is the same on every axis."""
    torch.manual_seed(0)
    rule = activate(create_rule("vitca", dims=3, positional="none", border="circular", **SMALL))
    cells = CellularAutomaton(rule).seed(_images(3))
    for axis in (2, 3, 4):
        rolled = cells.roll(1, dims=axis)
        torch.testing.assert_close(rule(rolled), rule(cells).roll(1, dims=axis))
