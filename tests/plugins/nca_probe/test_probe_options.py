"""Probe options from the authors' release: ``vit_features`` and ``features_per_epoch``."""

import json

import pytest
import torch
from click.testing import CliRunner
from nca_probe import ProbeTask
from nca_probe.config import ProbeConfig

from nca import RunContext, TrainState, create_rule, load_checkpoint, save_checkpoint
from nca.cli import cli
from nca.config import config_to_dict
from tests.conftest import activate

DENOISE = {"image_size": 8, "eval_steps": 4, "dataset": "embedded-mnist"}
SMALL = {
    "vitca": {"embed_dim": 16, "heads": 2, "hidden_channels": 4, "image_size": (8, 8)},
    "vit": {"embed_dim": 16, "heads": 2},
    "unet": {},
}


def _source(root, name, drop=(), **overrides):
    """A run directory holding a (random, active) rule as a denoise checkpoint; ``drop``
    leaves config fields out, as a checkpoint written before they existed."""
    torch.manual_seed(0)
    rule = activate(create_rule(name, **SMALL[name], **overrides))
    config = {k: v for k, v in config_to_dict(rule.config).items() if k not in drop}
    save_checkpoint(
        root / "checkpoints" / "last.pt",
        {
            "rule": {"name": name, "config": config},
            "task": {"name": "denoise", "config": DENOISE},
            "model": rule.state_dict(),
        },
    )
    return root


@pytest.fixture
def vitca_run(tmp_path):
    return _source(tmp_path / "vitca-run", "vitca")


def _task(source, **overrides):
    config = ProbeConfig(
        source=str(source),
        train_subset=20,
        eval_subset=10,
        epochs=3,
        batch_size=8,
        feature_steps=4,
        **overrides,
    )
    return ProbeTask(config)


def _epoch_snapshots(task, run, epochs=(0, 1, 2)):
    """``train_x`` after the first batch of each epoch (as the engine would draw them)."""
    data = task.train_data(run)
    per_epoch = task._steps_per_epoch(data)
    shots = {}
    for epoch in epochs:
        state = TrainState(epoch * per_epoch + 1, None, None, torch.device("cpu"), run)
        x, _ = task.sample_batch(data, state)
        assert x.shape == (8, data.train_x.shape[1]) and torch.isfinite(x).all()
        shots[epoch] = data.train_x.clone()
    return data, shots


def test_features_per_epoch_gives_fresh_seeded_ca_features_every_epoch(vitca_run, tmp_path):
    run = RunContext(tmp_path / "p1", seed=0, quiet=True)
    data, shots = _epoch_snapshots(_task(vitca_run, features_per_epoch=True), run)
    assert data.per_epoch and not data.from_cache
    assert all(s.abs().sum() > 0 for s in shots.values())
    assert not torch.equal(shots[0], shots[1]) and not torch.equal(shots[1], shots[2])
    # a resumed run computes epoch 1 directly: the same features (seed, epoch, image)
    _, again = _epoch_snapshots(
        _task(vitca_run, features_per_epoch=True, feature_batch_size=3),
        RunContext(tmp_path / "p2", seed=0, quiet=True),
        epochs=(1,),
    )
    torch.testing.assert_close(again[1], shots[1], atol=2e-3, rtol=2e-3)  # float16
    # another run seed draws other masks
    _, other = _epoch_snapshots(
        _task(vitca_run, features_per_epoch=True),
        RunContext(tmp_path / "p3", seed=1, quiet=True),
        epochs=(1,),
    )
    assert not torch.equal(other[1], shots[1])
    # no training features are cached (only the test split's)
    cached = sorted(p.name.split("-")[0] for p in (vitca_run / "probe_features").glob("*.pt"))
    assert cached == ["test"]


def test_without_features_per_epoch_the_features_are_fixed_and_cached(vitca_run, tmp_path):
    run = RunContext(tmp_path / "p1", seed=0, quiet=True)
    data, shots = _epoch_snapshots(_task(vitca_run), run)
    assert not data.per_epoch
    assert torch.equal(shots[0], shots[1]) and torch.equal(shots[1], shots[2])
    again = _task(vitca_run).train_data(RunContext(tmp_path / "p2", seed=1, quiet=True))
    assert again.from_cache and torch.equal(again.train_x, shots[0])
    fresh, _ = _epoch_snapshots(
        _task(vitca_run, features_per_epoch=True), RunContext(tmp_path / "p3", quiet=True)
    )
    assert not torch.equal(fresh.train_x, shots[0])  # other masks than the cached ones


def test_features_per_epoch_leaves_feed_forward_features_cached(tmp_path):
    source = _source(tmp_path / "unet-run", "unet")
    data = _task(source, features_per_epoch=True).train_data(RunContext(tmp_path / "p"))
    assert not data.per_epoch and data.train_x.abs().sum() > 0  # deterministic: cached


