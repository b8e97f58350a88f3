"""The ``texture`` task: a CA grows a texture from empty cells, judged by VGG16 feature
statistics (Niklasson et al., *Self-Organising Textures*, Distill 2021)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nca import (
    CellularAutomaton,
    GradientMode,
    Losses,
    RuleNeeds,
    RunContext,
    SeedPool,
    Task,
    TrainState,
    make_generator,
    save_animation,
    save_curves,
    save_grid,
)
from nca_texture.config import TextureConfig
from nca_texture.targets import load_texture
from nca_texture.vgg import gram_loss, load_vgg16_features, sliced_ot_loss, style_features


class TextureModel(nn.Module):
    """A CA rule whose first three cell channels, plus 0.5, are RGB.

    Args:
        rule: A CA rule with no input channels and 3 (RGB) output channels.
        update_rate: Cell fire rate σ.
    """

    def __init__(self, rule: nn.Module, update_rate: float) -> None:
        super().__init__()
        self.rule = rule
        self.automaton = CellularAutomaton(rule, update_rate=update_rate)
        self.is_ca = True

    @property
    def layout(self):
        return self.rule.layout

    def seed(self, batch: int, size: int, device) -> torch.Tensor:
        """Empty grids ``(B, C, size, size)`` (the article's zeros; positional channels for
        rules that concatenate them)."""
        param = next(self.rule.parameters())
        cells = torch.zeros(batch, self.layout.cell_channels, size, size, device=device,
                            dtype=param.dtype)  # fmt: skip
        if self.layout.positional_channels:
            encoding = self.rule.positional_encoding(size, size, device=device, dtype=param.dtype)
            cells[:, self.layout.slice("positional")] = encoding
        return cells

    def run(self, cells, steps: int, generator=None, gradient: GradientMode = "bptt"):
        """``steps`` updates of ``cells`` (``gradient``: ``bptt`` or ``checkpoint``
        while training); returns the final grids."""
        return self.automaton(cells, steps, generator=generator, gradient=gradient).cells

    def rgb(self, cells: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)``: the output channels + 0.5 (the notebook's ``to_rgb``)."""
        return self.layout.image(cells, "output") + 0.5


