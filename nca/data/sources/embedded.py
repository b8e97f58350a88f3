"""The embedded default: a few thousand real MNIST digits shipped inside the package."""

from __future__ import annotations

import gzip
import io
from importlib import resources

import torch

from nca.data.image_set import ImageSet
from nca.data.sources.base import DatasetSource
from nca.data.transforms import resize_uint8

#: Built by ``scripts/build_embedded_mnist.py``: MNIST's first 4,000 train / 1,000 test digits.
SAMPLE_FILE = "mnist_sample.pt.gz"


class EmbeddedMNIST(DatasetSource):
    """MNIST's first 4,000 training and 1,000 test digits, shipped with nca (works offline)."""

    name = "embedded-mnist"
    label_classes = 10

    def channels(self) -> int:
        return 1

    def load(self, split: str, *, root: str, download: bool, image_size: int) -> ImageSet:
        raw = resources.files(__package__).joinpath(SAMPLE_FILE).read_bytes()
        data = torch.load(io.BytesIO(gzip.decompress(raw)), weights_only=True)
        images = data[f"{split}_images"].unsqueeze(1)
        return ImageSet(resize_uint8(images, image_size), data[f"{split}_labels"].long(), self.name)
