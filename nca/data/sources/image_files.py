"""Image files on disk: which files count as images, their pixel modes, decoding them.

Shared by the ``folder:PATH`` and ``tiny-imagenet`` sources. A file that cannot be
decoded is a :class:`~nca.data.sources.base.BadImageFile` naming it, never a
traceback from deep inside PIL.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from nca.data.sources.base import BadImageFile, DatasetUnavailable

#: Suffixes read as images (compared case-insensitively: ``x.PNG`` is an image).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: PIL modes of single-channel images (``LA``: grey with alpha, which is dropped).
GRAYSCALE_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")

_DECODE_ERRORS: tuple[type[BaseException], ...] = (OSError, SyntaxError, ValueError, EOFError)


def is_image_file(path: Path) -> bool:
    """Whether ``path`` names an image: a known suffix, and not hidden (``.x.png``, and
    macOS's ``._x.png`` resource forks, are skipped)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder`` at any depth, sorted; hidden files and folders
    (``.ipynb_checkpoints``, ``.DS_Store``, ...) and other suffixes are skipped."""
    found = []
    for parent, dirs, files in os.walk(folder, onerror=_unreadable_folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(parent) / f for f in files if is_image_file(Path(f)))
    return sorted(found)


def _unreadable_folder(err: OSError) -> None:
    """``os.walk`` skips folders it cannot list; a skipped class folder is lost data."""
    raise DatasetUnavailable(f"cannot list folder {str(err.filename)!r} ({err.strerror or err})")


def _decode_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image

    return (*_DECODE_ERRORS, Image.DecompressionBombError)


@functools.lru_cache(maxsize=1 << 20)
def _header_mode(path: str, size: int, mtime_ns: int) -> str:
    from PIL import Image

    try:
        with Image.open(path) as image:  # reads the header only
            return image.mode
    except _decode_errors() as err:
        raise BadImageFile(_unreadable(path, err)) from None


def image_mode(path: Path) -> str:
    """The PIL mode of an image file (``L``, ``RGB``, ``I;16``, ...), read from its header
    only; remembered per file size and modification time.

    Raises:
        BadImageFile: the file is missing or not an image PIL can open.
    """
    try:
        stat = path.stat()
    except OSError as err:
        raise BadImageFile(_unreadable(str(path), err)) from None
    return _header_mode(str(path), stat.st_size, stat.st_mtime_ns)


def count_grayscale(files: Sequence[Path]) -> int:
    """How many of ``files`` hold single-channel images (from their headers)."""
    return sum(image_mode(f) in GRAYSCALE_MODES for f in files)


def read_image(path: Path, mode: str, image_size: int) -> torch.Tensor:
    """Decode an image file as ``mode`` (``"L"`` or ``"RGB"``), resized (bilinear,
    antialiased) to ``image_size`` x ``image_size``.

    Integer grey images (``I;16``, ``I``: 16-bit PNG, PGM, TIFF) are scaled to 8 bits
    (value / 257), not clipped at 255; alpha is dropped; the first frame of an animation
    is read.

    Returns:
        ``(C, image_size, image_size)`` uint8, ``C`` = 1 for ``"L"``, 3 for ``"RGB"``.

    Raises:
        BadImageFile: the file is truncated, not an image, or has floating-point or
            out-of-range pixels; the message names it.
    """
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor, resize

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode == "F":
                raise BadImageFile(
                    f"image {str(path)!r} has floating-point pixels (PIL mode F), which have "
                    f"no fixed range; save it as an 8- or 16-bit image"
                )
            converted = _to_8bit(image, path).convert(mode)
    except _decode_errors() as err:
        if isinstance(err, BadImageFile):
            raise
        raise BadImageFile(_unreadable(str(path), err)) from None
    return pil_to_tensor(resize(converted, [image_size, image_size], antialias=True))


def _to_8bit(image, path: Path):
    """8-bit grey for 16/32-bit integer grey images (value / 257); others unchanged."""
    if not image.mode.startswith("I"):
        return image
    import numpy as np
    from PIL import Image

    values = np.asarray(image).astype(np.int64)
    low, high = int(values.min(initial=0)), int(values.max(initial=0))
    if low < 0 or high > 65535:
        raise BadImageFile(
            f"image {str(path)!r} has integer pixels in [{low}, {high}], outside 16 bits "
            f"[0, 65535]; save it as an 8- or 16-bit image"
        )
    return Image.fromarray(np.rint(values / 257.0).astype(np.uint8))


def _unreadable(path: str, err: BaseException) -> str:
    reason = str(err) or type(err).__name__
    if isinstance(err, PermissionError):
        return f"cannot read image {path!r} ({reason}); check its permissions"
    return (
        f"cannot read image {path!r} ({reason}); the file is truncated, corrupt or not an "
        f"image: replace or delete it"
    )
