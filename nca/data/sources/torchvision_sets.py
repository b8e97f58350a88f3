"""MNIST, Fashion-MNIST, CIFAR-10 and CelebA through torchvision's dataset classes."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from nca.data.image_set import ImageSet
from nca.data.sources.base import DatasetSource, DatasetUnavailable
from nca.data.transforms import resize_uint8


class TorchvisionSource(DatasetSource):
    """A torchvision dataset class, decoded once into uint8 memory."""

    #: Class name in ``torchvision.datasets``.
    torchvision_class: ClassVar[str] = ""
    image_channels: ClassVar[int] = 3

    def channels(self) -> int:
        return self.image_channels

    def _open(self, cls, split: str, root: str, download: bool):
        return cls(root, train=split == "train", download=download)

    def check(self, *, root: str, download: bool, image_size: int) -> None:
        if not download:  # opening the test split verifies the files (no download)
            self._opened("test", root, download)

    def load(self, split: str, *, root: str, download: bool, image_size: int) -> ImageSet:
        dataset = self._opened(split, root, download)
        images, labels = self._tensors(dataset, image_size)
        return ImageSet(resize_uint8(images, image_size), labels, self.name)

    def _opened(self, split: str, root: str, download: bool):
        import torchvision.datasets as tvd

        cls = getattr(tvd, self.torchvision_class)
        try:
            return self._open(cls, split, root, download)
        except RuntimeError as err:  # torchvision: "Dataset not found or corrupted..."
            hint = "pass --download to fetch it" if not download else "check your connection"
            raise DatasetUnavailable(
                f"dataset {self.name!r} ({split} split) is not in {str(Path(root).resolve())!r} "
                f"and could not be loaded ({err}); {hint}, or point --data-root at a folder "
                f"holding torchvision's {self.torchvision_class} layout"
            ) from err
        except OSError as err:  # network failures while downloading
            raise DatasetUnavailable(
                f"downloading {self.name!r} failed ({err}); without internet, place "
                f"torchvision's {self.torchvision_class} files under --data-root"
            ) from err

    def _tensors(self, dataset, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, C, h, w)`` uint8 images and ``(N,)`` labels of an opened dataset."""
        if isinstance(dataset.data, torch.Tensor):  # MNIST family: (N, H, W) uint8
            return dataset.data.unsqueeze(1), dataset.targets.long()
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # CIFAR: NHWC
        return images, torch.tensor(dataset.targets, dtype=torch.long)


class MNIST(TorchvisionSource):
    """MNIST handwritten digits (60,000 train / 10,000 test, grayscale)."""

    name = "mnist"
    label_classes = 10
    torchvision_class = "MNIST"
    image_channels = 1


class FashionMNIST(TorchvisionSource):
    """Fashion-MNIST clothing images (60,000 train / 10,000 test, grayscale)."""

    name = "fashion-mnist"
    label_classes = 10
    torchvision_class = "FashionMNIST"
    image_channels = 1


class CIFAR10(TorchvisionSource):
    """CIFAR-10 (50,000 train / 10,000 test, RGB 32x32)."""

    name = "cifar10"
    label_classes = 10
    torchvision_class = "CIFAR10"


class CelebA(TorchvisionSource):
    """CelebA faces (train / test splits, RGB), each image resized while decoding."""

    name = "celeba"
    torchvision_class = "CelebA"

    def _open(self, cls, split: str, root: str, download: bool):
        return cls(root, split=split, download=download)

    def _tensors(self, dataset, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.transforms.functional import pil_to_tensor, resize

        images, labels = [], []
        for image, attributes in dataset:  # resize while decoding: bounded memory
            images.append(pil_to_tensor(resize(image.convert("RGB"), [image_size] * 2)))
            labels.append(int(attributes.flatten()[0]))  # first attribute as a stand-in label
        return torch.stack(images), torch.tensor(labels, dtype=torch.long)
