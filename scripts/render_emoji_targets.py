"""Render the grow task's default targets from the Noto Color Emoji font (run once).

The PNGs are committed under ``plugins/nca_grow/targets/``; this script records how they
were made. It needs Debian's ``fonts-noto-color-emoji`` (``apt-get install
fonts-noto-color-emoji``) and Pillow.

Usage:
    python scripts/render_emoji_targets.py [--font PATH] [--size 40]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

#: name -> emoji (the Distill article grows 🦎 among others).
EMOJI = {"lizard": "\U0001f98e", "butterfly": "\U0001f98b", "mushroom": "\U0001f344"}
FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
OUT = Path(__file__).resolve().parents[1] / "plugins" / "nca_grow" / "targets"


def render(character: str, font: ImageFont.FreeTypeFont, size: int) -> Image.Image:
    """The emoji cropped to its opaque box and shrunk to fit ``size`` x ``size`` (RGBA)."""
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), character, font=font, embedded_color=True)
    image = canvas.crop(canvas.getbbox())
    image.thumbnail((size, size), Image.LANCZOS)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--font", default=FONT)
    parser.add_argument("--size", type=int, default=40, help="largest side (the article: 40)")
    args = parser.parse_args()
    font = ImageFont.truetype(args.font, 109)  # the colour bitmaps exist at 109 px only
    OUT.mkdir(parents=True, exist_ok=True)
    for name, character in EMOJI.items():
        path = OUT / f"{name}.png"
        render(character, font, args.size).save(path, optimize=True)
        print(path)


if __name__ == "__main__":
    main()
