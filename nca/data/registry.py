"""The dataset registry: datasets are discovered from the ``nca.datasets`` entry-point group."""

from __future__ import annotations

from nca.data.image_set import ImageSet
from nca.data.sources.base import DatasetSource, check_dataset_class
from nca.registry import PluginRegistry

DATASETS: PluginRegistry[type[DatasetSource]] = PluginRegistry(
    "nca.datasets", "dataset", check_dataset_class
)

#: Decorator / function adding a dataset class under ``cls.name`` or ``name=``.
register_dataset = DATASETS.register


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered dataset names matching a glob ``pattern``; imports nothing."""
    return DATASETS.names(pattern)


def dataset_source(spec: str) -> DatasetSource:
    """The source selected by ``spec``: a registered name, or ``name:ARGUMENT``.

    Raises:
        UnknownPluginError: no dataset of that name (the message lists the installed ones).
        ValueError: an argument is missing or not accepted.
    """
    name, sep, argument = spec.partition(":")
    return DATASETS.load(name)(argument if sep else None)


def default_image_size(spec: str) -> int:
    """The paper's image side for a dataset (32; 64 for Tiny ImageNet)."""
    return DATASETS.load(spec.partition(":")[0]).default_image_size


def load_images(
    spec: str,
    split: str,
    *,
    root: str = "data",
    download: bool = False,
    image_size: int | None = None,
) -> ImageSet:
    """Load a split of a named dataset.

    Args:
        spec: Dataset name (``nca list --type datasets``), or ``name:ARGUMENT``.
        split: ``train``, ``test``, or ``val`` where the dataset has one.
        root: Folder holding the datasets (``--data-root``).
        download: Allow downloading a missing dataset.
        image_size: Side of the images; ``None``: the dataset's default.

    Returns:
        The split; its batches are ``image_size`` x ``image_size``.

    Raises:
        ValueError: bad split or image size.
        UnknownPluginError: unknown dataset name.
        DatasetUnavailable: the data is missing; the message says how to get it.
    """
    source = dataset_source(spec)
    if split not in source.splits:
        raise ValueError(
            f"dataset {spec!r} has no {split!r} split; valid: {', '.join(source.splits)}"
        )
    size = image_size or source.default_image_size
    if size < 4:
        raise ValueError(f"image_size must be >= 4, got {size}")
    images = source.load(split, root=root, download=download, image_size=size)
    if images.image_size != size:
        raise RuntimeError(
            f"dataset {spec!r} returned {images.image_size}x{images.image_size} images for "
            f"image_size={size} (a bug in the dataset plugin)"
        )
    return images
