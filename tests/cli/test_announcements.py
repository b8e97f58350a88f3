"""Settings that do nothing are announced in one line each: a config file's names and
settings replaced by the command line, and fixed_point.* outside the fixed-point mode."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nca.cli import cli


def flat(output: str) -> str:
    return " ".join(output.split())


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'seed = 1\n[rule]\nname = "convca:tiny"\nhidden_channels = 2\n'
        '[task]\nname = "toy"\npreset = "tiny"\n'
    )
    return path


def test_names_and_settings_replaced_by_the_command_line_are_announced(toy_task, config):
    args = ["train", "-c", str(config), "--device", "cpu", "--run-dir", str(config.parent / "r")]
    args += ["--rule", "convca", "--seed", "2", "-o", "rule.hidden_channels=3"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    said = flat(result.output)
    replaced = "from the command line replaces"
    assert f"--rule convca {replaced} [rule] name = 'convca:tiny' from {config}" in said
    assert f"--seed 2 from the command line replaces seed = 1 from {config}" in said
    assert "rule.hidden_channels=3 from the command line replaces rule.hidden_channels=2" in said


def test_a_task_name_replaced_by_the_command_line_is_announced(toy_task, config, tmp_path):
    config.write_text('[task]\nname = "denoise"\n')
    args = ["train", "-c", str(config), "-t", "toy", "-r", "convca:tiny", "--iterations", "1"]
    result = CliRunner().invoke(cli, [*args, "--device", "cpu", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    said = flat(result.output)
    replaced = "from the command line replaces"
    assert f"--task toy {replaced} [task] name = 'denoise' from {config}" in said


def test_fixed_point_settings_with_bptt_are_announced(toy_task, tmp_path):
    args = ["train", "-t", "toy", "-r", "convca:tiny", "--iterations", "1", "--device", "cpu"]
    args += ["-o", "fixed_point.max_steps=8", "--run-dir", str(tmp_path / "r")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "fixed_point.max_steps=8 would do nothing" in flat(result.output)
