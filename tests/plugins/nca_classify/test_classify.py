"""The classify task (Randazzo et al., Self-classifying MNIST Digits, Distill 2020): the
living-cell automaton, the per-cell losses and accuracies, the three experiments' batches,
training, resume, every CA rule, refusals, the evaluation and the analysis experiments."""

import json

import pytest
import torch
from click.testing import CliRunner
from nca_classify import ClassifyTask
from nca_classify.analysis import mutation_partners
from nca_classify.config import ClassifyConfig
from nca_classify.model import Tally, ce_loss, l2_loss, one_hot_targets
from PIL import Image

from nca import RunContext, RunLog, Trainer, create_rule, list_rules, load_checkpoint
from nca.cli import cli

SMALL = dict(
    batch_size=4,
    pool_size=8,
    steps=4,
    iterations=6,
    log_every=1,
    validate_every=3,
    checkpoint_every=100,
    eval_count=8,
    eval_batch_size=4,
    eval_steps=6,
    validation_size=8,
)
TINY_RULES = {
    "convca": {"hidden_channels": 3, "mlp_channels": 16},
    "vitca": {"embed_dim": 16, "heads": 2, "hidden_channels": 4, "mlp_dim": 16},
    "unetca": {"hidden_channels": 4, "features": 4, "downsamplings": 1},
}


def _rule(name="convca", **extra):
    torch.manual_seed(0)
    return create_rule(name, image_channels=10, input_channels=1, **{**TINY_RULES[name], **extra})


def _trainer(tmp_path, rule=None, **overrides):
    task = ClassifyTask(ClassifyConfig(**{**SMALL, **overrides}))
    return Trainer(task, rule or _rule(), RunContext(tmp_path, seed=0, quiet=True))


def test_dead_cells_never_change_and_living_ones_learn_logits(tmp_path):
    trainer = _trainer(tmp_path)
    model = trainer.model
    images = trainer.data.train.batch(torch.arange(2))
    cells = model.seed_with(images)
    assert cells[:, model.layout.updatable_slice].abs().sum() == 0  # the article's zero state
    with torch.no_grad():
        model.rule.update_mlp[-1].weight.normal_()  # make the rule do something
        out = model.run(cells, 5, generator=torch.Generator().manual_seed(0))
    dead = ~model.alive(cells)
    state = out[:, model.layout.updatable_slice]
    assert state.mul(dead).abs().sum() == 0 and state.mul(~dead).abs().sum() > 0
    assert torch.equal(model.alive(cells), images > 0.1)


def test_mutation_keeps_states_where_the_new_digit_lives(tmp_path):
    trainer = _trainer(tmp_path)
    model = trainer.model
    cells = model.seed_with(trainer.data.train.batch(torch.arange(1)))
    cells[:, model.layout.updatable_slice] = 1.0
    new = trainer.data.train.batch(torch.arange(1, 2))
    mutated = model.inject(cells, new)
    state = mutated[:, model.layout.updatable_slice]
    assert torch.equal(mutated[:, 0:1], new)
    assert torch.equal(state[:, :1] == 1, new > 0.1) and torch.all(state[:, :1][new <= 0.1] == 0)


def test_losses_are_per_cell_on_living_cells():
    alive = torch.zeros(1, 1, 3, 3, dtype=torch.bool)
    alive[0, 0, 1, :2] = True  # two living cells
    labels = torch.tensor([3])
    target = one_hot_targets(alive, labels)
    assert l2_loss(target, alive, labels).item() == 0
    assert l2_loss(torch.zeros_like(target), alive, labels).item() == pytest.approx(1.0)  # 2/2
    wrong = target.clone()
    wrong[0, [3, 5]] = target[0, [5, 3]]
    assert l2_loss(wrong, alive, labels).item() == pytest.approx(2.0)
    confident = target * 20
    assert ce_loss(confident, alive, labels).item() < 1e-6  # the dead cells' zeros ignored
    assert ce_loss(torch.zeros_like(target), alive, labels).item() == pytest.approx(
        torch.log(torch.tensor(10.0)).item()
    )


def test_tally_counts_cells_majorities_and_agreement():
    alive = torch.ones(2, 1, 1, 3, dtype=torch.bool)
    alive[1, 0, 0, 2] = False  # digit 1 has two living cells
    logits = torch.zeros(2, 10, 1, 3)
    logits[0, 7, 0, :2] = 1  # digit 0: two cells say 7, one says 2
    logits[0, 2, 0, 2] = 1
    logits[1, 4, 0, :] = 1  # digit 1: both living cells say 4 (the dead one too, ignored)
    tally = Tally(1)
    tally.add(0, logits, alive, torch.tensor([7, 1]))
    curves = {k: v[0] for k, v in tally.curves().items()}
    assert curves["cell_accuracy"] == pytest.approx(100 * 2 / 5)
    assert curves["majority_accuracy"] == pytest.approx(50.0)
    assert curves["agreement"] == pytest.approx(50.0)  # digit 1 agrees (on the wrong class)


