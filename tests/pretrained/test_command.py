"""The recorded ``nca train`` command: fields that differ, values as ``-o`` writes them,
and the command read back."""

from __future__ import annotations

import pytest

from nca.pretrained.command import (
    changed_fields,
    command_arguments,
    format_value,
    training_command,
)


def test_changed_fields_flattens_nested_tables_and_ignores_tuple_vs_list():
    base = {"iterations": 1000, "lr_milestones": (800,), "fixed_point": {"tol": 1e-3, "n": 2}}
    recorded = {"iterations": 30, "lr_milestones": [800], "fixed_point": {"tol": 1e-4, "n": 2}}
    assert changed_fields(base, recorded) == {"iterations": 30, "fixed_point.tol": 1e-4}


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (None, "none"), ((800, 900), "800,900"), (0.5, "0.5")],
)
def test_values_are_written_as_the_command_line_reads_them(value, text):
    assert format_value(value) == text


def test_a_command_reads_back_as_its_arguments():
    command = training_command(
        "grow", "convca:tiny", preset="quick", seed=3,
        task_values={"iterations": 30, "target": "my lizard.png"},
        rule_values={"hidden_channels": 8},
    )  # fmt: skip
    assert command == (
        "nca train --task grow --rule convca:tiny --preset quick --seed 3 -o iterations=30 "
        "-o 'target=my lizard.png' -o rule.hidden_channels=8"
    )
    args = command_arguments(command)
    assert args[0] == "train" and "target=my lizard.png" in args


def test_a_command_of_another_program_is_refused():
    with pytest.raises(ValueError, match="not an 'nca train' command"):
        command_arguments("python train.py")


def test_a_task_field_the_rule_also_has_is_written_with_its_section():
    command = training_command(
        "denoise", "vitca", preset="quick", seed=0,
        task_values={"image_size": 32, "iterations": 5}, rule_fields=("image_size", "heads"),
    )  # fmt: skip
    assert "-o task.image_size=32 -o iterations=5" in command
