"""Denoise training on the engine: Algorithm 1 behaviour, resume equivalence, Ctrl-C,
NaN stop, bf16, augmentation drawn from the data stream."""

import dataclasses

import pytest
import torch
from nca_denoise import DenoiseTask
from nca_denoise.config import DenoiseConfig

from nca import (
    RunContext,
    RunLog,
    Trainer,
    TrainingDiverged,
    create_rule,
    load_checkpoint,
    load_images,
)

TINY = {"embed_dim": 16, "heads": 2, "hidden_channels": 4, "image_size": (8, 8)}


def _config(**overrides):
    values = dict(
        image_size=8,
        iterations=6,
        batch_size=4,
        steps_min=2,
        steps_max=4,
        eval_steps=4,
        pool_size=16,
        curriculum_start=2,
        curriculum_end=5,
        log_every=1,
        validate_every=100,
        checkpoint_every=100,
        train_subset=64,
        lpips="off",
    )
    values.update(overrides)
    return DenoiseConfig(**values)


@pytest.fixture(scope="module")
def train_set():
    return load_images("embedded-mnist", "train", image_size=8).subset(64)


class _OnImages(DenoiseTask):
    """The denoise task on a given training set."""

    def __init__(self, config, train):
        super().__init__(config)
        self._train = train

    def train_data(self, run):
        data = super().train_data(run)
        return dataclasses.replace(data, train=self._train)


def _trainer(tmp_path, train_set, config, seed=0, rule="vitca", **rule_overrides):
    torch.manual_seed(seed)  # as `nca train` does before building the rule
    rule = create_rule(rule, **(TINY if rule == "vitca" else {}), **rule_overrides)
    return Trainer(_OnImages(config, train_set), rule, RunContext(tmp_path, seed=seed))


def test_pool_alternates_with_fresh_batches(tmp_path, train_set):
    trainer = _trainer(tmp_path, train_set, _config())
    sources = [trainer.step()["from_pool"] for _ in range(6)]
    # odd iterations seed fresh grids; even ones read the pool once it holds more than b
    assert sources == [0.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    assert len(trainer.pool) == 16


def test_training_reduces_the_loss(tmp_path, train_set):
    trainer = _trainer(tmp_path, train_set, _config(iterations=40, lr=3e-3))
    log = RunLog(tmp_path, tensorboard=False)
    trainer.fit(log)
    losses = [r["reconstruction"] for r in log.read() if r["kind"] == "train"]
    assert sum(losses[-8:]) / 8 < 0.8 * sum(losses[:8]) / 8


def _augmented(images):
    """12x12 digits served as random 8x8 crops with flips (as landcover's training split)."""
    import dataclasses

    return dataclasses.replace(images, crop=8, random_crop=True, flips=True)


@pytest.mark.parametrize(
    ("rule", "augmented"), [("vitca", False), ("unet", False), ("vitca", True)]
)
def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(
    tmp_path, train_set, rule, augmented
):
    if augmented:
        train_set = _augmented(load_images("embedded-mnist", "train", image_size=12).subset(64))
    config = _config(checkpoint_every=3)
    straight = _trainer(tmp_path / "a", train_set, config, rule=rule)
    straight.fit(RunLog(tmp_path / "a", tensorboard=False))

    interrupted = _trainer(tmp_path / "b", train_set, config, rule=rule)

    def stop_at_4(i, metrics):
        if i == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C at iteration 4 saves a checkpoint
        interrupted.fit(RunLog(tmp_path / "b", tensorboard=False), progress=stop_at_4)
    assert load_checkpoint(interrupted.checkpoint_path)["iteration"] == 4
    resumed = _trainer(tmp_path / "b", train_set, config, rule=rule)
    resumed.load(resumed.checkpoint_path)
    resumed.fit(RunLog(tmp_path / "b", tensorboard=False))

    a, b = straight.weights.state_dict(), resumed.weights.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    if straight.pool is not None:
        assert torch.equal(straight.pool.sample(16).cells, resumed.pool.sample(16).cells)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tmp_path, train_set):
    trainer = _trainer(tmp_path, train_set, _config(checkpoint_every=1), rule="unet")
    original = trainer.rule.forward
    calls = []

    def poisoned(images):
        calls.append(1)
        out = original(images)
        return out * float("nan") if len(calls) >= 3 else out

    trainer.rule.forward = poisoned
    with pytest.raises(TrainingDiverged, match="loss became nan at iteration 3"):
        trainer.fit(RunLog(tmp_path, tensorboard=False))
    assert load_checkpoint(trainer.checkpoint_path)["iteration"] == 2


def test_batch_larger_than_the_dataset(tmp_path):
    torch.manual_seed(0)
    task = DenoiseTask(_config(batch_size=128, train_subset=10))
    with pytest.raises(ValueError, match="has 10 images, fewer than batch_size 128"):
        Trainer(task, create_rule("unet"), RunContext(tmp_path))


def test_ctrl_c_mid_iteration_finishes_it_before_saving(tmp_path, train_set):
    import os
    import signal

    config = _config(checkpoint_every=100)
    straight = _trainer(tmp_path / "a", train_set, config, rule="unet")
    straight.fit(RunLog(tmp_path / "a", tensorboard=False))

    trainer = _trainer(tmp_path / "b", train_set, config, rule="unet")
    original = trainer.rule.forward
    calls = []

    def interrupting(images):
        calls.append(1)
        if len(calls) == 3:  # SIGINT in the middle of iteration 3's forward pass
            os.kill(os.getpid(), signal.SIGINT)
        return original(images)

    trainer.rule.forward = interrupting
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(RunLog(tmp_path / "b", tensorboard=False))
    assert load_checkpoint(trainer.checkpoint_path)["iteration"] == 3
    resumed = _trainer(tmp_path / "b", train_set, config, rule="unet")
    resumed.load(resumed.checkpoint_path)
    resumed.fit(RunLog(tmp_path / "b", tensorboard=False))
    a, b = straight.weights.state_dict(), resumed.weights.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("rule", ["vitca", "unet"])
def test_bf16_autocast_trains_close_to_float32(tmp_path, train_set, rule):
    runs = {}
    for bf16 in (False, True):
        trainer = _trainer(tmp_path / str(bf16), train_set, _config(bf16=bf16), rule=rule)
        runs[bf16] = [trainer.step()["reconstruction"] for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(runs[True])))
    assert runs[True] != runs[False]  # autocast is really on
    assert runs[True] == pytest.approx(runs[False], rel=0.05)


def test_augmented_training_sets_are_cropped_with_the_data_stream(tmp_path):
    """Random crops and flips come from the run's seeded data generator, after the index."""
    train = _augmented(load_images("embedded-mnist", "train", image_size=12).subset(64))
    trainer = _trainer(tmp_path, train, _config())
    replay = torch.Generator()
    replay.set_state(trainer.streams.data.get_state())
    batch = trainer.task.sample_batch(trainer.data, trainer.state(1)).targets
    start = int(torch.randint(0, 64 - 4 + 1, (1,), generator=replay))  # contiguous slice
    index = torch.arange(start, start + 4)
    assert torch.equal(batch, train.batch(index, generator=replay))
    assert not torch.equal(batch, train.batch(index))  # not the deterministic centre crops
    assert batch.shape == (4, 1, 8, 8)
