"""Decoding image files (``nca.data.sources.image_files``): every PIL mode read by its
meaning (16-bit grey not clipped to white), refusals naming the file, and PIL's
decompression-bomb limit as one line."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nca import BadImageFile, open_image
from nca.data.sources.image_files import image_mode, standard_mode

COLOUR = (200, 100, 50)
GREY = 153  # 0.6 of 255; 0.6 of 65535 is 39321 = 153 * 257
HALF = 128  # alpha


def _made(mode: str) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A 4x4 image of ``mode`` and the straight RGBA it means."""
    grey = (GREY, GREY, GREY, 255)
    if mode.startswith("I"):
        return Image.new(mode, (4, 4), GREY * 257), grey
    if mode == "1":
        return Image.new("1", (4, 4), 1), (255, 255, 255, 255)
    if mode in ("L", "LA", "La"):
        alpha = 255 if mode == "L" else HALF
        return Image.new("LA", (4, 4), (GREY, HALF)).convert(mode), (*grey[:3], alpha)
    if mode in ("RGBA", "RGBa", "PA"):
        return Image.new("RGBA", (4, 4), (*COLOUR, HALF)).convert(mode), (*COLOUR, HALF)
    if mode == "P":  # an exact palette, not the web palette's nearest colour
        return Image.new("RGB", (4, 4), COLOUR).quantize(2), (*COLOUR, 255)
    return Image.new("RGB", (4, 4), COLOUR).convert(mode), (*COLOUR, 255)


@pytest.mark.parametrize("mode", [m for m in Image.MODES if m != "F"])
def test_every_pil_mode_is_read_by_its_meaning(mode):
    image, expected = _made(mode)
    rgba = np.asarray(standard_mode(image, "x.png").convert("RGBA"), dtype=int)
    # premultiplied modes and colour spaces round by a level or two
    assert np.abs(rgba - np.array(expected)).max() <= 2, (mode, rgba[0, 0], expected)
    grey = np.asarray(standard_mode(image, "x.png").convert("L"), dtype=int)  # LAB, La too
    assert grey.shape == (4, 4)


def test_floating_point_pixels_are_refused_by_name():
    with pytest.raises(BadImageFile, match=r"'x\.tif' has floating-point pixels \(PIL mode F\)"):
        standard_mode(Image.new("F", (4, 4), 0.6), "x.tif")


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "L", "LA", "1", "P", "PA", "CMYK",
                                  "LAB", "YCbCr", "RGB", "RGBA"])  # fmt: skip
def test_files_of_each_savable_mode_decode_by_meaning(tmp_path, mode):
    image, expected = _made(mode)
    path = tmp_path / "x.tif"  # TIFF keeps every one of these modes; PNG only some
    image.save(path)
    assert image_mode(path) in (mode, "I;16")  # TIFF stores I;16B as I;16
    rgba = np.asarray(open_image(path, "RGBA"), dtype=int)
    assert np.abs(rgba - np.array(expected)).max() <= 2, (mode, rgba[0, 0], expected)
    assert open_image(path, "RGB").mode == "RGB" and open_image(path, "L").mode == "L"


def test_16_bit_png_is_grey_not_white(tmp_path):
    Image.fromarray(np.full((4, 4), GREY * 257, dtype=np.uint16)).save(tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "I;16"
    assert np.asarray(open_image(tmp_path / "g.png", "RGBA"))[0, 0].tolist() == [GREY] * 3 + [255]


def test_palette_transparency_is_kept(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([*COLOUR, 0, 0, 255])
    image.putpixel((0, 0), 1)
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    rgba = np.asarray(open_image(tmp_path / "p.png", "RGBA"))
    assert rgba[0, 0].tolist() == [0, 0, 255, 255] and rgba[1, 1, 3] == 0


def test_integer_pixels_past_16_bits_are_refused_by_name():
    with pytest.raises(BadImageFile, match=r"'x\.tif' has integer pixels in \[0, 70000\]"):
        standard_mode(Image.new("I", (2, 2), 70000), "x.tif")


def test_a_decompression_bomb_is_one_line_naming_file_pixels_and_limit(huge_png):
    path = Path(huge_png)  # 20,000 x 20,000; PIL's default limit: ~179 M pixels
    limit = 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(BadImageFile) as err:
        open_image(path, "RGBA")
    message = str(err.value)
    assert f"{str(path)!r} has 400,000,000 pixels" in message and f"{limit:,}" in message
    assert "resize it" in message and "\n" not in message
    with pytest.raises(BadImageFile, match="400,000,000 pixels"):
        image_mode(path)  # the folder dataset's header read too


def test_the_limit_in_the_message_is_pils_current_one(tmp_path, monkeypatch):
    Image.new("RGB", (8, 8), COLOUR).save(tmp_path / "x.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(BadImageFile, match=r"has 64 pixels, over .* limit of 20 pixels"):
        open_image(tmp_path / "x.png", "RGB")


def test_a_missing_file_says_it_does_not_exist(tmp_path):
    with pytest.raises(BadImageFile, match=r"'.*nowhere\.png' does not exist"):
        open_image(tmp_path / "nowhere.png", "RGB")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_cameras_orientation_tag_is_applied(tmp_path, suffix):
    stored = np.zeros((20, 10, 3), np.uint8)  # 10 wide, 20 high, as the sensor wrote it
    stored[0, 0] = 255  # a white top-left pixel
    image = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    path = tmp_path / f"photo{suffix}"
    image.save(path, exif=exif, quality=100)
    upright = np.asarray(open_image(path, "RGB"))
    assert upright.shape == (10, 20, 3)  # shown 20 wide, 10 high
    assert upright[0, -1].min() > 200 and upright[0, 0].max() < 60  # top-left went top-right
