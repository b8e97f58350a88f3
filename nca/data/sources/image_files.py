"""Image files on disk: which files count as images, their pixel modes, decoding them.

Shared by the ``folder:PATH`` and ``tiny-imagenet`` sources. A file that cannot be
decoded is a :class:`~nca.data.sources.base.BadImageFile` naming it, never a
traceback from deep inside PIL.
"""

from __future__ import annotations

import functools
import os
import re
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


@functools.lru_cache(maxsize=1 << 20)
def _header_mode(path: str, size: int, mtime_ns: int) -> str:
    from PIL import Image

    try:
        with Image.open(path) as image:  # reads the header only
            return image.mode
    except Image.DecompressionBombError as err:
        raise BadImageFile(_too_large(path, err)) from None
    except _DECODE_ERRORS as err:
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
    """Decode an image file as ``mode`` (``"L"`` or ``"RGB"``, see :func:`open_image`),
    resized (bilinear, antialiased) to ``image_size`` x ``image_size``.

    Returns:
        ``(C, image_size, image_size)`` uint8, ``C`` = 1 for ``"L"``, 3 for ``"RGB"``.

    Raises:
        BadImageFile: the file is truncated, too large, not an image, or has
            floating-point or out-of-range pixels; the message names it.
    """
    from torchvision.transforms.functional import pil_to_tensor, resize

    converted = open_image(path, mode)
    return pil_to_tensor(resize(converted, [image_size, image_size], antialias=True))


def open_image(path: str | Path, mode: str):
    """Decode an image file, in any PIL mode, as an 8-bit PIL image of ``mode``.

    This is the one place image files are decoded (dataset folders, task targets). Every
    PIL mode is converted by its meaning, not clipped: 16- and 32-bit integer grey
    (``I;16*``, ``I``: 16-bit PNG, PGM, TIFF) is scaled by 1/257 to 8 bits, premultiplied
    alpha (``La``, ``RGBa``) is un-premultiplied, palettes keep their transparency,
    ``CMYK``, ``YCbCr``, ``LAB`` and ``HSV`` become RGB; the first frame of an animation
    is read. Floating-point pixels (mode ``F``) have no fixed range and are refused. An
    EXIF ``Orientation`` tag (photos from cameras and phones) is applied, so the image
    is upright as every image viewer shows it.

    Args:
        path: The image file.
        mode: ``"L"``, ``"LA"``, ``"RGB"`` or ``"RGBA"`` (alpha is dropped, or opaque
            where the file has none).

    Returns:
        The decoded image (``PIL.Image.Image``), the file closed.

    Raises:
        BadImageFile: the file is missing, truncated, not an image, over PIL's
            decompression-bomb limit, or in a mode with no fixed range; the message
            names it and says what to do.
    """
    from PIL import Image, ImageOps

    if mode not in OUTPUT_MODES:
        raise ValueError(f"mode must be one of {', '.join(OUTPUT_MODES)}, got {mode!r}")
    try:
        with Image.open(path) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)  # a camera's Orientation tag, applied
            return standard_mode(upright, str(path)).convert(mode)
    except Image.DecompressionBombError as err:
        raise BadImageFile(_too_large(str(path), err)) from None
    except _DECODE_ERRORS as err:
        if isinstance(err, BadImageFile):
            raise
        raise BadImageFile(_unreadable(str(path), err)) from None


#: Modes :func:`open_image` returns; PIL converts between any two of them correctly.
OUTPUT_MODES = ("L", "LA", "RGB", "RGBA")


def standard_mode(image, name: str):
    """``image`` (any PIL mode) as an 8-bit ``L``, ``LA``, ``RGB`` or ``RGBA`` image with
    the same meaning: PIL's own ``convert`` clips 16-bit grey to white and cannot convert
    ``La`` or ``LAB`` to grey, so those are converted here (see :func:`open_image`).

    Raises:
        BadImageFile: mode ``F``, integer pixels outside 16 bits, or a mode that has no
            RGB meaning; the message names ``name`` and the mode.
    """
    mode = image.mode
    if mode in OUTPUT_MODES:
        return image
    if mode == "F":
        raise BadImageFile(
            f"image {name!r} has floating-point pixels (PIL mode F), which have no fixed "
            f"range; save it as an 8- or 16-bit image"
        )
    if mode.startswith("I"):
        return _to_8bit(image, name)
    if mode == "1":
        return image.convert("L")
    if mode == "La":  # PIL converts premultiplied grey to no other mode
        return _unpremultiply_la(image)
    if mode in ("P", "PA"):
        alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if alpha else "RGB")
    bands = image.getbands()
    try:
        return image.convert("RGBA" if "A" in bands or "a" in bands else "RGB")
    except ValueError:
        raise BadImageFile(
            f"image {name!r} has PIL mode {mode}, which has no RGB meaning here; save it "
            f"as an 8- or 16-bit grey, RGB or RGBA image"
        ) from None


def _unpremultiply_la(image):
    """``La`` (grey premultiplied by alpha) as ``LA``."""
    import numpy as np
    from PIL import Image

    grey, alpha = (np.asarray(band, dtype=np.float64) for band in image.split())
    straight = np.where(alpha > 0, grey * 255.0 / np.maximum(alpha, 1), 0)
    bands = [np.clip(np.rint(straight), 0, 255), alpha]
    return Image.fromarray(np.stack(bands, -1).astype(np.uint8), "LA")


def _to_8bit(image, name: str):
    """8-bit grey of a 16/32-bit integer grey image (value / 257)."""
    import numpy as np
    from PIL import Image

    values = np.asarray(image).astype(np.int64)
    low, high = int(values.min(initial=0)), int(values.max(initial=0))
    if low < 0 or high > 65535:
        raise BadImageFile(
            f"image {name!r} has integer pixels in [{low}, {high}], outside 16 bits "
            f"[0, 65535]; save it as an 8- or 16-bit image"
        )
    return Image.fromarray(np.rint(values / 257.0).astype(np.uint8), "L")


_BOMB = re.compile(r"\((\d+) pixels\) exceeds limit of (\d+) pixels")


def _too_large(path: str, err: BaseException) -> str:
    """One line for PIL's decompression-bomb refusal: the file, its pixels, the limit."""
    found = _BOMB.search(str(err))
    size = f"{int(found[1]):,} pixels, over" if found else "more pixels than"
    limit = f"{int(found[2]):,} pixels" if found else "its limit"
    return (
        f"image {path!r} has {size} PIL's decompression-bomb limit of {limit} (a guard "
        f"against malicious files): resize it, e.g. to at most 4096 pixels a side"
    )


def _unreadable(path: str, err: BaseException) -> str:
    reason = str(err) or type(err).__name__
    if isinstance(err, PermissionError):
        return f"cannot read image {path!r} ({reason}); check its permissions"
    if isinstance(err, FileNotFoundError):
        return f"image {path!r} does not exist"
    return (
        f"cannot read image {path!r} ({reason}); the file is truncated, corrupt or not an "
        f"image: replace or delete it"
    )
