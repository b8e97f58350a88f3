"""The training engine: one loop for every task.

A task supplies data, a batch sampler, an objective and an evaluation (see
:class:`nca.tasks.Task`); the :class:`Trainer` owns the rest. One iteration:

1. ``batch = task.sample_batch(data, state)`` — randomness from ``state.streams``;
2. ``losses = task.objective(model, batch, state)`` under bf16 autocast if asked,
   as a single forward of one module (so DistributedDataParallel sees one forward
   per backward however many CA steps it takes);
3. a NaN/inf loss or gradient stops the run with one line naming the last good
   checkpoint;
4. backward, per-parameter gradient normalisation (Alg. 1 line 23), optimiser and
   schedule step;
5. ``task.after_step(batch, losses, state)`` (e.g. grids back to the pool).

Every random draw comes from the run's named streams; they, the model, optimiser,
scheduler, pool, torch RNG and iteration go into each atomic checkpoint, so a
resumed run is bit-identical to an uninterrupted one on the same device. Under
torchrun every rank draws its own data and masks and keeps its own pool; rank 0
writes ``checkpoints/last.pt``, the others ``checkpoints/rank{r}.pt``.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from nca.checkpoint import load_checkpoint, save_checkpoint, state_mismatch
from nca.config import config_to_dict
from nca.core.gradients import normalize_gradients_
from nca.engine.config import TrainerConfig
from nca.engine.distributed import barrier, is_distributed, mean_over_ranks
from nca.engine.interrupt import DeferredInterrupt
from nca.engine.optim import build_optimizer, build_schedule
from nca.engine.run import EvaluatedCheckpoint
from nca.engine.streams import RandomStreams
from nca.errors import NCAError
from nca.progress import progress_bar
from nca.run_log import RunLog

#: Set to 1 to record a parameter checksum per iteration (DDP consistency checks);
#: it costs a host sync per parameter, so normal training never pays it.
CHECKSUM_ENV = "NCA_RECORD_CHECKSUMS"
#: Final training metrics are means over this many last iterations.
SMOOTHING = 50


class TrainingDiverged(NCAError):
    """The loss or the gradients became NaN or infinite."""


@dataclass
class Losses:
    """What a task's objective returns.

    Attributes:
        loss: The scalar that is minimised.
        terms: Named components, logged (and averaged over ranks) with ``loss``.
        outputs: Anything :meth:`Task.after_step` needs (e.g. final grids for a pool).
        info: Plain numbers logged as they are (e.g. the rollout's ``T``); a value may be
            a zero-argument callable, read after ``backward()`` (e.g. the iterations of
            an implicit gradient's linear solve).
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    outputs: Any = None
    info: dict[str, float] = field(default_factory=dict)


@dataclass
class Validation:
    """What a task's periodic validation returns.

    Attributes:
        metrics: Named numbers, logged (and compared for ``best_metric``).
        samples: What the task's :meth:`~nca.tasks.Task.pictures` draws (e.g. the grown
            grids), handed to it by the engine; ``None``: nothing.
    """

    metrics: Mapping[str, float]
    samples: Any = None


@runtime_checkable
class CheckpointedPool(Protocol):
    """What the engine needs of a task's pool: to checkpoint it with the run (per rank)
    and restore it on resume (:class:`~nca.core.SlotPool` and
    :class:`~nca.core.ShufflePool` are two). The task samples and refills it."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: Mapping) -> None: ...


@dataclass
class TrainState:
    """What the task sees each iteration.

    Attributes:
        iteration: The iteration being computed (1-based).
        streams: The run's random streams.
        pool: The sample pool, if the task made one.
        device: Where the model lives.
        run: The run context (directory, seed, rank).
        model: The model being trained (not wrapped for DDP).
    """

    iteration: int
    streams: RandomStreams
    pool: Any
    device: torch.device
    run: Any
    model: Any = None


class _Objective(nn.Module):
    """``task.objective(model, batch, state)`` as one module, the unit DDP wraps."""

    def __init__(self, task: Any, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, batch: Any, state: TrainState) -> Losses:
        losses = self.task.objective(self.model, batch, state)
        if not isinstance(losses, Losses):
            raise TypeError(
                f"{type(self.task).__name__}.objective must return nca.engine.Losses, "
                f"got {type(losses).__name__}"
            )
        return losses


class Trainer:
    """Trains one task's model.

    Args:
        task: A :class:`nca.tasks.Task` whose config extends :class:`TrainerConfig`.
        rule: The rule to train (``None`` for tasks that build their own model).
        run: Run directory, seed, device, rank, resume flag.
        task_name: Recorded in checkpoints (for ``nca eval``); default ``task.name``.
        console: A rich console for notes (default: quiet off the main rank).
    """

    def __init__(
        self,
        task: Any,
        rule: nn.Module | None,
        run: Any,
        *,
        task_name: str | None = None,
        console: Any = None,
    ) -> None:
        config = task.config
        if not isinstance(config, TrainerConfig):
            raise TypeError(
                f"{type(task).__name__}'s config must extend nca.engine.TrainerConfig, "
                f"got {type(config).__name__}"
            )
        self.task, self.config, self.run = task, config, run
        self.task_name = task_name or task.name
        self.rule = rule
        self.device = torch.device(run.device)
        self.console = console or _console(not run.is_main)
        self.data = task.train_data(run)
        self.model = task.build_model(rule, run).to(self.device)
        if config.sparse_update:
            self._sparse_updates()
        if config.compile:  # after sparse_update: the compiled step traces that path
            self._compile_steps()
        #: The module whose weights are checkpointed under ``model``: the rule (so
        #: ``nca.load_rule`` reads any run), or the task's own model.
        self.weights = rule if rule is not None else self.model
        self.iterations = int(task.total_iterations(self.data))
        self.distributed = is_distributed()
        objective: nn.Module = _Objective(task, self.model)
        if self.distributed:  # gradients are averaged across ranks before normalisation
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index or 0] if self.device.type == "cuda" else None
            objective = DistributedDataParallel(objective, device_ids=ids)
        self.objective = objective
        self.optimizer = build_optimizer(self.weights.parameters(), config)
        self.scheduler = build_schedule(self.optimizer, config, self.iterations)
        placements = {**task.streams, "pool": "cpu"}
        self.streams = RandomStreams(run.seed, run.rank, self.device, placements)
        self.pool = task.make_pool(self.model, self.data, self.streams.pool)
        if self.pool is not None and not isinstance(self.pool, CheckpointedPool):
            raise TypeError(
                f"{type(task).__name__}.make_pool returned a {type(self.pool).__name__}, "
                f"which has no state_dict()/load_state_dict(): the engine checkpoints the pool "
                f"(use nca.SlotPool or nca.ShufflePool, or add the two methods)"
            )
        self.iteration = 0
        self.record_checksums = os.environ.get(CHECKSUM_ENV) == "1"
        self.checksums: list[float] = []
        #: Fixed-point solves of this process that fell back to the phantom gradient.
        self.fixed_point_fallbacks = 0
        self.checkpoint_path = Path(run.run_dir) / "checkpoints" / "last.pt"
        self.best_path = self.checkpoint_path.with_name("best.pt")
        #: Iteration of the last checkpoint this trainer wrote (``None``: none yet).
        self.saved_at: int | None = None
        #: ``{"metric", "value", "iteration"}`` of the best validation so far.
        self.best: dict[str, Any] | None = None
        if config.eval_checkpoint == "best" and task.best_metric is None:
            raise ValueError(
                f"eval_checkpoint=best needs a best checkpoint, but task {self.task_name!r} "
                f"declares no best_metric; use eval_checkpoint=last"
            )

    def _automata(self) -> list:
        """Every :class:`~nca.core.CellularAutomaton` in the task's model."""
        from nca.core import CellularAutomaton

        return [m for m in self.model.modules() if isinstance(m, CellularAutomaton)]

    def _sparse_updates(self) -> None:
        """``sparse_update=True``: every automaton in the task's model computes the update
        of its firing cells only (its rule must be able to)."""
        automata = self._automata()
        if not automata:
            raise ValueError(
                f"sparse_update: {type(self.model).__name__} runs no CA steps (a "
                f"feed-forward rule); leave sparse_update unset"
            )
        for automaton in automata:
            try:
                automaton.use_sparse_update(True)
            except ValueError as err:
                from nca.rules import get_rule_class, list_rules

                able = [
                    n for n in list_rules(kind="ca") if get_rule_class(n).supports("sparse_update")
                ]
                reason = str(err).split(" (", 1)[0]
                raise ValueError(
                    f"{reason}: it lacks the 'sparse_update' capability; rules that can: "
                    f"{', '.join(able) or 'none'}"
                ) from None

    def _compile_steps(self) -> None:
        """``compile=True``: compile the step of every automaton in the task's model."""
        automata = self._automata()
        for automaton in automata:
            automaton.compile_step()
        if not automata and self.run.is_main:
            self.console.print(
                f"compile: {type(self.model).__name__} has no CA step to compile (a "
                f"feed-forward rule); training eagerly"
            )

    # ---------------------------------------------------------------- step
    def state(self, iteration: int) -> TrainState:
        return TrainState(iteration, self.streams, self.pool, self.device, self.run, self.model)

    def _autocast(self):
        if self.config.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def step(self) -> dict[str, float]:
        """One optimiser iteration; returns its metrics (means over ranks)."""
        i = self.iteration + 1
        state = self.state(i)
        batch = self.task.sample_batch(self.data, state)
        with self._autocast():
            losses = self.objective(batch, state)
        loss = losses.loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in self.weights.parameters() if p.grad is not None]
        # one host sync for the loss and every gradient
        finite = torch.stack(
            [torch.isfinite(loss.detach()).all(), *(torch.isfinite(g).all() for g in grads)]
        ).tolist()
        if not finite[0]:
            raise self._diverged(f"loss became {float(loss.detach())} at iteration {i}")
        if not all(finite):
            raise self._diverged(f"gradients became non-finite at iteration {i}")
        if self.config.gradient_normalization:
            normalize_gradients_(self.weights.parameters())
        self.optimizer.step()
        self.scheduler.step()
        self.task.after_step(batch, losses, state)
        self.iteration = i
        names = ["loss", *losses.terms]
        self._loss_names = names
        values = torch.stack(
            [loss.detach().float(), *(t.detach().float() for t in losses.terms.values())]
        )
        values = mean_over_ranks(values).tolist()
        if self.record_checksums:
            self.checksums.append(sum(float(p.double().sum()) for p in self.weights.parameters()))
        metrics = {
            **dict(zip(names, values, strict=True)),
            **{k: float(v() if callable(v) else v) for k, v in losses.info.items()},
            "lr": self.scheduler.get_last_lr()[0],
        }
        if metrics.get("fp_fallback"):
            self._report_fixed_point_fallback(i, metrics)
        if "fp_fallback" in metrics:  # a running count, on every fixed-point iteration's row
            metrics["fp_fallbacks_total"] = float(self.fixed_point_fallbacks)
        return metrics

    def _report_fixed_point_fallback(self, i: int, metrics: dict[str, float]) -> None:
        """Count (and, the first time, say) that a fixed-point solve did not converge and
        the gradient was the phantom fallback's."""
        self.fixed_point_fallbacks += 1
        if self.fixed_point_fallbacks == 1 and self.run.is_main:
            self.console.print(
                f"[yellow]fixed point: a solve did not converge at iteration {i} (forward "
                f"residual {metrics.get('fp_forward_residual', float('nan')):.2g}, backward "
                f"{metrics.get('fp_backward_residual', float('nan')):.2g}); that gradient is "
                f"the phantom fallback's. Further ones are counted in fp_fallbacks_total.[/]"
            )

    def _diverged(self, what: str) -> TrainingDiverged:
        lower = " ".join(_stabler_settings(self.config)) or "other settings"
        if self.checkpoint_path.is_file() and self.rule is not None:
            advice = (
                f"the last good checkpoint is {self.checkpoint_path}; branch a new run from it "
                f"with --init-from {self.checkpoint_path} {lower}"
            )
        elif self.checkpoint_path.is_file():
            advice = f"the last good checkpoint is {self.checkpoint_path}; start again with {lower}"
        else:
            advice = f"no checkpoint was written yet; start again with {lower}"
        return TrainingDiverged(f"{what}; {advice}")

    # --------------------------------------------------------- checkpoints
    def _rng_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "streams": self.streams.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "pool": self.pool.state_dict() if self.pool is not None else None,
            "checksums": list(self.checksums),
            "best": dict(self.best) if self.best is not None else None,
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def _weights_dict(self) -> dict[str, Any]:
        """What evaluation needs: rule, task, weights and iteration."""
        rule = self.rule
        return {
            "rule": {"name": rule.rule_name, "config": config_to_dict(rule.config)}
            if rule is not None
            else None,
            "task": {"name": self.task_name, "config": config_to_dict(self.config)},
            "model": self.weights.state_dict(),
            "iteration": self.iteration,
            # with rule and task, the run's settings: a resume compares them when the
            # run directory's config.json is gone
            "seed": self.run.seed,
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, in plain containers and tensors."""
        return {
            **self._weights_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "fixed_point_fallbacks": self.fixed_point_fallbacks,
            **self._rng_state(),
        }

    def _rank_path(self, rank: int) -> Path:
        return self.checkpoint_path.parent / f"rank{rank}.pt"

    def save(self) -> Path | None:
        """Write ``checkpoints/last.pt`` atomically (main rank); under DDP every other rank
        writes its own pool and streams to ``checkpoints/rank{r}.pt``.

        Raises:
            TrainingDiverged: the weights are no longer finite (a step can overflow them
                with a finite loss and gradients, e.g. ``lr=1e39`` in float32); the last
                good checkpoint is kept. Every rank checks: their weights are the same.
        """
        finite = [torch.isfinite(p).all() for p in self.weights.parameters()]
        if finite and not bool(torch.stack(finite).all()):
            raise self._diverged(f"the weights became non-finite by iteration {self.iteration}")
        path = None
        if self.run.is_main:
            path = save_checkpoint(self.checkpoint_path, self.state_dict())
        elif self.distributed:
            save_checkpoint(
                self._rank_path(self.run.rank),
                {"iteration": self.iteration, **self._rng_state()},
            )
        if self.distributed:
            barrier()
        self.saved_at = self.iteration
        return path

    def _load_rng(self, data: dict[str, Any]) -> None:
        if self.pool is not None and data.get("pool") is not None:
            self.pool.load_state_dict(data["pool"])
        restarted = self.streams.load_state_dict(data["streams"])
        if restarted and self.run.is_main:
            self.console.print(
                f"resumed on {self.device.type}: random stream(s) {', '.join(restarted)} were "
                f"saved on another kind of device and restart from a fresh seed (the run "
                f"continues reproducibly, but not bit for bit as it would have there)"
            )
        torch.set_rng_state(data["torch_rng"].cpu())
        if "cuda_rng" in data and self.device.type == "cuda":
            torch.cuda.set_rng_state(data["cuda_rng"].cpu(), self.device)
        self.checksums = list(data.get("checksums", []))
        if data.get("best") is not None:
            self.best = dict(data["best"])

    def load(self, path: str | Path) -> None:
        """Restore everything :meth:`state_dict` saved (and this rank's own file)."""
        data = load_checkpoint(path, map_location=self.device)
        missing = [k for k in ("model", "optimizer", "scheduler", "streams") if k not in data]
        if missing:
            raise ValueError(
                f"{path} cannot be resumed by this version: it has no {', '.join(missing)} "
                f"(written by an older toolkit?); start a new run"
            )
        stored = (data.get("rule") or {}).get("name")
        mine = getattr(self.rule, "rule_name", None)
        mismatch = state_mismatch(self.weights.state_dict(), data["model"])
        if (stored or "").split(":")[0] != (mine or "") or mismatch:
            what = f"a {stored!r} rule" if stored != mine else "weights of another shape"
            raise ValueError(
                f"{path} holds {what} ({mismatch or 'another rule'}); this run trains "
                f"{mine or 'the task model'!r}: resume it with the settings it was trained "
                f"with, or start a new run"
            )
        self.weights.load_state_dict(data["model"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.scheduler.load_state_dict(data["scheduler"])
        self.iteration = int(data["iteration"])
        self.fixed_point_fallbacks = int(data.get("fixed_point_fallbacks", 0))
        self._load_rng(data)
        if self.distributed and not self.run.is_main:
            own = load_checkpoint(self._rank_path(self.run.rank), map_location=self.device)
            if int(own["iteration"]) != self.iteration:
                raise ValueError(
                    f"rank {self.run.rank}'s state is from iteration {own['iteration']} but "
                    f"{path} is from {self.iteration}; the run stopped between "
                    f"writes, resume from an earlier copy"
                )
            self._load_rng(own)

    # ------------------------------------------------------------------ run
    def _periodic(self, log: RunLog, i: int) -> None:
        """Validation metrics and pictures (main rank, eval mode, no grad)."""
        if not self.run.is_main:
            return
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                state = self.state(i)
                result = self.task.validation(self.model, state)
                if not isinstance(result, Validation):
                    result = Validation(dict(result))
                folder = Path(self.run.run_dir) / "samples"
                self.task.pictures(self.model, state, folder, result.samples)
        finally:
            self.model.train(was_training)
        metrics = dict(result.metrics)
        if metrics:
            log.write(i, metrics, kind="validation")
            self._keep_best(metrics, i)

    def _keep_best(self, metrics: dict[str, float], i: int) -> None:
        """Write ``checkpoints/best.pt`` (weights, rule and task, no optimiser or pool)
        when the task's ``best_metric`` improves."""
        if self.task.best_metric is None:
            return
        name, mode = self.task.best_metric
        if name not in metrics:
            raise KeyError(
                f"task {self.task_name!r} keeps the best {name!r} but its validation returned "
                f"{sorted(metrics)}"
            )
        value = float(metrics[name])
        if not math.isfinite(value):
            return
        if self.best is not None:
            better = value < self.best["value"] if mode == "min" else value > self.best["value"]
            if not better:
                return
        self.best = {"metric": name, "value": value, "iteration": i}
        save_checkpoint(self.best_path, {**self._weights_dict(), "best": dict(self.best)})

    def fit(
        self,
        log: RunLog,
        progress: Callable[[int, dict[str, float]], None] | None = None,
        stop_after: int | None = None,
    ) -> dict[str, float]:
        """Train until the task's iterations; checkpoint periodically, on Ctrl-C and at
        the end.

        Ctrl-C (SIGINT) is deferred to the end of the current iteration, after its
        logging, validation and checkpoint bookkeeping, so the checkpoint written on
        the way out is consistent and a resumed run matches an uninterrupted one.

        Args:
            log: Metrics log.
            progress: ``progress(iteration, metrics)`` callback (progress bars).
            stop_after: Stop (with a checkpoint) after this many iterations in this call,
                e.g. to fit a cluster's time limit; continue later with ``resume``.
        """
        cfg = self.config
        recent: deque[dict[str, float]] = deque(maxlen=SMOOTHING)
        started, done_at_start = time.perf_counter(), self.iteration
        consistent = True  # False while an iteration is half done
        self.model.train()
        with DeferredInterrupt() as interrupt:
            try:
                while self.iteration < self.iterations:
                    consistent = False
                    metrics = self.step()
                    recent.append(metrics)
                    i = self.iteration
                    end = i == self.iterations
                    if i % cfg.log_every == 0 or end:
                        rate = (i - done_at_start) / max(time.perf_counter() - started, 1e-9)
                        log.write(i, {**metrics, "it_per_s": rate})
                    if i % cfg.validate_every == 0 or end:
                        self._periodic(log, i)
                    if i % cfg.checkpoint_every == 0 or end:
                        self.save()
                    consistent = True
                    if progress is not None:
                        progress(i, metrics)
                    if interrupt.requested:
                        raise KeyboardInterrupt
                    if stop_after is not None and i - done_at_start >= stop_after:
                        if i % cfg.checkpoint_every and not end:
                            self.save()
                        break
            except KeyboardInterrupt:
                if consistent and self.iteration > done_at_start:
                    self.save()
                raise
        return self._smoothed(recent)

    def _smoothed(self, recent: deque[dict[str, float]]) -> dict[str, float]:
        """Means of the loss terms over the last iterations (not the rollout's ``T``,
        pool flags or the learning rate, which are no summary of training)."""
        if not recent:
            return {}
        means = {k: sum(m[k] for m in recent) / len(recent) for k in self._loss_names}
        return {k: v for k, v in means.items() if math.isfinite(v)}

    def run_training(self) -> dict[str, float]:
        """Resume if asked, train with a progress bar, and evaluate at the end (main rank).

        Returns the training losses (means over the last iterations), plus ``eval_*``
        metrics when the run finished. Resuming a finished run trains and evaluates
        nothing again: it returns the recorded evaluation.
        """
        run, console = self.run, self.console
        resumed = run.resume and self.checkpoint_path.is_file()
        if resumed:
            self.load(self.checkpoint_path)
            console.print(f"resumed from iteration {self.iteration}")
        elif run.resume:
            console.print("no checkpoint yet: starting from iteration 0")
        log = RunLog(run.run_dir, enabled=run.is_main)
        if run.resume and not resumed and run.is_main and log.path.is_file():
            log.mark_resume(0)  # records of the attempt that left no checkpoint are replaced
        try:
            if resumed and self.iteration >= self.iterations:
                return self._finished(log)
            if resumed:
                log.mark_resume(self.iteration)  # later records replace those past it
            about = self.task.describe(self.data)
            if about:
                console.print(about)
            with progress_bar(
                "training",
                self.iterations,
                console=console,
                quiet=run.quiet or not run.is_main,
                metrics=("loss",),
                completed=self.iteration,
            ) as advance:
                try:
                    final = self.fit(
                        log,
                        progress=lambda i, m: advance(completed=i, loss=m["loss"]),
                        stop_after=run.stop_after,
                    )
                except KeyboardInterrupt:
                    console.print(self._interrupted())
                    raise
            if self.iteration < self.iterations:  # --stop-after: no evaluation yet
                console.print(f"stopped at iteration {self.iteration}; continue with --resume")
                return final
            if not run.is_main:  # rank 0 evaluates; the others are done
                return final
            evaluated = self._load_evaluated_weights()
            self.model.eval()
            with torch.no_grad():
                result = dict(self.task.evaluate(self.model, replace(run, evaluated=evaluated)))
            log.write(self.iteration, result, kind="evaluation")
            return {**final, **_prefixed(result)}
        finally:
            log.close()

    def _load_evaluated_weights(self) -> EvaluatedCheckpoint:
        """With ``eval_checkpoint=best``, put the best validation's weights in the model;
        returns the checkpoint evaluated (``last.pt``, just written, or ``best.pt``)."""
        if self.config.eval_checkpoint != "best":
            return EvaluatedCheckpoint(str(self.checkpoint_path), self.iteration, self.iterations)
        if not self.best_path.is_file():
            raise FileNotFoundError(
                f"eval_checkpoint=best but {self.best_path} was never written (no finite "
                f"validation {self.task.best_metric[0]!r}); evaluate last.pt with "
                f"`nca eval {self.run.run_dir}`"
            )
        data = load_checkpoint(self.best_path, map_location=self.device)
        self.weights.load_state_dict(data["model"])
        best = data.get("best") or {}
        self.console.print(
            f"evaluating {self.best_path} (iteration {best.get('iteration')}, "
            f"{best.get('metric')} = {best.get('value', float('nan')):.4g})"
        )
        return EvaluatedCheckpoint.of(self.best_path, data)

    def _interrupted(self) -> str:
        """What Ctrl-C left behind, truthfully."""
        if self.saved_at == self.iteration:
            return (
                f"interrupted at iteration {self.iteration}; checkpoint saved to "
                f"{self.checkpoint_path}; continue with --resume"
            )
        if self.checkpoint_path.is_file():
            kept = load_checkpoint(self.checkpoint_path).get("iteration")
            return (
                f"stopped during iteration {self.iteration + 1} (second Ctrl-C): no new "
                f"checkpoint; {self.checkpoint_path} holds iteration {kept}; continue with "
                f"--resume"
            )
        return f"stopped during iteration {self.iteration + 1}: no checkpoint was written"

    def _finished(self, log: RunLog) -> dict[str, float]:
        """A resumed run that had already finished: report, add nothing to the log."""
        self.console.print(
            f"the run already finished at iteration {self.iteration}: nothing to train "
            f"(`nca eval {self.run.run_dir}` evaluates it again)"
        )
        evaluations = [r for r in log.read() if r["kind"] == "evaluation"]
        if not evaluations:
            return {}
        record = {k: v for k, v in evaluations[-1].items() if k not in ("kind", "step", "time")}
        return _prefixed(record)


def _stabler_settings(config: TrainerConfig) -> list[str]:
    """``-o`` options a diverged run could restart with: a tenth of its learning rate
    (when that is a usable one: never ``inf``, ``nan`` or 0) and gradient normalisation."""
    options = []
    lower = config.lr / 10
    if math.isfinite(lower) and lower > 0:
        options.append(f"-o lr={lower:g}")
    if not config.gradient_normalization:
        options.append("-o gradient_normalization=true")
    return options


def _prefixed(result: dict) -> dict[str, float | int]:
    """The evaluation's numbers as ``eval_*`` final metrics; counts stay integers (a
    parameter count printed as ``5130.0000`` reads as a measurement)."""
    return {
        f"eval_{k}": v if isinstance(v, int) and not isinstance(v, bool) else float(v)
        for k, v in result.items()
        if isinstance(v, (int, float))
    }


def _console(silent: bool):
    from rich.console import Console

    return Console(quiet=silent, highlight=False)
