"""Datasets as uint8 image splits, discovered as plugins (``nca.datasets`` entry points).

Built in: ``embedded-mnist`` (a few thousand real MNIST digits shipped with the
package, so training works offline), ``mnist``, ``fashion-mnist``, ``cifar10``,
``celeba`` (torchvision's classes), ``tiny-imagenet`` (64x64), ``landcover``
(SustainBench LandCoverRep NAIP tiles, random crops and flips for training) and
``folder:PATH`` (an ImageFolder-style tree with train/ and test/ folders, or a flat
one split with ``folder:PATH?split=FRACTION``).
"""

from nca.data.image_set import ImageSet
from nca.data.registry import (
    DATASETS,
    dataset_source,
    default_image_size,
    list_datasets,
    load_images,
    register_dataset,
)
from nca.data.sources.base import BadImageFile, DatasetSource, DatasetUnavailable
from nca.data.sources.image_files import open_image
from nca.data.transforms import centre_crop, resize_uint8

__all__ = [
    "DATASETS",
    "BadImageFile",
    "DatasetSource",
    "DatasetUnavailable",
    "ImageSet",
    "centre_crop",
    "dataset_source",
    "default_image_size",
    "list_datasets",
    "load_images",
    "open_image",
    "register_dataset",
    "resize_uint8",
]
