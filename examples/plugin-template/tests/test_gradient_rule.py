"""The plugin's own tests: it registers, builds, runs through the core and trains."""

import torch

from nca import CellularAutomaton, create_rule, list_rules, make_generator


def test_registered_through_its_entry_point():
    assert "gradient-ca" in list_rules()


def test_untrained_rule_is_a_no_op_and_gradients_flow():
    rule = create_rule("gradient-ca:small")
    ca = CellularAutomaton(rule)
    images = torch.rand(2, 1, 8, 8)
    cells = ca.seed(images)
    out = ca(cells, 4, generator=make_generator(0)).cells
    assert torch.equal(out, cells)
    (ca.output_image(out) - images).abs().mean().backward()
    assert rule.mlp[-1].weight.grad.abs().sum() > 0
