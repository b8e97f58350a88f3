"""The ``grow`` task: growing, persisting and regenerating an image from one cell
(Mordvintsev et al., *Growing Neural Cellular Automata*, Distill 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from nca import (
    AliveMasking,
    GridModel,
    Losses,
    RuleNeeds,
    RunContext,
    SlotPool,
    Task,
    TrainState,
    Validation,
    circle_damage,
    fixed_point_metrics,
    fixed_point_penalty,
    psnr,
    write_report,
)
from nca_grow import analysis
from nca_grow.analysis import to_picture
from nca_grow.config import PRESET_DESCRIPTIONS, PRESETS, GrowConfig
from nca_grow.evaluation import evaluate_growth, grow, per_sample_loss, save_stages
from nca_grow.targets import load_target

#: RGBA: the alpha channel is the 4th output channel.
ALPHA = 3


@dataclass
class GrowData:
    """The padded target, premultiplied RGBA ``(1, 4, H', W')``."""

    target: torch.Tensor


@dataclass
class GrowBatch:
    """One iteration's grids.

    Attributes:
        cells: ``(b, C, H', W')`` starting grids.
        steps: Rollout length ``T``.
        indices: Pool entries the grids came from (``None``: fresh seeds).
    """

    cells: torch.Tensor
    steps: int
    indices: torch.Tensor | None


class GrowTask(Task):
    """Grow an RGBA target from one cell; keep it (persistent) and repair it (regenerating)."""

    name = "grow"
    config_class = GrowConfig
    rule_kinds = frozenset({"ca"})
    cli_options = ("target", "target_size", "experiment", "iterations", "batch_size")
    #: data order and T, disc damage, CA update masks (on the device)
    streams = {"data": "cpu", "damage": "cpu", "steps": "device"}
    best_metric = ("loss", "min")
    presets = PRESETS
    default_presets = {"cpu": "quick"}
    preset_descriptions = PRESET_DESCRIPTIONS
    experiments = {
        "growth": "analyze_growth",
        "regeneration": "analyze_regeneration",
        "persistence": "analyze_persistence",
    }

    @cached_property
    def target(self) -> torch.Tensor:
        """The padded target, premultiplied RGBA ``(1, 4, *grid)`` on the CPU: an image
        ``(1, 4, H', W')`` or a volume ``(1, 4, D', H', W')``."""
        cfg = self.config
        return load_target(cfg.target, cfg.target_size, cfg.target_padding).unsqueeze(0)

    @property
    def grid_size(self) -> tuple[int, ...]:
        return tuple(self.target.shape[2:])

    def rule_needs(self) -> RuleNeeds:
        """No inputs, RGBA outputs, one cell per pixel (voxel), on the padded target's
        grid: 2-D for an image, 3-D for a volume."""
        size = self.grid_size
        return RuleNeeds(input_channels=0, output_channels=4, image_size=size,
                         cell_per_pixel=True, dims=len(size))  # fmt: skip

    def validate(self) -> None:
        _ = self.target  # fails here, before the run directory, if unreadable

    def build_model(self, rule, run: RunContext) -> GridModel:
        """The rule grown from one live cell, alive where alpha (or a neighbour's) > 0.1."""
        cfg = self.config
        alpha = rule.layout.slice("output").start + ALPHA
        return GridModel(
            rule,
            update_rate=cfg.update_rate,
            blank="single-cell",
            alive=AliveMasking(alpha, cfg.alive_threshold),
            gradient=cfg.gradient,
            fixed_point=cfg.fixed_point,
        )

    # ------------------------------------------------------------- training
    def train_data(self, run: RunContext) -> GrowData:
        return GrowData(self.target)

    def describe(self, data: GrowData) -> str:
        cfg = self.config
        grid = "x".join(map(str, data.target.shape[2:]))
        return (
            f"growing {cfg.target} on a {grid} grid ({cfg.experiment}), {cfg.iterations} "
            f"iterations of batch {cfg.batch_size}"
        )

    def make_pool(self, model: GridModel, data: GrowData, generator) -> SlotPool | None:
        if self.config.experiment == "growing":
            return None
        return SlotPool(model.seed(1, self.grid_size, "cpu")[0], self.config.pool_size, generator)

    def sample_batch(self, data: GrowData, state: TrainState) -> GrowBatch:
        """Fresh seeds (growing); or pool entries sorted by loss, the worst reseeded and
        (regenerating) the ``damage_count`` best damaged with discs."""
        cfg, streams, model = self.config, state.streams, state.model
        steps = int(torch.randint(cfg.steps_min, cfg.steps_max + 1, (1,), generator=streams.data))
        if state.pool is None:
            return GrowBatch(model.seed(cfg.batch_size, self.grid_size, state.device), steps, None)
        indices, cells = state.pool.sample(cfg.batch_size)
        cells = cells.to(state.device)
        with torch.no_grad():
            losses = per_sample_loss(model.output(cells), data.target.to(state.device))
        order = losses.argsort(descending=True).cpu()
        indices, cells = indices[order], cells[order.to(cells.device)]
        cells[:1] = model.seed(1, self.grid_size, state.device)
        if cfg.experiment == "regenerating" and cfg.damage_count:
            k = cfg.damage_count
            cells[-k:] = circle_damage(cells[-k:], generator=streams.damage)[0]
        return GrowBatch(cells, steps, indices)

    def objective(self, model: GridModel, batch: GrowBatch, state: TrainState) -> Losses:
        """``T`` steps, then the L2 loss of the RGBA channels against the target."""
        result = model.rollout(batch.cells, batch.steps, generator=state.streams.steps)
        cells = result.cells
        loss = per_sample_loss(model.output(cells), self.target.to(cells.device)).mean()
        loss = loss + fixed_point_penalty(result.fixed_point)  # 0 unless the regulariser is on
        info = {"steps": batch.steps, **fixed_point_metrics(result.fixed_point)}
        return Losses(loss, {}, outputs=cells, info=info)

    def after_step(self, batch: GrowBatch, losses: Losses, state: TrainState) -> None:
        if state.pool is not None:
            state.pool.commit(batch.indices, losses.outputs.detach())

    # ----------------------------------------------------------- validation
    def validation(self, model: GridModel, state: TrainState) -> Validation:
        """Loss and PSNR of 4 seeds grown for ``validation_steps`` (``steps_max``); the
        grown RGBA grids are the pictures' samples."""
        steps = self.config.validation_steps or self.config.steps_max
        cells, _ = grow(model, 4, self.grid_size, steps, state.device, seed=1)
        target = self.target.to(state.device)
        rgba = model.output(cells).float()
        metrics = {
            "loss": float(per_sample_loss(rgba, target).mean()),
            "psnr": float(psnr(rgba, target.expand_as(rgba)).mean()),
        }
        return Validation(metrics, samples=rgba)

    def pictures(self, model: GridModel, state: TrainState, folder: Path, samples) -> None:
        """Target and the validation's grown grids on a white background."""
        from torchvision.utils import save_image

        images = torch.cat([self.target.to(samples.device), samples]).clamp(0, 1)
        folder.mkdir(parents=True, exist_ok=True)
        save_image(to_picture(images), folder / f"iter_{state.iteration:07d}.png", padding=1)

    def playground(self, model: GridModel):
        """The grid of the training target's size (an image or a volume), grown from one
        cell (``nca play``)."""
        from nca_grow.play import GrowPlayground

        return GrowPlayground(model, self.grid_size)

    # ----------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, model: GridModel, run: RunContext) -> dict[str, float]:
        """Grow ``eval_repeats`` seeds for ``T = steps_max``; persistence to ``10 T``;
        regeneration: a disc of the grown pattern zeroed, then ``T`` more steps."""
        cfg = self.config
        device = torch.device(run.device)
        target = self.target.to(device)
        result, stages = evaluate_growth(model, target, cfg.steps_max, cfg.eval_repeats, device)
        title = f"grow evaluation ({cfg.target}, T = {cfg.steps_max})"
        write_report(run, title, result, details={"T": cfg.steps_max})
        if run.is_main and run.report is None:  # a training run: the picture next to eval.json
            save_stages(model, target, stages, Path(run.run_dir) / "eval.png")
        return result

    # ------------------------------------------------------------- analysis
    def _target_on(self, model: GridModel) -> torch.Tensor:
        return self.target.to(next(model.parameters()).device)

    def analyze_growth(
        self, model: GridModel, out: Path, *, seed: int = 0, steps: int = 0, count: int = 4,
        every: int = 2,
    ) -> dict:  # fmt: skip
        """Growth from one cell: a GIF and the PSNR per step (``steps`` 0: ``steps_max``)."""
        steps = steps or self.config.steps_max
        if every < 1:  # refused, not quietly raised to 1
            raise ValueError(f"every must be >= 1 (a frame every N steps), got {every}")
        return analysis.growth(model, self._target_on(model), out, steps=steps, count=count,
                               seed=seed, every=every)  # fmt: skip

    def analyze_regeneration(
        self, model: GridModel, out: Path, *, seed: int = 0, steps: int = 0,
        damage_at: tuple[int, ...] = (), count: int = 4, every: int = 2,
    ) -> dict:  # fmt: skip
        """Grow for T, cut discs out at ``damage_at`` (default T and 2T), run to 3T; a GIF
        with a frame every ``every`` steps."""
        period = self.config.steps_max
        if every < 1:  # refused, not quietly raised to 1
            raise ValueError(f"every must be >= 1 (a frame every N steps), got {every}")
        return analysis.regeneration(model, self._target_on(model), out, steps=steps or 3 * period,
                                     damage_at=tuple(damage_at) or (period, 2 * period),
                                     count=count, seed=seed, every=every)  # fmt: skip

    def analyze_persistence(
        self, model: GridModel, out: Path, *, seed: int = 0, factor: int = 10, count: int = 4
    ) -> dict:
        """Grow for ``factor`` × the training T (``steps_max``): PSNR per step."""
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        steps = self.config.steps_max
        return analysis.persistence(model, self._target_on(model), out, steps=steps,
                                    factor=factor, count=count, seed=seed)  # fmt: skip
