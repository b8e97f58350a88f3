"""NCALab's self-classifying MNIST at matched width (in the NCALab virtual environment).

NCALab's ``ClassificationNCAModel`` (``pixel_wise_loss=True``, as its
``tasks/selfclass_mnist``: 1 image channel, 9 hidden channels, 10 class channels last)
trained by its ``BasicNCATrainer.train_iteration`` (forward for ``T`` steps, the model's
loss, backward, optimiser and scheduler step). NCALab has no full learned convolution,
so it runs its own architecture at the article's width, from its own initialisation
(PyTorch's defaults after ``torch.manual_seed(seed)``, the last layer zero), not the
setup's weights: the cell and 3 learned depthwise 3x3 filters (no bias, no ReLU) give
20 x 4 = 80 perception features, then an 80-wide MLP whose last layer has no bias.

Matched to the article (see README.md): the loss is the article's L2 on the class
channels of living cells (a subclass's ``loss``; NCALab's is per-pixel cross-entropy); a
cell lives where its own pixel exceeds 0.1 (``_alive`` overridden and alive masking on;
NCALab's looks at the 3x3 max of channel 3); residual noise N(0, 0.02) is added to the
network's output, before NCALab's fire mask (a module appended to ``network``; NCALab has
none); the filters pad with zeros (NCALab's classification default is ``reflect``); the
pool is the article's mutating one, kept here (160 digits, sampled without replacement, a
quarter fresh digits, a quarter given new digits under their old states; NCALab's example
has no pool); per-parameter gradient normalisation happens in the optimiser's ``step``;
Adam 1e-3 with betas (0.9, 0.999), no decay, no batch repetition; ``T`` is the setup's
(its example draws T from [40, 60]). Not matched: NCALab's masking multiplies every
channel, so a dead cell's faint pixel (0 < pixel <= 0.1) is cleared too (the article
keeps the digit as it is).

Run: python benchmarks/peers/ncalab_classify.py --setup SETUP.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
import torch.nn.functional as F
from _common import (
    CLASSES,
    CLASSIFY_HIDDEN,
    child_arguments,
    digit_images,
    load_setup,
    ncalab_classify_order,
    report,
    schedule,
    train,
)
from ncalab import BasicNCATrainer, ClassificationNCAModel
from ncalab_grow import NormalizedAdam, ncalab_version

#: Learned depthwise filters: with the identity, 20 x (3 + 1) = 80 perception features,
#: the article's width.
FILTERS = 3
MLP = 80


class ResidualNoise(torch.nn.Module):
    """Adds N(0, ``std``) to the network's output ``(B, 20, H, W)``: the update, which
    NCALab then multiplies by its fire mask (the article's residual noise)."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, update: torch.Tensor) -> torch.Tensor:
        if not self.std:
            return update
        return update + self.std * torch.randn_like(update)


class ArticleClassificationNCA(ClassificationNCAModel):
    """NCALab's classification model with the article's alive rule and L2 loss."""

    alive_threshold = 0.1

    def _alive(self, x: torch.Tensor) -> torch.Tensor:
        """Living cells ``(B, H, W)`` of ``x (B, 20, H, W)``: the pixel (channel 0) above
        the threshold. NCALab applies it after each update; the pixel never changes, so
        that is also the mask before the update."""
        return x[:, 0] > self.alive_threshold

    def loss(self, image: torch.Tensor, label: torch.Tensor) -> dict[str, torch.Tensor]:
        """The article's L2 of ``image (B, 20, H, W)`` against ``label (B,)``: per digit
        half the squared error of the class channels (the last 10) against the one-hot
        label on living cells, summed over cells; the batch mean."""
        alive = (image[:, :1] > self.alive_threshold).float()
        target = F.one_hot(label, CLASSES).float()[:, :, None, None] * alive
        loss = ((image[:, -CLASSES:] - target) ** 2).sum(dim=(1, 2, 3)).mean() / 2
        return {"total": loss, "classification": loss}


def build_model(fire_rate: float, threshold: float, noise: float) -> ArticleClassificationNCA:
    """The model on the CPU, its network ending in the residual noise."""
    nca = ArticleClassificationNCA(
        torch.device("cpu"),
        num_image_channels=1,
        num_hidden_channels=CLASSIFY_HIDDEN,
        num_classes=CLASSES,
        fire_rate=fire_rate,
        use_alive_mask=True,
        pixel_wise_loss=True,
        filter_padding="zeros",
        num_learned_filters=FILTERS,
        hidden_size=MLP,
    )
    nca.alive_threshold = threshold
    nca.network.append(ResidualNoise(noise))
    return nca


def seed_grids(images: torch.Tensor) -> torch.Tensor:
    """Fresh grids ``(n, 20, H, W)`` of digits ``(n, H, W)``: the pixel first, zeros."""
    cells = images.new_zeros(len(images), 1 + CLASSIFY_HIDDEN + CLASSES, *images.shape[1:])
    cells[:, 0] = images
    return cells


class MutatingPool:
    """The article's pool of digits (NCALab has none): ``size`` random training digits,
    seeded; each batch ``batch`` distinct entries, the first quarter replaced by fresh
    digits, the last quarter given new digits under their states (cells the new digit
    leaves dead lose their state)."""

    def __init__(self, images, labels, size: int, threshold: float, generator) -> None:
        self.images, self.labels, self.threshold = images, labels, threshold
        self.generator = generator
        drawn = self.draw(size)
        self.cells, self.cell_labels = seed_grids(images[drawn]), labels[drawn].clone()

    def draw(self, count: int) -> torch.Tensor:
        return torch.randint(len(self.images), (count,), generator=self.generator)

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(indices ``(b,)``, grids ``(b, 20, H, W)``, labels ``(b,)``)."""
        idx = torch.randperm(len(self.cells), generator=self.generator)[:batch]
        cells, labels = self.cells[idx].clone(), self.cell_labels[idx].clone()
        quarter = batch // 4
        drawn = self.draw(quarter)
        cells[:quarter], labels[:quarter] = seed_grids(self.images[drawn]), self.labels[drawn]
        drawn = self.draw(quarter)
        new = self.images[drawn]
        cells[-quarter:, 1:] *= (new > self.threshold)[:, None].float()
        cells[-quarter:, 0], labels[-quarter:] = new, self.labels[drawn]
        return idx, cells, labels

    def commit(self, idx, cells, labels) -> None:
        self.cells[idx], self.cell_labels[idx] = cells.detach(), labels


def run(args, setup: dict) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(setup["seed"])
    np.random.seed(setup["seed"])
    threshold = setup["alive_threshold"]
    nca = build_model(setup["fire_rate"], threshold, setup["update_noise"])
    images = torch.from_numpy(digit_images(setup))
    labels = torch.from_numpy(setup["labels"]).long()
    generator = torch.Generator().manual_seed(setup["seed"])
    pool = MutatingPool(images, labels, setup["pool_size"], threshold, generator)
    trainer = BasicNCATrainer(
        nca,
        None,
        steps_range=(1, 2),  # unused: train_iteration takes the setup's T
        lr=setup["lr"],
        lr_gamma=1.0,
        adam_betas=(0.9, 0.999),
        batch_repeat=1,
        optimizer_method="adam",
    )
    optimizer = NormalizedAdam(nca.parameters(), lr=setup["lr"], betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 1.0)

    def step(i: int, steps: int) -> float:
        idx, cells, ys = pool.sample(setup["batch"])
        prediction, losses = trainer.train_iteration(
            cells, ys, steps, optimizer, scheduler, i, None
        )
        pool.commit(idx, prediction.output_image, ys)
        return losses["total"].item()

    timing = train(step, schedule(setup, args), args.warmup)
    versions = {"ncalab": ncalab_version(), "torch": torch.__version__}
    report("ncalab", versions, setup, args, timing)


def check_step(args) -> None:
    """One step at fire rate 1, without noise, of IN.npz's ``state (B, 20, H, W)`` in the
    toolkit's layout, with NCALab weights ``filters (3, 20, 1, 3, 3)``, ``w1 (80, 80)``
    (``relu(p @ w1 + b1) @ w2``, ``p``'s feature ``20 k + c``: the cell, then each
    filter's response), ``b1 (80,)``, ``w2 (80, 20)`` (outputs in NCALab's order) and
    ``alive_threshold``; writes ``ncalab``, the state after the step in the toolkit's
    layout, and ``loss``, its L2 against ``labels (B,)``."""
    with np.load(args.check_step[0]) as data:
        case = {k: data[k] for k in data.files}
    nca = build_model(1.0, float(case["alive_threshold"]), 0.0)

    def load(param, array):
        param.copy_(torch.from_numpy(np.ascontiguousarray(array)).reshape(param.shape))

    with torch.no_grad():
        for conv, kernel in zip(nca.filters, case["filters"], strict=True):
            load(conv.weight, kernel)
        load(nca.network[0].weight, case["w1"].T)
        load(nca.network[0].bias, case["b1"])
        load(nca.network[2].weight, case["w2"].T)
        order = ncalab_classify_order()
        after = nca(torch.from_numpy(case["state"][:, order]), steps=1).output_image
        loss = nca.loss(after, torch.from_numpy(case["labels"]).long())["total"]
    np.savez(args.check_step[1], ncalab=after.numpy()[:, np.argsort(order)], loss=loss.numpy())


def main() -> None:
    args = child_arguments(__doc__.splitlines()[0]).parse_args()
    if args.check_step:
        check_step(args)
        return
    run(args, load_setup(args.setup))


if __name__ == "__main__":
    main()
