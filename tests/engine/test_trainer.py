"""The training engine against a toy task defined here: exact resume, Ctrl-C, the NaN
stop, optimisers and schedules, streams, and 2-process gloo DDP (equal weights on every
rank after every step, and an interrupted-and-resumed run equal to an uninterrupted one).

The DDP tests run this file under torchrun (see ``__main__`` at the bottom)."""

from __future__ import annotations

import argparse
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from nca import (
    Losses,
    RandomStreams,
    RunLog,
    ShufflePool,
    Task,
    Trainer,
    TrainerConfig,
    TrainingDiverged,
    create_rule,
    launch,
    load_checkpoint,
)
from nca.engine import CHECKSUM_ENV, RunDirError
from nca.tasks import RunContext
from tests.conftest import run_torchrun

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class EchoConfig(TrainerConfig):
    """Toy settings.

    Attributes:
        batch_size: Images per iteration.
        steps: CA steps.
        pool_size: Pool capacity (0: none).
        nan_at: Make the loss NaN at this iteration (0: never).
    """

    iterations: int = 12
    lr: float = 1e-2
    log_every: int = 1
    validate_every: int = 4
    checkpoint_every: int = 5
    batch_size: int = 4
    steps: int = 3
    pool_size: int = 16
    nan_at: int = 0


class EchoTask(Task):
    """Reproduce noisy block images; pool on even iterations (the denoise pattern)."""

    name = "echo"
    config_class = EchoConfig
    streams = {"data": "cpu", "noise": "cpu", "steps": "device"}

    def __init__(self, config):
        super().__init__(config)
        self.validated: list[int] = []

    def train_data(self, run):
        g = torch.Generator().manual_seed(5)
        coarse = torch.rand(64, 1, 4, 4, generator=g)
        images = coarse.repeat_interleave(2, -1).repeat_interleave(2, -2)
        return images[run.rank :: run.world_size]

    def make_pool(self, model, data, generator):
        return (
            ShufflePool(self.config.pool_size, generator=generator)
            if self.config.pool_size
            else None
        )

    def sample_batch(self, data, state):
        cfg = self.config
        index = torch.randint(0, len(data), (cfg.batch_size,), generator=state.streams.data)
        targets = data[index].to(state.device)
        if state.pool is not None and len(state.pool) > cfg.batch_size and state.iteration % 2 == 0:
            entries = state.pool.sample(cfg.batch_size)
            return entries.cells, entries.targets, True
        noise = torch.rand(targets.shape, generator=state.streams.noise) * 0.3
        return targets + noise.to(state.device), targets, False

    def objective(self, model, batch, state):
        inputs, targets, seeded = batch
        out = model.run(
            inputs, steps=self.config.steps, generator=state.streams.steps, seeded=seeded
        )
        l1 = (out.images.float() - targets).abs().mean()
        loss = l1 + out.overflow
        if state.iteration == self.config.nan_at:
            loss = loss * float("nan")
        return Losses(loss, {"l1": l1}, outputs=out.cells, info={"from_pool": float(seeded)})

    def after_step(self, batch, losses, state):
        if state.pool is not None:
            state.pool.add(losses.outputs.detach(), batch[1])

    def validation(self, model, state):
        self.validated.append(state.iteration)
        return {"calls": float(len(self.validated))}

    def evaluate(self, model, run):
        return {"evaluated": 1.0}


def _rule():
    return create_rule("convca:tiny")


