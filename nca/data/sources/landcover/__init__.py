"""LandCoverRep: SustainBench's "Representation Learning for Land Cover" NAIP tiles.

Layout (the paper authors' release; SustainBench's own ``land_cover_rep_v1.1``
with ``fileName``/``landCover``/``splitStr`` columns and ``tile_triplets/`` is
read too)::

    ROOT/land_cover_representation/
        metadata.csv      # file_name, y, land_cover, split (0 train, 1 val, 2 test), split_str
        <file_name>.npy   # one tile: 100 x 100 pixels, bands R, G, B, NIR (+ a label band)

Following the paper's authors, images are the first three bands (RGB); training
takes a random ``image_size`` crop of each tile with random horizontal and
vertical flips, evaluation the centre crop. Tiles may be height-width-band or
band-height-width, integers in [0, 255] or floats in [0, 1] or [0, 255]; the
layout is detected per tile, the value scale once per split (from its first
tiles), and a tile that does not fit is an error naming the file. Tiles are
converted once into a memory-mapped uint8 cache (:mod:`.cache`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from nca.data.image_set import ImageSet
from nca.data.sources.base import DatasetSource
from nca.data.sources.landcover.cache import CACHE_DIR, Converter, load_split
from nca.data.sources.landcover.metadata import FOLDERS, PAGE, SplitFiles, locate, read_split
from nca.data.sources.landcover.tiles import LandCoverTileError, read_tile, to_uint8, value_scale

FOLDER = FOLDERS[0]
#: Tiles inspected to decide whether float tiles hold [0, 1] or [0, 255] values.
SCALE_PROBE = 64

__all__ = ["CACHE_DIR", "FOLDER", "PAGE", "LandCoverRep", "LandCoverTileError"]


class LandCoverRep(DatasetSource):
    """SustainBench LandCoverRep NAIP tiles (RGB of 100x100 tiles; random crops+flips to train)."""

    name = "landcover"

    def channels(self) -> int:
        return 3

    def check(self, *, root: str, download: bool, image_size: int) -> None:
        folder = locate(Path(root).expanduser(), download)
        first = read_split(folder, "train").paths[0]
        _check_crop(read_tile(first).shape, image_size)

    def load(self, split: str, *, root: str, download: bool, image_size: int) -> ImageSet:
        folder = locate(Path(root).expanduser(), download)
        files = read_split(folder, split)
        tiles = load_split(folder, split, files.paths, _converter(files))
        _check_crop(tuple(tiles.shape[1:]), image_size)
        labels = torch.tensor(files.labels, dtype=torch.long)
        # whole tiles stay memory-mapped; batches crop them (centre crops without a generator)
        train = split == "train"
        return ImageSet(tiles, labels, self.name, image_size, random_crop=train, flips=train)


def _check_crop(tile_shape: tuple[int, ...], image_size: int) -> None:
    side = min(tile_shape[-2:])
    if image_size > side:
        raise ValueError(
            f"landcover tiles are {tile_shape[-2]}x{tile_shape[-1]}; image_size must be at most "
            f"{side} (crops are taken, not resamples), got {image_size}"
        )


def _converter(files: SplitFiles) -> Converter:
    """The split's uint8 ``(3, H, W)`` tiles, one by one, with the split's array shape."""

    def convert() -> tuple[tuple[int, ...], Iterator[np.ndarray]]:
        paths = files.paths
        probe = [read_tile(path) for path in paths[:SCALE_PROBE]]
        scale = value_scale(probe)
        shape = (len(paths), *probe[0].shape)

        def tiles() -> Iterator[np.ndarray]:
            for i, path in enumerate(paths):
                tile = probe[i] if i < len(probe) else read_tile(path)
                if tile.shape != shape[1:]:
                    raise LandCoverTileError(
                        f"tile {str(path)!r} has {tile.shape[1]}x{tile.shape[2]} pixels, the "
                        f"split's first tile {shape[2]}x{shape[3]}; all tiles of a split must "
                        f"have one size"
                    )
                yield to_uint8(tile, scale, path)

        return shape, tiles()

    return convert
