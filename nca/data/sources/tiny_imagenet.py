"""Tiny ImageNet (200 classes, 64x64) from the cs231n archive."""

from __future__ import annotations

from pathlib import Path

import torch

from nca.data.image_set import ImageSet
from nca.data.sources.base import DatasetSource, DatasetUnavailable
from nca.data.sources.image_files import is_image_file, read_image

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


class TinyImageNet(DatasetSource):
    """Tiny ImageNet (64x64): 100,000 train, 10,000 labelled val, 10,000 unlabelled test images.

    The ``test`` split is ``test/images`` (labels ``-1``: denoising needs none, and the
    paper reports test-set results); ``val`` is the labelled split (for probes and as
    the validation split). Training batches are flipped horizontally at random, as in
    the authors' release.
    """

    name = "tiny-imagenet"
    label_classes = 200
    default_image_size = 64
    splits = ("train", "val", "test")

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
            files = [p for p in sorted((base / "train").glob("*/images/*")) if is_image_file(p)]
            labels = [_label(index, path.parent.parent.name, path.parent.parent) for path in files]
        elif split == "test":
            files = [p for p in sorted((base / "test" / "images").glob("*")) if is_image_file(p)]
            labels = [-1] * len(files)
        else:
            listing = base / "val" / "val_annotations.txt"
            if not listing.is_file():
                raise DatasetUnavailable(f"Tiny ImageNet's {str(listing)!r} is missing; {REPACK}")
            rows = [line.split("\t") for line in listing.read_text().splitlines() if line.strip()]
            for number, row in enumerate(rows, 1):
                if len(row) < 2:
                    raise DatasetUnavailable(
                        f"line {number} of {str(listing)!r} is not FILE<TAB>WNID...; {REPACK}"
                    )
            files = [base / "val" / "images" / row[0] for row in rows]
            labels = [_label(index, row[1], listing) for row in rows]
        if not files:
            raise DatasetUnavailable(f"Tiny ImageNet in {str(base)!r} has no {split} images")
        images = [read_image(path, "RGB", image_size) for path in files]
        labels = torch.tensor(labels, dtype=torch.long)
        flips = "horizontal" if split == "train" else "none"
        return ImageSet(torch.stack(images), labels, self.name, flips=flips)


REPACK = f"unpack {URL} again"


def _label(index: dict[str, int], wnid: str, where: Path) -> int:
    if wnid not in index:
        raise DatasetUnavailable(
            f"class {wnid!r} of {str(where)!r} is not listed in wnids.txt; {REPACK}"
        )
    return index[wnid]
