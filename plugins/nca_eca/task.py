"""The ``eca`` task: a 1-D NCA learns an elementary cellular automaton from random rows
and must reproduce its space-time diagram on rows it never saw."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from nca import (
    GridModel,
    Losses,
    RuleNeeds,
    RunContext,
    Task,
    TrainState,
    Validation,
    make_generator,
    save_curves,
    write_report,
)
from nca_eca.config import PRESET_DESCRIPTIONS, PRESETS, ECAConfig
from nca_eca.rules import random_rows, space_time

#: The seed of the evaluation's rows: a generator no training stream shares (the
#: training rows come from the run's hashed ``data`` stream).
EVAL_ROWS_SEED = 1_000_003


@dataclass
class ECABatch:
    """Rows seeded into grids ``(b, C, W)``, their true space-time diagram
    ``(b, G + 1, W)`` and ``G``."""

    cells: torch.Tensor
    diagram: torch.Tensor
    generations: int


def save_diagrams(predicted: torch.Tensor, true: torch.Tensor, path: Path, scale: int = 3) -> None:
    """One picture per row (:func:`diagram_picture`), each cell ``scale`` pixels wide,
    stacked, to ``path``."""
    from torchvision.utils import save_image

    pictures = [
        diagram_picture(p, t).repeat_interleave(scale, 1).repeat_interleave(scale, 2)
        for p, t in zip(predicted, true, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(pictures, path, nrow=1, padding=2, pad_value=1.0)


def diagram_picture(predicted: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """RGB ``(3, G + 1, 2W + 1)``: the predicted diagram (black cells are 1), a grey
    separator, the true one; wrong cells of the prediction in red."""
    wrong = (predicted != true).float()
    left = (1 - predicted).expand(3, -1, -1).clone()
    left[1:] *= 1 - wrong
    left[0] = torch.maximum(left[0], wrong)
    gap = torch.full((3, true.shape[0], 1), 0.5)
    return torch.cat([left, gap, (1 - true).expand(3, -1, -1)], dim=2)


class ECATask(Task):
    """Learn an elementary cellular automaton (Wolfram's rules) from random rows."""

    name = "eca"
    config_class = ECAConfig
    rule_kinds = frozenset({"ca"})
    cli_options = ("rule_number", "width", "iterations", "batch_size")
    #: row draws and rollout lengths; CA update masks (on the device)
    streams = {"data": "cpu", "steps": "device"}
    best_metric = ("cell_accuracy", "max")
    presets = PRESETS
    default_presets = {"cpu": "quick"}
    preset_descriptions = PRESET_DESCRIPTIONS
    experiments = {"space-time": "analyze_space_time"}

    def rule_needs(self) -> RuleNeeds:
        """Rows of cells: no inputs, one output channel (the state), one cell per cell."""
        return RuleNeeds(input_channels=0, output_channels=1, image_size=(self.config.width,),
                         cell_per_pixel=True, dims=1)  # fmt: skip

    def validate(self) -> None:
        if self.config.gradient == "fixed-point":
            raise ValueError(
                "eca cannot train with gradient=fixed-point: an elementary automaton's rows "
                "keep changing (no equilibrium); use gradient=bptt or checkpoint"
            )

    def build_model(self, rule, run: RunContext) -> GridModel:
        cfg = self.config
        return GridModel(rule, update_rate=cfg.update_rate, gradient=cfg.gradient)

    def playground(self, model: GridModel):
        """A row of ``width`` cells and its space-time diagram (``nca play``)."""
        from nca_eca.play import ECAPlayground

        return ECAPlayground(model, self.config.width, self.config.density)

    # ----------------------------------------------------------------- rows
    def seed_rows(self, model: GridModel, rows: torch.Tensor) -> torch.Tensor:
        """Grids ``(B, C, W)`` whose output channel holds ``rows`` ``(B, W)``."""
        cells = model.seed(rows.shape[0], rows.shape[-1], rows.device)
        cells[:, model.layout.slice("output")] = rows[:, None].to(cells.dtype)
        return cells

    def roll(self, model: GridModel, cells: torch.Tensor, generations: int, generator):
        """The states ``(B, generations, W)`` after each generation, and the last grids."""
        states = []
        for _ in range(generations):
            cells = model.rollout(cells, self.config.steps_per_generation,
                                  generator=generator).cells  # fmt: skip
            states.append(model.output(cells)[:, 0])
        return torch.stack(states, dim=1), cells

    # ------------------------------------------------------------- training
    def train_data(self, run: RunContext) -> None:
        return None  # rows are drawn fresh every iteration

    def describe(self, data) -> str:
        cfg = self.config
        return (
            f"rule {cfg.rule_number} on rows of {cfg.width} cells, {cfg.iterations} "
            f"iterations of batch {cfg.batch_size}, {cfg.generations_min}-"
            f"{cfg.generations_max} generations per rollout"
        )

    def sample_batch(self, data, state: TrainState) -> ECABatch:
        """Random rows and their diagram for ``G ~ U{generations_min, generations_max}``."""
        cfg, generator = self.config, state.streams.data
        generations = int(torch.randint(cfg.generations_min, cfg.generations_max + 1, (1,),
                                        generator=generator))  # fmt: skip
        rows = random_rows(cfg.batch_size, cfg.width, generator, cfg.density)
        diagram = space_time(rows, cfg.rule_number, generations).to(state.device)
        return ECABatch(self.seed_rows(state.model, diagram[:, 0]), diagram, generations)

    def objective(self, model: GridModel, batch: ECABatch, state: TrainState) -> Losses:
        """The squared error of the state after every generation: the whole diagram."""
        states, _ = self.roll(model, batch.cells, batch.generations, state.streams.steps)
        truth = batch.diagram[:, 1:]
        loss = (states.float() - truth).square().mean()
        with torch.no_grad():
            accuracy = float(((states > 0.5).float() == truth).float().mean()) * 100
        return Losses(loss, info={"generations": batch.generations, "cell_accuracy": accuracy})

    # ----------------------------------------------------------- evaluation
    @torch.no_grad()
    def _score(self, model: GridModel, count: int, generations: int, seed: int, device):
        """Unseen rows rolled out ``generations`` times: the per-generation cell accuracy
        ``(generations,)``, each row's leading exact generations ``(count,)``, and the
        predicted and true diagrams ``(count, generations + 1, W)``."""
        cfg = self.config
        rows = random_rows(count, cfg.width, make_generator(seed), cfg.density)
        truth = space_time(rows, cfg.rule_number, generations).to(device)
        states, _ = self.roll(model, self.seed_rows(model, truth[:, 0]), generations,
                              make_generator(seed + 1, device))  # fmt: skip
        predicted = torch.cat([truth[:, :1], (states > 0.5).float()], dim=1)
        right = predicted[:, 1:] == truth[:, 1:]  # (count, generations, W)
        accuracy = right.float().mean(dim=(0, 2)) * 100
        exact = right.all(dim=2).float().cumprod(dim=1).sum(dim=1)
        return accuracy, exact, predicted, truth

    def validation(self, model: GridModel, state: TrainState) -> Validation:
        cfg = self.config
        accuracy, exact, predicted, truth = self._score(
            model, cfg.validation_rows, 2 * cfg.generations_max, 1, state.device
        )
        metrics = {"cell_accuracy": float(accuracy.mean()),
                   "exact_generations": float(exact.mean())}  # fmt: skip
        return Validation(metrics, samples=(predicted[:4].cpu(), truth[:4].cpu()))

    def pictures(self, model, state: TrainState, folder: Path, samples) -> None:
        """Predicted and true space-time diagrams of 4 validation rows."""
        save_diagrams(*samples, folder / f"iter_{state.iteration:07d}.png")

    @torch.no_grad()
    def evaluate(self, model: GridModel, run: RunContext) -> dict[str, float]:
        """On ``eval_rows`` unseen rows over ``k = eval_generations`` generations: the cell
        accuracy (mean over the generations and at the last), the leading generations a
        row stays exact, and the share of rows exact through all ``k``."""
        cfg, device = self.config, torch.device(run.device)
        accuracy, exact, predicted, truth = self._score(
            model, cfg.eval_rows, cfg.eval_generations, EVAL_ROWS_SEED, device
        )
        k = cfg.eval_generations
        result = {
            "cell_accuracy": float(accuracy.mean()),
            f"cell_accuracy_at_{k}": float(accuracy[-1]),
            "exact_generations": float(exact.mean()),
            "exact_rows": float((exact == k).float().mean()) * 100,
        }
        title = f"eca evaluation (rule {cfg.rule_number}, {cfg.eval_rows} unseen rows, k = {k})"
        details = {"rule": cfg.rule_number, "width": cfg.width, "rows": cfg.eval_rows, "k": k}
        write_report(run, title, result, details=details, extra={"accuracy": accuracy.tolist()},
                     number_format=".2f")  # fmt: skip
        if run.is_main and run.report is None:
            save_diagrams(predicted[:4].cpu(), truth[:4].cpu(), Path(run.run_dir) / "eval.png")
        return result

    def analyze_space_time(
        self, model: GridModel, out: Path, *, seed: int = 0, generations: int = 0,
        rows: int = 64,
    ) -> dict:  # fmt: skip
        """Diagrams of 4 unseen rows over ``generations`` (0: ``eval_generations``) and the
        cell accuracy per generation over ``rows`` rows."""
        device = next(model.parameters()).device
        generations = generations or self.config.eval_generations
        accuracy, exact, predicted, truth = self._score(
            model, rows, generations, EVAL_ROWS_SEED + 7919 * (seed + 1), device
        )
        save_diagrams(predicted[:4].cpu(), truth[:4].cpu(), out / "space_time.png")
        title = f"rule {self.config.rule_number}"
        save_curves({"cell accuracy (%)": accuracy.tolist()}, out / "accuracy.png",
                    xlabel="generation", ylabel="%", title=title)  # fmt: skip
        return {"accuracy": accuracy.tolist(), "exact_generations": float(exact.mean())}
