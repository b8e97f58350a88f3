"""The authors' protocol options of the denoise task (issue 15, docs/reproducing.md):
evaluation protocols, fusion at test time, curriculum orders, batch sampling, masks,
the baselines' overflow loss, pool replacement and the ``paper`` preset."""

import dataclasses

import pytest
import torch
from nca_denoise import DenoiseTask
from nca_denoise.config import DenoiseConfig
from nca_denoise.evaluation import evaluate_model
from nca_denoise.masking import CONFIGURATIONS, RELEASE_ORDER, Curriculum, config_name, mask_images
from nca_denoise.task import DenoiseBatch, DenoiseData
from torch import nn
from torchmetrics.functional.image import peak_signal_noise_ratio

from nca import ImageModel, ImageSet, RunContext, Trainer, batch_psnr, create_rule, psnr
from nca.tasks import preset_rule_values, resolve_task_config


class _Constant(nn.Module):
    """A feed-forward 'denoiser' whose output ignores its input: the PSNR of a batch is
    then known without knowing its masks."""

    def __init__(self, value: float = 0.5):
        super().__init__()
        self.value = value
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, images):
        return torch.full_like(images, self.value) * self.scale


def _test_set(count=10, size=8, seed=0):
    # images of very different brightness: per-image errors differ a lot
    g = torch.Generator().manual_seed(seed)
    levels = torch.linspace(0, 255, count).round().to(torch.uint8)
    noise = torch.randint(0, 30, (count, 1, size, size), generator=g, dtype=torch.uint8)
    images = (levels.view(-1, 1, 1, 1).expand(-1, 1, size, size) // 2 + noise).to(torch.uint8)
    return ImageSet(images, torch.zeros(count, dtype=torch.long), "constructed")


# ------------------------------------------------------------------ evaluation
def test_batch_psnr_is_torchmetrics_with_dim_none():
    g = torch.Generator().manual_seed(0)
    output, target = torch.rand(6, 3, 8, 8, generator=g) * 1.2, torch.rand(6, 3, 8, 8, generator=g)
    expected = peak_signal_noise_ratio(output.clamp(0, 1), target, data_range=1.0, dim=None)
    assert torch.allclose(batch_psnr(output, target), expected)
    mse = ((output.clamp(0, 1) - target) ** 2).mean()
    assert torch.allclose(batch_psnr(output, target), 10 * torch.log10(1 / mse))


def test_authors_psnr_is_the_mean_of_batch_psnrs_over_the_same_batches():
    test = _test_set(10)
    model = ImageModel(_Constant())
    result = evaluate_model(model, test, protocol="authors", authors_batch_size=4)
    targets = test.batch(torch.arange(10))
    batches = [targets[0:4], targets[4:8], targets[8:10]]  # in order; the last one is short
    expected = [
        float(peak_signal_noise_ratio(torch.full_like(b, 0.5), b, data_range=1.0, dim=None))
        for b in batches
    ]
    assert result.protocol == "authors"
    assert sum(result.batches.values()) == 3
    assert result.mean()["psnr"] == pytest.approx(sum(expected) / 3, abs=1e-4)


def test_full_and_authors_protocols_differ_on_a_constructed_example():
    test = _test_set(10)
    model = ImageModel(_Constant())
    full = evaluate_model(model, test, protocol="full").mean()["psnr"]
    authors = evaluate_model(model, test, protocol="authors", authors_batch_size=10).mean()["psnr"]
    per_image = psnr(torch.full((10, 1, 8, 8), 0.5), test.batch(torch.arange(10)))
    assert full == pytest.approx(float(per_image.mean()), abs=1e-4)
    # one batch of everything: the pooled-MSE PSNR, below the per-image mean (Jensen)
    assert authors < full - 1.0


def test_authors_protocol_depends_on_its_batch_size_and_full_does_not():
    test = _test_set(12)
    model = ImageModel(_Constant())
    small = evaluate_model(model, test, protocol="authors", authors_batch_size=2).mean()["psnr"]
    large = evaluate_model(model, test, protocol="authors", authors_batch_size=12).mean()["psnr"]
    assert abs(small - large) > 0.5
    rule = create_rule("vitca", embed_dim=16, heads=2, hidden_channels=4, image_size=(8, 8))
    ca = ImageModel(rule, steps=3)
    a = evaluate_model(ca, test, protocol="full", steps=3, batch_size=5).rows
    b = evaluate_model(ca, test, protocol="full", steps=3, batch_size=12).rows
    for name, row in a.items():
        assert row == pytest.approx(b[name], abs=1e-5)


def test_authors_protocol_draws_one_seeded_configuration_per_batch():
    test = _test_set(40)
    model = ImageModel(_Constant())
    first = evaluate_model(model, test, protocol="authors", authors_batch_size=4)
    again = evaluate_model(model, test, protocol="authors", authors_batch_size=4)
    assert first.batches == again.batches and first.rows == again.rows
    assert sum(first.batches.values()) == 10 and len(first.batches) > 1
    assert set(first.batches) <= {config_name(c) for c in CONFIGURATIONS}


class _Recorder(nn.Module):
    """A CA rule stand-in: records the grid sizes it is applied to; updates nothing."""

    def __init__(self, rule):
        super().__init__()
        self.inner = rule
        self.layout = rule.layout
        self.cell_init = rule.cell_init
        self.sizes = []

    def positional_encoding(self, *args, **kwargs):
        return self.inner.positional_encoding(*args, **kwargs)

    def forward(self, cells):
        self.sizes.append(tuple(cells.shape[-2:]))
        return self.inner(cells)


@pytest.mark.parametrize(("counting", "applications"), [("total", 8), ("coarsest", 12)])
def test_evaluation_fuses_with_the_training_octaves(counting, applications):
    rule = create_rule("unetca", hidden_channels=2, features=4, downsamplings=1)
    recorder = _Recorder(rule)
    model = ImageModel(recorder, steps=8, octaves=1, octave_steps=counting)
    evaluate_model(model, _test_set(2), steps=8, configurations=[(1, 0.5)])
    assert len(recorder.sizes) == applications
    coarse = [s for s in recorder.sizes if s == (4, 4)]
    assert len(coarse) == (4 if counting == "total" else 8)  # T - 4 or T at the coarse grid
    recorder.sizes.clear()
    evaluate_model(model, _test_set(2), steps=8, octaves=0, configurations=[(1, 0.5)])
    assert recorder.sizes == [(8, 8)] * 8  # eval_octaves=0: no fusion


# ---------------------------------------------------------------- curriculum
def test_release_curriculum_order_and_thresholds_are_the_releases():
    release = Curriculum(order="release")
    assert [config_name(c) for c in release.configurations[:4]] == [
        "1x1/25%",
        "2x2/25%",
        "4x4/25%",
        "1x1/50%",
    ]
    assert sorted(RELEASE_ORDER) == sorted(CONFIGURATIONS)
    # numpy.geomspace(500, 10000, 9, dtype=float32).astype(int32), as the release computes
    assert release.thresholds() == [500, 727, 1057, 1537, 2236, 3251, 4728, 6876, 10000]
    assert [release.allowed(i) for i in (1, 500, 501, 727, 728, 6876, 6877, 10**6)] == [
        1,
        1,
        2,
        2,
        3,
        8,
        9,
        9,
    ]
    paper = Curriculum()
    assert paper.allowed(9_999) == 8 and paper.allowed(10_000) == 9


def test_curriculum_samples_only_allowed_configurations_in_its_order():
    g = torch.Generator().manual_seed(0)
    drawn = {Curriculum(order="release").sample(728, g) for _ in range(200)}
    assert drawn == set(RELEASE_ORDER[:3])
    drawn = {Curriculum(order="paper").sample(600, g) for _ in range(200)}
    assert drawn == set(CONFIGURATIONS[:2])


def test_bernoulli_coverage_is_exact_only_in_expectation():
    images = torch.full((400, 1, 16, 16), 0.5)
    masked = mask_images(
        images, (1, 0.25), torch.Generator().manual_seed(0), coverage_mode="bernoulli"
    )
    per_image = (masked != 0.5).flatten(1).float().mean(1)
    assert per_image.mean() == pytest.approx(0.25, abs=0.01)
    assert per_image.std() > 0.01  # varies from image to image
    exact = mask_images(images, (1, 0.25), torch.Generator().manual_seed(0))
    assert torch.all((exact != 0.5).flatten(1).float().mean(1) == 0.25)
    with pytest.raises(ValueError, match="coverage_mode must be one of"):
        mask_images(images, (1, 0.25), torch.Generator(), coverage_mode="poisson")


# ------------------------------------------------------------------ training
def _config(**overrides):
    values = dict(
        image_size=8,
        iterations=4,
        batch_size=4,
        steps_min=2,
        steps_max=2,
        eval_steps=2,
        pool_size=8,
        train_subset=64,
        validation_size=9,
        validate_every=2,
        checkpoint_every=100,
        lpips="off",
    )
    values.update(overrides)
    return DenoiseConfig(**values)


def _trainer(tmp_path, rule="vitca", **overrides):
    torch.manual_seed(0)
    extra = {"embed_dim": 16, "heads": 2, "hidden_channels": 4, "image_size": (8, 8)}
    rule = create_rule(rule, **(extra if rule == "vitca" else {}))
    return Trainer(DenoiseTask(_config(**overrides)), rule, RunContext(tmp_path, seed=0))


@pytest.mark.parametrize("sampling", ["contiguous", "iid", "shuffle"])
def test_batch_sampling(tmp_path, sampling):
    trainer = _trainer(tmp_path, batch_sampling=sampling, batch_size=16)
    n = len(trainer.data.train)
    replay = torch.Generator()
    replay.set_state(trainer.streams.data.get_state())
    batch = trainer.task.sample_batch(trainer.data, trainer.state(1))
    if sampling == "contiguous":
        start = int(torch.randint(0, n - 16 + 1, (1,), generator=replay))
        index = torch.arange(start, start + 16)
    elif sampling == "iid":
        index = torch.randint(0, n, (16,), generator=replay)
        assert len(set(index.tolist())) < 16 or index.diff().abs().max() > 1
    else:
        index = torch.randperm(n, generator=replay)[:16]
    assert torch.equal(batch.targets, trainer.data.train.batch(index))


def test_iid_batches_repeat_images_like_sampling_with_replacement(tmp_path):
    trainer = _trainer(tmp_path, batch_sampling="iid", batch_size=48, train_subset=48)
    repeats = 0
    for i in range(1, 8, 2):
        targets = trainer.task.sample_batch(trainer.data, trainer.state(i)).targets
        repeats += 48 - len(torch.unique(targets.flatten(1), dim=0))
    assert repeats > 0  # 48 draws from 48 images: ~17 duplicates per batch


@pytest.mark.parametrize("on", [True, False])
def test_baselines_get_the_output_overflow_loss(tmp_path, on):
    trainer = _trainer(tmp_path, rule="unet", baseline_overflow=on)
    task, model = trainer.task, trainer.model
    targets = torch.rand(2, 1, 8, 8)
    with torch.no_grad():  # push the output outside [0, 1]
        model.rule.net.out_conv.bias.fill_(2.0)
    batch = DenoiseBatch(targets, targets, 0, False)
    losses = task.objective(model, batch, trainer.state(1))
    overflow = float(losses.terms["overflow"])
    output = model(targets).detach()
    expected = float((output - output.clamp(0, 1)).abs().mean())
    assert overflow == pytest.approx(expected if on else 0.0, rel=1e-5)
    if on:
        assert overflow > 0.5


@pytest.mark.parametrize("replace", [False, True])
def test_pool_replacement_is_an_option(tmp_path, replace):
    trainer = _trainer(tmp_path, pool_replace_sampled=replace, pool_size=64, iterations=20)
    assert trainer.pool.replace_sampled is replace
    for _ in range(9):
        trainer.step()
    # iterations 1..9: 6 fresh batches of 4 join (2 too: the pool holds only b then);
    # 3 pool batches (4, 6, 8) either join again (append: 36 entries) or replace the
    # entries they were drawn from (24)
    assert len(trainer.pool) == (24 if replace else 36)


def test_validation_covers_all_nine_configurations_and_best_pt_is_kept(tmp_path):
    from nca import load_checkpoint

    trainer = _trainer(tmp_path, iterations=4, validate_every=2)
    validation = trainer.task.validation(trainer.model, trainer.state(1))
    assert {"reconstruction", "psnr", "psnr_1x1_50"} <= set(validation.metrics)
    masked, _, target = validation.samples  # what the pictures draw
    changed = (masked != target).flatten(1).float().mean(1)
    # image k gets configuration k mod 9: coverages 25, 50, 75 % in turn
    assert changed[:3].tolist() == pytest.approx([0.25, 0.5, 0.75], abs=1e-6)
    from nca import RunLog

    trainer.fit(RunLog(tmp_path, tensorboard=False))
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["best"]["metric"] == "reconstruction" and best["best"]["iteration"] in (2, 4)
    assert "optimizer" not in best and set(best["model"]) == set(trainer.rule.state_dict())


# -------------------------------------------------------------------- presets
def test_paper_preset_selects_the_authors_protocol():
    _, config = resolve_task_config("denoise", preset="paper")
    assert config.eval_protocol == "authors" and config.eval_checkpoint == "best"
    assert config.batch_sampling == "iid" and config.curriculum_order == "release"
    assert config.coverage == "bernoulli" and config.octave_steps == "coarsest"
    assert config.batch_size == 32 and config.lpips == "on"
    _, tiny = resolve_task_config("denoise", {"dataset": "tiny-imagenet"}, preset="paper")
    assert tiny.batch_size == 8 and tiny.image_size == 64  # §4: b = 8 for Tiny ImageNet
    _, default = resolve_task_config("denoise")
    assert default.eval_protocol == "full" and default.batch_sampling == "contiguous"
    fields = {"init", "zero_last_layer", "pos_embedding_std", "heads"}
    assert preset_rule_values(DenoiseTask, "paper", "unetca", fields) == {
        "init": "pytorch",
        "pos_embedding_std": 1.0,
        "zero_last_layer": False,
    }
    assert preset_rule_values(DenoiseTask, "paper", "vitca", {"init", "heads"}) == {
        "init": "pytorch"
    }
    assert preset_rule_values(DenoiseTask, "quick", "vitca", fields) == {}


def test_config_choices_are_checked():
    for field, value in [
        ("batch_sampling", "random"),
        ("curriculum_order", "reverse"),
        ("coverage", "some"),
        ("octave_steps", "all"),
        ("eval_split", "train"),
    ]:
        with pytest.raises(ValueError, match=f"{field} must be one of"):
            DenoiseConfig(**{field: value})
    with pytest.raises(ValueError, match="authors_batch_size must be >= 1"):
        DenoiseConfig(authors_batch_size=0)


def test_augmentation_can_be_switched_off(tmp_path):
    task = DenoiseTask(_config(augment=False))
    train = task.train_data(RunContext(tmp_path))
    assert isinstance(train, DenoiseData) and not train.train.augmented
    flipped = dataclasses.replace(train.train, flips="horizontal")
    assert flipped.augmented


def test_python_api_gets_the_presets_rule_defaults_too(tmp_path):
    from nca.engine.rule_config import preset_rule_defaults
    from nca.tasks import create_task

    task = create_task("denoise", preset="paper")
    assert task.preset == "paper"
    assert preset_rule_defaults(task, "unetca") == {"init": "pytorch", "zero_last_layer": False}
    assert preset_rule_defaults(task, "vitca:32") == {"init": "pytorch", "pos_embedding_std": 1.0}
    assert preset_rule_defaults(create_task("denoise"), "unetca") == {}
    from nca import launch

    small = create_task(
        "denoise",
        preset="paper",
        image_size=8,
        iterations=1,
        batch_size=2,
        steps_min=2,
        steps_max=2,
        eval_steps=2,
        eval_subset=2,
        validation_size=2,
        lpips="off",
    )
    launch(small, run_dir=tmp_path / "run", rule="unetca", device="cpu", quiet=True)
    import json

    rule = json.loads((tmp_path / "run" / "config.json").read_text())["rule"]["config"]
    assert rule["init"] == "pytorch" and rule["zero_last_layer"] is False


def test_old_config_names_are_resolved_values_and_warn():
    config = DenoiseConfig(octaves=1)
    assert config.image_size == 32 and config.eval_octaves == 1  # resolved when built
    with pytest.warns(DeprecationWarning, match="use image_size"):
        assert config.size == 32
    with pytest.warns(DeprecationWarning, match="use eval_octaves"):
        assert config.test_octaves == 1


def test_a_run_whose_config_left_image_size_unset_resumes(tmp_path):
    """Older runs that used the dataset's default size stored image_size: null (and
    eval_octaves: null for the training octaves); the resolved values compare equal."""
    import json

    from click.testing import CliRunner

    from nca.cli import cli

    run = tmp_path / "run"
    args = ["train", "--task", "denoise", "--rule", "convca", "--preset", "quick", "-q"]
    args += ["-o", "iterations=2", "-o", "eval_subset=2", "-o", "rule.hidden_channels=2"]
    args += ["-o", "image_size=32", "--run-dir", str(run), "--device", "cpu"]  # the default
    assert CliRunner().invoke(cli, [*args, "--stop-after", "1"]).exit_code == 0
    stored = json.loads((run / "config.json").read_text())
    stored["task"]["config"].update(image_size=None, eval_octaves=None)
    (run / "config.json").write_text(json.dumps(stored))
    resumed = CliRunner().invoke(cli, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resumed from iteration 1" in resumed.output
    stored["task"]["config"].update(image_size=16, lr=0.5)  # a real change is still refused
    (run / "config.json").write_text(json.dumps(stored))
    refused = CliRunner().invoke(cli, [*args, "--resume"])
    assert refused.exit_code != 0 and "changed: task.image_size, task.lr" in refused.output
