"""``nca analyze``: bad options, runs without experiments and ``--count`` in one line each."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from nca import create_rule, create_task, launch, save_checkpoint
from nca.cli import cli
from nca.config import config_to_dict
from nca.tasks import TASKS


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A denoise checkpoint of a small random convca (8x8 digits), a 2-D grow run, an
    eca run and what a probe run stores."""
    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    rule = create_rule("convca:tiny", image_channels=1)
    save_checkpoint(root / "denoise" / "checkpoints" / "last.pt", {
        "rule": {"name": "convca", "config": config_to_dict(rule.config)},
        "task": {"name": "denoise", "config": {"image_size": 8, "eval_steps": 2,
                                               "dataset": "embedded-mnist", "lpips": "off"}},
        "model": rule.state_dict(), "iteration": 1,
    })  # fmt: skip
    small = {"hidden_channels": 4, "mlp_channels": 16}
    grow = create_task("grow", target_size=8, target_padding=2, batch_size=2, pool_size=4,
                       damage_count=1, steps_min=3, steps_max=4, iterations=1,
                       eval_repeats=1, validate_every=1)  # fmt: skip
    launch(grow, rule="convca", rule_options=small, run_dir=root / "grow", quiet=True)
    eca = create_task("eca", width=16, iterations=1)
    launch(eca, rule="convca", rule_options=small, run_dir=root / "eca", quiet=True)
    save_checkpoint(root / "probe" / "checkpoints" / "last.pt", {
        "task": {"name": "probe", "config": {"source": str(root / "denoise")}},
        "model": {"weight": torch.zeros(10, 4)}, "iteration": 1,
    })  # fmt: skip
    return root


def _analyze(*args):
    return CliRunner().invoke(cli, ["analyze", *map(str, args)], env={"COLUMNS": "300"})


def _error(result) -> str:
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("Error")]
    return line


@pytest.mark.parametrize(
    ("run", "experiment", "option", "message"),
    [
        ("grow", "growth", "steps=-3", "growth: steps=-3 must be >= 0 (0: the task's default)"),
        ("grow", "growth", "every=0", "growth: every=0 must be >= 1"),
        ("grow", "persistence", "count=-1", "persistence: count=-1 must be >= 1"),
        ("grow", "persistence", "factor=0", "persistence: factor=0 must be >= 1"),
        ("grow", "regeneration", "damage_at=0,2", "regeneration: damage_at=0,2 must be >= 1"),
        ("eca", "space-time", "rows=-1", "space-time: rows=-1 must be >= 1"),
        ("denoise", "rollout", "steps=0", "rollout: steps=0 must be >= 1"),
        ("denoise", "rollout", "steps=-1", "rollout: steps=-1 must be >= 1"),
        ("denoise", "rollout", "coverage=2", "rollout: coverage=2.0 must be in [0, 1]"),
        ("denoise", "rollout", "patch=0,1", "rollout: patch=0,1 must be >= 1"),
        ("denoise", "update-rates", "rates=0,0.5", "update-rates: rates=0.0,0.5 must be in (0, 1]"),
        ("denoise", "interpolation", "scale=0", "interpolation: scale=0 must be >= 1"),
    ],
)
def test_numeric_options_out_of_range_are_one_line(runs, tmp_path, run, experiment, option,
                                                   message):  # fmt: skip
    result = _analyze(experiment, runs / run, "-o", option, "--out", tmp_path / "out")
    assert message in _error(result)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_a_zero_default_still_means_the_tasks_own(runs, tmp_path):
    result = _analyze("growth", runs / "grow", "-o", "steps=0", "-o", "count=1", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "steps: 4" in result.output  # steps_max


def test_interpolation_too_large_for_memory_is_refused(runs, tmp_path):
    result = _analyze("interpolation", runs / "denoise", "-o", "scale=1000000", "--out", tmp_path)
    assert "needs at least" in _error(result) and "lower -o scale or --count" in result.output


def test_pca_of_one_image_is_refused(runs, tmp_path):
    line = _error(_analyze("pca", runs / "denoise", "--count", "1", "--out", tmp_path))
    assert "pca needs at least 2 images" in line and "pass --count 2 or more" in line
    assert _analyze("pca", runs / "denoise", "--count", "2", "--out", tmp_path).exit_code == 0


@pytest.mark.parametrize("experiment", ["rollout", "pca", "nothing"])
def test_a_probe_run_has_no_experiments_and_names_the_run_it_probes(runs, experiment):
    line = _error(_analyze(experiment, runs / "probe"))
    assert "a probe run has no experiments" in line
    assert f"nca analyze EXPERIMENT {runs / 'denoise'}" in line
    assert "rollout" not in line.split("probes")[0]  # the paper's are not offered


def test_count_is_passed_on_or_announced_as_ignored(runs, tmp_path):
    ignored = _analyze("space-time", runs / "eca", "--count", "3", "--out", tmp_path / "a")
    assert ignored.exit_code == 0, ignored.output
    assert "warning: space-time ignores --count 3" in ignored.output
    used = _analyze("growth", runs / "grow", "--count", "3", "--out", tmp_path / "b")
    assert used.exit_code == 0 and "count: 3" in used.output and "warning" not in used.output
    line = _error(_analyze("growth", runs / "grow", "--count", "0"))
    assert "Invalid value for '--count': 0 is not in the range x>=1" in line


def test_the_help_lists_every_tasks_experiments():
    text = " ".join(CliRunner().invoke(cli, ["analyze", "--help"]).output.split())
    for name in TASKS.names():
        experiments = TASKS.load(name).analysis_experiments()
        if name == "denoise":
            assert all(e in text for e in experiments)
        elif experiments:
            assert f"{name}: {', '.join(experiments)}" in text, name
        else:
            assert f"{name.capitalize()} runs have none" in text, name


def test_info_lists_the_experiments_of_the_denoise_task_and_none_for_probe():
    denoise = CliRunner().invoke(cli, ["info", "denoise"], env={"COLUMNS": "300"}).output
    assert "Experiments of `nca analyze`: rollout, attention, damage" in denoise
    probe = CliRunner().invoke(cli, ["info", "probe"], env={"COLUMNS": "300"}).output
    assert "Experiments of `nca analyze`" not in probe
