"""LandCoverRep in SustainBench's layout (metadata.csv + .npy tiles), on synthetic tiles.

The real archive is a manual download; these tiles follow its published format
(``LandCoverRepDataset``: 100x100 tiles, bands R, G, B, NIR and a label band).
"""

import threading
import warnings

import numpy as np
import pytest
import torch

from nca.core import make_generator
from nca.data import DatasetUnavailable, dataset_source, load_images
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
    assert train.crop == 32 and train.random_crop and train.flips
    for i in range(4):
        assert np.array_equal(train.images[i].numpy(), expected[f"tiles/train_{i}.npy"])
    first = train.batch(torch.arange(4), generator=make_generator(1))
    assert first.shape == (4, 3, 32, 32)
    assert torch.equal(first, train.batch(torch.arange(4), generator=make_generator(1)))


def test_test_split_is_the_centre_crop(tmp_path):
    expected = write_landcover(tmp_path)
    test = load_images("landcover", "test", root=str(tmp_path), image_size=32)
    assert (
        len(test) == 3
        and test.crop == 32
        and not test.augmented
        and test.labels.tolist()
        == [
            20,
            21,
            22,
        ]
    )
    centre = expected["tiles/test_1.npy"][:, 34:66, 34:66]
    for generator in (None, make_generator(0)):  # no flips: a generator changes nothing
        batch = test.batch(torch.tensor([1]), generator=generator)
        assert np.array_equal((batch[0] * 255).round().to(torch.uint8).numpy(), centre)


@pytest.mark.parametrize("layout,dtype", [("chw", np.uint8), ("hwc", "unit"), ("chw", np.float64)])
def test_band_layouts_and_value_scales(tmp_path, layout, dtype):
    expected = write_landcover(tmp_path, layout=layout, dtype=dtype)
    train = load_images("landcover", "train", root=str(tmp_path), image_size=16)
    for i in range(4):  # float [0, 1] tiles are scaled by 255; [0, 255] floats are not
        assert np.array_equal(train.images[i].numpy(), expected[f"tiles/train_{i}.npy"])


def test_the_cache_is_reused_and_follows_changed_tiles(tmp_path, monkeypatch):
    import nca.data.sources.landcover as landcover

    write_landcover(tmp_path)
    folder = tmp_path / FOLDER
    load_images("landcover", "train", root=str(tmp_path), image_size=32)
    caches = sorted((folder / CACHE_DIR).glob("train-rgb-*.npy"))
    assert len(caches) == 1 and not list((folder / CACHE_DIR).glob("*partial*"))

    def no_reads(path):
        raise AssertionError(f"read {path} despite the cache")

    with monkeypatch.context() as patch:
        patch.setattr(landcover, "read_tile", no_reads)
        assert len(load_images("landcover", "train", root=str(tmp_path), image_size=32)) == 4

    tile = np.zeros((100, 100, 5), dtype=np.uint8)
    np.save(folder / "tiles/train_1.npy", tile)  # replaced in place: a new cache, no stale pixels
    fresh = load_images("landcover", "train", root=str(tmp_path), image_size=32)
    assert int(fresh.images[1].max()) == 0 and int(fresh.images[0].max()) > 0
    assert sorted((folder / CACHE_DIR).glob("train-rgb-*.npy")) != caches  # old one removed
    assert len(list((folder / CACHE_DIR).glob("train-rgb-*.npy"))) == 1