def _probe(args, run_dir):
    result = CliRunner().invoke(
        cli,
        [
            *("train", "--task", "probe", "--train-subset", "40", "--eval-subset", "10"),
            *("--epochs", "3", "--device", "cpu", "-q", "-o", "feature_steps=4"),
            *args,
            *("--run-dir", str(run_dir)),
        ],
    )
    return result


def test_probe_with_features_per_epoch_resumes_bit_identically(vitca_run, tmp_path):
    base = ["--from", str(vitca_run), "--features-per-epoch"]
    straight = _probe(base, tmp_path / "a")
    assert straight.exit_code == 0, straight.output
    first = _probe([*base, "--stop-after", "3"], tmp_path / "b")  # mid epoch 1 of 0..2
    assert first.exit_code == 0, first.output
    resumed = _probe([*base, "--resume"], tmp_path / "b")
    assert resumed.exit_code == 0, resumed.output
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert a["iteration"] == b["iteration"] == 3 * 2  # ceil(40 / 32) steps per epoch
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    report = json.loads((tmp_path / "a" / "probe.json").read_text())
    assert report["features_per_epoch"] is True and not report["features_from_cache"]
    resumed_report = json.loads((tmp_path / "b" / "probe.json").read_text())
    # the same numbers from the same iteration; only the checkpoint's folder differs
    assert resumed_report.pop("checkpoint")["iteration"] == report.pop("checkpoint")["iteration"]
    assert resumed_report == report


def test_vit_features_chooses_the_tokens_of_the_source_vit(tmp_path):
    old = _source(tmp_path / "old-vit", "vit", drop=("probe_tokens",))  # before the option
    final = _source(tmp_path / "final-vit", "vit", probe_tokens="final")
    for source, choice, expected in [
        (old, "auto", "embedding"),  # the rule's default, the release's choice
        (final, "auto", "final"),  # the rule's stored setting
        (old, "final", "final"),
        (final, "embedding", "embedding"),
    ]:
        task = _task(source, vit_features=choice)
        task.validate()
        rule = task._load_source(source / "checkpoints" / "last.pt")
        assert rule.config.probe_tokens == expected, (source.name, choice)
    # end to end: both choices probe, report what they probed and cache separately
    reports = {}
    for choice in ("embedding", "final"):
        result = _probe(
            ["--from", str(old), "--vit-features", choice, "--epochs", "1"], tmp_path / choice
        )
        assert result.exit_code == 0, result.output
        reports[choice] = json.loads((tmp_path / choice / "probe.json").read_text())
        assert reports[choice]["vit_features"] == choice
    assert len(list((old / "probe_features").glob("train-*.pt"))) == 2


def test_vit_features_errors(vitca_run, tmp_path):
    result = _probe(["--from", str(vitca_run), "--vit-features", "final"], tmp_path / "x")
    assert result.exit_code != 0
    message = " ".join(result.output.split())
    assert "vit_features=final" in message and "'vitca' rule, which has none" in message
    assert "use vit_features=auto" in message
    assert not (tmp_path / "x").exists()  # refused before the run directory
    pixels = _probe(["--features", "pixels", "--vit-features", "embedding"], tmp_path / "y")
    assert pixels.exit_code != 0 and "take vit_features=auto" in " ".join(pixels.output.split())
    with pytest.raises(ValueError, match=r"vit_features must be one of \('auto', 'embedding'"):
        ProbeConfig(source="x", vit_features="tokens")
    with pytest.raises(ValueError, match="features_per_epoch must be true or false, got 'no'"):
        ProbeConfig(source="x", features_per_epoch="no")


def test_paper_preset_takes_the_releases_choices():
    assert ProbeTask.presets["paper"]["features_per_epoch"] is True
    assert ProbeTask.presets["paper"].get("vit_features", "auto") == "auto"
    assert "recomputed every epoch" in ProbeTask.preset_descriptions["paper"]
    assert ProbeConfig(source="x").features_per_epoch is False  # the default: cached
    info = CliRunner().invoke(cli, ["info", "probe"])
    assert "--features-per-epoch" in info.output and "--vit-features" in info.output


def test_a_u_nets_feature_maps_are_not_mistaken_for_vit_tokens(tmp_path):
    """U-Net's config has an int `features` (its feature maps): neither the token choice
    nor the report may read it as one."""
    source = _source(tmp_path / "unet-run", "unet")
    result = _probe(["--from", str(source)], tmp_path / "ok")
    assert result.exit_code == 0, result.output
    assert "vit_features" not in json.loads((tmp_path / "ok" / "probe.json").read_text())
    refused = _probe(["--from", str(source), "--vit-features", "final"], tmp_path / "no")
    assert refused.exit_code != 0 and "'unet' rule, which has none" in " ".join(
        refused.output.split()
    )
