"""``scripts/make_pretrained.py`` makes an entry from a tiny trained run (the exact
``nca train`` command of its settings, slimmed weights, its evaluation), and
``scripts/train_pretrained.py`` trains it again from that command and reproduces its
numbers; both run in-process on a manifest of their own."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from nca import create_task, launch
from nca.pretrained import file_sha256, list_pretrained, read_manifest, write_manifest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
#: A grow run small enough to train twice in seconds.
TINY = dict(target_size=8, target_padding=2, steps_min=2, steps_max=3, eval_repeats=1,
            pool_size=4, batch_size=2, damage_count=1, iterations=2)  # fmt: skip


def script(name: str):
    """The module of ``scripts/NAME.py``."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    task = create_task("grow", preset="quick", **TINY)
    launch(task, rule="convca", rule_options={"hidden_channels": 4}, run_dir=run_dir, quiet=True)
    return run_dir


@pytest.mark.parametrize("name", ["make_pretrained", "train_pretrained"])
def test_the_scripts_show_their_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        script(name).main(["--help"])
    assert done.value.code == 0 and "usage:" in capsys.readouterr().out


def test_a_given_command_that_trains_other_settings_is_refused(tiny_run, tmp_path):
    make = script("make_pretrained")
    wrong = "nca train --task grow --rule convca --preset quick --seed 0 -o iterations=2"
    with pytest.raises(SystemExit, match="trains other settings than the run: task.batch_size"):
        make.main([str(tiny_run), "--name", "tiny", "--description", "d", "--command", wrong,
                   "--manifest", str(tmp_path / "manifest.json")])  # fmt: skip


def test_make_an_entry_then_train_it_again_and_reproduce_its_numbers(tiny_run, tmp_path, capsys):
    manifest = tmp_path / "pack" / "manifest.json"
    args = [str(tiny_run), "--name", "tiny", "--description", "a tiny lizard",
            "--eval", "steps_max=4", "--manifest", str(manifest)]  # fmt: skip
    assert script("make_pretrained").main(args) == 0
    (entry,) = read_manifest(manifest)
    assert entry.training.command == (
        "nca train --task grow --rule convca --preset quick --seed 0 -o batch_size=2 "
        "-o damage_count=1 -o eval_repeats=1 -o iterations=2 -o pool_size=4 -o steps_max=3 "
        "-o steps_min=2 -o target_padding=2 -o target_size=8 -o rule.hidden_channels=4"
    )
    assert (entry.training.preset, entry.training.seed, entry.training.iterations) == (
        "quick",
        0,
        2,
    )
    assert entry.training.threads == torch.get_num_threads()  # from the run's config.json
    weights = manifest.parent / "weights" / "tiny.pt"
    assert entry.sha256 == file_sha256(weights) and entry.size_bytes == weights.stat().st_size
    assert entry.evaluation.overrides == {"steps_max": "4"} and "psnr_T" in entry.evaluation.metrics

    retrain = script("train_pretrained")
    out = ["--manifest", str(manifest), "--out", str(tmp_path / "runs")]
    assert retrain.main([*out, "--only", "tiny", "--check"]) == 0  # trained again: the same
    threads = entry.training.threads
    assert f"({threads} thread{'s' * (threads != 1)}, log:" in capsys.readouterr().out
    assert json.loads((tmp_path / "runs" / "tiny" / "config.json").read_text())["seed"] == 0
    trained = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "tiny").rglob("*.pt")}
    assert retrain.main([*out, "--only", "tiny", "--reuse", "--check"]) == 0  # not retrained
    assert {p: p.stat().st_mtime_ns for p in trained} == trained
    assert "reusing" in capsys.readouterr().out

    metrics = {**entry.evaluation.metrics, "psnr_T": entry.evaluation.metrics["psnr_T"] + 3}
    evaluation = dataclasses.replace(entry.evaluation, metrics=metrics)  # 3 dB off: refused
    write_manifest(manifest, [dataclasses.replace(entry, evaluation=evaluation)])
    assert retrain.main([*out[:2], "--out", str(tmp_path / "again"), "--shipped", "--check"]) == 1
    assert list_pretrained(manifest)[0].name == "tiny"


def test_the_inferred_command_keeps_the_runs_preset_when_a_field_is_in_task_and_rule():
    from nca import resolve_task_rule
    from nca.config import config_to_dict

    task = create_task("denoise", preset="quick", image_size=32)  # ViTCA has image_size too
    resolved = resolve_task_rule(task, "vitca")
    record = {
        "task": {"name": "denoise", "config": config_to_dict(task.config)},
        "rule": {"name": resolved.name, "config": config_to_dict(resolved.config)},
        "seed": 0,
        "preset": "quick",
    }
    assert script("make_pretrained").infer_command(record, None) == (
        "nca train --task denoise --rule vitca --preset quick --seed 0 -o task.image_size=32"
    )


def test_a_thread_count_below_one_is_refused(capsys):
    with pytest.raises(SystemExit) as done:
        script("train_pretrained").main(["--threads", "0"])
    assert done.value.code == 2 and "--threads must be at least 1, got 0" in capsys.readouterr().err


def test_a_field_added_since_at_its_default_is_not_a_changed_setting(tiny_run, tmp_path):
    """A shipped checkpoint predates a rule's new option (convca's ``depthwise_filters``):
    at its default in the retrained run it is reported apart; set otherwise, or a field
    the shipped file has with another value, it is a difference."""
    from nca.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint

    train = script("train_pretrained")
    trained = find_checkpoint(tiny_run)
    payload = load_checkpoint(trained)
    older = {**payload, "rule": {**payload["rule"], "config": dict(payload["rule"]["config"])}}
    del older["rule"]["config"]["depthwise_filters"]
    shipped = save_checkpoint(tmp_path / "older.pt", older)
    assert train.changed_settings(shipped, trained) == ([], ["rule.depthwise_filters"])

    payload["rule"]["config"]["depthwise_filters"] = 3  # not the default: it matters
    payload["rule"]["config"]["mlp_channels"] += 1
    retrained = save_checkpoint(tmp_path / "other.pt", payload)
    assert train.changed_settings(shipped, retrained) == (
        ["rule.depthwise_filters", "rule.mlp_channels"],
        [],
    )