def _trainer(tmp_path, seed=0, **config) -> Trainer:
    torch.manual_seed(seed)
    task = EchoTask(EchoConfig(**config))
    return Trainer(task, _rule(), RunContext(tmp_path, seed=seed, quiet=True))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_trains_logs_validates_and_evaluates(tmp_path):
    trainer = _trainer(tmp_path)
    metrics = trainer.run_training()
    assert trainer.iteration == 12 and metrics["eval_evaluated"] == 1.0
    assert trainer.task.validated == [4, 8, 12]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(1, 13))
    assert {r["from_pool"] for r in train} == {0.0, 1.0}  # the pool was used
    first, last = train[0]["l1"], train[-1]["l1"]
    assert last < first
    assert [r["step"] for r in records if r["kind"] == "validation"] == [4, 8, 12]
    assert [r["step"] for r in records if r["kind"] == "evaluation"] == [12]
    data = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert data["iteration"] == 12 and data["rule"]["name"] == "convca"
    assert set(data["streams"]) == {"data", "noise", "steps", "pool"}
    assert data["checksums"] == []  # only recorded when asked for


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path):
    straight = _trainer(tmp_path / "a")
    straight.run_training()
    first = _trainer(tmp_path / "b")
    first.run.stop_after = 7
    first.run_training()
    assert first.iteration == 7
    resumed = _trainer(tmp_path / "b")
    resumed.run.resume = True
    resumed.run_training()
    assert resumed.iteration == 12
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert _same(a["model"], b["model"])
    assert torch.equal(a["pool"]["cells"], b["pool"]["cells"])
    assert all(torch.equal(a["streams"][k], b["streams"][k]) for k in a["streams"])
    log = lambda p: [  # noqa: E731
        (r["step"], r["loss"])
        for r in map(json.loads, (p / "metrics.jsonl").read_text().splitlines())
        if r["kind"] == "train"
    ]
    assert log(tmp_path / "a") == log(tmp_path / "b")


def test_a_run_checkpointed_on_another_kind_of_device_resumes(tmp_path):
    """A CUDA generator's state (16 bytes) cannot seed a CPU generator: resuming a GPU
    run on a CPU restarts those streams from a derived seed, says so, and continues."""
    from io import StringIO

    from rich.console import Console

    first = _trainer(tmp_path)
    first.run.stop_after = 5
    first.run_training()
    path = tmp_path / "checkpoints" / "last.pt"
    data = load_checkpoint(path)
    data["streams"]["steps"] = torch.zeros(16, dtype=torch.uint8)  # as a CUDA stream saves
    torch.save(data, path)
    runs, said = [], StringIO()
    for _ in range(2):  # the restart is itself reproducible
        resumed = _trainer(tmp_path)
        resumed.console = Console(file=said, width=200)
        resumed.load(path)
        runs.append(resumed)
    assert "stream(s) steps were saved on another kind of device" in said.getvalue()
    assert torch.equal(runs[0].streams.steps.get_state(), runs[1].streams.steps.get_state())
    assert torch.equal(runs[0].streams.data.get_state(), data["streams"]["data"])
    runs[0].fit(RunLog(tmp_path, tensorboard=False))
    assert runs[0].iteration == 12


def test_ctrl_c_finishes_the_iteration_checkpoints_and_resumes_exactly(tmp_path):
    straight = _trainer(tmp_path / "a")
    straight.run_training()
    trainer = _trainer(tmp_path / "b")
    original = trainer.task.sample_batch

    def interrupting(data, state):  # Ctrl-C arrives in the middle of iteration 6
        if state.iteration == 6:
            os.kill(os.getpid(), signal.SIGINT)
        return original(data, state)

    trainer.task.sample_batch = interrupting
    with pytest.raises(KeyboardInterrupt):
        trainer.run_training()
    assert trainer.iteration == 6  # the iteration was finished, not abandoned
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["iteration"] == 6
    resumed = _trainer(tmp_path / "b")
    resumed.run.resume = True
    resumed.run_training()
    assert _same(
        _weights(tmp_path / "a" / "checkpoints" / "last.pt"),
        _weights(tmp_path / "b" / "checkpoints" / "last.pt"),
    )


