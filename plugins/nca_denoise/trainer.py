"""The training loop of Algorithm 1, with checkpoints, resume and logging.

One iteration: draw a batch (a random contiguous slice, Alg. 1 line 4); for CA
rules, on even iterations with a large enough pool take its first ``b`` grids
and their targets instead, else seed fresh grids with masked inputs (lines
5-13); roll out ``T ~ U{steps_min, steps_max}`` asynchronous steps (14-17);
L1 + overflow losses (19-22); per-parameter gradient normalisation (23);
AdamW + cosine step (24); add the grids to the pool (25-26). Feed-forward
rules see the same batches and masks and take one pass.

Every random draw comes from a generator owned by the trainer (data, masks,
CA steps, pool shuffles), and all of them, with the model, optimiser,
scheduler, pool and iteration, go into each checkpoint: a resumed run is
bit-identical to an uninterrupted one on the same device.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from nca import (
    CellularAutomaton,
    ImageSet,
    NCAError,
    RunContext,
    RunLog,
    SamplePool,
    config_to_dict,
    load_checkpoint,
    make_generator,
    normalize_gradients_,
    overflow_losses,
    paper_checkpoint_segments,
    save_checkpoint,
)
from nca_denoise.config import DenoiseConfig
from nca_denoise.masking import CONFIGURATIONS, Curriculum, mask_images, sample_configuration

#: Offsets that derive independent per-purpose generators from the run seed.
_STREAMS = {"data": 1, "mask": 2, "steps": 3, "pool": 4}


class TrainingDiverged(NCAError):
    """The loss or the gradients became NaN or infinite."""


@dataclass
class Generators:
    """The run's random streams, each seeded from ``seed`` (and the rank)."""

    data: torch.Generator
    mask: torch.Generator
    steps: torch.Generator
    pool: torch.Generator

    @classmethod
    def from_seed(cls, seed: int, rank: int, device: torch.device) -> Generators:
        base = seed * 1000 + rank * 100
        return cls(
            data=make_generator(base + _STREAMS["data"]),
            mask=make_generator(base + _STREAMS["mask"]),
            steps=make_generator(base + _STREAMS["steps"], device),
            pool=make_generator(base + _STREAMS["pool"]),
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).get_state() for name in _STREAMS}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name in _STREAMS:
            getattr(self, name).set_state(state[name])


