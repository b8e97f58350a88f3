"""The grow task (Mordvintsev et al., Growing Neural Cellular Automata, Distill 2020):
targets, the three experiments' batches, training, resume, refusal of rules that cannot
grow, and the CLI."""

import json

import pytest
import torch
from click.testing import CliRunner
from nca_grow import GrowTask
from nca_grow.config import GrowConfig
from nca_grow.targets import DEFAULT_TARGETS, load_target

from nca import RunContext, RunLog, Trainer, create_rule, load_checkpoint
from nca.cli import cli

SMALL = dict(
    target_size=8,
    target_padding=2,
    batch_size=4,
    pool_size=8,
    damage_count=1,
    steps_min=6,
    steps_max=8,
    iterations=6,
    log_every=1,
    validate_every=3,
    checkpoint_every=100,
    eval_repeats=2,
)


def _rule():
    torch.manual_seed(0)
    return create_rule(
        "convca", image_channels=4, input_channels=0, hidden_channels=4, mlp_channels=16
    )


def _trainer(tmp_path, **overrides):
    task = GrowTask(GrowConfig(**{**SMALL, **overrides}))
    return Trainer(task, _rule(), RunContext(tmp_path, seed=0, quiet=True))


@pytest.mark.parametrize("name", DEFAULT_TARGETS)
def test_default_targets_are_padded_premultiplied_rgba(name):
    target = load_target(name, 40, 16)
    assert target.shape[0] == 4 and max(target.shape[1:]) == 72
    assert torch.all(target[:3] <= target[3:] + 1e-6)  # premultiplied: rgb <= alpha
    assert target[:, :16].abs().sum() == 0 and target[:, -16:].abs().sum() == 0  # padding
    assert target.shape[1] % 4 == 0 and target.shape[2] % 4 == 0
    assert target[3].max() > 0.9


def test_any_image_file_is_a_target_and_bad_ones_are_named(tmp_path):
    from PIL import Image

    Image.new("RGB", (30, 10), (255, 0, 0)).save(tmp_path / "red.png")
    target = load_target(str(tmp_path / "red.png"), 15, 1)
    assert target.shape == (4, 8, 20)  # 5x15 + 1 on every side, rounded up to 4s
    inside = target[:, 1:6, 1:16]
    assert torch.all(inside[[0, 3]] == 1) and torch.all(inside[[1, 2]] == 0)  # red, opaque
    assert target[:, 6:].sum() == 0 and target[:, :, 16:].sum() == 0
    with pytest.raises(FileNotFoundError, match="neither a default target"):
        load_target(str(tmp_path / "missing.png"), 8, 0)
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    with pytest.raises(ValueError, match="fully transparent"):
        load_target(str(tmp_path / "clear.png"), 8, 0)


def test_a_16_bit_grey_target_is_grey_not_white(tmp_path):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((8, 8), 153 * 257, dtype=np.uint16)).save(tmp_path / "g.png")
    target = load_target(str(tmp_path / "g.png"), 8, 0)
    assert target[:3].unique().tolist() == [pytest.approx(153 / 255)]
    assert target[3].unique().tolist() == [1.0]


def test_growing_starts_every_batch_from_the_seed(tmp_path):
    trainer = _trainer(tmp_path, experiment="growing")
    assert trainer.pool is None
    batch = trainer.task.sample_batch(trainer.data, trainer.state(1))
    assert batch.cells.shape == (4, 8, *trainer.data.target.shape[-2:])
    assert torch.all(batch.cells.sum(dim=(1, 2, 3)) == 5)  # alpha + 4 hidden, one cell


