"""The interface every dataset plugin implements."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from nca.data.image_set import ImageSet

#: Splits every dataset has; a source may add ``val`` (see ``DatasetSource.splits``).
SPLITS = ("train", "test")


class DatasetUnavailable(FileNotFoundError):
    """A dataset is missing locally and cannot (or may not) be downloaded; the message says
    what is missing and how to get it."""


class BadImageFile(ValueError):
    """An image file of a dataset cannot be decoded (truncated, not an image, or pixels
    without a fixed range); the message names the file."""


class DatasetSource(ABC):
    """A named dataset: how many channels its images have and how to load a split.

    Subclasses are registered in the ``nca.datasets`` entry-point group (or with
    :func:`nca.data.register_dataset`) and selected by name, e.g. ``--dataset mnist``;
    a source with an ``argument_name`` is selected as ``name:ARGUMENT``
    (``folder:PATH``).

    Args:
        argument: The text after ``name:``; required exactly when ``argument_name`` is set.
    """

    #: Registered name.
    name: ClassVar[str] = ""
    #: Image side the paper uses for this dataset (§4.1: 32, Tiny ImageNet 64).
    default_image_size: ClassVar[int] = 32
    #: Splits :meth:`load` serves; ``val`` only where the dataset has a held-out split
    #: besides its test split (Tiny ImageNet).
    splits: ClassVar[tuple[str, ...]] = SPLITS
    #: Placeholder of the argument in ``name:ARGUMENT`` (e.g. ``"PATH"``); ``None``: no argument.
    argument_name: ClassVar[str | None] = None
    #: Classes the labels number (``0 .. count - 1``) where fixed (MNIST: 10);
    #: ``None``: not known without reading the data, or unlabelled.
    label_classes: ClassVar[int | None] = None

    def __init__(self, argument: str | None = None) -> None:
        if self.argument_name is None and argument is not None:
            raise ValueError(f"dataset {self.name!r} takes no argument, got {argument!r}")
        if self.argument_name is not None and not argument:
            raise ValueError(
                f"dataset {self.name!r} needs an argument: {self.name}:{self.argument_name}"
            )
        self.argument = argument

    @property
    def spec(self) -> str:
        """The name as written on the command line (``folder:PATH``)."""
        return self.name if self.argument is None else f"{self.name}:{self.argument}"

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring."""
        return (inspect.getdoc(cls) or "").strip().splitlines()[0] if cls.__doc__ else ""

    @abstractmethod
    def channels(self) -> int:
        """Image channels (1 or 3), known without loading the images."""

    def class_count(self) -> int | None:
        """How many classes the labels number (labels ``0 .. count - 1``), known without
        loading the images (after :meth:`check`); ``None``: unknown or unlabelled."""
        return self.label_classes

    def check(self, *, root: str, download: bool, image_size: int) -> None:
        """Raise :class:`DatasetUnavailable` if the data is missing (or :class:`ValueError`
        if ``image_size`` cannot be served), cheaply, so that tasks fail before writing
        anything; the default checks nothing."""
        return None

    @abstractmethod
    def load(self, split: str, *, root: str, download: bool, image_size: int) -> ImageSet:
        """Load ``split`` (``train``, ``test``, or another of :attr:`splits`) at ``image_size``.

        Args:
            split: ``train``, ``test`` or (where the source has it) ``val``.
            root: Folder the dataset lives in (``--data-root``).
            download: Whether fetching a missing dataset is allowed.
            image_size: Side of the images that :meth:`ImageSet.batch` must return.

        Raises:
            DatasetUnavailable: The data is missing; the message says how to get it.
        """


def check_dataset_class(obj: Any) -> None:
    """Raise :class:`TypeError` unless ``obj`` is a usable dataset class."""
    if not (isinstance(obj, type) and issubclass(obj, DatasetSource)):
        raise TypeError(f"expected a subclass of nca.data.DatasetSource, got {obj!r}")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise TypeError(f"{obj.__name__} does not implement: {missing}")
    if not isinstance(obj.default_image_size, int) or obj.default_image_size < 1:
        raise TypeError(f"{obj.__name__}.default_image_size must be a positive int")