def _pad_to(images: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
    """``image`` padded with white to the largest height and width among ``images``."""
    height = max(i.shape[-2] for i in images)
    width = max(i.shape[-1] for i in images)
    pad = (0, width - image.shape[-1], 0, height - image.shape[-2])
    return torch.nn.functional.pad(image.clamp(0, 1), pad, value=1.0)


def overflow(cells: torch.Tensor) -> torch.Tensor:
    """The notebook's overflow loss: ``Σ |x − clamp(x, −1, 1)|`` over the batch."""
    return (cells - cells.clamp(-1.0, 1.0)).abs().sum()


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
    #: The notebook's model: 12 channels (RGB + 9), identity/Sobel/Laplacian perception on
    #: a torus, a 96-wide MLP. Attention and U-Net rules: position-free, wrapping borders.
    _rule_defaults = {
        "convca": {"hidden_channels": 9, "mlp_channels": 96, "padding": "circular"},
        "vitca": {"hidden_channels": 9, "positional": "none", "border": "circular"},
        "unetca": {"hidden_channels": 9},
    }
    presets = {
        "paper": {"rule": _rule_defaults},
        "quick": {
            "target_size": 48,
            "grid_size": 48,
            "eval_size": 64,
            "iterations": 300,
            "lr": 2e-3,
            "lr_milestones": (200,),
            "steps_min": 24,
            "steps_max": 48,
            "pool_size": 64,
            "eval_steps": 192,
            "validate_every": 100,
            "checkpoint_every": 100,
            "log_every": 10,
            "rule": _rule_defaults,
        },
    }
    default_presets = {"cpu": "quick", "cuda": "paper"}
    preset_descriptions = {
        "paper": "the notebook's settings: a 128-pixel target on a 128x128 torus, 4,000 "
        "iterations of batch 4, T ~ U{32,95}, pool 256, Gram loss of VGG16 relu1_1-5_1",
        "quick": "a 48-pixel target on a 48x48 torus, 300 iterations of batch 4, "
        "T ~ U{24,48}: a few minutes on 2 CPU cores",
    }
    _vgg = None
    _last_validation = None

    # ------------------------------------------------------------- the rule
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
        load_texture(self.config.target, self.config.target_size)
        self._style_network("cpu")  # fails here, before the run directory, if unavailable

    def build_model(self, rule, run: RunContext) -> TextureModel:
        if rule is None:
            raise ValueError("task 'texture' needs a rule (--rule NAME)")
        return TextureModel(rule, self.config.update_rate)

    # ------------------------------------------------------------ the loss
    def _style_network(self, device) -> nn.Module:
        if self._vgg is None:
            self._vgg = load_vgg16_features(self.config.vgg_weights or None)
        return self._vgg.to(device)

    def _target_features(self, device) -> list[torch.Tensor]:
        cached = getattr(self, "_target_cache", None)
        if cached is None or cached[0].device != torch.device(device):
            target = self._target.to(device)
            with torch.no_grad():
                cached = style_features(self._style_network(device), target)
            self._target_cache = cached
        return cached

    def style_loss(self, rgb: torch.Tensor, generator=None) -> torch.Tensor:
        """Per-grid style loss ``(B,)`` of RGB ``(B, 3, H, W)`` against the target."""
        features = style_features(self._style_network(rgb.device), rgb.float())
        targets = self._target_features(rgb.device)
        if self.config.loss == "ot":
            return sliced_ot_loss(features, targets, self.config.ot_projections, generator)
        return gram_loss(features, targets)

    # ------------------------------------------------------------- training
    def train_data(self, run: RunContext) -> TextureData:
        self._target = load_texture(self.config.target, self.config.target_size).unsqueeze(0)
        return TextureData(self._target)

    def describe(self, data: TextureData) -> str:
        cfg = self.config
        h, w = data.target.shape[-2:]
        return (
            f"texture {cfg.target} ({w}x{h}) on a {cfg.grid_size}x{cfg.grid_size} grid, "
            f"{cfg.loss} loss, {cfg.iterations} iterations of batch {cfg.batch_size}"
        )

    def make_pool(self, model: TextureModel, generator) -> SeedPool:
        seed = model.seed(1, self.config.grid_size, "cpu")[0]
        return SeedPool(seed, self.config.pool_size, generator)

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

    def objective(self, model: TextureModel, batch: TextureBatch, state: TrainState) -> Losses:
        """``T`` steps; the style loss of the RGB channels plus the overflow loss."""
        cfg = self.config
        cells = model.run(batch.cells, batch.steps, generator=state.streams.steps,
                          gradient=cfg.gradient)  # fmt: skip
        style = self.style_loss(model.rgb(cells), generator=state.streams.data).mean()
        spill = overflow(cells)
        loss = style + cfg.overflow_weight * spill
        return Losses(loss, {"style": style, "overflow": spill}, outputs=cells,
                      info={"steps": batch.steps})  # fmt: skip

    def after_step(self, batch: TextureBatch, losses: Losses, state: TrainState) -> None:
        state.pool.commit(batch.indices, losses.outputs.detach())

    # ----------------------------------------------------------- validation
    @torch.no_grad()
    def _grow(self, model: TextureModel, count: int, size: int, steps: int, device, seed=1):
        generator = make_generator(seed, device)
        return model.run(model.seed(count, size, device), steps, generator=generator), generator

    def validation(self, model: TextureModel, state: TrainState) -> dict[str, float]:
        """Style loss of 2 grids grown from the seed for ``steps_max`` steps."""
        cfg = self.config
        cells, _ = self._grow(model, 2, cfg.grid_size, cfg.steps_max, state.device)
        rgb = model.rgb(cells)
        self._last_validation = rgb
        return {"loss": float(self.style_loss(rgb, make_generator(0, "cpu")).mean())}

    def pictures(self, model: TextureModel, state: TrainState, folder: Path) -> None:
        if self._last_validation is None:
            self.validation(model, state)
        rgb, self._last_validation = self._last_validation, None
        folder.mkdir(parents=True, exist_ok=True)
        save_grid([rgb], folder / f"iter_{state.iteration:07d}.png")

    def playground(self, model):
        """An empty grid of the evaluation size growing the texture (``nca play``)."""
        from nca_texture.play import TexturePlayground

        return TexturePlayground(model, self.config.eval_size)

    # ----------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, model: TextureModel, run: RunContext) -> dict[str, float]:
        """Style loss of grids grown from the seed: of the empty seed (grey), at T =
        ``steps_max`` on the training grid, and at ``eval_steps`` on an ``eval_size`` grid."""
        cfg = self.config
        device = torch.device(run.device)
        model = model.to(device).eval()
        if getattr(self, "_target", None) is None:
            self.train_data(run)
        projections = make_generator(0, "cpu")

        def score(cells):
            return float(self.style_loss(model.rgb(cells), projections).mean())

        seed = model.seed(2, cfg.grid_size, device)
        grown, _ = self._grow(model, 2, cfg.grid_size, cfg.steps_max, device, seed=2024)
        large, _ = self._grow(model, 2, cfg.eval_size, cfg.eval_steps, device, seed=2025)
        result = {
            "loss_seed": score(seed),
            "loss_T": score(grown),
            f"loss_{cfg.eval_steps}_steps_{cfg.eval_size}px": score(large),
            "overflow_T": float(overflow(grown)),
        }
        self._report(result, run)
        if run.is_main and run.report is None:
            pictures = [self._target.to(device), model.rgb(grown[:1]), model.rgb(large[:1])]
            row = torch.cat([_pad_to(pictures, p) for p in pictures])  # one row of 3
            save_grid([row], Path(run.run_dir) / "eval.png", scale=2)
        return result

    def _report(self, result: dict[str, float], run: RunContext) -> None:
        from rich.console import Console
        from rich.table import Table

        cfg = self.config
        console = Console(quiet=not run.is_main, highlight=False)
        table = Table(title=f"texture evaluation ({cfg.target}, {cfg.loss} loss)")
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        for key, value in result.items():
            table.add_row(key, f"{value:.4g}")
        console.print(table)
        if run.is_main:
            path = run.report_path("eval.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            report = {"T": cfg.steps_max, "loss": cfg.loss, **result}
            path.write_text(json.dumps(report, indent=2) + "\n")

    # ------------------------------------------------------------- analysis
    def _analysis_setup(self, model: TextureModel):
        if getattr(self, "_target", None) is None:
            self._target = load_texture(self.config.target, self.config.target_size).unsqueeze(0)
        return next(model.parameters()).device

    def analyze_growth(
        self, model: TextureModel, out: Path, *, seed: int = 0, steps: int = 0, size: int = 0,
        count: int = 2, every: int = 4,
    ) -> dict:  # fmt: skip
        """A GIF of ``count`` grids growing the texture from empty cells (``steps`` 0:
        ``eval_steps``; ``size`` 0: ``eval_size``), and the style loss every ``every`` steps."""
        device = self._analysis_setup(model)
        steps, size = steps or self.config.eval_steps, size or self.config.eval_size
        generator, projections = make_generator(seed, device), make_generator(0, "cpu")
        cells, frames, losses = model.seed(count, size, device), [], []
        with torch.no_grad():
            for t in range(1, steps + 1):
                cells = model.run(cells, 1, generator=generator)
                if t % max(1, every) == 0 or t == steps:
                    rgb = model.rgb(cells)
                    frames.append((t, rgb.clamp(0, 1).cpu()))
                    losses.append(float(self.style_loss(rgb, projections).mean()))
        save_animation([f for _, f in frames], out / "growth.gif",
                       labels=[f"step {t}" for t, _ in frames], scale=2)  # fmt: skip
        save_grid([frames[len(frames) // 4][1], frames[len(frames) // 2][1], frames[-1][1]],
                  out / "frames.png", scale=2)  # fmt: skip
        save_curves({"style loss": losses}, out / "loss.png", xlabel=f"step / {every}",
                    ylabel="loss", title="texture growth")  # fmt: skip
        return {"steps": [t for t, _ in frames], "loss": losses, "final_loss": losses[-1]}

    def analyze_persistence(
        self, model: TextureModel, out: Path, *, seed: int = 0, factor: int = 10, count: int = 2
    ) -> dict:
        """Grow for ``factor`` × the training T (``steps_max``) on the training grid: the
        style loss at T, 2 T, 5 T and the end, with pictures."""
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        device = self._analysis_setup(model)
        period, projections = self.config.steps_max, make_generator(0, "cpu")
        generator = make_generator(seed, device)
        cells = model.seed(count, self.config.grid_size, device)
        marks = sorted({m for m in (1, 2, 5, factor) if m <= factor})
        pictures, losses, done = [], [], 0
        with torch.no_grad():
            for m in marks:
                cells = model.run(cells, (m - done) * period, generator=generator)
                done = m
                rgb = model.rgb(cells)
                pictures.append(rgb)
                losses.append(float(self.style_loss(rgb, projections).mean()))
        save_grid(pictures, out / "frames.png", scale=2)
        return {"T": period, "marks": [m * period for m in marks], "loss_at_marks": losses}
