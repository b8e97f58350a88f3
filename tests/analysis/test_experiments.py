"""Every analysis experiment on a tiny model: files written, numbers of the right shape
and range (not pixel-exact pictures)."""

import json
import math

import pytest
import torch
from click.testing import CliRunner
from nca_denoise.masking import mask_images

from nca import ImageModel, create_rule
from nca.analysis import EXPERIMENTS, Subject, run_experiment
from nca.cli import cli
from nca.cli.analyze_cmd import EXPERIMENT_NAMES
from tests.conftest import activate

SMALL = {
    "rollout": {"steps": 6},
    "attention": {"steps": 3},
    "damage": {"steps": 12, "damage_at": (4, 8)},
    "convergence": {"steps": 12},
    "pca": {"steps": 4},
    "update-rates": {"steps": 8},
    "unseen-noise": {"steps": 4},
    "changing-inputs": {"switch_at": (4, 8), "steps": 12},
    "masking-extremes": {"steps": 4},
    "interpolation": {"steps": 4, "scale": 2},
    "head-masking": {"steps": 3},
}
FILES = {
    "rollout": ["rollout.gif", "psnr.png"],
    "attention": ["splat.png"],
    "damage": ["frames.png", "psnr.png"],
    "convergence": ["psnr.png", "update_norm.png"],
    "pca": ["pca.png"],
    "update-rates": ["psnr.png"],
    "unseen-noise": ["outputs.png"],
    "changing-inputs": ["frames.png", "psnr.png"],
    "masking-extremes": ["outputs.png"],
    "interpolation": ["outputs.png"],
    "head-masking": ["outputs.png"],
}


def _subject(rule_name="vitca"):
    torch.manual_seed(0)
    kwargs = {"embed_dim": 16, "heads": 2, "hidden_channels": 4} if rule_name == "vitca" else {}
    rule = activate(create_rule(rule_name, **kwargs), scale=0.02).eval()
    images = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    corrupt = lambda i, p, c, g: mask_images(i, (p, c), g)  # noqa: E731
    return Subject(ImageModel(rule).eval(), images, torch.arange(6) % 3, corrupt)


def test_cli_lists_every_experiment():
    assert set(EXPERIMENT_NAMES) == set(EXPERIMENTS) == set(SMALL)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_experiment_writes_pictures_and_numbers(name, tmp_path):
    results = run_experiment(name, _subject(), tmp_path, **SMALL[name])
    for file in [*FILES[name], "results.json"]:
        assert (tmp_path / file).stat().st_size > 0, file
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(json.dumps(results))

    def finite(value):
        if isinstance(value, dict):
            return all(finite(v) for v in value.values())
        if isinstance(value, list):
            return all(finite(v) for v in value)
        return not isinstance(value, float) or math.isfinite(value)

    assert finite(results)
    steps = SMALL[name].get("steps")
    if "psnr" in results and isinstance(results["psnr"], list):
        assert len(results["psnr"]) == steps
        assert all(0 < v <= 100 for v in results["psnr"])


def test_specific_numbers(tmp_path):
    subject = _subject()
    pca = run_experiment("pca", subject, tmp_path / "pca", steps=4)
    assert len(pca["points"]) == 6 and all(len(p) == 3 for p in pca["points"])
    ratios = pca["explained_variance_ratio"]
    assert ratios == sorted(ratios, reverse=True) and 0 < sum(ratios) <= 1 + 1e-6
    heads = run_experiment("head-masking", subject, tmp_path / "heads", steps=2)
    assert set(heads["psnr"]) == {"masked none", "masked 0", "masked 1"}
    assert subject.rule.attention_layers[0].masked_heads == ()  # unmasked again
    rates = run_experiment("update-rates", subject, tmp_path / "rates", steps=6)
    assert all(1 <= v <= 6 for v in rates["steps_to_converge"].values())
    splat = run_experiment("attention", subject, tmp_path / "splat", steps=2)
    assert all(0 < e <= math.log(9) + 1e-5 for e in splat["attention_entropy_per_head"])


def test_feed_forward_rules(tmp_path):
    subject = _subject("unet")
    images = torch.rand(6, 1, 8, 8)
    subject.images = images
    results = run_experiment("unseen-noise", subject, tmp_path / "noise", steps=2)
    assert set(results) == {"4x1", "1x4"}
    with pytest.raises(ValueError, match="needs a CA rule"):
        run_experiment("damage", subject, tmp_path / "damage", steps=4, damage_at=(2,))
    with pytest.raises(ValueError, match="unknown experiment 'splatter'"):
        run_experiment("splatter", subject, tmp_path)


def test_nca_analyze_from_a_run(tmp_path):
    runner = CliRunner()
    run_dir = tmp_path / "run"
    trained = runner.invoke(
        cli,
        [
            "train",
            "--rule",
            "vitca",
            "--task",
            "denoise",
            "--preset",
            "quick",
            "--image-size",
            "8",
            "--iterations",
            "2",
            "--batch-size",
            "4",
            "--eval-subset",
            "4",
            "--eval-steps",
            "2",
            "-o",
            "steps_min=2",
            "-o",
            "steps_max=2",
            "-o",
            "rule.embed_dim=16",
            "-o",
            "rule.heads=2",
            "--run-dir",
            str(run_dir),
            "--device",
            "cpu",
            "-q",
        ],
    )
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(
        cli,
        ["analyze", "damage", str(run_dir), "--count", "3", "-o", "steps=8", "-o", "damage_at=2,4"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((run_dir / "analysis" / "damage" / "results.json").read_text())
    assert len(data["psnr"]) == 8 and data["damage_at"] == [2, 4]
    bad = runner.invoke(cli, ["analyze", "damage", str(run_dir), "-o", "stepz=3"])
    assert bad.exit_code != 0 and "has no option 'stepz'" in bad.output
    for options, message in [
        (["-o", "steps=10"], "damage_at=64,96 does not fit a rollout of steps=10"),
        (["-o", "steps=0"], "damage: steps=0 must be >= 1; got 0"),
    ]:
        bad = runner.invoke(cli, ["analyze", "damage", str(run_dir), *options])
        assert bad.exit_code != 0 and message in bad.output, bad.output
        assert "Traceback" not in bad.output
    bad = runner.invoke(cli, ["analyze", "changing-inputs", str(run_dir), "-o", "steps=20"])
    assert bad.exit_code != 0 and "switch_at=48,96 does not fit" in bad.output
