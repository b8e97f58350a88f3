"""The ``grow`` task: growing, persisting and regenerating an image from one cell
(Mordvintsev et al., *Growing Neural Cellular Automata*, Distill 2020)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nca import (
    AliveMasking,
    CellularAutomaton,
    Losses,
    RuleNeeds,
    RunContext,
    SeedPool,
    Task,
    TrainState,
    circle_damage,
    fixed_point_metrics,
    fixed_point_penalty,
    make_generator,
    psnr,
    single_cell_seed,
)
from nca_grow import analysis
from nca_grow.analysis import on_white
from nca_grow.config import GrowConfig
from nca_grow.targets import load_target

#: RGBA: the alpha channel is the 4th output channel.
ALPHA = 3


class GrowModel(nn.Module):
    """A CA rule grown from a single live cell, with living-cell masking.

    Args:
        rule: A CA rule whose cells have no input channels and 4 (RGBA) output channels.
        update_rate: Cell fire rate σ.
        alive_threshold: Alpha threshold of living cells.
    """

    def __init__(self, rule: nn.Module, update_rate: float, alive_threshold: float) -> None:
        super().__init__()
        self.rule = rule
        layout = rule.layout
        self.alpha_channel = layout.slice("output").start + ALPHA
        self.automaton = CellularAutomaton(
            rule,
            update_rate=update_rate,
            alive=AliveMasking(self.alpha_channel, alive_threshold),
        )
        self.is_ca = True

    @property
    def name(self) -> str:
        return getattr(self.rule, "rule_name", None) or type(self.rule).__name__

    @property
    def layout(self):
        return self.rule.layout

    def seed(self, batch: int, size: tuple[int, int], device) -> torch.Tensor:
        """``(B, C, H', W')`` grids holding one live cell in the centre (and the rule's
        positional channels, for rules that concatenate them to cells)."""
        param = next(self.rule.parameters())
        cells = single_cell_seed(
            self.layout, batch, size, alive_from=self.alpha_channel, device=device,
            dtype=param.dtype,
        )  # fmt: skip
        if self.layout.positional_channels:
            encoding = self.rule.positional_encoding(*size, device=cells.device, dtype=cells.dtype)
            cells[:, self.layout.slice("positional")] = encoding
        return cells

    def run(self, cells, steps: int, generator=None):
        """``steps`` updates of ``cells``; returns the final grids."""
        return self.automaton(cells, steps, generator=generator).cells

    def rgba(self, cells: torch.Tensor) -> torch.Tensor:
        """Premultiplied RGBA ``(B, 4, H', W')`` of grids."""
        return self.layout.image(cells, "output")


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


def per_sample_loss(rgba: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The article's L2 loss of each grid: mean squared RGBA error ``(B,)``."""
    return ((rgba.float() - target) ** 2).mean(dim=(1, 2, 3))


