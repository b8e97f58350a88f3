"""The classify task's digits: a dataset's split, optionally a subset of its classes."""

from __future__ import annotations

import dataclasses

import torch

from nca import ImageSet, load_images


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


def draw(digits: ImageSet, count: int, generator, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random digits ``(count, 1, H, W)`` of ``digits`` and labels ``(count,)``."""
    index = torch.randint(len(digits), (count,), generator=generator)
    return digits.batch(index, device), digits.labels[index].to(device)
