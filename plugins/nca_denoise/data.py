"""Datasets for denoising autoencoding, held in memory as uint8 image tensors.

Names: ``embedded-mnist`` (the default: a few thousand real MNIST digits shipped
with this plugin, so training works offline), ``mnist``, ``fashion-mnist``,
``cifar10``, ``celeba`` (torchvision's classes, ``--data-root``/``--download``),
``tiny-imagenet`` (the cs231n archive, 64×64, its labelled val split as test)
and ``folder:PATH`` (any ImageFolder-style tree; ``PATH/train`` and
``PATH/test`` (or ``val``) if present, else the same tree for both splits).
Images are resampled once to ``image_size`` (bilinear, antialiased).
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F

EMBEDDED = "embedded-mnist"
TORCHVISION = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "cifar10": "CIFAR10",
    "celeba": "CelebA",
}
TINY_IMAGENET = "tiny-imagenet"
TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
KNOWN = (EMBEDDED, *TORCHVISION, TINY_IMAGENET, "folder:PATH")
#: Image side each dataset is resampled to unless ``image_size`` says otherwise (paper §4.1).
DEFAULT_SIZES = {TINY_IMAGENET: 64}


def default_image_size(name: str) -> int:
    """The paper's resolution for a dataset: 32, or 64 for Tiny ImageNet."""
    return DEFAULT_SIZES.get(name, 32)


class DatasetUnavailable(FileNotFoundError):
    """A dataset is missing locally and cannot (or may not) be downloaded."""