class GrowTask(Task):
    """Grow an RGBA target from one cell; keep it (persistent) and repair it (regenerating)."""

    name = "grow"
    config_class = GrowConfig
    rule_kinds = frozenset({"ca"})
    cli_options = ("target", "target_size", "experiment", "iterations", "batch_size")
    #: data order and T, disc damage, CA update masks (on the device)
    streams = {"data": "cpu", "damage": "cpu", "steps": "device"}
    best_metric = ("loss", "min")
    presets = {
        # the article's settings are the config defaults; its model: 12 hidden channels,
        # identity + Sobel perception, 128-wide MLP
        "paper": {"rule": {"convca": {"hidden_channels": 12, "laplacian": False}}},
        # CPU: a 20-pixel lizard with 6 cells of padding, short rollouts; regenerating
        "quick": {
            "target_size": 20,
            "target_padding": 6,
            "iterations": 1000,
            "batch_size": 4,
            "steps_min": 32,
            "steps_max": 48,
            "lr_milestones": (800,),
            "validate_every": 250,
            "checkpoint_every": 250,
            "log_every": 25,
            "eval_repeats": 4,
            "rule": {"convca": {"hidden_channels": 12, "laplacian": False}},
        },
    }
    default_presets = {"cpu": "quick"}
    preset_descriptions = {
        "paper": "the article's settings: 40-pixel target padded by 16, 8000 iterations of "
        "batch 8, T ~ U{64,96}, pool 1024, the regenerating experiment",
        "quick": "a 20-pixel target padded by 6, 1000 iterations of batch 4, T ~ U{32,48}, "
        "the regenerating experiment: about 3.5 minutes on 2 CPU cores",
    }
    experiments = {
        "growth": "analyze_growth",
        "regeneration": "analyze_regeneration",
        "persistence": "analyze_persistence",
    }
    _last_validation = None

    # ------------------------------------------------------------- the rule
    def rule_needs(self) -> RuleNeeds:
        """No inputs, RGBA outputs, one cell per pixel, on the padded target's grid."""
        size = tuple(self._load_target().shape[-2:])
        return RuleNeeds(input_channels=0, output_channels=4, image_size=size,
                         cell_per_pixel=True)  # fmt: skip

    def _load_target(self) -> torch.Tensor:
        cfg = self.config
        return load_target(cfg.target, cfg.target_size, cfg.target_padding)

    def validate(self) -> None:
        load_target(self.config.target, self.config.target_size, self.config.target_padding)

    def build_model(self, rule, run: RunContext) -> GrowModel:
        if rule is None:
            raise ValueError("task 'grow' needs a rule (--rule NAME)")
        return GrowModel(rule, self.config.update_rate, self.config.alive_threshold)

    # ------------------------------------------------------------- training
    def train_data(self, run: RunContext) -> GrowData:
        cfg = self.config
        target = load_target(cfg.target, cfg.target_size, cfg.target_padding)
        self._target = target.unsqueeze(0)
        return GrowData(self._target)

    def describe(self, data: GrowData) -> str:
        cfg = self.config
        h, w = data.target.shape[-2:]
        return (
            f"growing {cfg.target} on a {h}x{w} grid ({cfg.experiment}), {cfg.iterations} "
            f"iterations of batch {cfg.batch_size}"
        )

    def make_pool(self, model: GrowModel, generator) -> SeedPool | None:
        if self.config.experiment == "growing":
            return None
        size = tuple(self._target.shape[-2:])
        return SeedPool(model.seed(1, size, "cpu")[0], self.config.pool_size, generator)

    def sample_batch(self, data: GrowData, state: TrainState) -> GrowBatch:
        """Fresh seeds (growing); or pool entries sorted by loss, the worst reseeded and
        (regenerating) the ``damage_count`` best damaged with discs."""
        cfg, streams, model = self.config, state.streams, state.model
        size = tuple(data.target.shape[-2:])
        steps = int(torch.randint(cfg.steps_min, cfg.steps_max + 1, (1,), generator=streams.data))
        if state.pool is None:
            return GrowBatch(model.seed(cfg.batch_size, size, state.device), steps, None)
        indices, cells = state.pool.sample(cfg.batch_size)
        cells = cells.to(state.device)
        with torch.no_grad():
            losses = per_sample_loss(model.rgba(cells), data.target.to(state.device))
        order = losses.argsort(descending=True).cpu()
        indices, cells = indices[order], cells[order.to(cells.device)]
        cells[:1] = model.seed(1, size, state.device)
        if cfg.experiment == "regenerating" and cfg.damage_count:
            k = cfg.damage_count
            cells[-k:] = circle_damage(cells[-k:], generator=streams.damage)[0]
        return GrowBatch(cells, steps, indices)

    def objective(self, model: GrowModel, batch: GrowBatch, state: TrainState) -> Losses:
        """``T`` steps, then the L2 loss of the RGBA channels against the target."""
        result = model.automaton(
            batch.cells,
            batch.steps,
            generator=state.streams.steps,
            gradient=self.config.gradient,
            fixed_point=self.config.fixed_point,
        )
        cells = result.cells
        loss = per_sample_loss(model.rgba(cells), self._target.to(cells.device)).mean()
        loss = loss + fixed_point_penalty(result.fixed_point)  # 0 unless the regulariser is on
        info = {"steps": batch.steps, **fixed_point_metrics(result.fixed_point)}
        return Losses(loss, {}, outputs=cells, info=info)

    def after_step(self, batch: GrowBatch, losses: Losses, state: TrainState) -> None:
        if state.pool is not None:
            state.pool.commit(batch.indices, losses.outputs.detach())

    # ----------------------------------------------------------- validation
    def _grow(self, model: GrowModel, count: int, steps: int, device, seed: int = 1):
        size = tuple(self._target.shape[-2:])
        generator = make_generator(seed, device)
        return model.run(model.seed(count, size, device), steps, generator=generator), generator

    def validation(self, model: GrowModel, state: TrainState) -> dict[str, float]:
        """Loss and PSNR of 4 seeds grown for ``validation_steps`` (``steps_max``)."""
        steps = self.config.validation_steps or self.config.steps_max
        cells, _ = self._grow(model, 4, steps, state.device)
        target = self._target.to(state.device)
        rgba = model.rgba(cells).float()
        self._last_validation = rgba
        return {
            "loss": float(per_sample_loss(rgba, target).mean()),
            "psnr": float(psnr(rgba, target.expand_as(rgba)).mean()),
        }

    def pictures(self, model: GrowModel, state: TrainState, folder: Path) -> None:
        """Target and the validation's grown grids on a white background."""
        from torchvision.utils import save_image

        rgba = self._last_validation
        if rgba is None:
            self.validation(model, state)
            rgba = self._last_validation
        self._last_validation = None
        images = torch.cat([self._target.to(rgba.device), rgba]).clamp(0, 1)
        folder.mkdir(parents=True, exist_ok=True)
        save_image(on_white(images), folder / f"iter_{state.iteration:07d}.png", padding=1)

    # ---------------------------------------------------------------- play
    def playground(self, model: GrowModel):
        """The grid of the training target's size, grown from one cell (``nca play``)."""
        from nca_grow.play import GrowPlayground

        cfg = self.config
        target = load_target(cfg.target, cfg.target_size, cfg.target_padding)
        return GrowPlayground(model, tuple(target.shape[-2:]))

    # ----------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, model: GrowModel, run: RunContext) -> dict[str, float]:
        """Grow ``eval_repeats`` seeds for ``T = steps_max``; persistence to ``10 T``;
        regeneration: a disc of the grown pattern zeroed, then ``T`` more steps."""
        cfg = self.config
        device = torch.device(run.device)
        model = model.to(device).eval()
        if getattr(self, "_target", None) is None:
            self.train_data(run)
        target = self._target.to(device)
        steps = cfg.steps_max

        def score(cells):
            rgba = model.rgba(cells).float()
            return float(psnr(rgba, target.expand_as(rgba)).mean())

        grown, generator = self._grow(model, cfg.eval_repeats, steps, device, seed=2024)
        result = {
            "psnr_T": score(grown),
            "loss_T": float(per_sample_loss(model.rgba(grown), target).mean()),
        }
        kept = model.run(grown, 9 * steps, generator=generator)
        result["psnr_10T"] = score(kept)
        damaged, _ = circle_damage(grown, generator=make_generator(7, device))
        result["psnr_damaged"] = score(damaged)
        recovery, cells = [], damaged
        for _ in range(steps):
            cells = model.run(cells, 1, generator=generator)
            recovery.append(score(cells))
        result["psnr_recovered"] = recovery[-1]
        within = [i + 1 for i, value in enumerate(recovery) if value >= result["psnr_T"] - 1.0]
        if result["psnr_damaged"] >= result["psnr_T"] - 1.0:
            result["recovery_steps"] = 0.0  # the damage cost less than 1 dB: nothing to repair
        else:
            result["recovery_steps"] = float(within[0]) if within else float("nan")
        self._report(result, run, steps)
        if run.is_main and run.report is None:  # a training run: the picture next to eval.json
            self._picture(model, [grown, kept, damaged, cells], Path(run.run_dir) / "eval.png")
        return result

    def _picture(self, model: GrowModel, stages, path: Path) -> None:
        """Rows: target, grown at T, at 10 T, damaged, recovered (first seed of each)."""
        from torchvision.utils import save_image

        rgba = [self._target.to(stages[0].device)] + [model.rgba(c[:1]).float() for c in stages]
        save_image(on_white(torch.cat(rgba).clamp(0, 1)), path, nrow=len(rgba), padding=1)

    def _report(self, result: dict[str, float], run: RunContext, steps: int) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(quiet=not run.is_main, highlight=False)
        table = Table(title=f"grow evaluation ({self.config.target}, T = {steps})")
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        for key, value in result.items():
            table.add_row(key, f"{value:.3f}")
        console.print(table)
        if run.is_main:
            path = run.report_path("eval.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"T": steps, **result}, indent=2) + "\n")

    # ------------------------------------------------------------- analysis
    def _analysis_target(self, model: GrowModel) -> torch.Tensor:
        if getattr(self, "_target", None) is None:
            self._target = load_target(
                self.config.target, self.config.target_size, self.config.target_padding
            ).unsqueeze(0)
        return self._target.to(next(model.parameters()).device)

    def analyze_growth(
        self, model: GrowModel, out: Path, *, seed: int = 0, steps: int = 0, count: int = 4,
        every: int = 2,
    ) -> dict:  # fmt: skip
        """Growth from one cell: a GIF and the PSNR per step (``steps`` 0: ``steps_max``)."""
        steps = steps or self.config.steps_max
        target = self._analysis_target(model)
        return analysis.growth(model, target, out, steps=steps, count=count, seed=seed,
                               every=max(1, every))  # fmt: skip

    def analyze_regeneration(
        self, model: GrowModel, out: Path, *, seed: int = 0, steps: int = 0,
        damage_at: tuple[int, ...] = (), count: int = 4,
    ) -> dict:  # fmt: skip
        """Grow for T, cut discs out at ``damage_at`` (default T and 2T), run to 3T."""
        period = self.config.steps_max
        steps = steps or 3 * period
        damage_at = tuple(damage_at) or (period, 2 * period)
        target = self._analysis_target(model)
        return analysis.regeneration(model, target, out, steps=steps, damage_at=damage_at,
                                     count=count, seed=seed)  # fmt: skip

    def analyze_persistence(
        self, model: GrowModel, out: Path, *, seed: int = 0, factor: int = 10, count: int = 4
    ) -> dict:
        """Grow for ``factor`` × the training T (``steps_max``): PSNR per step."""
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        target = self._analysis_target(model)
        return analysis.persistence(model, target, out, steps=self.config.steps_max,
                                    factor=factor, count=count, seed=seed)  # fmt: skip
