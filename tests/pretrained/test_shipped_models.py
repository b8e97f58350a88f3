"""Every model the package ships: its file is there and matches its checksum, the whole
set stays small, its command is an ``nca train`` command with its budget, and it loads
and evaluates to within noise of its manifest numbers (under the manifest's evaluation
settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nca.pretrained import (
    compare_metrics,
    list_pretrained,
    pretrained_path,
    weights_file,
)
from nca.pretrained.command import command_arguments
from nca.tasks import evaluate_run, load_run

MODELS = list_pretrained()
#: The issue's budget for the package's weights: "well under 5 MB".
BUDGET = 5 * 2**20


def test_the_package_ships_at_least_the_lizard():
    assert "lizard" in [m.name for m in MODELS]


def test_the_shipped_weights_stay_small():
    assert sum(weights_file(m).stat().st_size for m in MODELS) < BUDGET


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_the_entry_records_how_it_was_trained(model):
    args = command_arguments(model.training.command)
    assert args[:1] == ["train"] and f"--task {model.task}" in model.training.command
    assert f"--seed {model.training.seed}" in model.training.command
    if model.training.preset:
        assert f"--preset {model.training.preset}" in model.training.command
    assert model.training.iterations and model.toolkit_version
    assert model.training.checkpoint in ("last", "best")
    assert model.evaluation.metrics


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_the_file_matches_its_checksum_and_loads(model):
    path = pretrained_path(model.name)
    assert path.stat().st_size == model.size_bytes
    stored = load_run(model.name)
    assert stored.task.name == model.task
    if model.rule:
        assert stored.model.rule.rule_name == model.rule.split(":")[0]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_it_evaluates_to_its_manifest_numbers(model, tmp_path):
    evaluation = model.evaluation
    for key, value in evaluation.overrides.items():
        if key.endswith("_weights") and value and not Path(value).is_file():
            pytest.skip(f"the evaluation needs {key}={value} (offline weights in ../shared)")
    measured = evaluate_run(
        model.name, tmp_path, overrides=evaluation.overrides, seed=evaluation.seed
    )
    rows = compare_metrics(evaluation.metrics, measured)
    off = [f"{r.metric}: {r.recorded} vs {r.measured}" for r in rows if not r.ok]
    assert not off, off
