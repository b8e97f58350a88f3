"""Rules on grids of 1, 2 and 3 dimensions: a rule declares the dimensions it serves;
convca serves all three with perception filters generated for the dimension; a task's
grids of another dimension refuse a rule in one line."""

import pytest
import torch

from nca import CellularAutomaton, RuleNeeds, create_rule, make_generator
from nca.rules import check_rule_class, rule_mismatch
from nca.rules.convca import ConvCA, perception_filters


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_sobel_filters_measure_the_slope_along_their_own_axis(dims):
    filters = perception_filters(dims, laplacian=True)
    assert filters.shape == (2 + dims, *(3,) * dims)
    for axis in range(dims):
        ramp = torch.arange(5.0).view([5 if i == axis else 1 for i in range(dims)])
        ramp = ramp.expand((5,) * dims)[None, None]
        conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d,
                3: torch.nn.functional.conv3d}[dims]  # fmt: skip
        out = conv(ramp, filters[:, None])[0]  # valid positions only: no border
        assert torch.allclose(out[0], ramp[(0, 0, *[slice(1, -1)] * dims)])  # identity
        sobels = out[1 : 1 + dims].flip(0)  # the last axis first
        for other in range(dims):
            expected = 1.0 if other == axis else 0.0
            assert torch.allclose(sobels[other], torch.full_like(sobels[other], expected))
        assert torch.allclose(out[-1], torch.zeros_like(out[-1]))  # Laplacian of a ramp


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("perception", ["fixed", "learned", "depthwise"])
def test_convca_runs_in_every_dimension(dims, perception):
    torch.manual_seed(0)
    rule = create_rule("convca", dims=dims, hidden_channels=3, mlp_channels=8,
                       perception=perception, perception_channels=8,
                       zero_last_layer=False)  # fmt: skip
    assert rule.layout.dims == dims == rule.dims
    ca = CellularAutomaton(rule)
    cells = ca.seed(torch.rand(2, 1, *(6,) * dims, generator=make_generator(0)))
    update = rule(cells)
    assert update.shape == (2, rule.layout.updatable_channels, *(6,) * dims)
    out = ca(cells, 3, generator=make_generator(1), gradient="checkpoint").cells
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in rule.parameters())
    circular = create_rule("convca", dims=dims, padding="circular", hidden_channels=3,
                           zero_last_layer=False)  # fmt: skip
    rolled = cells.roll(2, dims=-1)
    torch.testing.assert_close(circular(rolled), circular(cells).roll(2, dims=-1))


def test_a_rule_refuses_a_dimension_it_does_not_serve_in_one_line():
    with pytest.raises(ValueError, match="dims must be 1, 2 or 3"):
        create_rule("convca", dims=4)
    unet = create_rule("unetca")
    assert unet.dims == 2 and type(unet).dimensions == frozenset({2})
    problems = rule_mismatch(unet, RuleNeeds(input_channels=1, output_channels=1, dims=3))
    assert problems == ["it serves 2-D grids, the task's grids are 3-D"]
    settings = RuleNeeds(input_channels=0, output_channels=4, image_size=(8, 8, 8), dims=3)
    assert settings.settings({"dims", "image_size", "image_channels"}) == {
        "image_channels": 4, "image_size": (8, 8, 8), "dims": 3}  # fmt: skip
    with pytest.raises(ValueError, match="one entry per dimension"):
        RuleNeeds(image_size=(8, 8), dims=3)


def test_serving_several_dimensions_needs_a_dims_option():
    class NoOption(ConvCA):
        dimensions = frozenset({2, 3})
        config_class = type("Config", (), {})  # replaced below

    from dataclasses import make_dataclass

    NoOption.config_class = make_dataclass("NoDims", [("image_channels", int, 1)])
    with pytest.raises(TypeError, match="serves \\[2, 3\\]-D grids but NoDims has no `dims`"):
        check_rule_class(NoOption)

    class Bad(ConvCA):
        dimensions = frozenset({4})

    with pytest.raises(TypeError, match="non-empty frozenset of 1, 2 and 3"):
        check_rule_class(Bad)
