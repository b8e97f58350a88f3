"""Probe task: feature shapes, Table 3 parameter counts, caching, end to end."""

import json
import math

import pytest
import torch
from click.testing import CliRunner
from nca_denoise import DenoiseTask
from nca_denoise.config import DenoiseConfig
from nca_probe.classifier import make_classifier
from nca_probe.features import extract, pixel_features

from nca import ImageModel, RunContext, Trainer, create_rule, make_generator
from nca.cli import cli


def _params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("rule", "feature_dim", "paper_k"),
    [
        ("vitca", 32 * 32 * 32, 327.7),
        ("unetca", 32 * 32 * 32, 327.7),
        ("unet", 24 * 8 * 8, 15.4),
        ("vit", 128 * 32 * 32, 1310.7),
    ],
)
def test_feature_shapes_and_table_3_probe_sizes(rule, feature_dim, paper_k):
    model = ImageModel(create_rule(rule), steps=2)
    images = torch.rand(2, 1, 32, 32)
    feats = model.features(images, generator=make_generator(0))
    assert feats.shape == (2, feature_dim)
    count = _params(make_classifier("linear", feature_dim, 10))
    if paper_k > 1000:  # "1.3M"
        assert round(count / 1e5) / 10 == 1.3
    else:
        assert round(count / 100) / 10 == paper_k
    pooled = model.features(images, generator=make_generator(0), pooled=True)
    assert pooled.shape[0] == 2 and pooled.shape[1] < feature_dim


@pytest.mark.parametrize("rule", ["vitca", "unet"])
def test_features_do_not_depend_on_the_extraction_batch_size(rule):
    from tests.conftest import activate

    torch.manual_seed(0)
    overrides = {"embed_dim": 16, "heads": 2, "image_size": (8, 8)} if rule == "vitca" else {}
    model = ImageModel(activate(create_rule(rule, **overrides)))
    images = torch.rand(10, 1, 8, 8)
    runs = [
        extract(
            model,
            lambda i: images[i],
            10,
            steps=6,
            pooled=False,
            batch_size=b,
            device="cpu",
        )
        for b in (3, 10)
    ]
    torch.testing.assert_close(runs[0], runs[1], atol=2e-3, rtol=2e-3)  # float16 storage