def test_regenerating_reseeds_the_worst_and_damages_the_best(tmp_path):
    trainer = _trainer(tmp_path, experiment="regenerating", damage_count=1)
    for _ in range(4):
        trainer.step()
    pool = trainer.pool
    pool.cells[:] = 0.5  # grown-looking entries (and so no all-seed batch)
    pool.cells[:, 3] = 1.0
    worst = torch.arange(8)
    pool.cells[worst, 0] = worst.view(-1, 1, 1).float()  # red error grows with the index
    batch = trainer.task.sample_batch(trainer.data, trainer.state(5))
    seed = trainer.model.seed(1, tuple(trainer.data.target.shape[-2:]), "cpu")[0]
    assert torch.equal(batch.cells[0], seed)  # the highest-loss entry is reseeded
    assert batch.indices[0] == max(batch.indices.tolist())
    assert (batch.cells[-1] == 0).any() and not (batch.cells[1:-1] == 0).any()  # a disc


def test_persistent_writes_the_grown_grids_back_to_the_pool(tmp_path):
    trainer = _trainer(tmp_path, experiment="persistent")
    before = trainer.pool.cells.clone()
    trainer.step()  # the zeroed last layer changes nothing yet
    assert torch.equal(trainer.pool.cells, before)
    trainer.step()
    assert not torch.equal(trainer.pool.cells, before)


@pytest.mark.parametrize("experiment", ["growing", "regenerating"])
def test_training_reduces_the_loss_and_resumes_exactly(tmp_path, experiment):
    trainer = _trainer(tmp_path / "a", experiment=experiment, iterations=30, lr=1e-2)
    log = RunLog(tmp_path / "a", tensorboard=False)
    trainer.fit(log)
    losses = [r["loss"] for r in log.read() if r["kind"] == "train"]
    if experiment == "growing":  # from the seed every time: an untrained rule's is constant
        assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    else:  # pool samples mix grown and damaged grids; the grown seeds must still improve
        validations = [r["loss"] for r in log.read() if r["kind"] == "validation"]
        assert validations[-1] < validations[0]
    straight = _trainer(tmp_path / "b", experiment=experiment, iterations=6)
    straight.fit(RunLog(tmp_path / "b", tensorboard=False))
    first = _trainer(tmp_path / "c", experiment=experiment, iterations=6)
    first.fit(RunLog(tmp_path / "c", tensorboard=False), stop_after=3)
    resumed = _trainer(tmp_path / "c", experiment=experiment, iterations=6)
    resumed.load(tmp_path / "c" / "checkpoints" / "last.pt")
    resumed.fit(RunLog(tmp_path / "c", tensorboard=False))
    a = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "c" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_evaluation_reports_growth_persistence_and_regeneration(tmp_path):
    trainer = _trainer(tmp_path, experiment="growing")
    result = trainer.task.evaluate(trainer.model, RunContext(tmp_path))
    assert set(result) == {
        "psnr_T",
        "loss_T",
        "psnr_10T",
        "psnr_damaged",
        "psnr_recovered",
        "recovery_steps",
    }
    report = json.loads((tmp_path / "eval.json").read_text())
    assert (tmp_path / "eval.png").is_file()  # target, T, 10 T, damaged, recovered
    assert report["T"] == 8 and report["psnr_T"] == pytest.approx(result["psnr_T"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--rule", "vitca", "-o", "rule.patch_size=2x2"],
            "task 'grow' cannot train ca rule 'vitca': its cells are 2x2 pixel patches, the "
            "task needs one cell per pixel",
        ),
        (["--rule", "unet"], "task 'grow' cannot train feedforward rule 'unet'"),
        (["--rule", "convca", "--target", "nowhere.png"], "neither a default target"),
        (["--rule", "convca", "-o", "experiment=growin"], "is not one of"),
    ],
)
def test_bad_inputs_are_one_line(tmp_path, extra, message):
    args = ["train", "--task", "grow", *extra, "--run-dir", str(tmp_path / "r"), "-q"]
    result = CliRunner().invoke(cli, [*args, "--iterations", "1"])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


