"""Sizes that cannot be held are refused in one line before anything is allocated:
a rule's weights (measured on the meta device, any size setting) and a slot pool."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import nca.resources
from nca.cli import cli
from nca.core import SlotPool
from nca.engine.memory import TRAINING_COPIES, check_rule_fits, rule_bytes
from nca.resources import NotEnoughMemory
from nca.rules import RULES, create_rule, resolve_rule_config


def built_bytes(rule) -> int:
    return sum(t.numel() * t.element_size() for t in [*rule.parameters(), *rule.buffers()])


@pytest.mark.parametrize("name", RULES.names())
def test_the_measurement_is_the_built_rules_size(name):
    _, config = resolve_rule_config(name, {})
    assert rule_bytes(name, config) == built_bytes(create_rule(name, config))


@pytest.fixture
def machine(monkeypatch):
    """Set the machine's RAM to the bytes given."""

    def set_memory(total: int) -> None:
        monkeypatch.setattr(nca.resources, "physical_memory", lambda: total)

    return set_memory


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_a_rule_is_refused_exactly_when_its_training_copies_do_not_fit(machine, optimizer):
    _, config = resolve_rule_config("convca", {"hidden_channels": 64})
    needed = rule_bytes("convca", config) * TRAINING_COPIES[optimizer]
    machine(needed)
    check_rule_fits("convca", config, optimizer=optimizer, device="cpu")  # fits: not refused
    machine(needed - 1)
    with pytest.raises(NotEnoughMemory, match=f"training rule convca with {optimizer}"):
        check_rule_fits("convca", config, optimizer=optimizer, device="cpu")


def test_a_rule_whose_weights_alone_do_not_fit_is_refused(machine):
    _, config = resolve_rule_config("vitca", {})
    machine(rule_bytes("vitca", config) - 1)
    with pytest.raises(NotEnoughMemory, match="rule vitca with these sizes needs at least"):
        check_rule_fits("vitca", config, optimizer=None, device="cpu")


def test_nca_train_refuses_a_rule_too_large_for_the_machine(machine, toy_task, tmp_path):
    """The toy run trains on this machine; with less memory than its rule's training
    copies it is refused in one line, before the run directory exists."""
    _, config = resolve_rule_config("convca:tiny", {})
    machine(rule_bytes("convca:tiny", config) * TRAINING_COPIES["adamw"] - 1)
    args = ["train", "-r", "convca:tiny", "-t", "toy", "--iterations", "1", "--device", "cpu"]
    result = CliRunner().invoke(cli, [*args, "--run-dir", str(tmp_path / "r")])
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "training rule convca:tiny with adamw" in errors[0]
    assert not (tmp_path / "r").exists()


def test_a_slot_pool_too_large_is_refused_before_it_is_allocated(machine):
    seed = torch.zeros(16, 8, 8)
    machine(10 * seed.numel() * seed.element_size())
    assert len(SlotPool(seed, 10)) == 10
    with pytest.raises(NotEnoughMemory, match=r"a pool of 11 grids of \(16, 8, 8\)"):
        SlotPool(seed, 11)
