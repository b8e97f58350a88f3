"""The classify task's digits: a dataset's split, optionally a subset of its classes."""

from __future__ import annotations

import dataclasses

import torch

from nca import ImageSet, load_images
from nca_classify.model import CLASSES


def load_digits(config, split: str, dataset: str | None = None) -> ImageSet:
    """``split`` of ``dataset`` (default ``config.dataset``) at ``config.image_size``,
    keeping only the classes in ``config.digits`` when it names some."""
    cfg = config
    images = load_images(dataset or cfg.dataset, split, root=cfg.data_root,
                         download=cfg.download, image_size=cfg.image_size)  # fmt: skip
    if cfg.digits:
        keep = torch.isin(images.labels, torch.tensor(cfg.digits))
        images = dataclasses.replace(images, images=images.images[keep],
                                     labels=images.labels[keep])  # fmt: skip
    return images


def check_classes(dataset: str, count: int | None, digits: tuple[int, ...]) -> None:
    """Refuse, before any training, a dataset whose labels the cells' ``CLASSES`` logits
    cannot hold, or ``digits`` naming classes it does not have.

    Args:
        dataset: The dataset's name, for the message.
        count: Its classes (labels ``0 .. count - 1``); ``None``: unknown, not checked.
        digits: The classes kept (``ClassifyConfig.digits``); empty: all.

    Raises:
        ValueError: one line naming the dataset, its classes and what would fit.
    """
    if count is None:
        return
    if not digits and count > CLASSES:
        raise ValueError(
            f"{dataset} has {count} classes, but a classifying cell has {CLASSES} logits "
            f"(labels 0-{CLASSES - 1}); use a dataset of at most {CLASSES} classes, or keep "
            f"some with -o digits=0,1,... (labels in 0-{CLASSES - 1})"
        )
    absent = [d for d in digits if d >= count]
    if absent:
        raise ValueError(
            f"digits={','.join(map(str, digits))} names classes {dataset} does not have "
            f"({', '.join(map(str, absent))}): it has {count} (labels 0-{count - 1})"
        )


def draw(digits: ImageSet, count: int, generator, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random digits ``(count, 1, H, W)`` of ``digits`` and labels ``(count,)``."""
    index = torch.randint(len(digits), (count,), generator=generator)
    return digits.batch(index, device), digits.labels[index].to(device)
