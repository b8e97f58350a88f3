"""A copy of a rule with another attention backend: same weights, same values."""

from __future__ import annotations

import pytest
import torch

from nca.core.automaton import CellularAutomaton
from nca.export import attention_backend, with_attention_backend
from nca.rules import create_rule
from tests.export.automata import SMALL_VITCA, make_automaton


def test_the_copy_computes_the_same_step_and_the_original_is_untouched():
    automaton = make_automaton("vitca")
    copy = with_attention_backend(automaton, "reference")
    assert attention_backend(copy) == "reference" and attention_backend(automaton) == "shifted"
    assert copy.rule.config.attention_backend == "reference"
    assert automaton.rule.config.attention_backend == "shifted"
    cells = torch.rand(2, automaton.layout.cell_channels, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) < 0.5).float()
    with torch.no_grad():
        torch.testing.assert_close(copy.step(cells, mask), automaton.step(cells, mask))


def test_bad_backends_and_rules_without_attention():
    with pytest.raises(ValueError, match="unknown attention backend 'fast'; valid: shifted"):
        with_attention_backend(CellularAutomaton(create_rule("vitca", **SMALL_VITCA)), "fast")
    with pytest.raises(ValueError, match="ConvCA has no localized attention layers"):
        with_attention_backend(create_rule("convca:tiny"), "reference")
    assert attention_backend(create_rule("convca:tiny")) is None