def test_nan_loss_stops_with_one_line_naming_the_last_checkpoint(tmp_path):
    trainer = _trainer(tmp_path, nan_at=7)
    with pytest.raises(TrainingDiverged) as err:
        trainer.run_training()
    message = str(err.value)
    assert "\n" not in message
    assert "loss became nan at iteration 7" in message
    assert str(tmp_path / "checkpoints" / "last.pt") in message
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["iteration"] == 5
    early = _trainer(tmp_path / "early", nan_at=2)
    with pytest.raises(TrainingDiverged, match="no checkpoint was written yet"):
        early.run_training()


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    """A step can overflow the weights with a finite loss and gradients (a huge finite
    lr): the checkpoint before it is kept, not replaced by one of NaN weights."""
    trainer = _trainer(tmp_path)
    trainer.save()
    kept = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    with torch.no_grad():
        next(trainer.weights.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(TrainingDiverged, match="the weights became non-finite by iteration 0"):
        trainer.save()
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == kept


def _watch(trainer: Trainer) -> tuple[set[torch.dtype], list[float]]:
    """What training really does: the dtypes of the rule's outputs in the objective's
    forward (EchoTask runs the rule nowhere else), and each parameter's gradient norm as
    the optimiser is about to step (after any gradient normalisation)."""
    dtypes: set[torch.dtype] = set()
    norms: list[float] = []
    trainer.rule.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))

    def record(optimizer, args, kwargs):
        for group in optimizer.param_groups:
            norms.extend(float(p.grad.norm()) for p in group["params"] if p.grad is not None)

    trainer.optimizer.register_step_pre_hook(record)
    return dtypes, norms


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "adam", "lr_schedule": "constant"},
        {"optimizer": "sgd", "lr_schedule": "step", "lr_milestones": (4, 8)},
        {"gradient_normalization": False, "bf16": True},
    ],
)
def test_optimisers_schedules_and_bf16(tmp_path, options):
    trainer = _trainer(tmp_path, **options)
    forward_dtypes, gradient_norms = _watch(trainer)
    trainer.run_training()
    # bf16: the objective's forward really ran under bfloat16 autocast (and only then)
    bf16 = options.get("bf16", False)
    assert forward_dtypes == {torch.bfloat16 if bf16 else torch.float32}
    # normalised: every gradient reaching the optimiser has norm 1 (0: no gradient yet)
    off_unit = [n for n in gradient_norms if n != 0 and abs(n - 1) > 1e-3]
    assert len(gradient_norms) == 12 * len(list(trainer.rule.parameters()))
    if options.get("gradient_normalization", True):
        assert not off_unit, off_unit
    else:
        assert len(off_unit) > len(gradient_norms) / 2  # raw norms are not 1
    kind = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}.get(options.get("optimizer"))
    if kind is not None:
        assert type(trainer.optimizer) is kind
    lr = trainer.scheduler.get_last_lr()[0]
    if options.get("lr_schedule") == "constant":
        assert lr == pytest.approx(1e-2)
    if options.get("lr_schedule") == "step":
        assert lr == pytest.approx(1e-4)  # decayed twice by 0.1


def test_trainer_config_errors():
    with pytest.raises(ValueError, match="lr_schedule=step needs lr_milestones"):
        TrainerConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainerConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="lr_milestones must be increasing"):
        TrainerConfig(lr_schedule="step", lr_milestones=(5, 3))


def test_streams_of_different_seeds_and_ranks_never_coincide():
    placements = {"data": "cpu", "mask": "cpu"}
    draws = {}
    for seed, rank in [(0, 10), (1, 0), (0, 0), (0, 1), (10, 0)]:
        streams = RandomStreams(seed, rank, "cpu", placements)
        for name in placements:
            draws[(seed, rank, name)] = tuple(torch.rand(4, generator=streams[name]).tolist())
    assert len(set(draws.values())) == len(draws)
    with pytest.raises(KeyError, match="no random stream 'noise'"):
        RandomStreams(0, 0, "cpu", placements)["noise"]


def test_objective_must_return_losses(tmp_path):
    class Wrong(EchoTask):
        def objective(self, model, batch, state):
            return torch.zeros(())

    torch.manual_seed(0)
    trainer = Trainer(Wrong(EchoConfig()), _rule(), RunContext(tmp_path, quiet=True))
    with pytest.raises(TypeError, match="objective must return nca.engine.Losses"):
        trainer.step()


def test_launch_refuses_to_overwrite_a_run(tmp_path):
    task = EchoTask(EchoConfig(iterations=2))
    launch(task, rule="convca:tiny", run_dir=tmp_path, quiet=True)
    with pytest.raises(RunDirError, match="already holds a run"):
        launch(EchoTask(EchoConfig(iterations=2)), rule="convca:tiny", run_dir=tmp_path)
    with pytest.raises(RunDirError, match=r"changed: task\.batch_size"):
        launch(
            EchoTask(EchoConfig(iterations=2, batch_size=2)),
            rule="convca:tiny",
            run_dir=tmp_path,
            resume=True,
        )