def test_a_target_past_pils_pixel_limit_is_one_line(tmp_path, huge_png):
    args = ["train", "--task", "grow", "--rule", "convca", "--target", huge_png]
    result = CliRunner().invoke(cli, [*args, "--run-dir", str(tmp_path / "r"), "-q"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert f"{huge_png!r} has 400,000,000 pixels" in message and "resize it" in message
    assert not (tmp_path / "r").exists()


def test_cli_trains_convca_with_the_quick_preset_rule_settings(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--rule", "convca", "--task", "grow", "--run-dir", str(run), "-q"]
    args += ["-o", "target_size=8", "-o", "target_padding=2", "--iterations", "2"]
    args += ["-o", "steps_min=4", "-o", "steps_max=4", "-o", "eval_repeats=1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["rule"]["config"]
    assert config["input_channels"] == 0 and config["image_channels"] == 4
    assert config["hidden_channels"] == 12 and config["laplacian"] is False  # the article
    assert (run / "eval.json").is_file() and (run / "checkpoints" / "best.pt").is_file()


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("vitca", {"embed_dim": 16, "heads": 2, "hidden_channels": 4, "mlp_dim": 16}),
        ("vitca", {"embed_dim": 16, "heads": 2, "hidden_channels": 4, "positional": "xy"}),
        ("unetca", {"hidden_channels": 4, "features": 4, "downsamplings": 1}),
    ],
)
def test_vitca_and_unetca_grow_too(tmp_path, name, config):
    torch.manual_seed(0)
    rule = create_rule(name, image_channels=4, input_channels=0, **config)
    task = GrowTask(GrowConfig(**{**SMALL, "iterations": 3, "experiment": "regenerating"}))
    trainer = Trainer(task, rule, RunContext(tmp_path, seed=0, quiet=True))
    trainer.fit(RunLog(tmp_path, tensorboard=False))
    seed = trainer.model.seed(1, (6, 6), "cpu")
    if rule.layout.positional_channels:  # xy coordinates filled in, not left at 0
        assert seed[:, rule.layout.slice("positional")].abs().sum() > 0
    assert trainer.iteration == 3 and (tmp_path / "checkpoints" / "last.pt").is_file()


def test_analyze_runs_the_grow_experiments(tmp_path, huge_png):
    run = tmp_path / "run"
    args = ["train", "--rule", "convca", "--task", "grow", "--run-dir", str(run), "-q"]
    args += ["-o", "target_size=8", "-o", "target_padding=2", "--iterations", "2"]
    args += ["-o", "steps_min=4", "-o", "steps_max=4", "-o", "eval_repeats=1"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    for experiment, options, files in [
        ("growth", ["-o", "count=2"], ["growth.gif"]),
        ("regeneration", ["-o", "count=1"], ["frames.png", "regeneration.gif"]),
        ("persistence", ["-o", "factor=3", "-o", "count=1"], ["frames.png"]),
    ]:
        out = tmp_path / experiment
        result = CliRunner().invoke(cli, ["analyze", experiment, str(run), "--out", str(out),
                                          *options])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert all((out / f).is_file() for f in [*files, "results.json"])
    regeneration = json.loads((tmp_path / "regeneration" / "results.json").read_text())
    assert regeneration["damage_at"] == [4, 8] and len(regeneration["psnr"]) == 12
    assert len(regeneration["db_lost"]) == 2
    # evaluating against another target: one that PIL refuses is one line, no report
    reports = sorted(run.glob("eval*.json"))
    result = CliRunner().invoke(cli, ["eval", str(run), "-o", f"target={huge_png}", "-q"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "400,000,000 pixels" in " ".join(result.output.split())
    assert sorted(run.glob("eval*.json")) == reports
    persistence = json.loads((tmp_path / "persistence" / "results.json").read_text())
    assert persistence["marks"] == [4, 8, 12] and len(persistence["psnr"]) == 12
    bad = CliRunner().invoke(cli, ["analyze", "regeneration", str(run), "-o", "damage_at=1"])
    assert bad.exit_code != 0 and "does not fit a rollout" in bad.output
    assert "Traceback" not in bad.output
