"""A dataset split held as uint8 images, with optional random-crop / flip augmentation."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import torch

from nca.data.transforms import centre_crop

FLIPS = ("none", "horizontal", "both")


@dataclass
class ImageSet:
    """A split of images, labels and (for training splits) its augmentation.

    Images are stored once as uint8 (in memory, or memory-mapped from a cache
    file) and converted to float batches on demand.

    Attributes:
        images: ``(N, C, S, S)`` uint8 stored images.
        labels: ``(N,)`` int64 class labels.
        name: Dataset name.
        crop: Side of the square crop a batch takes from each stored image (the
            centre, unless ``random_crop``); ``None``: batches are the stored images.
        random_crop: Place the crop uniformly at random when :meth:`batch` gets a
            generator (training augmentation).
        flips: Random flips when :meth:`batch` gets a generator: ``none``,
            ``horizontal`` (left-right with probability 1/2) or ``both`` (left-right
            and up-down, each with probability 1/2); ``True`` means ``both``.
        description: Where the split comes from and what was decided reading it (e.g.
            which folder, how a flat tree was split, why images are read as RGB);
            ``""``: nothing to say beyond ``name``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    crop: int | None = None
    random_crop: bool = False
    flips: str | bool = "none"
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.flips, bool):
            self.flips = "both" if self.flips else "none"
        if self.flips not in FLIPS:
            raise ValueError(f"flips must be one of {', '.join(FLIPS)}, got {self.flips!r}")
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise ValueError(
                f"images must be a uint8 (N, C, H, W) tensor, got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.images.shape[0]},), got {tuple(self.labels.shape)}"
            )
        stored = min(self.images.shape[-2:])
        if self.crop is not None and not 1 <= self.crop <= stored:
            raise ValueError(f"crop must be in [1, {stored}] (the stored size), got {self.crop}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        """Side of the images :meth:`batch` returns."""
        return self.crop if self.crop is not None else self.images.shape[-1]

    @property
    def augmented(self) -> bool:
        """Whether batches drawn with a generator are randomly cropped or flipped."""
        cropping = self.crop is not None and self.crop < min(self.images.shape[-2:])
        return self.flips != "none" or (self.random_crop and cropping)

    def batch(
        self,
        index: torch.Tensor,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Float images in [0, 1].

        Args:
            index: ``(b,)`` image indices.
            device: Where the batch goes.
            generator: Draws the random crops and flips (training); ``None``
                gives the deterministic view (centre crop, no flips). Sets without
                augmentation draw nothing from it.

        Returns:
            ``(b, C, image_size, image_size)`` float32.
        """
        images = self.images[index]
        if self.crop is not None:
            if self.random_crop and generator is not None:
                images = _random_crops(images, self.crop, generator)
            else:
                images = centre_crop(images, self.crop)
        if self.flips != "none" and generator is not None:
            images = _random_flips(images, generator, vertical=self.flips == "both")
        return images.to(device=device, dtype=torch.float32) / 255.0

    def shard(self, rank: int, world_size: int) -> ImageSet:
        """Every ``world_size``-th image from ``rank`` (per-rank data under torch.distributed)."""
        return dataclasses.replace(
            self, images=self.images[rank::world_size], labels=self.labels[rank::world_size]
        )

    def subset(self, count: int | None, setting: str = "subset size") -> ImageSet:
        """The first ``count`` images (all when ``None``).

        Args:
            count: How many images to keep; more than the split holds keeps all of
                them, with a :class:`UserWarning` saying so (a preset's count may exceed
                a small dataset, so this is not an error).
            setting: What asked for ``count`` (e.g. ``eval_subset``), named in the
                warning and in the error for a count below 1.
        """
        if count is not None and count < 1:
            raise ValueError(f"{setting} must be >= 1, got {count}")
        if count is not None and count > len(self):
            warnings.warn(
                f"{setting}={count} but {self.name} has {len(self)} images here: all "
                f"{len(self)} are used",
                UserWarning,
                stacklevel=2,
            )
        if count is None or count >= len(self):
            return self
        return dataclasses.replace(self, images=self.images[:count], labels=self.labels[:count])


def _random_crops(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """One uniformly placed ``size`` x ``size`` window per image of ``(b, C, H, W)``."""
    b, _, h, w = images.shape
    top = torch.randint(0, h - size + 1, (b,), generator=generator).tolist()
    left = torch.randint(0, w - size + 1, (b,), generator=generator).tolist()
    windows = zip(images, top, left, strict=True)
    return torch.stack([image[:, y : y + size, x : x + size] for image, y, x in windows])


def _random_flips(
    images: torch.Tensor, generator: torch.Generator, *, vertical: bool = True
) -> torch.Tensor:
    """Flip each image of ``(b, C, H, W)`` left-right and (if ``vertical``) up-down, each
    with probability 1/2. Both draws are made either way, so the stream advances alike."""
    flip = torch.rand((images.shape[0], 2), generator=generator) < 0.5
    images = torch.where(flip[:, 0, None, None, None], images.flip(-1), images)
    if not vertical:
        return images
    return torch.where(flip[:, 1, None, None, None], images.flip(-2), images)