def test_mutation_partners_never_keep_a_digit():
    partners = mutation_partners(50, torch.Generator().manual_seed(3))
    assert not torch.any(partners == torch.arange(50))
    assert sorted(partners.tolist()) == list(range(50))


def test_mutating_batches_reseed_a_quarter_and_mutate_another(tmp_path):
    trainer = _trainer(tmp_path, experiment="mutating", batch_size=8, pool_size=16)
    pool, model = trainer.pool, trainer.model
    assert pool.labels is not None and len(pool) == 16
    grown = model.alive(pool.cells).float().expand(-1, model.layout.updatable_channels, -1, -1)
    pool.cells[:, model.layout.updatable_slice] = grown  # every living cell's state "grown"
    batch = trainer.task.sample_batch(trainer.data, trainer.state(1))
    state = batch.cells[:, model.layout.updatable_slice]
    assert state[:2].abs().sum() == 0  # fresh digits: zero state
    alive = model.alive(batch.cells).float().expand_as(state)
    assert torch.equal(state[2:-2], alive[2:-2])  # kept as they were
    assert torch.all(state[-2:] <= alive[-2:])  # mutated: states kept under the new digit only
    pixels = batch.cells[:, 0]
    assert not torch.equal(pixels[-2:], pool.cells[batch.indices[-2:], 0])


@pytest.mark.parametrize("experiment", ["naive", "mutating"])
def test_training_learns_and_resumes_exactly(tmp_path, experiment):
    trainer = _trainer(tmp_path / "a", experiment=experiment, iterations=40, lr=1e-2)
    log = RunLog(tmp_path / "a", tensorboard=False)
    trainer.fit(log)
    losses = [r["loss"] for r in log.read() if r["kind"] == "train"]
    assert sum(losses[-8:]) / 8 < 0.95 * sum(losses[:8]) / 8
    straight = _trainer(tmp_path / "b", experiment=experiment)
    straight.fit(RunLog(tmp_path / "b", tensorboard=False))
    first = _trainer(tmp_path / "c", experiment=experiment)
    first.fit(RunLog(tmp_path / "c", tensorboard=False), stop_after=3)
    resumed = _trainer(tmp_path / "c", experiment=experiment)
    resumed.load(tmp_path / "c" / "checkpoints" / "last.pt")
    resumed.fit(RunLog(tmp_path / "c", tensorboard=False))
    a = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "c" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_evaluation_reports_the_article_table_with_curves(tmp_path):
    trainer = _trainer(tmp_path)
    result = trainer.task.evaluate(trainer.model, RunContext(tmp_path))
    for key in ("cell_accuracy_T", "majority_accuracy_6", "agreement_6", "top_cell_accuracy"):
        assert 0 <= result[key] <= 100
    assert "cell_accuracy_mutated" in result
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["digits"] == 8 and len(report["curves"]["cell_accuracy"]) == 12


@pytest.mark.parametrize(
    "name", [n for n in list_rules() if n in TINY_RULES]
)  # every built-in CA rule
def test_every_ca_rule_self_classifies(tmp_path, name):
    trainer = _trainer(tmp_path, rule=_rule(name), iterations=2, experiment="mutating")
    trainer.fit(RunLog(tmp_path, tensorboard=False))
    assert trainer.iteration == 2 and (tmp_path / "checkpoints" / "last.pt").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--rule", "vitca", "-o", "rule.patch_size=2x2"],
            "task 'classify' cannot train ca rule 'vitca': its cells are 2x2 pixel patches, the "
            "task needs one cell per pixel",
        ),
        (["--rule", "unet"], "task 'classify' cannot train feedforward rule 'unet'"),
        (["--rule", "convca", "--dataset", "cifar10"], "classify needs 1-channel digits"),
        (["--rule", "convca", "-o", "loss=hinge"], "is not one of"),
        (["--rule", "convca", "-o", "rule.perception=sobel"], "perception"),
    ],
)
def test_bad_inputs_are_one_line(tmp_path, extra, message):
    args = ["train", "--task", "classify", *extra, "--run-dir", str(tmp_path / "r"), "-q"]
    result = CliRunner().invoke(cli, [*args, "--iterations", "1"])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


