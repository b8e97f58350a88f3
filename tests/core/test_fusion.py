import pytest
import torch

from nca.core import CellularAutomaton, fuse, make_generator, mitosis, octave_plan
from nca.core.fusion import Phase
from tests.conftest import activate


def test_fuse_averages_2x2_blocks():
    cells = torch.arange(16.0).view(1, 1, 4, 4)
    fused = fuse(cells)
    assert fused.shape == (1, 1, 2, 2)
    assert fused[0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]


def test_mitosis_duplicates_right_bottom_and_bottom_right():
    cells = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    out = mitosis(cells)
    assert out.shape == (1, 1, 4, 4)
    assert out[0, 0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert torch.equal(fuse(out), cells)  # fuse undoes mitosis


def test_fuse_rejects_odd_grids():
    with pytest.raises(ValueError, match="cannot fuse a 3x4 cell grid"):
        fuse(torch.zeros(1, 1, 3, 4))


def test_paper_schedule_one_octave():
    # App. A.1: 2 steps, (stash +) fuse, T-4 steps, mitosis (+ re-inject), 2 steps
    assert octave_plan(32, 1) == [
        Phase("steps", 2),
        Phase("fuse"),
        Phase("steps", 28, main=True),
        Phase("mitosis"),
        Phase("steps", 2),
    ]
    assert octave_plan(10, 0) == [Phase("steps", 10, main=True)]


@pytest.mark.parametrize(("steps", "octaves"), [(16, 2), (12, 3)])
def test_k_octave_schedule_keeps_total_steps(steps, octaves):
    plan = octave_plan(steps, octaves)
    assert sum(p.steps for p in plan) == steps
    assert [p.kind for p in plan].count("fuse") == octaves
    assert [p.kind for p in plan].count("mitosis") == octaves


def test_schedule_needs_enough_steps():
    with pytest.raises(ValueError, match="need at least 8 steps"):
        octave_plan(6, 2)


def test_octave_rollout_restores_resolution_and_reinjects_input():
    from nca.rules import create_rule

    rule = activate(create_rule("convca", hidden_channels=4, mlp_channels=8))
    ca = CellularAutomaton(rule)
    images = torch.rand(2, 1, 16, 16)
    cells = ca.seed(images)
    result = ca(cells, 16, generator=make_generator(0), octaves=2, return_states=True)
    assert result.cells.shape == cells.shape
    # the input channels are exactly the injected images again, not their fused average
    assert torch.equal(result.cells[:, ca.layout.slice("input")], images)
    sizes = [s.shape[-1] for s in result.states]
    assert sizes == [16, 16, 8, 8] + [4] * 8 + [8, 8, 16, 16]


def test_octaves_need_divisible_grids():
    from nca.rules import create_rule

    ca = CellularAutomaton(create_rule("convca:tiny"))
    with pytest.raises(ValueError, match="cannot be fused 2 time"):
        ca(ca.seed(torch.rand(1, 1, 6, 6)), 8, octaves=2)


def test_octaves_restore_positional_channels_and_pass_gradients_to_inputs():
    from nca.rules import create_rule

    rule = activate(create_rule("vitca", embed_dim=16, heads=2, hidden_channels=4, positional="xy"))
    ca = CellularAutomaton(rule)
    images = torch.rand(1, 1, 8, 8, requires_grad=True)
    cells = ca.seed(images)
    out = ca(cells, 8, generator=make_generator(0), octaves=1).cells
    assert torch.equal(out[:, ca.layout.fixed_slice], cells[:, ca.layout.fixed_slice].detach())
    ca.output_image(out).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
