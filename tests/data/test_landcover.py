"""LandCoverRep in SustainBench's layout (metadata.csv + .npy tiles), on synthetic tiles.

The real archive is a manual download; these tiles follow its published format
(``LandCoverRepDataset``: 100x100 tiles, bands R, G, B, NIR and a label band).
"""

import warnings

import numpy as np
import pytest
import torch

from nca.core import make_generator
from nca.data import DatasetUnavailable, load_images
from nca.data.sources.landcover import CACHE_DIR, FOLDER, LandCoverTileError


def write_landcover(root, splits=(4, 2, 3), layout="hwc", dtype=np.uint8, seed=0, side=100):
    """SustainBench-style tiles: ``splits`` = tiles per (train, val, test). Returns
    ``{file_name: (3, side, side) uint8 RGB}`` for checking what was loaded."""
    rng = np.random.default_rng(seed)
    folder = root / FOLDER
    (folder / "tiles").mkdir(parents=True, exist_ok=True)
    rows, expected = ["file_name,y,land_cover,split,split_str"], {}
    names = ("train", "val", "test")
    for code, count in enumerate(splits):
        for i in range(count):
            name = f"tiles/{names[code]}_{i}.npy"
            rgbn = rng.integers(0, 256, (side, side, 4), dtype=np.uint8)
            label_band = np.full((side, side, 1), 75, dtype=np.uint8)
            tile = np.concatenate([rgbn, label_band], axis=-1)
            expected[name] = tile[..., :3].transpose(2, 0, 1).copy()
            if layout == "chw":
                tile = tile.transpose(2, 0, 1)
            if dtype == "unit":
                tile = tile.astype(np.float32) / 255.0
            elif dtype != np.uint8:
                tile = tile.astype(dtype)
            np.save(folder / name, tile)
            rows.append(f"{name},{code * 10 + i},75,{code},{names[code]}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    return expected


def test_train_split_keeps_whole_tiles_and_crops_randomly(tmp_path):
    expected = write_landcover(tmp_path)
    train = load_images("landcover", "train", root=str(tmp_path), image_size=32)
    assert len(train) == 4 and train.channels == 3 and train.image_size == 32
    assert train.labels.tolist() == [0, 1, 2, 3]
    assert train.crop == 32 and train.flips
    for i in range(4):
        assert np.array_equal(train.images[i].numpy(), expected[f"tiles/train_{i}.npy"])
    first = train.batch(torch.arange(4), generator=make_generator(1))
    assert first.shape == (4, 3, 32, 32)
    assert torch.equal(first, train.batch(torch.arange(4), generator=make_generator(1)))


def test_test_split_is_the_centre_crop(tmp_path):
    expected = write_landcover(tmp_path)
    test = load_images("landcover", "test", root=str(tmp_path), image_size=32)
    assert test.images.shape == (3, 3, 32, 32) and test.crop is None
    assert test.labels.tolist() == [20, 21, 22]
    assert np.array_equal(test.images[1].numpy(), expected["tiles/test_1.npy"][:, 34:66, 34:66])


@pytest.mark.parametrize("layout,dtype", [("chw", np.uint8), ("hwc", "unit"), ("chw", np.float64)])
def test_band_layouts_and_value_scales(tmp_path, layout, dtype):
    expected = write_landcover(tmp_path, layout=layout, dtype=dtype)
    train = load_images("landcover", "train", root=str(tmp_path), image_size=16)
    for i in range(4):  # float [0, 1] tiles are scaled by 255; [0, 255] floats are not
        assert np.array_equal(train.images[i].numpy(), expected[f"tiles/train_{i}.npy"])


def test_the_cache_is_reused_and_keyed_by_the_file_list(tmp_path):
    write_landcover(tmp_path)
    folder = tmp_path / FOLDER
    load_images("landcover", "train", root=str(tmp_path), image_size=32)
    caches = sorted((folder / CACHE_DIR).glob("train-rgb-*.npy"))
    assert len(caches) == 1 and not list((folder / CACHE_DIR).glob("*partial*"))
    for tile in (folder / "tiles").glob("train_*.npy"):
        tile.unlink()  # a second load reads only the cache
    again = load_images("landcover", "train", root=str(tmp_path), image_size=32)
    assert len(again) == 4
    write_landcover(tmp_path)  # the tiles again
    metadata = folder / "metadata.csv"
    metadata.write_text(metadata.read_text().replace("tiles/train_3.npy", "tiles/val_0.npy"))
    mixed = load_images("landcover", "train", root=str(tmp_path), image_size=32)
    assert len(mixed) == 4 and len(list((folder / CACHE_DIR).glob("train-rgb-*.npy"))) == 2


def test_an_unwritable_cache_falls_back_to_memory(tmp_path, monkeypatch):
    import nca.data.sources.landcover as landcover

    write_landcover(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(landcover, "_write_cache", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = load_images("landcover", "train", root=str(tmp_path), image_size=32)
    assert len(train) == 4 and "holding the train split in memory" in str(caught[0].message)


def test_missing_dataset_says_where_to_get_it(tmp_path):
    with pytest.raises(DatasetUnavailable, match="sustainbench.*land_cover_representation"):
        load_images("landcover", "train", root=str(tmp_path))
    with pytest.raises(DatasetUnavailable, match="--download cannot fetch it"):
        load_images("landcover", "train", root=str(tmp_path), download=True)


def test_crops_larger_than_tiles_are_refused(tmp_path):
    write_landcover(tmp_path, side=24)
    with pytest.raises(ValueError, match="tiles are 24x24; image_size must be at most 24"):
        load_images("landcover", "test", root=str(tmp_path), image_size=32)


def test_bad_tiles_name_the_file(tmp_path):
    write_landcover(tmp_path)
    folder = tmp_path / FOLDER
    np.save(folder / "tiles/train_2.npy", np.full((100, 100, 4), 300, dtype=np.int16))
    with pytest.raises(LandCoverTileError, match=r"train_2.npy.*values in \[300, 300\]"):
        load_images("landcover", "train", root=str(tmp_path))
    np.save(folder / "tiles/train_2.npy", np.zeros((100, 100), dtype=np.uint8))
    with pytest.raises(LandCoverTileError, match=r"train_2.npy' has shape \(100, 100\)"):
        load_images("landcover", "train", root=str(tmp_path))
    np.save(folder / "tiles/train_2.npy", np.zeros((50, 50, 4), dtype=np.uint8))
    with pytest.raises(LandCoverTileError, match="all tiles of a split must have one size"):
        load_images("landcover", "train", root=str(tmp_path))
    assert not list((folder / CACHE_DIR).glob("*.npy"))  # no half-written cache is left


def test_bad_metadata_is_explained(tmp_path):
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / "metadata.csv").write_text("name,label\na.npy,1\n")
    with pytest.raises(DatasetUnavailable, match="expected columns file_name, y and split"):
        load_images("landcover", "train", root=str(tmp_path))
    (folder / "metadata.csv").write_text("file_name,y,split\na.npy,1,7\n")
    with pytest.raises(DatasetUnavailable, match="line 2: unknown split '7'"):
        load_images("landcover", "train", root=str(tmp_path))
