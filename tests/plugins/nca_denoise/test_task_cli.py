"""The denoise task through the CLI, end to end, with tiny settings."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nca.cli import cli

TINY_RULE = ["-o", "rule.embed_dim=16", "-o", "rule.heads=2", "-o", "rule.hidden_channels=4"]
TINY_TASK = [
    "--preset",
    "quick",
    "--image-size",
    "8",
    "--iterations",
    "4",
    "--batch-size",
    "4",
    "--eval-subset",
    "8",
    "--eval-steps",
    "4",
    "-o",
    "validate_every=2",
    "-o",
    "validation_size=4",
    "-o",
    "steps_min=2",
    "-o",
    "steps_max=4",
    "--device",
    "cpu",
    "--quiet",
]


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_train_then_eval(runner, tmp_path):
    run_dir = tmp_path / "run"
    result = runner.invoke(
        cli,
        [
            "train",
            "--rule",
            "vitca",
            "--task",
            "denoise",
            *TINY_RULE,
            *TINY_TASK,
            "--run-dir",
            str(run_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1x1/50%" in result.output and "PSNR out" in result.output
    for name in ("config.json", "metrics.jsonl", "eval.json", "checkpoints/last.pt"):
        assert (run_dir / name).is_file(), name
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == [
        "iter_0000002.png",
        "iter_0000004.png",
    ]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in records} == {"train", "validation", "evaluation"}
    evaluated = json.loads((run_dir / "eval.json").read_text())
    assert len(evaluated["rows"]) == 9 and "psnr" in evaluated["mean"]

    training_report = (run_dir / "eval.json").read_bytes()
    again = runner.invoke(cli, ["eval", str(run_dir), "--device", "cpu", "-q"])
    assert again.exit_code == 0, again.output
    assert "4x4/75%" in again.output
    # a re-evaluation never replaces the training-time report, nor an earlier re-evaluation
    subset = ["eval", str(run_dir), "--device", "cpu", "-q", "-o", "eval_subset=4"]
    for _ in range(2):
        assert runner.invoke(cli, subset).exit_code == 0
    assert (run_dir / "eval.json").read_bytes() == training_report
    reports = sorted(p.name for p in run_dir.glob("eval-*.json"))
    assert len(reports) == 3 and reports[0].startswith("eval-last-")
    assert any(name.endswith("-2.json") for name in reports)
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    assert evaluated["protocol"] == "full" and "full protocol" in result.output
    authors = [*subset, "--checkpoint", "best", "-o", "eval_protocol=authors"]
    by_authors = runner.invoke(cli, authors)
    assert by_authors.exit_code == 0, by_authors.output
    assert "authors protocol" in by_authors.output and "mean over batches" in by_authors.output
    report = max(run_dir.glob("eval-best-*.json"), key=lambda p: p.stat().st_mtime)
    assert json.loads(report.read_text())["protocol"] == "authors"
    named = runner.invoke(cli, [*subset, "--out", str(tmp_path / "mine.json")])
    assert named.exit_code == 0 and (tmp_path / "mine.json").is_file()
    exists = runner.invoke(cli, [*subset, "--out", str(tmp_path / "mine.json")])
    assert exists.exit_code != 0 and "exists; pass another --out" in exists.output


def test_eval_of_a_read_only_run_fails_before_evaluating(runner, tmp_path, monkeypatch):
    import os

    run_dir = tmp_path / "run"
    args = ["train", "--rule", "vitca", "--task", "denoise", *TINY_RULE, *TINY_TASK]
    assert runner.invoke(cli, [*args, "--run-dir", str(run_dir)]).exit_code == 0
    from nca_denoise import evaluation

    calls = []
    monkeypatch.setattr(evaluation, "mask_images", lambda *a, **k: calls.append(1))
    real_access = os.access
    monkeypatch.setattr(  # root ignores permission bits: pretend the folder is read-only
        os,
        "access",
        lambda p, mode: False if Path(p) == run_dir and mode == os.W_OK else real_access(p, mode),
    )
    result = runner.invoke(cli, ["eval", str(run_dir), "--device", "cpu", "-q"])
    assert result.exit_code != 0
    assert "cannot write the report" in result.output and "--out PATH" in result.output
    assert not calls  # failed before the work


def test_rgb_data_sets_the_rules_channels(runner, tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        folder = tmp_path / "data" / split / "a"
        folder.mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (8, 8), color=(30 * i, 90, 160)).save(folder / f"{i}.png")
    result = runner.invoke(
        cli,
        [
            "train",
            "--rule",
            "unetca",
            "--task",
            "denoise",
            *TINY_TASK,
            "--dataset",
            f"folder:{tmp_path / 'data'}",
            "--run-dir",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["rule"]["config"]["image_channels"] == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "mnsit"], "dataset 'mnsit' is not installed. Did you mean 'mnist'?"),
        (["-o", "rule.patch_size=3x3"], "is not divisible by patch_size (3, 3)"),
        (["-o", "steps_max=1"], "steps_max (1) must be >= steps_min"),
        (["-o", "octaves=1"], "need at least 4 steps (2 before each fusion and after each"),
        (
            ["-o", "octaves=2", "-o", "steps_min=8", "-o", "steps_max=8"],
            "got T=4; raise eval_steps or lower eval_octaves",
        ),
        (["-o", "eval_split=val"], "eval_split=val but embedded-mnist has no such split"),
        (["-o", "eval_protocol=author"], "'author' is not one of 'full', 'authors'"),
        (["-o", "octaves=4", "-o", "steps_min=16", "-o", "steps_max=16"], "multiples of 16"),
        (
            [
                "-o",
                "octaves=2",
                "-o",
                "steps_min=8",
                "-o",
                "steps_max=8",
                "--eval-steps",
                "8",
                "-o",
                "rule.patch_size=4x4",
            ],
            "a 2x2 cell grid cannot be fused 2 time(s): height and width must be multiples of 4",
        ),
        (["--dataset", "landcover", "--data-root", "nowhere"], "LandCoverRep is not in"),
        (["--dataset", "fashion-mnist", "--data-root", "nowhere"], "pass --download"),
    ],
)
def test_bad_inputs(runner, tmp_path, extra, message):
    result = runner.invoke(
        cli,
        [
            "train",
            "--rule",
            "vitca",
            "--task",
            "denoise",
            *TINY_RULE,
            *TINY_TASK,
            "--run-dir",
            str(tmp_path / "r"),
            *extra,
        ],
    )
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()  # checked before the run directory is written


def test_nan_stop_is_a_one_line_error(runner, tmp_path):
    result = runner.invoke(
        cli,
        [
            "train",
            "--rule",
            "unet",
            "--task",
            "denoise",
            *TINY_TASK,
            "-o",
            "lr=1e30",
            "-o",
            "gradient_normalization=false",
            "--iterations",
            "20",
            "--run-dir",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 1
    assert "became" in result.output and "at iteration" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("chunk", [1024, 7])  # one mask chunk, or several (bounded memory)
@pytest.mark.parametrize("rule_name", ["unet", "vitca", "convca:tiny"])
def test_evaluation_does_not_depend_on_the_batch_size(monkeypatch, chunk, rule_name):
    """Noise masks and (CA rules) each image's update masks are the same whatever the
    batch: the numbers agree to float rounding, at batch 3 and 20."""
    import torch
    from nca_denoise import evaluation
    from nca_denoise.evaluation import evaluate_model

    from nca import ImageModel, create_rule, load_images
    from tests.conftest import activate

    monkeypatch.setattr(evaluation, "MASK_CHUNK", chunk)
    test = load_images("embedded-mnist", "test", image_size=8).subset(20)
    torch.manual_seed(0)
    overrides = {"embed_dim": 16, "heads": 2, "image_size": (8, 8)} if rule_name == "vitca" else {}
    model = ImageModel(activate(create_rule(rule_name, **overrides)), steps=6)
    runs = [
        evaluate_model(model, test, steps=6, batch_size=b, configurations=[(1, 0.25)])
        for b in (3, 20)
    ]
    small, large = (r.rows["1x1/25%"] for r in runs)
    for key, value in small.items():
        assert abs(value - large[key]) < 1e-4, key
    assert torch.isfinite(torch.tensor(small["input_psnr"]))
    if model.is_ca:  # the rollout did change the grid: there was something to get wrong
        assert abs(small["psnr"] - small["input_psnr"]) > 0.01


def test_eval_refuses_another_tasks_checkpoint(runner, tmp_path):
    from nca import create_rule, save_checkpoint
    from nca.config import config_to_dict

    rule = create_rule("unet")
    save_checkpoint(
        tmp_path / "ck.pt",
        {
            "rule": {"name": "unet", "config": config_to_dict(rule.config)},
            "task": {"name": "probe", "config": {}},
            "model": rule.state_dict(),
        },
    )
    result = runner.invoke(cli, ["eval", str(tmp_path / "ck.pt"), "--task", "denoise"])
    assert result.exit_code == 1 and "was trained on task 'probe', not 'denoise'" in result.output


def test_lpips_on_with_too_small_images_fails_before_training(runner, tmp_path):
    result = runner.invoke(
        cli,
        [
            "train",
            "--rule",
            "unet",
            "--task",
            "denoise",
            *TINY_TASK,
            "-o",
            "lpips=on",
            "--run-dir",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 1
    assert "LPIPS-vgg needs images of at least 16x16" in result.output


def test_corrupt_checkpoint(runner, tmp_path):
    path = tmp_path / "run" / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    result = runner.invoke(cli, ["eval", str(tmp_path / "run"), "--task", "denoise"])
    assert result.exit_code == 1
    assert "is not a checkpoint of this toolkit" in result.output
    assert "weights_only" not in result.output


def test_train_on_landcover_tiles(runner, tmp_path):
    """RGB tiles in SustainBench's layout: random crops for training, centre crops for eval."""
    from tests.data.test_landcover import write_landcover

    write_landcover(tmp_path / "data", splits=(8, 1, 8), side=20)
    run_dir = tmp_path / "run"
    args = ["train", "--rule", "vitca", "--task", "denoise", *TINY_RULE, *TINY_TASK]
    args += ["--dataset", "landcover", "--data-root", str(tmp_path / "data")]
    result = runner.invoke(cli, [*args, "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["rule"]["config"]["image_channels"] == 3
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert evaluation["notes"][0].startswith("8 test images of landcover at 8x8")


def test_the_preset_notice_says_which_preset_values_were_changed(runner, tmp_path):
    assert TINY_TASK[:2] == ["--preset", "quick"]
    args = ["train", "--rule", "vitca", "--task", "denoise", *TINY_RULE, *TINY_TASK[2:]]
    result = runner.invoke(cli, [*args, "--run-dir", str(tmp_path / "r"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    notice = " ".join(result.output.split())  # rich wraps long lines
    assert "No --preset given: using denoise's 'quick' preset" in notice
    assert "you changed" in notice and "iterations" in notice and "image_size" in notice


def test_info_names_the_flags_the_cli_takes(runner):
    result = runner.invoke(cli, ["info", "probe"])
    assert result.exit_code == 0
    options = next(line for line in result.output.splitlines() if line.startswith("Options of"))
    assert "--from" in options and "--source" not in options


def test_paper_preset_gives_the_rule_the_releases_initialisation(runner, tmp_path):
    def train(run_dir, *extra):
        args = ["train", "--rule", "unetca", "--task", "denoise", *TINY_TASK]
        args += ["-o", "rule.features=4", "-o", "rule.hidden_channels=2"]
        args += ["-o", "lpips=off", "-o", "eval_protocol=full", "--run-dir", str(run_dir)]
        result = runner.invoke(cli, [*args, *extra])
        assert result.exit_code == 0, result.output
        return result.output, json.loads((run_dir / "config.json").read_text())

    output, config = train(tmp_path / "paper", "--preset", "paper")
    rule = config["rule"]["config"]
    assert rule["init"] == "pytorch" and rule["zero_last_layer"] is False
    assert "'paper' preset sets rule.init=pytorch, rule.zero_last_layer=False" in output
    task = config["task"]["config"]
    assert task["batch_sampling"] == "iid" and task["eval_checkpoint"] == "best"
    # -o rule.X= wins over the preset's rule defaults
    _, config = train(tmp_path / "mine", "--preset", "paper", "-o", "rule.init=he")
    assert config["rule"]["config"]["init"] == "he"
    assert config["rule"]["config"]["zero_last_layer"] is False
