"""Tiny ImageNet (200 classes, 64x64) from the cs231n archive."""

from __future__ import annotations

from pathlib import Path

import torch

from nca.data.image_set import ImageSet
from nca.data.sources.base import DatasetSource, DatasetUnavailable

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


class TinyImageNet(DatasetSource):
    """Tiny ImageNet: 100,000 train images, the labelled 10,000-image val split as test (64x64)."""

    name = "tiny-imagenet"
    default_image_size = 64

    def channels(self) -> int:
        return 3

    @staticmethod
    def _base(root: str) -> Path:
        return Path(root).expanduser() / "tiny-imagenet-200"

    @staticmethod
    def _require(base: Path, download: bool) -> None:
        if not (base / "wnids.txt").is_file():
            hint = "pass --download" if not download else "check your internet connection"
            raise DatasetUnavailable(
                f"Tiny ImageNet is not in {str(base)!r} (expected wnids.txt, train/, val/); "
                f"{hint}, or unpack {URL} under --data-root"
            )

    def check(self, *, root: str, download: bool, image_size: int) -> None:
        if not download:  # with --download, load fetches it
            self._require(self._base(root), download)

    def load(self, split: str, *, root: str, download: bool, image_size: int) -> ImageSet:
        from PIL import Image
        from torchvision.transforms.functional import pil_to_tensor, resize

        base = self._base(root)
        if not base.is_dir() and download:
            from torchvision.datasets.utils import download_and_extract_archive

            try:
                download_and_extract_archive(URL, str(Path(root).expanduser()))
            except OSError as err:
                raise DatasetUnavailable(f"downloading Tiny ImageNet failed ({err})") from err
        self._require(base, download)
        classes = base.joinpath("wnids.txt").read_text().split()
        index = {wnid: i for i, wnid in enumerate(classes)}
        if split == "train":
            files = sorted((base / "train").glob("*/images/*"))
            labels = [index[path.parent.parent.name] for path in files]
        else:
            annotations = (base / "val" / "val_annotations.txt").read_text().splitlines()
            rows = [line.split("\t") for line in annotations if line.strip()]
            files = [base / "val" / "images" / row[0] for row in rows]
            labels = [index[row[1]] for row in rows]
        images = [
            pil_to_tensor(resize(Image.open(path).convert("RGB"), [image_size] * 2, antialias=True))
            for path in files
        ]
        return ImageSet(torch.stack(images), torch.tensor(labels, dtype=torch.long), self.name)