def _digit_tree(root, classes, count=2):
    """A folder: tree of ``classes`` classes of 8x8 grey images in train/ and test/."""
    from PIL import Image

    for split in ("train", "test"):
        for c in range(classes):
            (root / split / f"c{c:02d}").mkdir(parents=True)
            for i in range(count):
                Image.new("L", (8, 8), 40 * i + c).save(root / split / f"c{c:02d}" / f"{i}.png")
    return root


def _junk_tree(root, name, content):
    _digit_tree(root, 2)
    (root / "train" / "c00" / name).write_bytes(content)
    return root


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda r: _digit_tree(r, 12), ["--preset", "paper"],
         "has 12 classes, but a classifying cell has 10 logits"),
        (lambda r: _digit_tree(r, 3), ["-o", "digits=0,5"],
         "digits=0,5 names classes folder:{root} does not have (5): it has 3 (labels 0-2)"),
        (lambda r: r, [], "folder dataset '{root}' does not exist"),
        (lambda r: r.mkdir() or r, [], "'{root}' holds no class folders of images"),
        (lambda r: _junk_tree(r, "x.png", b"not an image"), [], "cannot read image"),
        (lambda r: (_digit_tree(r, 2), (r / "train" / "c02").mkdir(),
                    (r / "train" / "c02" / "notes.txt").write_text("x"))[0], [],
         "class folder '{root}/train/c02' holds no images"),
    ],
    ids=["more-classes-than-logits", "digits-not-in-folder", "missing", "empty",
         "non-image-png", "class-of-non-images"],
)  # fmt: skip
def test_folder_datasets_that_do_not_fit_are_one_line_before_the_run(tmp_path, make, extra,
                                                                    message):  # fmt: skip
    root = make(tmp_path / "digits")
    args = ["train", "--task", "classify", "--rule", "convca", "--dataset", f"folder:{root}"]
    args += [*extra, "--run-dir", str(tmp_path / "r"), "-q", "--iterations", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message.format(root=root) in " ".join(result.output.split()), result.output
    assert not (tmp_path / "r").exists()


def test_a_folder_of_fewer_classes_than_logits_is_valid(tmp_path):
    # like digits=0,1,2: the unused logits are never a target; a folder's count is known
    root = _digit_tree(tmp_path / "digits", 3)
    task = ClassifyTask(ClassifyConfig(**SMALL, dataset=f"folder:{root}", image_size=8))
    task.validate()
    assert set(task.evaluation_split.labels.tolist()) == {0, 1, 2}


def test_cli_trains_and_analyzes(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--rule", "convca", "--task", "classify", "--run-dir", str(run), "-q"]
    args += ["--iterations", "2", "-o", "steps=3", "-o", "eval_count=4", "-o", "eval_steps=4"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["rule"]["config"]
    assert config["perception"] == "learned" and config["hidden_channels"] == 9
    assert config["input_channels"] == 1 and config["image_channels"] == 10
    for experiment, files in [
        ("class-map", ["class_map.gif", "frames.png"]),
        ("mutation", ["class_map.gif", "frames.png"]),
        ("persistence", ["results.json"]),
    ]:
        out = tmp_path / experiment
        opts = ["-o", "factor=2", "-o", "count=4"] if experiment == "persistence" else [
            "-o", "steps=4", "-o", "count=2"]  # fmt: skip
        result = CliRunner().invoke(
            cli, ["analyze", experiment, str(run), "--out", str(out), *opts]
        )
        assert result.exit_code == 0, result.output
        assert all((out / f).is_file() for f in files)
    results = json.loads((tmp_path / "mutation" / "results.json").read_text())
    assert results["mutation_after_step"] == 4 and len(results["cell_accuracy"]) == 8
    assert results["gif_frame_every"] == 1  # 0: about 100 frames; 8 steps -> every step
    out = tmp_path / "every"
    args = ["analyze", "class-map", str(run), "--out", str(out), "-o", "steps=8", "-o", "every=3"]
    result = CliRunner().invoke(cli, [*args, "-o", "count=2"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["gif_frame_every"] == 3
    with Image.open(out / "class_map.gif") as gif:
        assert gif.n_frames == 4  # steps 1, 4, 7 and the last, 8
    args[-1] = "every=-1"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "every=-1 must be >= 0" in " ".join(result.output.split())
    result = CliRunner().invoke(cli, ["analyze", "rollout", str(run)])
    assert result.exit_code != 0 and "denoising task" in result.output
    result = CliRunner().invoke(cli, ["analyze", "class-map", str(run), "-o", "bogus=1"])
    assert result.exit_code != 0 and "no option 'bogus'" in result.output