class _Objective(torch.nn.Module):
    """One iteration's loss as a single forward pass, so DistributedDataParallel sees one
    forward per backward however many CA steps the rollout takes."""

    def __init__(self, rule, automaton, config: DenoiseConfig) -> None:
        super().__init__()
        self.model = automaton if automaton is not None else rule
        self.config = config

    def forward(self, inputs, targets, steps, generator, segments):
        cfg = self.config
        if isinstance(self.model, CellularAutomaton):
            out = self.model(
                inputs,
                steps,
                generator=generator,
                checkpoint_segments=segments,
                octaves=cfg.octaves,
            ).cells
            output = self.model.output_image(out)
            overflow = overflow_losses(self.model.layout, out).total
        else:
            out, output = None, self.model(inputs)
            overflow = torch.zeros((), device=output.device)
        reconstruction = (output.float() - targets).abs().mean()
        loss = cfg.reconstruction_weight * reconstruction + cfg.overflow_weight * overflow
        return loss, out, reconstruction, overflow


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class DenoiseTrainer:
    """Trains one rule on one dataset.

    Args:
        rule: A CA or feed-forward rule (already configured for the data's channels).
        config: Task configuration.
        train: Training images.
        run: Run directory, seed, device, rank.
        task_name: Recorded in checkpoints (for ``nca eval``).
    """

    def __init__(
        self,
        rule,
        config: DenoiseConfig,
        train: ImageSet,
        run: RunContext,
        task_name: str = "denoise",
    ) -> None:
        self.config, self.train_set, self.run, self.task_name = config, train, run, task_name
        self.device = torch.device(run.device)
        self.rule = rule.to(self.device)
        self.is_ca = rule.kind == "ca"
        self.automaton = (
            CellularAutomaton(rule, update_rate=config.update_rate) if self.is_ca else None
        )
        self.distributed = _distributed()
        objective = _Objective(rule, self.automaton, config)
        if self.distributed:  # gradients are averaged across ranks before normalisation
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index or 0] if self.device.type == "cuda" else None
            objective = DistributedDataParallel(objective, device_ids=ids)
            train = train.shard(run.rank, run.world_size)
        self.objective = objective
        self.train_set = train
        self.checksums: list[float] = []  # parameter sums per iteration (DDP consistency)
        self.optimizer = torch.optim.AdamW(
            rule.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=config.iterations
        )
        self.generators = Generators.from_seed(run.seed, run.rank, self.device)
        self.pool = (
            SamplePool(config.pool_size, generator=self.generators.pool)
            if self.is_ca and config.pool_size
            else None
        )
        self.curriculum = Curriculum(
            config.curriculum_start, config.curriculum_end, config.curriculum
        )
        self.iteration = 0
        self.checkpoint_path = Path(run.run_dir) / "checkpoints" / "last.pt"
        if len(self.train_set) < config.batch_size:
            raise ValueError(
                f"the training set has {len(self.train_set)} images, fewer than batch_size "
                f"{config.batch_size}"
            )

    # ------------------------------------------------------------- batches
    def next_batch(self) -> torch.Tensor:
        """``(b, C, H, W)`` training images in [0, 1]."""
        n, b = len(self.train_set), self.config.batch_size
        if self.config.batch_sampling == "contiguous":
            start = int(torch.randint(0, n - b + 1, (1,), generator=self.generators.data))
            index = torch.arange(start, start + b)
        else:
            index = torch.randperm(n, generator=self.generators.data)[:b]
        # augmented sets (landcover: random crops and flips) draw from the same stream
        return self.train_set.batch(index, self.device, generator=self.generators.data)

    def masked(self, images: torch.Tensor, iteration: int) -> tuple[torch.Tensor, str]:
        config = sample_configuration(self.curriculum.allowed(iteration), self.generators.mask)
        masked = mask_images(
            images, config, self.generators.mask, noise_per_patch=self.config.noise_per_patch
        )
        return masked, f"{config[0]}x{config[0]}/{round(config[1] * 100)}%"

    # ---------------------------------------------------------------- step
    def _autocast(self):
        if self.config.bf16:  # the rule's forward; losses and the cell state stay float32
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def step(self) -> dict[str, float]:
        """One optimiser iteration (Algorithm 1, lines 4-26)."""
        cfg, i = self.config, self.iteration + 1
        targets = self.next_batch()
        from_pool = self.pool is not None and len(self.pool) > cfg.batch_size and i % 2 == 0
        steps, segments = 0, 0
        if self.is_ca:
            if from_pool:
                batch = self.pool.sample(cfg.batch_size)
                inputs, targets = batch.cells.to(self.device), batch.targets.to(self.device)
            else:
                masked, _ = self.masked(targets, i)
                inputs = self.automaton.seed(masked)
            steps = int(
                torch.randint(
                    cfg.steps_min, cfg.steps_max + 1, (1,), generator=self.generators.data
                )
            )
            segments = paper_checkpoint_segments(steps) if cfg.gradient_checkpointing else 0
        else:
            inputs, _ = self.masked(targets, i)
        with self._autocast():
            loss, out, reconstruction, overflow = self.objective(
                inputs, targets, steps, self.generators.steps, segments
            )
        if not torch.isfinite(loss):
            raise self._diverged(f"loss became {float(loss.detach())} at iteration {i}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in self.rule.parameters() if p.grad is not None]
        if not all(torch.isfinite(g).all() for g in grads):
            raise self._diverged(f"gradients became non-finite at iteration {i}")
        if cfg.gradient_normalization:
            normalize_gradients_(self.rule.parameters())
        self.optimizer.step()
        self.scheduler.step()
        if self.pool is not None:
            self.pool.add(out.detach().float(), targets)
        self.iteration = i
        values = torch.stack([loss.detach(), reconstruction.detach(), overflow.detach()]).float()
        if self.distributed:  # metrics are means over ranks
            import torch.distributed as dist

            dist.all_reduce(values)
            values /= dist.get_world_size()
            self.checksums.append(sum(float(p.double().sum()) for p in self.rule.parameters()))
        return {
            "loss": float(values[0]),
            "reconstruction": float(values[1]),
            "overflow": float(values[2]),
            "steps": steps,
            "lr": self.scheduler.get_last_lr()[0],
            "from_pool": float(from_pool),
        }

    def _diverged(self, what: str) -> TrainingDiverged:
        kept = (
            f"the last good checkpoint is {self.checkpoint_path}"
            if self.checkpoint_path.is_file()
            else "no checkpoint was written yet"
        )
        advice = "lower the learning rate" + (
            "" if self.config.gradient_normalization else " or enable gradient_normalization"
        )
        return TrainingDiverged(f"{what}; {kept} ({advice})")

    # --------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {
            "rule": {"name": self.rule.rule_name, "config": config_to_dict(self.rule.config)},
            "task": {"name": self.task_name, "config": config_to_dict(self.config)},
            "model": self.rule.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "pool": self.pool.state_dict() if self.pool is not None else None,
            "generators": self.generators.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "iteration": self.iteration,
        }

    def _rank_path(self, rank: int) -> Path:
        return self.checkpoint_path.parent / f"rank{rank}.pt"

    def _rank_state(self) -> dict:
        return {
            "iteration": self.iteration,
            "pool": self.pool.state_dict() if self.pool is not None else None,
            "generators": self.generators.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "checksums": list(self.checksums),
        }

    def save(self) -> Path | None:
        """Write ``checkpoints/last.pt`` atomically (main rank); under DDP every other rank
        also writes its own pool and generators to ``checkpoints/rank{r}.pt``."""
        path = None
        if self.run.is_main:
            path = save_checkpoint(
                self.checkpoint_path, {**self.state_dict(), "checksums": list(self.checksums)}
            )
        elif self.distributed:
            save_checkpoint(self._rank_path(self.run.rank), self._rank_state())
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()
        return path

    def load(self, path: str | Path) -> None:
        """Restore everything :meth:`state_dict` saved."""
        data = load_checkpoint(path, map_location=self.device)
        self.rule.load_state_dict(data["model"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.scheduler.load_state_dict(data["scheduler"])
        if self.pool is not None and data.get("pool") is not None:
            self.pool.load_state_dict(data["pool"])
        # generator states are CPU byte tensors whatever map_location did
        self.generators.load_state_dict({k: v.cpu() for k, v in data["generators"].items()})
        torch.set_rng_state(data["torch_rng"].cpu())
        self.iteration = int(data["iteration"])
        self.checksums = list(data.get("checksums", []))
        if self.distributed and not self.run.is_main:  # this rank's own pool and generators
            own = load_checkpoint(self._rank_path(self.run.rank), map_location=self.device)
            if int(own["iteration"]) != self.iteration:
                raise ValueError(
                    f"rank {self.run.rank}'s state is from iteration {own['iteration']} but "
                    f"{self.checkpoint_path} is from {self.iteration}; the run stopped between "
                    f"writes, resume from an earlier copy"
                )
            if self.pool is not None and own["pool"] is not None:
                self.pool.load_state_dict(own["pool"])
            self.generators.load_state_dict({k: v.cpu() for k, v in own["generators"].items()})
            torch.set_rng_state(own["torch_rng"].cpu())
            self.checksums = list(own["checksums"])

    # ------------------------------------------------------------------ run
    def fit(
        self, log: RunLog, validate=None, progress=None, stop_after: int | None = None
    ) -> dict[str, float]:
        """Train until ``iterations``; checkpoint periodically, on Ctrl-C and at the end.

        Ctrl-C (SIGINT) is deferred to the end of the current iteration, after its
        logging, validation and checkpoint bookkeeping, so the checkpoint written on
        the way out is consistent and a resumed run matches an uninterrupted one.

        Args:
            log: Metrics log.
            validate: ``validate(trainer) -> dict`` called every ``validate_every``.
            progress: ``progress(iteration, metrics)`` callback (progress bars).
            stop_after: Stop (with a checkpoint) after this many iterations in this call,
                e.g. to fit a cluster's time limit; continue later with ``--resume``.
        """
        cfg = self.config
        last: dict[str, float] = {}
        started, done_at_start = time.perf_counter(), self.iteration
        consistent = True  # False while an iteration is half done
        with _DeferredInterrupt() as interrupt:
            try:
                while self.iteration < cfg.iterations:
                    consistent = False
                    metrics = self.step()
                    last = metrics
                    i = self.iteration
                    if i % cfg.log_every == 0 or i == cfg.iterations:
                        rate = (i - done_at_start) / max(time.perf_counter() - started, 1e-9)
                        log.write(i, {**metrics, "it_per_s": rate})
                    if validate is not None and (
                        i % cfg.validate_every == 0 or i == cfg.iterations
                    ):
                        log.write(i, validate(self), kind="validation")
                    if i % cfg.checkpoint_every == 0 or i == cfg.iterations:
                        self.save()
                    consistent = True
                    if progress is not None:
                        progress(i, metrics)
                    if interrupt.requested:
                        raise KeyboardInterrupt
                    if stop_after is not None and i - done_at_start >= stop_after:
                        if i % cfg.checkpoint_every and i != cfg.iterations:
                            self.save()
                        break
            except KeyboardInterrupt:
                if consistent and self.iteration > done_at_start:
                    self.save()
                raise
        return {k: v for k, v in last.items() if isinstance(v, float) and math.isfinite(v)}


class _DeferredInterrupt:
    """Turn SIGINT into a flag while training (main thread only; elsewhere a no-op)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _DeferredInterrupt:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


__all__ = ["CONFIGURATIONS", "DenoiseTrainer", "Generators", "TrainingDiverged"]