# ------------------------------------------------------------------ DDP (gloo)
def _torchrun(run_dir: Path, *extra: str):
    args = ["-m", "tests.engine.test_trainer", "--run-dir", str(run_dir), *extra]
    return run_torchrun(*args, env={CHECKSUM_ENV: "1"}, cwd=ROOT)


@pytest.fixture(scope="module")
def straight_ddp(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp") / "straight"
    _torchrun(run_dir)
    return run_dir


def test_ddp_ranks_hold_identical_weights_after_every_step(straight_ddp):
    main = load_checkpoint(straight_ddp / "checkpoints" / "last.pt")
    other = load_checkpoint(straight_ddp / "checkpoints" / "rank1.pt")
    assert len(main["checksums"]) == 12
    assert main["checksums"] == other["checksums"]
    # each rank drew its own data: the pools differ
    assert not torch.equal(main["pool"]["cells"], other["pool"]["cells"])


def test_ddp_resumed_run_equals_the_uninterrupted_one(straight_ddp, tmp_path):
    _torchrun(tmp_path / "r", "--stop-after", "7")
    assert load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")["iteration"] == 7
    _torchrun(tmp_path / "r", "--resume")
    for name in ("last.pt", "rank1.pt"):
        a = load_checkpoint(straight_ddp / "checkpoints" / name)
        b = load_checkpoint(tmp_path / "r" / "checkpoints" / name)
        assert a["checksums"] == b["checksums"]
        assert torch.equal(a["pool"]["cells"], b["pool"]["cells"])
    assert _same(
        _weights(straight_ddp / "checkpoints" / "last.pt"),
        _weights(tmp_path / "r" / "checkpoints" / "last.pt"),
    )


if __name__ == "__main__":  # one rank of the DDP tests
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stop-after", type=int)
    args = parser.parse_args()
    launch(
        EchoTask(EchoConfig()),
        rule="convca:tiny",
        run_dir=args.run_dir,
        resume=args.resume,
        stop_after=args.stop_after,
        quiet=True,
    )


class BestOfEcho(EchoTask):
    """Echo whose validation scores are scripted: the best is at iteration 8 of 12."""

    best_metric = ("error", "min")
    scores = {4: 0.5, 8: 0.2, 12: 0.4}

    def validation(self, model, state):
        self.validated.append(state.iteration)
        self.weight_sums = getattr(self, "weight_sums", {})
        self.weight_sums[state.iteration] = sum(float(p.sum()) for p in model.parameters())
        return {"error": self.scores[state.iteration]}

    def evaluate(self, model, run):
        return {"weight_sum": sum(float(p.sum()) for p in model.parameters())}


@pytest.mark.parametrize("which", ["last", "best"])
def test_best_checkpoint_is_kept_and_evaluation_can_choose_it(tmp_path, which):
    torch.manual_seed(0)
    task = BestOfEcho(EchoConfig(eval_checkpoint=which))
    trainer = Trainer(task, _rule(), RunContext(tmp_path, seed=0, quiet=True))
    result = trainer.run_training()
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["best"] == {"metric": "error", "value": 0.2, "iteration": 8}
    assert best["iteration"] == 8 and "optimizer" not in best
    expected = task.weight_sums[8 if which == "best" else 12]
    assert result["eval_weight_sum"] == pytest.approx(expected, rel=1e-6)
    assert task.weight_sums[8] != pytest.approx(task.weight_sums[12], rel=1e-6)


def test_best_checkpoint_survives_a_resume(tmp_path):
    torch.manual_seed(0)
    task = BestOfEcho(EchoConfig(checkpoint_every=4))
    trainer = Trainer(task, _rule(), RunContext(tmp_path, seed=0, quiet=True, stop_after=9))
    trainer.run_training()
    assert trainer.best["iteration"] == 8
    task.scores = {4: 0.5, 8: 0.2, 12: 0.3}  # 12 is no better than the resumed best
    torch.manual_seed(0)
    resumed = Trainer(task, _rule(), RunContext(tmp_path, seed=0, quiet=True, resume=True))
    resumed.run_training()
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["best"]["iteration"] == 8


def test_eval_checkpoint_best_needs_a_task_that_keeps_one(tmp_path):
    with pytest.raises(ValueError, match="declares no best_metric; use eval_checkpoint=last"):
        _trainer(tmp_path, eval_checkpoint="best")
