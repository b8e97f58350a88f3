"""The self-classifying automaton's losses, votes and pictures: a digit's pixels are its
living cells, and each one holds 10 class logits in its output channels (the task's
:class:`nca.GridModel` reads them with ``output``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nca import GridModel

#: MNIST's classes.
CLASSES = 10


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


def class_map(model: GridModel, cells: torch.Tensor) -> torch.Tensor:
    """RGB ``(B, 3, H, W)``: each living cell in its predicted class's colour, shaded by
    its pixel; dead cells white."""
    pixel = model.layout.group(cells, "input").float().clamp(0, 1)
    colour = PALETTE.to(cells.device)[model.output(cells).argmax(1)].permute(0, 3, 1, 2)
    shade = pixel * model.alive(cells)
    return 1 - shade * (1 - colour)