@pytest.mark.parametrize(
    ("classifier", "channels", "paper"),
    [
        ("linear", 1, "10.3K"),
        ("linear", 3, "30.7K"),
        ("mlp100", 1, "103.5K"),
        ("mlp100", 3, "308.3K"),
        ("mlp1000", 1, "1.0M"),
        ("mlp1000", 3, "3.1M"),
    ],
)
def test_raw_pixel_reference_sizes(classifier, channels, paper):
    feature_dim = pixel_features(torch.rand(1, channels, 32, 32)).shape[1]
    count = _params(make_classifier(classifier, feature_dim, 10))
    # the paper rounds half up (10,250 -> 10.3K); Python's round() would give 10.2K
    half_up = lambda x: math.floor(x + 0.5)  # noqa: E731
    shown = f"{half_up(count / 1e5) / 10}M" if count >= 1e6 else f"{half_up(count / 100) / 10}K"
    assert shown == paper


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A ViTCA briefly trained to denoise 8x8 digits (enough to make hidden states informative)."""
    root = tmp_path_factory.mktemp("pretrained")
    config = DenoiseConfig(
        image_size=8,
        iterations=200,
        batch_size=8,
        steps_min=4,
        steps_max=8,
        eval_steps=8,
        pool_size=32,
        curriculum_start=10,
        curriculum_end=30,
        log_every=100,
        validate_every=1000,
        checkpoint_every=1000,
        lpips="off",
        lr=3e-3,
    )
    torch.manual_seed(0)
    rule = create_rule("vitca", embed_dim=32, heads=4, hidden_channels=8, image_size=(8, 8))
    trainer = Trainer(DenoiseTask(config), rule, RunContext(root, seed=0, quiet=True))
    trainer.fit(trainer_log(root))
    return root


def trainer_log(root):
    from nca import RunLog

    return RunLog(root, tensorboard=False)


def _probe(runner, tmp_path, *args):
    result = runner.invoke(
        cli,
        [
            "train",
            "--task",
            "probe",
            "--train-subset",
            "600",
            "--eval-subset",
            "300",
            "--epochs",
            "30",
            "--device",
            "cpu",
            "-q",
            "-o",
            "feature_steps=16",
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "probe.json").read_text()), result.output


def test_probe_end_to_end_beats_chance_and_caches(pretrained, tmp_path, monkeypatch):
    runner = CliRunner()
    calls = []
    original = ImageModel.features
    monkeypatch.setattr(
        ImageModel, "features", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    first, output = _probe(
        runner,
        tmp_path / "a",
        "--from",
        str(pretrained),
        "--run-dir",
        str(tmp_path / "a"),
        "--image-size",
        "8",
    )
    assert first["feature_dim"] == 8 * 8 * 8 and first["classifier_parameters"] == 512 * 10 + 10
    assert first["test_accuracy"] > 30  # chance is 10 % (measured: 47 % after 200 iterations)
    assert not first["features_from_cache"] and calls
    assert "test_accuracy" in output
    assert " 5130 " in output and "5130.0" not in output  # a count, not a float
    calls.clear()
    second, _ = _probe(
        runner,
        tmp_path / "b",
        "--from",
        str(pretrained),
        "--run-dir",
        str(tmp_path / "b"),
        "--image-size",
        "8",
    )
    assert second["features_from_cache"] and not calls  # frozen model: features reused
    assert list((pretrained / "probe_features").glob("train-*.pt"))  # next to the source run
    assert second["test_accuracy"] == first["test_accuracy"]

    pixels, _ = _probe(
        runner,
        tmp_path / "c",
        "--features",
        "pixels",
        "--run-dir",
        str(tmp_path / "c"),
        "--image-size",
        "8",
    )
    assert pixels["feature_dim"] == 64 and pixels["test_accuracy"] > 40


def test_probe_errors(tmp_path):
    runner = CliRunner()
    no_source = runner.invoke(cli, ["train", "--task", "probe", "--run-dir", str(tmp_path / "x")])
    assert no_source.exit_code != 0 and "needs --from RUN_OR_CHECKPOINT" in no_source.output
    mlp_on_model = runner.invoke(
        cli,
        [
            "train",
            "--task",
            "probe",
            "--from",
            str(tmp_path),
            "--classifier",
            "mlp100",
            "--run-dir",
            str(tmp_path / "y"),
        ],
    )
    assert mlp_on_model.exit_code != 0 and "raw-pixel reference" in mlp_on_model.output
    missing = runner.invoke(
        cli,
        [
            "train",
            "--task",
            "probe",
            "--from",
            str(tmp_path / "nope"),
            "--run-dir",
            str(tmp_path / "z"),
        ],
    )
    assert missing.exit_code != 0 and "neither a checkpoint file nor a run directory" in (
        missing.output
    )


def test_cache_is_keyed_by_the_data_and_lives_in_the_source_run(pretrained, tmp_path):
    from nca_probe.features import cache_key, tensor_digest

    checkpoint = pretrained / "checkpoints" / "last.pt"
    a = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    b = a.clone()
    b[0, 0, 0, 0] = 1
    labels = torch.tensor([0, 1])
    key_a = cache_key(checkpoint, data=tensor_digest(a, labels), steps=4)
    assert key_a == cache_key(checkpoint, data=tensor_digest(a.clone(), labels), steps=4)
    assert key_a != cache_key(checkpoint, data=tensor_digest(b, labels), steps=4)
    assert key_a != cache_key(checkpoint, data=tensor_digest(a, labels), steps=8)


def test_failed_probe_leaves_no_run_behind(tmp_path):
    runner = CliRunner()
    run_dir = tmp_path / "probe"
    result = runner.invoke(
        cli,
        [
            "train",
            "--task",
            "probe",
            "--from",
            str(tmp_path / "missing"),
            "--run-dir",
            str(run_dir),
        ],
    )
    assert result.exit_code != 0
    assert not run_dir.exists()  # fixing the path and re-running just works


def test_probe_refuses_a_rule_and_other_tasks_checkpoints(tmp_path):
    from nca import create_rule, save_checkpoint
    from nca.config import config_to_dict

    rule = create_rule("unet")
    path = save_checkpoint(
        tmp_path / "run" / "checkpoints" / "last.pt",
        {
            "rule": {"name": "unet", "config": config_to_dict(rule.config)},
            "task": {"name": "toy", "config": {}},
            "model": rule.state_dict(),
        },
    )
    runner = CliRunner()
    other = runner.invoke(
        cli, ["train", "--task", "probe", "--from", str(path), "--run-dir", str(tmp_path / "p1")]
    )
    assert other.exit_code != 0 and "the probe reads models pretrained with the denoise" in (
        other.output
    )
    with_rule = runner.invoke(
        cli,
        [
            "train",
            "--task",
            "probe",
            "--rule",
            "unet",
            "--features",
            "pixels",
            "--run-dir",
            str(tmp_path / "p2"),
        ],
    )
    assert with_rule.exit_code != 0 and "not --rule" in with_rule.output


def test_probe_reads_the_source_runs_dataset_and_data_root(tmp_path):
    """A landcover-pretrained model is probed on landcover from the same --data-root."""
    from tests.data.test_landcover import write_landcover

    write_landcover(tmp_path / "data", splits=(12, 1, 8), side=20)
    runner = CliRunner()
    data, run = str(tmp_path / "data"), str(tmp_path / "run")
    pretrain = [
        *("train", "--rule", "vitca", "--task", "denoise", "--preset", "quick"),
        *("-o", "rule.embed_dim=16", "-o", "rule.heads=2", "-o", "rule.hidden_channels=4"),
        *("--dataset", "landcover", "--data-root", data, "--image-size", "8"),
        *("--iterations", "2", "--batch-size", "4", "--eval-subset", "4", "--eval-steps", "2"),
        *("--device", "cpu", "--quiet", "--run-dir", run),
    ]
    result = runner.invoke(cli, pretrain)
    assert result.exit_code == 0, result.output
    probe = [
        *("train", "--task", "probe", "--from", run, "--preset", "quick", "-o", "epochs=1"),
        *("--device", "cpu", "--quiet", "--run-dir", str(tmp_path / "p")),
    ]
    probe = runner.invoke(cli, probe)
    assert probe.exit_code == 0, probe.output
    result = json.loads((tmp_path / "p" / "probe.json").read_text())
    assert result["dataset"] == "landcover" and result["image_size"] == 8


def test_probe_training_resumes_bit_identically(tmp_path):
    """The classifier trains on the engine: --stop-after then --resume gives the weights
    of an uninterrupted run (the epoch shuffles are functions of seed and epoch)."""
    from nca import load_checkpoint

    runner = CliRunner()
    base = [
        *("train", "--task", "probe", "--features", "pixels", "--image-size", "8"),
        *("--train-subset", "200", "--eval-subset", "50", "--epochs", "3"),
        *("--device", "cpu", "-q"),
    ]
    straight = runner.invoke(cli, [*base, "--run-dir", str(tmp_path / "a")])
    assert straight.exit_code == 0, straight.output
    first = runner.invoke(cli, [*base, "--run-dir", str(tmp_path / "b"), "--stop-after", "10"])
    assert first.exit_code == 0, first.output
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["iteration"] == 10
    resumed = runner.invoke(cli, [*base, "--run-dir", str(tmp_path / "b"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert a["iteration"] == b["iteration"] == 3 * 7  # ceil(200 / 32) steps per epoch
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    accuracy = lambda run: json.loads((tmp_path / run / "probe.json").read_text())  # noqa: E731
    assert accuracy("a")["test_accuracy"] == accuracy("b")["test_accuracy"]


@pytest.mark.parametrize("option", [["--gradient", "fixed-point"], ["--compile"]])
def test_probe_refuses_engine_options_that_would_do_nothing(tmp_path, option):
    args = ["train", "--task", "probe", "--features", "pixels", *option,
            "--run-dir", str(tmp_path / "run")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "would do nothing" in result.output
    assert not (tmp_path / "run").exists()
