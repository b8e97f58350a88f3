"""The ``classify`` task: every living cell of a digit learns to name it (Randazzo et al.,
*Self-classifying MNIST Digits*, Distill 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from nca import (
    AliveMasking,
    GridModel,
    ImageSet,
    Losses,
    RuleNeeds,
    RunContext,
    SlotPool,
    Task,
    TrainState,
    Validation,
    dataset_source,
    fixed_point_metrics,
    fixed_point_penalty,
    make_generator,
)
from nca_classify import analysis
from nca_classify.config import PRESET_DESCRIPTIONS, PRESETS, ClassifyConfig
from nca_classify.data import check_classes, draw, load_digits
from nca_classify.model import CLASSES, Tally, ce_loss, class_map, l2_loss


@dataclass
class ClassifyData:
    """Training digits and the evaluation split's first digits (for validation)."""

    train: ImageSet
    validation: ImageSet


@dataclass
class ClassifyBatch:
    """One iteration's grids ``(b, C, H, W)``, their labels ``(b,)`` and pool entries."""

    cells: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor | None


class ClassifyTask(Task):
    """Self-classifying digits: living cells agree on the digit's class (per-cell logits)."""

    name = "classify"
    config_class = ClassifyConfig
    rule_kinds = frozenset({"ca"})
    cli_options = ("dataset", "data_root", "experiment", "iterations", "batch_size", "loss")
    #: digits, pool replacements and mutations; CA update masks and noise (on the device)
    streams = {"data": "cpu", "eval": "cpu", "steps": "device"}
    experiments = {
        "class-map": "analyze_class_map",
        "mutation": "analyze_mutation",
        "persistence": "analyze_persistence",
    }
    presets = PRESETS
    default_presets = {"cpu": "quick"}
    preset_descriptions = PRESET_DESCRIPTIONS

    def rule_needs(self) -> RuleNeeds:
        """One pixel in, 10 logits out, one cell per pixel, on the digits' grid."""
        size = (self.config.image_size, self.config.image_size)
        return RuleNeeds(input_channels=1, output_channels=CLASSES, image_size=size,
                         cell_per_pixel=True)  # fmt: skip

    def validate(self) -> None:
        cfg = self.config
        for name in {cfg.dataset, cfg.eval_dataset or cfg.dataset}:
            source = dataset_source(name)
            if source.channels() != 1:
                raise ValueError(
                    f"classify needs 1-channel digits; {name} has {source.channels()} channels"
                )
            source.check(root=cfg.data_root, download=cfg.download, image_size=cfg.image_size)
            check_classes(name, source.class_count(), cfg.digits)
        eval_source = dataset_source(cfg.eval_dataset or cfg.dataset)
        if cfg.eval_split not in eval_source.splits:
            raise ValueError(
                f"eval_split={cfg.eval_split} but {cfg.eval_dataset or cfg.dataset} has no such "
                f"split; valid: {', '.join(eval_source.splits)}"
            )

    def build_model(self, rule, run: RunContext) -> GridModel:
        """The rule on the digits' grids: a cell lives where its pixel is above
        ``alive_threshold``; residual noise on every update (the article's L2 + noise)."""
        cfg = self.config
        pixel = rule.layout.slice("input").start
        return GridModel(
            rule,
            update_rate=cfg.update_rate,
            alive=AliveMasking(pixel, cfg.alive_threshold, neighbourhood=False),
            update_noise=cfg.update_noise,
            gradient=cfg.gradient,
            fixed_point=cfg.fixed_point,
        )

    # ------------------------------------------------------------------ data
    @cached_property
    def evaluation_split(self) -> ImageSet:
        """The digits of ``eval_split`` of ``eval_dataset`` (validation and evaluation)."""
        return load_digits(self.config, self.config.eval_split, self.config.eval_dataset)

    def train_data(self, run: RunContext) -> ClassifyData:
        return ClassifyData(load_digits(self.config, "train"), self.evaluation_split)

    def describe(self, data: ClassifyData) -> str:
        cfg = self.config
        return (
            f"{len(data.train)} training digits ({cfg.dataset}), {cfg.experiment} "
            f"experiment, {cfg.iterations} iterations of batch {cfg.batch_size}, T = {cfg.steps}"
        )

    # ------------------------------------------------------------- training
    def make_pool(self, model: GridModel, data: ClassifyData, generator) -> SlotPool | None:
        """The notebook's pool: ``pool_size`` random training digits, freshly seeded."""
        if self.config.experiment == "naive":
            return None
        images, labels = draw(data.train, self.config.pool_size, generator, "cpu")
        with torch.no_grad():
            grids = model.seed_with(images.to(next(model.parameters()).device)).cpu()
        return SlotPool.from_grids(grids, generator, labels)

    def sample_batch(self, data: ClassifyData, state: TrainState) -> ClassifyBatch:
        """Fresh digits (naive); or pool entries, a quarter replaced by fresh digits and
        (mutating) the last quarter given new digits under their old states."""
        cfg, model, device = self.config, state.model, state.device
        generator = state.streams.data
        if state.pool is None:
            images, labels = draw(data.train, cfg.batch_size, generator, device)
            return ClassifyBatch(model.seed_with(images), labels, None)
        indices, cells = state.pool.sample(cfg.batch_size)
        cells, labels = cells.to(device), state.pool.labels[indices].to(device)
        quarter = cfg.batch_size // 4
        images, new_labels = draw(data.train, quarter, generator, device)
        cells[:quarter], labels[:quarter] = model.seed_with(images), new_labels
        if cfg.experiment == "mutating":
            images, new_labels = draw(data.train, quarter, generator, device)
            cells[-quarter:] = model.inject(cells[-quarter:], images)
            labels[-quarter:] = new_labels
        return ClassifyBatch(cells, labels, indices)

    def _loss(self, model: GridModel, cells, labels) -> torch.Tensor:
        loss = l2_loss if self.config.loss == "l2" else ce_loss
        return loss(model.output(cells), model.alive(cells), labels)

    def objective(self, model: GridModel, batch: ClassifyBatch, state: TrainState) -> Losses:
        """``T`` steps, then the per-cell loss of every living cell's logits."""
        result = model.rollout(batch.cells, self.config.steps, generator=state.streams.steps)
        cells = result.cells
        loss = self._loss(model, cells, batch.labels).mean()
        loss = loss + fixed_point_penalty(result.fixed_point)  # 0 unless the regulariser is on
        with torch.no_grad():
            tally = Tally(1)
            tally.add(0, model.output(cells), model.alive(cells), batch.labels)
            accuracy = tally.curves()["cell_accuracy"][0]
        info = {"cell_accuracy": accuracy, **fixed_point_metrics(result.fixed_point)}
        return Losses(loss, {}, outputs=cells, info=info)

    def after_step(self, batch: ClassifyBatch, losses: Losses, state: TrainState) -> None:
        if state.pool is not None:
            state.pool.commit(batch.indices, losses.outputs.detach(), batch.labels)

    # ----------------------------------------------------------- validation
    def validation(self, model: GridModel, state: TrainState) -> Validation:
        """Loss and accuracies of the first ``validation_size`` evaluation digits at T;
        the first 16 grids are the pictures' samples."""
        cfg, split = self.config, self.evaluation_split
        split = split.subset(cfg.validation_size, "validation_size")
        index = torch.arange(len(split))
        images, labels = split.batch(index, state.device), split.labels[index].to(state.device)
        cells = model.run(model.seed_with(images), cfg.steps, make_generator(1, state.device))
        tally = Tally(1)
        tally.add(0, model.output(cells), model.alive(cells), labels)
        curves = tally.curves()
        metrics = {
            "loss": float(self._loss(model, cells, labels).mean()),
            "cell_accuracy": curves["cell_accuracy"][0],
            "majority_accuracy": curves["majority_accuracy"][0],
        }
        return Validation(metrics, samples=cells[:16])

    def pictures(self, model: GridModel, state: TrainState, folder: Path, samples) -> None:
        """Class maps of 16 validation digits after T steps, upscaled so that a digit
        shows at 64 pixels or more."""
        from torchvision.utils import save_image

        from nca import readable_scale

        maps = class_map(model, samples)
        scale = readable_scale(maps)
        maps = maps.repeat_interleave(scale, -2).repeat_interleave(scale, -1)
        folder.mkdir(parents=True, exist_ok=True)
        save_image(maps, folder / f"iter_{state.iteration:07d}.png", nrow=8, padding=2,
                   pad_value=1.0)  # fmt: skip

    def playground(self, model: GridModel):
        """A live digit from the first 16 evaluation digits (``nca play``)."""
        from nca_classify.play import ClassifyPlayground

        split = self.evaluation_split
        index = torch.arange(min(16, len(split)))
        device = next(model.parameters()).device
        return ClassifyPlayground(model, split.batch(index, device), split.labels[index])

    # ----------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, model: GridModel, run: RunContext) -> dict[str, float]:
        """Accuracy over ``eval_steps`` steps from the seed, then a mutation (every digit
        swapped for another of the split), then ``eval_steps`` more (the article's table
        and Fig. "accuracy over steps")."""
        return analysis.evaluate(model, self.evaluation_split, self.config, run)

    # ------------------------------------------------------------- analysis
    def analyze_class_map(
        self, model: GridModel, out: Path, *, seed: int = 0, steps: int = 0, count: int = 8,
        every: int = 0,
    ) -> dict:  # fmt: skip
        """A GIF of ``count`` test digits' class maps over ``steps`` (0: 10 T) steps, a
        frame every ``every`` steps (0: about 100 frames in all)."""
        return analysis.class_map_rollout(
            model, self.evaluation_split, out, steps=steps or 10 * self.config.steps,
            count=count, seed=seed, mutate_at=0, every=every,
        )  # fmt: skip

    def analyze_mutation(
        self, model: GridModel, out: Path, *, seed: int = 0, steps: int = 0, count: int = 8,
        every: int = 0,
    ) -> dict:  # fmt: skip
        """Class maps and accuracy over ``2 × steps`` steps, the digits swapped for others
        halfway (the article's mutation experiment); ``steps`` 0: ``eval_steps``, so the
        mutation comes after the same step as in the evaluation. ``every``: as in
        ``class-map``."""
        steps = steps or self.config.eval_steps
        return analysis.class_map_rollout(
            model, self.evaluation_split, out, steps=2 * steps, count=count, seed=seed,
            mutate_at=steps + 1, every=every,
        )  # fmt: skip

    def analyze_persistence(
        self, model: GridModel, out: Path, *, seed: int = 0, factor: int = 10,
        count: int = 256,
    ) -> dict:  # fmt: skip
        """Accuracy and agreement of ``count`` test digits to ``factor`` × the training T."""
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        device, split = next(model.parameters()).device, self.evaluation_split
        steps = factor * self.config.steps
        tally = analysis.rollout_tally(
            model,
            split,
            len(split.subset(count, "--count")),
            steps,
            256,
            device,
            seed=seed,
            mutate=False,
        )
        return analysis.persistence_plot(tally.curves(), self.config.steps, out)
