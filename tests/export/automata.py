"""Small active automata of each exportable kind, for the export tests."""

from __future__ import annotations

import torch

from nca.core.alive import AliveMasking
from nca.core.automaton import CellularAutomaton
from nca.rules import create_rule
from tests.conftest import activate

#: Image side of the exported grids (small: the tests stay fast on 2 cores).
SIDE = 16
#: ViTCA's side (its PyTorch step is the slowest on CPU).
SIDES = {"vitca": 8, "vitca-reference": 8}
#: A small ViTCA; its random last layer is scaled so 32 steps keep cells O(1), as in a
#: trained rule (large random updates grow cells to ~60, where float32 alone differs
#: by ~1e-4 between two PyTorch backends).
SMALL_VITCA = {"hidden_channels": 8, "embed_dim": 32, "heads": 4, "mlp_dim": 32}


def grow_automaton() -> CellularAutomaton:
    """convca as the grow task builds it: RGBA, no inputs, alive masking on alpha."""
    rule = activate(
        create_rule("convca", image_channels=4, input_channels=0, hidden_channels=8,
                    mlp_channels=32, laplacian=False)
    )  # fmt: skip
    alpha = rule.layout.slice("output").start + 3
    with torch.no_grad():  # alpha grows, so the live region spreads from the seed cell
        rule.update_mlp[-1].bias[3] = 0.1
    return CellularAutomaton(rule, alive=AliveMasking(alpha))


def make_automaton(kind: str) -> CellularAutomaton:
    """An automaton whose rule changes the grid (the last layer is not zero)."""
    torch.manual_seed(0)
    if kind == "convca":
        return CellularAutomaton(activate(create_rule("convca:tiny")))
    if kind == "unetca":
        rule = create_rule("unetca", hidden_channels=8, features=8)
        return CellularAutomaton(activate(rule, scale=0.01))
    if kind == "vitca":
        return CellularAutomaton(activate(create_rule("vitca", **SMALL_VITCA), scale=0.03))
    if kind == "grow":
        return grow_automaton()
    raise KeyError(kind)
