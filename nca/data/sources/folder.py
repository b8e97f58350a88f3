"""Any ImageFolder-style tree of images: ``folder:PATH``."""

from __future__ import annotations

from pathlib import Path

import torch

from nca.data.image_set import ImageSet
from nca.data.sources.base import DatasetSource, DatasetUnavailable

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
GRAYSCALE_MODES = ("1", "L", "I", "I;16", "F")


def folder_channels(path: str | Path, probe: int = 16) -> int:
    """1 if the first ``probe`` images of a tree are all grayscale, else 3."""
    from PIL import Image

    files = sorted(
        p
        for p in Path(path).expanduser().rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )[:probe]
    if files and all(Image.open(f).mode in GRAYSCALE_MODES for f in files):
        return 1
    return 3


class ImageFolderTree(DatasetSource):
    """Images in CLASS/IMAGE folders; PATH/train and PATH/test (or val) if present, else PATH."""

    name = "folder"
    argument_name = "PATH"

    @property
    def root(self) -> Path:
        return Path(str(self.argument)).expanduser()

    def _tree(self, split: str) -> Path:
        candidates = ["train"] if split == "train" else ["test", "val", "valid"]
        return next((self.root / c for c in candidates if (self.root / c).is_dir()), self.root)

    def channels(self) -> int:
        """Grayscale trees stay single-channel; anything else is read as RGB."""
        return folder_channels(self._tree("train")) if self.root.is_dir() else 3

    def check(self, *, root: str, download: bool, image_size: int) -> None:
        if not self.root.is_dir():
            raise DatasetUnavailable(f"folder dataset {str(self.root)!r} does not exist")

    def load(self, split: str, *, root: str, download: bool, image_size: int) -> ImageSet:
        from torchvision.datasets import ImageFolder
        from torchvision.transforms.functional import pil_to_tensor, resize

        self.check(root=root, download=download, image_size=image_size)
        tree = self._tree(split)
        try:
            dataset = ImageFolder(str(tree))
        except (FileNotFoundError, RuntimeError) as err:
            raise DatasetUnavailable(
                f"{str(tree)!r} is not an ImageFolder tree (CLASS/IMAGE files): {err}"
            ) from err
        mode = "L" if folder_channels(tree) == 1 else "RGB"
        images, labels = [], []
        for image, label in dataset:  # resize while decoding: images may differ in size
            size = [image_size, image_size]
            images.append(pil_to_tensor(resize(image.convert(mode), size, antialias=True)))
            labels.append(label)
        return ImageSet(torch.stack(images), torch.tensor(labels, dtype=torch.long), self.spec)