def _refuse_in(directory):
    """A stand-in for ``cache._build`` failing like a read-only file system in ``directory``."""
    import errno

    import nca.data.sources.landcover.cache as cache

    real = cache._build

    def build(place, *args):
        if directory is None or str(place).startswith(str(directory)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(place, *args)

    return build


def test_a_read_only_data_folder_caches_in_the_user_cache(tmp_path, monkeypatch):
    import nca.data.sources.landcover.cache as cache

    expected = write_landcover(tmp_path / "data")
    monkeypatch.setenv("NCA_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.setattr(cache, "_build", _refuse_in(tmp_path / "data"))
    train = load_images("landcover", "train", root=str(tmp_path / "data"), image_size=32)
    assert np.array_equal(train.images[2].numpy(), expected["tiles/train_2.npy"])
    assert len(list((tmp_path / "user-cache").rglob("train-rgb-*.npy"))) == 1


def test_no_writable_cache_falls_back_to_memory_with_a_warning(tmp_path, monkeypatch):
    import nca.data.sources.landcover.cache as cache

    write_landcover(tmp_path)
    monkeypatch.setattr(cache, "_build", _refuse_in(None))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = load_images("landcover", "train", root=str(tmp_path), image_size=32)
    assert len(train) == 4
    message = str(caught[0].message)
    assert "Read-only file system" in message and "holding the train split in memory" in message


def test_concurrent_loads_convert_once_and_agree(tmp_path):
    write_landcover(tmp_path, splits=(40, 1, 1))
    results, errors = [], []

    def load():
        try:
            results.append(load_images("landcover", "train", root=str(tmp_path), image_size=8))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 4
    assert all(torch.equal(r.images, results[0].images) for r in results)
    cache = tmp_path / FOLDER / CACHE_DIR
    assert len(list(cache.glob("train-rgb-*.npy"))) == 1 and not list(cache.glob("*.partial"))


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
    cases = [
        ("name,label\na.npy,1\n", r"expected columns file_name \(or fileName\), y"),
        ("file_name,y,split\na.npy,1,7\n", "line 2: unknown split '7'"),
        ("file_name,y,split,split_str\na.npy,1,3,train\n", "line 2: unknown split '3'"),
        ("file_name,y,split\na.npy,,0\n", "line 2: y must be a non-negative integer, got ''"),
        ("file_name,y,split_str\na.npy,2,holdout\n", "line 2: unknown split 'holdout'"),
    ]
    for text, message in cases:
        (folder / "metadata.csv").write_text(text)
        with pytest.raises(DatasetUnavailable, match=message):
            load_images("landcover", "train", root=str(tmp_path))


def test_sustainbench_v1_1_layout(tmp_path):
    """SustainBench's own loader: land_cover_rep_v1.1/, fileName/landCover/splitStr columns,
    tiles under tile_triplets/; land-cover codes become class indices in sorted order."""
    folder = tmp_path / "land_cover_rep_v1.1"
    (folder / "tile_triplets").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["fileName,landCover,split,splitStr"]
    for i, (code, split) in enumerate([(75, 0), (1, 0), (242, 2), (75, 2)]):
        np.save(folder / "tile_triplets" / f"{i}anchor.npy", rng.integers(0, 256, (100, 100, 4)))
        rows.append(f"{i}anchor.npy,{code},{split},{['train', 'val', 'test'][split]}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    train = load_images("landcover", "train", root=str(tmp_path), image_size=32)
    test = load_images("landcover", "test", root=str(tmp_path), image_size=32)
    assert train.labels.tolist() == [1, 0] and test.labels.tolist() == [2, 1]  # 1 < 75 < 242


def test_value_scales_are_never_guessed_silently(tmp_path):
    folder = tmp_path / FOLDER
    write_landcover(tmp_path, dtype="unit")
    slightly_over = np.load(folder / "tiles/train_0.npy")
    slightly_over[0, 0, 0] = 1.0004  # rounding slack of a [0, 1] tile
    np.save(folder / "tiles/train_0.npy", slightly_over)
    train = load_images("landcover", "train", root=str(tmp_path), image_size=32)
    assert int(train.images.max()) == 255  # still read as [0, 1], not darkened to 0/1

    write_landcover(tmp_path, dtype=np.float32)  # a [0, 255] float split...
    np.save(folder / "tiles/train_3.npy", np.full((100, 100, 4), 0.5, dtype=np.float32))
    with pytest.raises(LandCoverTileError, match="train_3.npy' holds fractional values up to"):
        load_images("landcover", "train", root=str(tmp_path))  # ...with one [0, 1] tile

    nan_tile = np.full((100, 100, 4), 10.0, dtype=np.float32)
    nan_tile[5, 5, 1] = np.nan
    np.save(folder / "tiles/train_3.npy", nan_tile)
    with pytest.raises(LandCoverTileError, match="train_3.npy' holds NaN or infinite values"):
        load_images("landcover", "train", root=str(tmp_path))


def test_check_fails_before_anything_is_written(tmp_path):
    source = dataset_source("landcover")
    with pytest.raises(DatasetUnavailable, match="LandCoverRep is not in"):
        source.check(root=str(tmp_path), download=False, image_size=32)
    write_landcover(tmp_path, side=24)
    with pytest.raises(ValueError, match="image_size must be at most 24"):
        source.check(root=str(tmp_path), download=False, image_size=32)
    source.check(root=str(tmp_path), download=False, image_size=16)
    assert not (tmp_path / FOLDER / CACHE_DIR).exists()
