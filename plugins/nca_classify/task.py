"""The ``classify`` task: every living cell of a digit learns to name it (Randazzo et al.,
*Self-classifying MNIST Digits*, Distill 2020)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from nca import (
    ImageSet,
    Losses,
    RuleNeeds,
    RunContext,
    SeedPool,
    Task,
    TrainState,
    dataset_source,
    fixed_point_metrics,
    fixed_point_penalty,
    load_images,
    make_generator,
)
from nca_classify import analysis
from nca_classify.config import ClassifyConfig
from nca_classify.model import CLASSES, ClassifyModel, Tally, ce_loss, class_map, l2_loss


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
    presets = {
        # the article's settings are the defaults; the notebook's model: a learned 3x3
        # perception (80), an 80-wide MLP, 9 hidden channels
        "paper": {
            "dataset": "mnist",
            "rule": {
                "convca": {
                    "hidden_channels": 9,
                    "perception": "learned",
                    "perception_channels": 80,
                    "mlp_channels": 80,
                }
            },
        },
        # CPU: three digits (chance 33 %) of the embedded sample; the ten-digit problem
        # sits at chance for the first few hundred iterations (docs/tasks/classify.md)
        "quick": {
            "digits": (0, 1, 2),
            "iterations": 600,
            "lr": 3e-3,
            "lr_milestones": (450,),
            "validate_every": 150,
            "checkpoint_every": 150,
            "log_every": 25,
            "eval_count": 300,
            "eval_steps": 100,
            "validation_size": 128,
            "rule": {
                "convca": {
                    "hidden_channels": 9,
                    "perception": "learned",
                    "perception_channels": 40,
                    "mlp_channels": 40,
                }
            },
        },
    }
    default_presets = {"cpu": "quick"}
    preset_descriptions = {
        "paper": "the article's settings on MNIST: 100,000 iterations of batch 16, T = 20, "
        "the mutating pool of 160, L2 + residual noise, evaluated on the 10,000 test digits",
        "quick": "digits 0, 1 and 2 of the embedded sample, 600 iterations of batch 16, a "
        "40-wide convca: about 4 minutes on 2 CPU cores",
    }
    _last_validation = None

    # ------------------------------------------------------------- the rule
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
        eval_source = dataset_source(cfg.eval_dataset or cfg.dataset)
        if cfg.eval_split not in eval_source.splits:
            raise ValueError(
                f"eval_split={cfg.eval_split} but {cfg.eval_dataset or cfg.dataset} has no such "
                f"split; valid: {', '.join(eval_source.splits)}"
            )

    def build_model(self, rule, run: RunContext) -> ClassifyModel:
        if rule is None:
            raise ValueError("task 'classify' needs a rule (--rule NAME)")
        cfg = self.config
        return ClassifyModel(rule, cfg.update_rate, cfg.update_noise, cfg.alive_threshold)

    # ------------------------------------------------------------- training
    def _split(self, split: str, dataset: str | None = None) -> ImageSet:
        cfg = self.config
        images = load_images(
            dataset or cfg.dataset,
            split,
            root=cfg.data_root,
            download=cfg.download,
            image_size=cfg.image_size,
        )
        if cfg.digits:  # a subset of the classes
            keep = torch.isin(images.labels, torch.tensor(cfg.digits))
            images = dataclasses.replace(images, images=images.images[keep],
                                         labels=images.labels[keep])  # fmt: skip
        return images

    def train_data(self, run: RunContext) -> ClassifyData:
        cfg = self.config
        train = self._split("train")
        evaluation = self._split(cfg.eval_split, cfg.eval_dataset)
        self._train, self._evaluation_split = train, evaluation
        return ClassifyData(train, evaluation)

    def describe(self, data: ClassifyData) -> str:
        cfg = self.config
        return (
            f"{len(data.train)} training digits ({cfg.dataset}), {cfg.experiment} "
            f"experiment, {cfg.iterations} iterations of batch {cfg.batch_size}, T = {cfg.steps}"
        )

    def _draw(self, count: int, generator, device) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` random training digits ``(count, 1, H, W)`` and labels ``(count,)``."""
        index = torch.randint(len(self._train), (count,), generator=generator)
        return self._train.batch(index, device), self._train.labels[index].to(device)

    def make_pool(self, model: ClassifyModel, generator) -> SeedPool | None:
        """The notebook's pool: ``pool_size`` random training digits, freshly seeded."""
        if self.config.experiment == "naive":
            return None
        images, labels = self._draw(self.config.pool_size, generator, "cpu")
        with torch.no_grad():
            grids = model.seed(images.to(next(model.parameters()).device)).cpu()
        return SeedPool.from_grids(grids, generator, labels)

    def sample_batch(self, data: ClassifyData, state: TrainState) -> ClassifyBatch:
        """Fresh digits (naive); or pool entries, a quarter replaced by fresh digits and
        (mutating) the last quarter given new digits under their old states."""
        cfg, model, device = self.config, state.model, state.device
        generator = state.streams.data
        if state.pool is None:
            images, labels = self._draw(cfg.batch_size, generator, device)
            return ClassifyBatch(model.seed(images), labels, None)
        indices, cells = state.pool.sample(cfg.batch_size)
        cells, labels = cells.to(device), state.pool.labels[indices].to(device)
        quarter = cfg.batch_size // 4
        images, new_labels = self._draw(quarter, generator, device)
        cells[:quarter], labels[:quarter] = model.seed(images), new_labels
        if cfg.experiment == "mutating":
            images, new_labels = self._draw(quarter, generator, device)
            cells[-quarter:] = model.mutate(cells[-quarter:], images)
            labels[-quarter:] = new_labels
        return ClassifyBatch(cells, labels, indices)

    def _loss(self, model: ClassifyModel, cells, labels) -> torch.Tensor:
        loss = l2_loss if self.config.loss == "l2" else ce_loss
        return loss(model.logits(cells), model.alive(cells), labels)

    def objective(self, model: ClassifyModel, batch: ClassifyBatch, state: TrainState) -> Losses:
        """``T`` steps, then the per-cell loss of every living cell's logits."""
        result = model.automaton(
            batch.cells,
            self.config.steps,
            generator=state.streams.steps,
            gradient=self.config.gradient,
            fixed_point=self.config.fixed_point,
        )
        cells = result.cells
        loss = self._loss(model, cells, batch.labels).mean()
        loss = loss + fixed_point_penalty(result.fixed_point)  # 0 unless the regulariser is on
        with torch.no_grad():
            tally = Tally(1)
            tally.add(0, model.logits(cells), model.alive(cells), batch.labels)
            accuracy = tally.curves()["cell_accuracy"][0]
        info = {"cell_accuracy": accuracy, **fixed_point_metrics(result.fixed_point)}
        return Losses(loss, {}, outputs=cells, info=info)

    def after_step(self, batch: ClassifyBatch, losses: Losses, state: TrainState) -> None:
        if state.pool is not None:
            state.pool.commit(batch.indices, losses.outputs.detach(), batch.labels)

    # ----------------------------------------------------------- validation
    def validation(self, model: ClassifyModel, state: TrainState) -> dict[str, float]:
        """Loss and accuracies of the first ``validation_size`` evaluation digits at T."""
        cfg = self.config
        split = self._validation_split()
        count = min(cfg.validation_size, len(split))
        index = torch.arange(count)
        images, labels = split.batch(index, state.device), split.labels[index].to(state.device)
        generator = make_generator(1, state.device)
        cells = model.run(model.seed(images), cfg.steps, generator=generator)
        tally = Tally(1)
        tally.add(0, model.logits(cells), model.alive(cells), labels)
        self._last_validation = cells[:16]
        curves = tally.curves()
        return {
            "loss": float(self._loss(model, cells, labels).mean()),
            "cell_accuracy": curves["cell_accuracy"][0],
            "majority_accuracy": curves["majority_accuracy"][0],
        }

    def _validation_split(self) -> ImageSet:
        if getattr(self, "_evaluation_split", None) is None:
            self._evaluation_split = self._split(self.config.eval_split, self.config.eval_dataset)
        return self._evaluation_split

    def pictures(self, model: ClassifyModel, state: TrainState, folder: Path) -> None:
        """Class maps of 16 validation digits after T steps."""
        from torchvision.utils import save_image

        if self._last_validation is None:
            self.validation(model, state)
        cells, self._last_validation = self._last_validation, None
        folder.mkdir(parents=True, exist_ok=True)
        save_image(class_map(model, cells), folder / f"iter_{state.iteration:07d}.png",
                   nrow=8, padding=1, pad_value=1.0)  # fmt: skip

    def playground(self, model):
        """A live digit from the first 16 evaluation digits (``nca play``)."""
        from nca_classify.play import ClassifyPlayground

        split = self._split(self.config.eval_split, self.config.eval_dataset)
        count = min(16, len(split))
        index = torch.arange(count)
        device = next(model.parameters()).device
        return ClassifyPlayground(model, split.batch(index, device), split.labels[index])

    # ----------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, model: ClassifyModel, run: RunContext) -> dict[str, float]:
        """Accuracy over ``eval_steps`` steps from the seed, then a mutation (every digit
        swapped for another of the split), then ``eval_steps`` more (the article's table
        and Fig. "accuracy over steps")."""
        cfg = self.config
        device = torch.device(run.device)
        model = model.to(device).eval()
        split = self._validation_split()
        count = len(split) if cfg.eval_count == 0 else min(cfg.eval_count, len(split))
        tally = analysis.rollout_tally(
            model, split, count, cfg.eval_steps, cfg.eval_batch_size, device, seed=2024
        )
        curves = tally.curves()
        result = analysis.summary(curves, cfg.steps, cfg.eval_steps)
        self._report(result, curves, run, count)
        return result

    def _report(self, result: dict, curves: dict, run: RunContext, count: int) -> None:
        from rich.console import Console
        from rich.table import Table

        cfg = self.config
        dataset = cfg.eval_dataset or cfg.dataset
        console = Console(quiet=not run.is_main, highlight=False)
        table = Table(
            title=f"classify evaluation ({count} {cfg.eval_split} digits of {dataset}; "
            f"mutation after step {cfg.eval_steps})"
        )
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        for key, value in result.items():
            table.add_row(key, f"{value:.2f}")
        console.print(table)
        if run.is_main:
            path = run.report_path("eval.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            report = {
                "dataset": dataset,
                "split": cfg.eval_split,
                "digits": count,
                "T": cfg.steps,
                "mutation_after": cfg.eval_steps,
                **result,
                "curves": curves,
            }
            path.write_text(json.dumps(report, indent=1) + "\n")

    # ------------------------------------------------------------- analysis
    def analyze_class_map(
        self, model: ClassifyModel, out: Path, *, seed: int = 0, steps: int = 0, count: int = 8
    ) -> dict:
        """A GIF of ``count`` test digits' class maps over ``steps`` (0: 10 T) steps."""
        return analysis.class_map_rollout(
            model, self._validation_split(), out, steps=steps or 10 * self.config.steps,
            count=count, seed=seed, mutate_at=0,
        )  # fmt: skip

    def analyze_mutation(
        self, model: ClassifyModel, out: Path, *, seed: int = 0, steps: int = 0, count: int = 8
    ) -> dict:
        """Class maps and accuracy over ``2 × steps`` (0: 10 T) steps, the digits swapped
        for others halfway (the article's mutation experiment)."""
        steps = steps or 10 * self.config.steps
        return analysis.class_map_rollout(
            model, self._validation_split(), out, steps=2 * steps, count=count, seed=seed,
            mutate_at=steps + 1,
        )  # fmt: skip

    def analyze_persistence(
        self, model: ClassifyModel, out: Path, *, seed: int = 0, factor: int = 10,
        count: int = 256,
    ) -> dict:  # fmt: skip
        """Accuracy and agreement of ``count`` test digits to ``factor`` × the training T."""
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        device = next(model.parameters()).device
        split = self._validation_split()
        steps = factor * self.config.steps
        tally = analysis.rollout_tally(
            model, split, min(count, len(split)), steps, 256, device, seed=seed, mutate=False
        )
        return analysis.persistence_plot(tally.curves(), self.config.steps, out)
