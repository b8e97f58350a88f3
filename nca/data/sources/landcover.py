"""LandCoverRep: SustainBench's "Representation Learning for Land Cover" NAIP tiles.

Layout (SustainBench's release, as its ``LandCoverRepDataset`` reads it)::

    ROOT/land_cover_representation/
        metadata.csv      # file_name, y, land_cover, split (0 train, 1 val, 2 test), split_str
        <file_name>.npy   # one tile: 100 x 100 pixels, bands R, G, B, NIR (+ a label band)

Following the paper's authors, images are the first three bands (RGB); training
takes a random ``image_size`` crop of each tile with random horizontal and
vertical flips, evaluation the centre crop. Tiles may be stored height-width-band
(what ``torchvision.transforms.ToTensor`` expects) or band-height-width, as
integers in [0, 255] or floats in [0, 1] or [0, 255]: the layout is detected
per tile, the value scale once per split, and anything else is an error naming
the file.

Reading ~10^5 small ``.npy`` files is slow, so the first load of a split writes
its RGB tiles to one uint8 array (``.nca-cache/`` next to ``metadata.csv``,
written atomically) that later loads memory-map: the full training split is
never copied into RAM.
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from nca.data.image_set import ImageSet
from nca.data.sources.base import DatasetSource, DatasetUnavailable
from nca.data.transforms import centre_crop

FOLDER = "land_cover_representation"
PAGE = (
    "https://sustainlab-group.github.io/sustainbench/docs/datasets/sdg15/"
    "land_cover_representation.html"
)
#: SustainBench's split codes; our ``test`` is their test split (the paper's test-set results).
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
BANDS = 3  # R, G, B
CACHE_DIR = ".nca-cache"
#: Tiles inspected to decide whether float tiles hold [0, 1] or [0, 255] values.
SCALE_PROBE = 64


class LandCoverTileError(ValueError):
    """A tile file does not hold what LandCoverRep tiles hold."""


class LandCoverRep(DatasetSource):
    """SustainBench LandCoverRep NAIP tiles (RGB of 100x100 tiles; random crops+flips to train)."""

    name = "landcover"

    def channels(self) -> int:
        return BANDS

    def check(self, *, root: str, download: bool) -> None:
        _locate(Path(root).expanduser(), download)

    def load(self, split: str, *, root: str, download: bool, image_size: int) -> ImageSet:
        folder = _locate(Path(root).expanduser(), download)
        files, labels = read_metadata(folder / "metadata.csv", split)
        tiles = _tiles(folder, split, files)
        side = min(tiles.shape[-2:])
        if image_size > side:
            raise ValueError(
                f"landcover tiles are {tiles.shape[-2]}x{tiles.shape[-1]}; image_size must be "
                f"at most {side} (crops are taken, not resamples), got {image_size}"
            )
        labels_t = torch.tensor(labels, dtype=torch.long)
        if split == "train":
            return ImageSet(tiles, labels_t, self.name, crop=image_size, flips=True)
        return ImageSet(centre_crop(tiles, image_size).contiguous(), labels_t, self.name)


def _locate(root: Path, download: bool) -> Path:
    for folder in (root / FOLDER, root):
        if (folder / "metadata.csv").is_file():
            return folder
    how = (
        "--download cannot fetch it (SustainBench distributes it as a manual download); "
        if download
        else ""
    )
    raise DatasetUnavailable(
        f"LandCoverRep is not in {str(root / FOLDER)!r} (expected metadata.csv and the .npy "
        f"tiles it lists); {how}download SustainBench's land-cover representation archive "
        f"({PAGE}) and unpack it so that --data-root/{FOLDER}/metadata.csv exists"
    )


def read_metadata(path: Path, split: str) -> tuple[list[str], list[int]]:
    """Tile file names and class labels of one split, in file order.

    Args:
        path: ``metadata.csv`` (columns ``file_name``, ``y``, ``split`` or ``split_str``).
        split: ``train``, ``val`` or ``test``.
    """
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if not {"file_name", "y"} <= columns or not columns & {"split", "split_str"}:
            raise DatasetUnavailable(
                f"{str(path)!r} is not LandCoverRep metadata: expected columns file_name, y and "
                f"split (or split_str), found {sorted(columns)}"
            )
        files, labels = [], []
        for line, row in enumerate(reader, start=2):
            if _split_of(row, path, line) == split:
                files.append(row["file_name"])
                labels.append(int(float(row["y"])))
    if not files:
        raise DatasetUnavailable(f"{str(path)!r} lists no tiles of the {split!r} split")
    return files, labels


def _split_of(row: dict[str, str], path: Path, line: int) -> str:
    value = (row.get("split") or "").strip()
    if value:
        names = {str(code): name for name, code in SPLIT_CODES.items()}
        if value in names:
            return names[value]
    text = (row.get("split_str") or value).strip().lower()
    aliases = {"validation": "val", "valid": "val"}
    if aliases.get(text, text) in SPLIT_CODES:
        return aliases.get(text, text)
    raise DatasetUnavailable(
        f"{str(path)!r} line {line}: unknown split {value or text!r} (expected 0/1/2 or "
        f"train/val/test)"
    )


def read_tile(path: Path) -> np.ndarray:
    """The first three bands of one tile, ``(3, H, W)``, in the file's dtype and scale."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise LandCoverTileError(f"cannot read tile {str(path)!r}: {err}") from err
    if array.ndim != 3:
        raise LandCoverTileError(
            f"tile {str(path)!r} has shape {array.shape}; expected (H, W, bands) or (bands, H, W)"
        )
    if array.shape[-1] < array.shape[0]:  # (H, W, bands): few bands, many pixels
        array = np.moveaxis(array, -1, 0)
    if array.shape[0] < BANDS or array.shape[0] >= min(array.shape[1:]):
        raise LandCoverTileError(
            f"tile {str(path)!r} has shape {array.shape}; expected at least {BANDS} bands "
            f"(R, G, B, ...) along its first or last axis"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise LandCoverTileError(f"tile {str(path)!r} has dtype {array.dtype}; expected numbers")
    return array[:BANDS]


def to_uint8(tile: np.ndarray, scale: float, path: Path) -> np.ndarray:
    """``tile * scale`` rounded to uint8; values outside [0, 255] after scaling are an error."""
    values = tile.astype(np.float64) * scale
    low, high = float(values.min()), float(values.max())
    if low < -0.5 or high > 255.5:
        raise LandCoverTileError(
            f"tile {str(path)!r} has values in [{low / scale:g}, {high / scale:g}], outside the "
            f"split's range ({'[0, 1]' if scale == 255 else '[0, 255]'}); tiles of one split "
            f"must share a value scale"
        )
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def value_scale(tiles: list[np.ndarray]) -> float:
    """255 for float tiles in [0, 1], else 1 (integers, or floats in [0, 255])."""
    floats = [t for t in tiles if np.issubdtype(t.dtype, np.floating)]
    if floats and max(float(t.max()) for t in floats) <= 1.0:
        return 255.0
    return 1.0


def _tiles(folder: Path, split: str, files: list[str]) -> torch.Tensor:
    """``(N, 3, H, W)`` uint8 tiles of a split, memory-mapped from (or written to) the cache."""
    digest = hashlib.sha256("\n".join(files).encode()).hexdigest()[:16]
    cache = folder / CACHE_DIR / f"{split}-rgb-{digest}.npy"
    if not cache.is_file():
        try:
            _write_cache(folder, files, cache)
        except PermissionError as err:
            warnings.warn(
                f"cannot write the LandCoverRep cache {str(cache)!r} ({err}); holding the "
                f"{split} split in memory instead",
                stacklevel=3,
            )
            return torch.from_numpy(_convert(folder, files, None))
    return torch.from_numpy(np.load(cache, mmap_mode="c"))  # copy-on-write: the file stays


def _write_cache(folder: Path, files: list[str], cache: Path) -> None:
    cache.parent.mkdir(exist_ok=True)
    partial = cache.with_name(f"{cache.stem}.{os.getpid()}.partial.npy")
    try:
        with open(partial, "wb") as handle:
            # streamed with plain writes: no page of the cache is mapped into this process
            _convert(folder, files, handle)
        os.replace(partial, cache)  # atomic: readers never see a half-written cache
    finally:
        partial.unlink(missing_ok=True)


def _convert(folder: Path, files: list[str], handle: BinaryIO | None) -> np.ndarray | None:
    """Every tile as uint8 ``(N, 3, H, W)``: streamed into the ``.npy`` file ``handle``, or
    returned as an in-memory array when ``handle`` is ``None``."""
    probe = [read_tile(folder / name) for name in files[:SCALE_PROBE]]
    scale = value_scale(probe)
    shape = (len(files), *probe[0].shape)
    out = None
    if handle is None:
        out = np.empty(shape, dtype=np.uint8)
    else:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8))}
        header.update(fortran_order=False, shape=shape)
        np.lib.format.write_array_header_2_0(handle, header)
    for i, name in enumerate(files):
        path = folder / name
        tile = probe[i] if i < len(probe) else read_tile(path)
        if tile.shape != shape[1:]:
            raise LandCoverTileError(
                f"tile {str(path)!r} has {tile.shape[1]}x{tile.shape[2]} pixels, the split's "
                f"first tile {shape[2]}x{shape[3]}; all tiles of a split must have one size"
            )
        converted = to_uint8(tile, scale, path)
        if out is None:
            handle.write(np.ascontiguousarray(converted).tobytes())
        else:
            out[i] = converted
    return out
