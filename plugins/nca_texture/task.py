"""The ``texture`` task: a CA grows a texture from empty cells, judged by VGG16 feature
statistics (Niklasson et al., *Self-Organising Textures*, Distill 2021)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from nca import (
    GridModel,
    Losses,
    RuleNeeds,
    RunContext,
    SlotPool,
    Task,
    TrainState,
    Validation,
    make_generator,
    save_grid,
    write_report,
)
from nca_texture import analysis
from nca_texture.analysis import evaluate_texture, grow, overflow, pad_to
from nca_texture.config import PRESET_DESCRIPTIONS, PRESETS, TextureConfig
from nca_texture.targets import load_texture
from nca_texture.vgg import gram_loss, load_vgg16_features, sliced_ot_loss, style_features


@dataclass
class TextureData:
    """The target texture ``(1, 3, h, w)`` in [0, 1]."""

    target: torch.Tensor


@dataclass
class TextureBatch:
    """Pool grids ``(b, C, S, S)``, their pool entries, and the rollout length."""

    cells: torch.Tensor
    indices: torch.Tensor
    steps: int


class TextureTask(Task):
    """Self-organising textures: a CA grows a texture, matched in VGG16 feature statistics."""

    name = "texture"
    config_class = TextureConfig
    rule_kinds = frozenset({"ca"})
    cli_options = ("target", "grid_size", "loss", "iterations", "batch_size", "vgg_weights")
    #: rollout lengths and OT projections; CA update masks (on the device)
    streams = {"data": "cpu", "steps": "device"}
    best_metric = ("loss", "min")
    experiments = {"growth": "analyze_growth", "persistence": "analyze_persistence"}
    presets = PRESETS
    default_presets = {"cpu": "quick", "cuda": "paper"}
    preset_descriptions = PRESET_DESCRIPTIONS

    def rule_needs(self) -> RuleNeeds:
        """No inputs, RGB outputs, one cell per pixel (grids of any size)."""
        return RuleNeeds(input_channels=0, output_channels=3, cell_per_pixel=True)

    def validate(self) -> None:
        if self.config.gradient == "fixed-point":
            raise ValueError(
                "texture cannot train with gradient=fixed-point: the article's textures keep "
                "moving (no equilibrium), and from the uniform seed the expected update stays "
                "uniform; use gradient=bptt or checkpoint"
            )
        _ = self.target
        _ = self.style_network  # fails here, before the run directory, if unavailable

    def build_model(self, rule, run: RunContext) -> GridModel:
        """The rule on empty grids; its output channels plus 0.5 are RGB (``to_rgb``)."""
        cfg = self.config
        return GridModel(rule, update_rate=cfg.update_rate, blank="empty", output_offset=0.5,
                         gradient=cfg.gradient)  # fmt: skip

    # ------------------------------------------------------------ the loss
    @cached_property
    def target(self) -> torch.Tensor:
        """The target texture ``(1, 3, h, w)`` in [0, 1], on the CPU."""
        return load_texture(self.config.target, self.config.target_size).unsqueeze(0)

    @cached_property
    def style_network(self) -> nn.Module:
        """VGG16's features (frozen), the style loss's network."""
        return load_vgg16_features(self.config.vgg_weights or None)

    def _target_features(self, device) -> list[torch.Tensor]:
        cached = getattr(self, "_target_cache", None)
        if cached is None or cached[0].device != torch.device(device):
            with torch.no_grad():
                network = self.style_network.to(device)
                cached = style_features(network, self.target.to(device))
            self._target_cache = cached
        return cached

    def style_loss(self, rgb: torch.Tensor, generator=None) -> torch.Tensor:
        """Per-grid style loss ``(B,)`` of RGB ``(B, 3, H, W)`` against the target."""
        features = style_features(self.style_network.to(rgb.device), rgb.float())
        targets = self._target_features(rgb.device)
        if self.config.loss == "ot":
            return sliced_ot_loss(features, targets, self.config.ot_projections, generator)
        return gram_loss(features, targets)

    # ------------------------------------------------------------- training
    def train_data(self, run: RunContext) -> TextureData:
        return TextureData(self.target)

    def describe(self, data: TextureData) -> str:
        cfg = self.config
        h, w = data.target.shape[-2:]
        return (
            f"texture {cfg.target} ({w}x{h}) on a {cfg.grid_size}x{cfg.grid_size} grid, "
            f"{cfg.loss} loss, {cfg.iterations} iterations of batch {cfg.batch_size}"
        )

    def make_pool(self, model: GridModel, data: TextureData, generator) -> SlotPool:
        return SlotPool(model.seed(1, self.config.grid_size, "cpu")[0], self.config.pool_size,
                        generator)  # fmt: skip

    def sample_batch(self, data: TextureData, state: TrainState) -> TextureBatch:
        """Pool entries; every ``reseed_every`` iterations the first is the seed again."""
        cfg = self.config
        steps = int(
            torch.randint(cfg.steps_min, cfg.steps_max + 1, (1,), generator=state.streams.data)
        )
        indices, cells = state.pool.sample(cfg.batch_size)
        cells = cells.to(state.device)
        if state.iteration % cfg.reseed_every == 0:
            cells[:1] = state.model.seed(1, cfg.grid_size, state.device)
        return TextureBatch(cells, indices, steps)

    def objective(self, model: GridModel, batch: TextureBatch, state: TrainState) -> Losses:
        """``T`` steps; the style loss of the RGB channels plus the overflow loss."""
        cells = model.run(batch.cells, batch.steps, generator=state.streams.steps)
        style = self.style_loss(model.output(cells), generator=state.streams.data).mean()
        spill = overflow(cells)
        loss = style + self.config.overflow_weight * spill
        return Losses(loss, {"style": style, "overflow": spill}, outputs=cells,
                      info={"steps": batch.steps})  # fmt: skip

    def after_step(self, batch: TextureBatch, losses: Losses, state: TrainState) -> None:
        state.pool.commit(batch.indices, losses.outputs.detach())

    # ----------------------------------------------------------- validation
    def validation(self, model: GridModel, state: TrainState) -> Validation:
        """Style loss of 2 grids grown from the seed for ``steps_max`` steps (the
        pictures' samples)."""
        cfg = self.config
        cells, _ = grow(model, 2, cfg.grid_size, cfg.steps_max, state.device, seed=1)
        rgb = model.output(cells)
        loss = float(self.style_loss(rgb, make_generator(0, "cpu")).mean())
        return Validation({"loss": loss}, samples=rgb)

    def pictures(self, model: GridModel, state: TrainState, folder: Path, samples) -> None:
        """The validation's 2 grown grids, labelled with their T, next to the target."""
        from nca import readable_scale

        folder.mkdir(parents=True, exist_ok=True)
        pictures = [*samples.clamp(0, 1), self.target[0].to(samples.device)]  # target: (1, 3, h, w)
        padded = [pad_to(pictures, p) for p in pictures]
        blank = torch.ones_like(padded[0])
        rows = [torch.stack(padded[:-1]), torch.stack([padded[-1], *[blank] * (len(padded) - 2)])]
        labels = [f"grown, T={self.config.steps_max}", "target"]
        save_grid(rows, folder / f"iter_{state.iteration:07d}.png", labels=labels,
                  scale=readable_scale(rows[0], 96))  # fmt: skip

    def playground(self, model: GridModel):
        """An empty grid of the evaluation size growing the texture (``nca play``)."""
        from nca_texture.play import TexturePlayground

        return TexturePlayground(model, self.config.eval_size)

    # ----------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, model: GridModel, run: RunContext) -> dict[str, float]:
        """Style loss of grids grown from the seed: of the empty seed (grey), at T =
        ``steps_max`` on the training grid, and at ``eval_steps`` on an ``eval_size`` grid."""
        cfg = self.config
        device = torch.device(run.device)
        result, row = evaluate_texture(model, self.style_loss, self.target, cfg, device)
        title = f"texture evaluation ({cfg.target}, {cfg.loss} loss)"
        details = {"T": cfg.steps_max, "loss": cfg.loss}
        write_report(run, title, result, details=details, number_format=".4g")
        if run.is_main and run.report is None:
            labels = ["target", f"T={cfg.steps_max}, {cfg.grid_size}px grid",
                      f"{cfg.eval_steps} steps, {cfg.eval_size}px grid"]  # fmt: skip
            save_grid([image[None] for image in row], Path(run.run_dir) / "eval.png", scale=2,
                      labels=labels)  # fmt: skip
        return result

    # ------------------------------------------------------------- analysis
    def analyze_growth(
        self, model: GridModel, out: Path, *, seed: int = 0, steps: int = 0, size: int = 0,
        count: int = 2, every: int = 4,
    ) -> dict:  # fmt: skip
        """A GIF of ``count`` grids growing the texture from empty cells (``steps`` 0:
        ``eval_steps``; ``size`` 0: ``eval_size``), and the style loss every ``every`` steps."""
        steps, size = steps or self.config.eval_steps, size or self.config.eval_size
        if every < 1:  # refused, not quietly raised to 1
            raise ValueError(f"every must be >= 1 (a frame every N steps), got {every}")
        return analysis.growth(model, self.style_loss, out, steps=steps, size=size, count=count,
                               every=every, seed=seed)  # fmt: skip

    def analyze_persistence(
        self, model: GridModel, out: Path, *, seed: int = 0, factor: int = 10, count: int = 2
    ) -> dict:
        """Grow for ``factor`` × the training T (``steps_max``) on the training grid: the
        style loss at T, 2 T, 5 T and the end, with pictures."""
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        cfg = self.config
        return analysis.persistence(model, self.style_loss, out, period=cfg.steps_max,
                                    size=cfg.grid_size, factor=factor, count=count,
                                    seed=seed)  # fmt: skip
