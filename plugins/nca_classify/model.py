"""The self-classifying automaton: a digit's pixels are its living cells, and each one
holds 10 class logits in its output channels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nca import AliveMasking, CellularAutomaton

#: MNIST's classes.
CLASSES = 10


class ClassifyModel(nn.Module):
    """A CA rule whose cells read one pixel and write 10 class logits.

    Cells whose pixel is at most ``alive_threshold`` are dead: their state stays 0
    (they still show their zeros to living neighbours).

    Args:
        rule: A CA rule with 1 input channel (the pixel) and 10 output channels.
        update_rate: Cell fire rate σ.
        update_noise: Std of the residual noise added to every update before masking.
        alive_threshold: Pixel value above which a cell is alive.
    """

    def __init__(
        self, rule: nn.Module, update_rate: float, update_noise: float, alive_threshold: float
    ) -> None:
        super().__init__()
        self.rule = rule
        self.pixel_channel = rule.layout.slice("input").start
        self.alive_threshold = alive_threshold
        self.automaton = CellularAutomaton(
            rule,
            update_rate=update_rate,
            alive=AliveMasking(self.pixel_channel, alive_threshold, neighbourhood=False),
            update_noise=update_noise,
        )
        self.is_ca = True

    @property
    def name(self) -> str:
        return getattr(self.rule, "rule_name", None) or type(self.rule).__name__

    @property
    def layout(self):
        return self.rule.layout

    def seed(self, images: torch.Tensor) -> torch.Tensor:
        """Grids ``(B, C, H, W)`` of digits ``(B, 1, H, W)``: the pixel as input, every
        other state channel 0 (as in the article)."""
        images = images.to(next(self.rule.parameters()).dtype)
        cells = self.automaton.seed(images)
        cells[:, self.layout.updatable_slice] = 0
        return cells

    def mutate(self, cells: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Swap the digits of live grids for ``images``, keeping each cell's state where
        the new digit is alive and clearing it elsewhere (the article's mutation)."""
        cells = self.automaton.inject(cells, images.to(cells.dtype))
        keep = self.alive(cells).to(cells.dtype)
        start = self.layout.updatable_slice.start
        return torch.cat([cells[:, :start], cells[:, start:] * keep], dim=1)

    def run(self, cells, steps: int, generator=None):
        """``steps`` updates of ``cells``; returns the final grids."""
        return self.automaton(cells, steps, generator=generator).cells

    def logits(self, cells: torch.Tensor) -> torch.Tensor:
        """Per-cell class logits ``(B, 10, H, W)``."""
        return self.layout.image(cells, "output")

    def alive(self, cells: torch.Tensor) -> torch.Tensor:
        """Living cells ``(B, 1, H, W)`` (boolean)."""
        return cells[:, self.pixel_channel : self.pixel_channel + 1] > self.alive_threshold


def one_hot_targets(alive: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(B, 10, H, W)``: the label's one-hot vector on living cells, 0 elsewhere."""
    hot = F.one_hot(labels, CLASSES).to(alive.device, torch.float32)  # (B, 10)
    return hot[:, :, None, None] * alive.float()


def l2_loss(logits: torch.Tensor, alive: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The article's loss per digit ``(B,)``: half the squared error of every cell's
    logits against the one-hot target (zero on dead cells), summed over cells."""
    error = one_hot_targets(alive, labels) - logits.float()
    return (error**2).sum(dim=(1, 2, 3)) / 2


def ce_loss(logits: torch.Tensor, alive: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-cell cross-entropy averaged over each digit's living cells ``(B,)``."""
    b, _, h, w = logits.shape
    per_cell = F.cross_entropy(
        logits.float(), labels.view(b, 1, 1).expand(b, h, w), reduction="none"
    )
    weight = alive[:, 0].float()
    return (per_cell * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2)).clamp_min(1)


class Tally:
    """Counts behind the article's accuracies, accumulated over batches at each step.

    Attributes:
        correct_cells: Living cells whose argmax is the label.
        cells: Living cells.
        majority: Digits whose living cells' majority vote is the label.
        agreement: Digits whose living cells all vote for the same class (the article's
            "total agreement", right or wrong).
        digits: Digits counted.
    """

    def __init__(self, steps: int) -> None:
        self.correct_cells = torch.zeros(steps, dtype=torch.float64)
        self.cells = torch.zeros(steps, dtype=torch.float64)
        self.majority = torch.zeros(steps, dtype=torch.float64)
        self.agreement = torch.zeros(steps, dtype=torch.float64)
        self.digits = torch.zeros(steps, dtype=torch.float64)

    def add(self, step: int, logits: torch.Tensor, alive: torch.Tensor, labels) -> None:
        """Count one batch's grids at ``step`` (0-based)."""
        counts = votes(logits, alive)  # (B, 10)
        labels = labels.to(counts.device)
        living = counts.sum(1)
        self.correct_cells[step] += float(counts.gather(1, labels[:, None]).sum())
        self.cells[step] += float(living.sum())
        self.majority[step] += float((counts.argmax(1) == labels).sum())
        self.agreement[step] += float(((counts.max(1).values == living) & (living > 0)).sum())
        self.digits[step] += len(labels)

    def curves(self) -> dict[str, list[float]]:
        """Per-step percentages: cell accuracy, majority-vote accuracy, total agreement."""
        cells, digits = self.cells.clamp_min(1), self.digits.clamp_min(1)
        return {
            "cell_accuracy": (100 * self.correct_cells / cells).tolist(),
            "majority_accuracy": (100 * self.majority / digits).tolist(),
            "agreement": (100 * self.agreement / digits).tolist(),
        }


def votes(logits: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Each digit's living cells' votes ``(B, 10)``: how many pick each class."""
    picks = F.one_hot(logits.argmax(1), CLASSES)  # (B, H, W, 10)
    return (picks * alive[:, 0, :, :, None]).sum(dim=(1, 2)).float()


#: A colour per class (matplotlib's tab10), for class maps.
PALETTE = torch.tensor(
    [
        [0.122, 0.467, 0.706], [1.000, 0.498, 0.055], [0.173, 0.627, 0.173],
        [0.839, 0.153, 0.157], [0.580, 0.404, 0.741], [0.549, 0.337, 0.294],
        [0.890, 0.467, 0.761], [0.498, 0.498, 0.498], [0.737, 0.741, 0.133],
        [0.090, 0.745, 0.812],
    ]
)  # fmt: skip


def class_map(model: ClassifyModel, cells: torch.Tensor) -> torch.Tensor:
    """RGB ``(B, 3, H, W)``: each living cell in its predicted class's colour, shaded by
    its pixel; dead cells white."""
    pixel = cells[:, model.pixel_channel : model.pixel_channel + 1].float().clamp(0, 1)
    colour = PALETTE.to(cells.device)[model.logits(cells).argmax(1)].permute(0, 3, 1, 2)
    shade = pixel * model.alive(cells)
    return 1 - shade * (1 - colour)
