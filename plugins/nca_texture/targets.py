"""Texture targets: the shipped default, or any image file."""

from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path

import torch

from nca import open_image

#: Textures shipped with the package (``textures/*.png``; credits in ``CREDITS.md``).
DEFAULT_TEXTURES = ("spots",)


def load_texture(name: str, size: int) -> torch.Tensor:
    """RGB ``(3, h, w)`` in [0, 1], shrunk so that its largest side is at most ``size``.

    Args:
        name: A default texture (:data:`DEFAULT_TEXTURES`) or an image path.
        size: Largest side after shrinking (images are never enlarged).

    A transparent or translucent image is composited onto white (a texture is RGB; the
    colour under a transparent pixel is often arbitrary), with a :class:`UserWarning`.

    Raises:
        FileNotFoundError: ``name`` is neither a default texture nor a file.
        BadImageFile: a ``ValueError`` naming the file and what is wrong with it (any
            PIL mode is read, see :func:`nca.open_image`).
    """
    from PIL import Image

    if name in DEFAULT_TEXTURES:
        source = resources.files(__package__).joinpath(f"textures/{name}.png")
        with resources.as_file(source) as path:
            image = _opaque(open_image(path, "RGBA"), name)
    else:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"texture {name!r} is neither a default texture "
                f"({', '.join(DEFAULT_TEXTURES)}) nor an image file"
            )
        image = _opaque(open_image(path, "RGBA"), name)
    image.thumbnail((size, size), Image.LANCZOS)
    if min(image.size) < 16:
        raise ValueError(
            f"texture {name!r} is {image.size[0]}x{image.size[1]} after shrinking to {size}; "
            f"VGG16's deepest style layer needs at least 16 pixels a side"
        )
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return data.view(image.size[1], image.size[0], 3).permute(2, 0, 1).float() / 255


def _opaque(image, name: str):
    """``image`` (RGBA) as RGB: composited onto white, and said, where it is not opaque."""
    from PIL import Image

    alpha = image.getchannel("A")
    low, _ = alpha.getextrema()
    if low == 255:
        return image.convert("RGB")
    clear = sum(alpha.histogram()[:255]) / (image.size[0] * image.size[1])
    warnings.warn(
        f"texture {name!r} is not opaque ({100 * clear:.3g}% of its pixels are transparent or "
        f"translucent): composited onto white, since a texture target is RGB",
        UserWarning,
        stacklevel=3,
    )
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, image).convert("RGB")