@dataclass
class ImageSet:
    """A split held in memory.

    Attributes:
        images: ``(N, C, H, W)`` uint8.
        labels: ``(N,)`` int64 class labels.
        name: Dataset name.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def batch(self, index: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        """Float images in [0, 1], ``(len(index), C, H, W)``."""
        return self.images[index].to(device=device, dtype=torch.float32) / 255.0

    def shard(self, rank: int, world_size: int) -> ImageSet:
        """Every ``world_size``-th image from ``rank`` (per-rank data under torch.distributed)."""
        return ImageSet(self.images[rank::world_size], self.labels[rank::world_size], self.name)

    def subset(self, count: int | None) -> ImageSet:
        """The first ``count`` images (all when ``None``)."""
        if count is None or count >= len(self):
            return self
        if count < 1:
            raise ValueError(f"subset size must be >= 1, got {count}")
        return ImageSet(self.images[:count], self.labels[:count], self.name)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``(N, C, h, w)`` -> uint8 ``(N, C, size, size)`` in chunks (bounded memory)."""
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], 4096):
        chunk = images[start : start + 4096].float()
        resized = F.interpolate(
            chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out[start : start + 4096] = resized.round().clamp(0, 255).to(torch.uint8)
    return out


def _embedded(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    raw = resources.files("nca_denoise").joinpath("data/mnist_sample.pt.gz").read_bytes()
    data = torch.load(io.BytesIO(gzip.decompress(raw)), weights_only=True)
    return data[f"{split}_images"].unsqueeze(1), data[f"{split}_labels"].long()


def _torchvision(name: str, split: str, root: str, download: bool, size: int):
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION[name])
    try:
        if name == "celeba":
            dataset = cls(root, split="train" if split == "train" else "test", download=download)
        else:
            dataset = cls(root, train=split == "train", download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted..."
        hint = "pass --download to fetch it" if not download else "check your internet connection"
        raise DatasetUnavailable(
            f"dataset {name!r} ({split} split) is not in {str(Path(root).resolve())!r} and "
            f"could not be loaded ({err}); {hint}, or point --data-root at a folder holding "
            f"torchvision's {TORCHVISION[name]} layout"
        ) from err
    except OSError as err:  # network failures while downloading
        raise DatasetUnavailable(
            f"downloading {name!r} failed ({err}); without internet, place torchvision's "
            f"{TORCHVISION[name]} files under --data-root"
        ) from err
    if hasattr(dataset, "data") and isinstance(dataset.data, torch.Tensor):  # MNIST family
        images, labels = dataset.data.unsqueeze(1), dataset.targets.long()
    elif hasattr(dataset, "data"):  # CIFAR: numpy (N, H, W, C)
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
        labels = torch.tensor(dataset.targets, dtype=torch.long)
    else:
        images, labels = _decode_all(dataset, size)
    return images, labels


def _decode_all(dataset, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a PIL dataset, resizing each image as it is read (bounded memory)."""
    from torchvision.transforms.functional import pil_to_tensor, resize

    images, labels = [], []
    for image, label in dataset:
        images.append(pil_to_tensor(resize(image.convert("RGB"), [size, size], antialias=True)))
        labels.append(
            int(label) if not isinstance(label, torch.Tensor) else int(label.flatten()[0])
        )
    return torch.stack(images), torch.tensor(labels, dtype=torch.long)


def folder_channels(path: str, probe: int = 16) -> int:
    """1 if the first ``probe`` images of an ImageFolder tree are grayscale, else 3."""
    from PIL import Image

    root = Path(path).expanduser()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
    )[:probe]
    if files and all(Image.open(f).mode in ("1", "L", "I", "I;16", "F") for f in files):
        return 1
    return 3


def _folder(path: str, split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import ImageFolder
    from torchvision.transforms.functional import pil_to_tensor, resize

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetUnavailable(f"folder dataset {str(root)!r} does not exist")
    candidates = ["train"] if split == "train" else ["test", "val", "valid"]
    tree = next((root / c for c in candidates if (root / c).is_dir()), root)
    try:
        dataset = ImageFolder(str(tree))
    except (FileNotFoundError, RuntimeError) as err:
        raise DatasetUnavailable(
            f"{str(tree)!r} is not an ImageFolder tree (CLASS/IMAGE files): {err}"
        ) from err
    mode = "L" if folder_channels(str(tree)) == 1 else "RGB"
    images, labels = [], []
    for image, label in dataset:  # resize while decoding: images may differ in size
        images.append(pil_to_tensor(resize(image.convert(mode), [size, size], antialias=True)))
        labels.append(label)
    return torch.stack(images), torch.tensor(labels, dtype=torch.long)


def _tiny_imagenet(
    split: str, root: str, download: bool, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiny ImageNet (200 classes, 64×64): ``train/WNID/images/*`` for training and the
    labelled ``val`` split (``val_annotations.txt``) as the test split."""
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor, resize

    base = Path(root).expanduser() / "tiny-imagenet-200"
    if not base.is_dir() and download:
        from torchvision.datasets.utils import download_and_extract_archive

        try:
            download_and_extract_archive(TINY_IMAGENET_URL, str(Path(root).expanduser()))
        except OSError as err:
            raise DatasetUnavailable(f"downloading Tiny ImageNet failed ({err})") from err
    if not (base / "wnids.txt").is_file():
        hint = "pass --download" if not download else "check your internet connection"
        raise DatasetUnavailable(
            f"Tiny ImageNet is not in {str(base)!r} (expected wnids.txt, train/, val/); {hint}, "
            f"or unpack {TINY_IMAGENET_URL} under --data-root"
        )
    classes = base.joinpath("wnids.txt").read_text().split()
    index = {wnid: i for i, wnid in enumerate(classes)}
    if split == "train":
        files = sorted((base / "train").glob("*/images/*"))
        labels = [index[path.parent.parent.name] for path in files]
    else:
        annotations = base / "val" / "val_annotations.txt"
        rows = [line.split("\t") for line in annotations.read_text().splitlines() if line.strip()]
        files = [base / "val" / "images" / row[0] for row in rows]
        labels = [index[row[1]] for row in rows]
    images = [
        pil_to_tensor(resize(Image.open(path).convert("RGB"), [size, size], antialias=True))
        for path in files
    ]
    return torch.stack(images), torch.tensor(labels, dtype=torch.long)


def load_images(
    name: str, split: str, *, root: str = "data", download: bool = False, image_size: int = 32
) -> ImageSet:
    """Load a split of a named dataset, resized to ``image_size``.

    Args:
        name: See the module docstring.
        split: ``train`` or ``test``.
        root: Where torchvision datasets live (``--data-root``).
        download: Allow torchvision to download a missing dataset.
        image_size: Side of the square images.

    Raises:
        ValueError: unknown dataset name or split.
        DatasetUnavailable: the data is missing; the message says how to get it.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if image_size < 4:
        raise ValueError(f"image_size must be >= 4, got {image_size}")
    if name == EMBEDDED:
        images, labels = _embedded(split)
    elif name in TORCHVISION:
        images, labels = _torchvision(name, split, root, download, image_size)
    elif name == TINY_IMAGENET:
        images, labels = _tiny_imagenet(split, root, download, image_size)
    elif name.startswith("folder:"):
        images, labels = _folder(name[len("folder:") :], split, image_size)
    else:
        import difflib

        close = difflib.get_close_matches(name, [*TORCHVISION, EMBEDDED, TINY_IMAGENET], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown dataset {name!r}.{hint} Valid: {', '.join(KNOWN)} "
            f"(landcover: use folder:PATH with an ImageFolder tree for now)"
        )
    return ImageSet(_resize(images, image_size), labels, name)
