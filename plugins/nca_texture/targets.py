"""Texture targets: the shipped default, or any image file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

#: Textures shipped with the package (``textures/*.png``; credits in ``CREDITS.md``).
DEFAULT_TEXTURES = ("spots",)


def load_texture(name: str, size: int) -> torch.Tensor:
    """RGB ``(3, h, w)`` in [0, 1], shrunk so that its largest side is at most ``size``.

    Args:
        name: A default texture (:data:`DEFAULT_TEXTURES`) or an image path.
        size: Largest side after shrinking (images are never enlarged).
    """
    from PIL import Image

    if name in DEFAULT_TEXTURES:
        source = resources.files(__package__).joinpath(f"textures/{name}.png")
        with resources.as_file(source) as path:
            image = Image.open(path).convert("RGB")
    else:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"texture {name!r} is neither a default texture "
                f"({', '.join(DEFAULT_TEXTURES)}) nor an image file"
            )
        try:
            image = Image.open(path).convert("RGB")
        except OSError as err:
            raise ValueError(f"cannot read the texture image {name!r}: {err}") from err
    image.thumbnail((size, size), Image.LANCZOS)
    if min(image.size) < 16:
        raise ValueError(
            f"texture {name!r} is {image.size[0]}x{image.size[1]} after shrinking to {size}; "
            f"VGG16's deepest style layer needs at least 16 pixels a side"
        )
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return data.view(image.size[1], image.size[0], 3).permute(2, 0, 1).float() / 255
