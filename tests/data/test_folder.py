"""``folder:PATH``: the valid layouts, ``?split=``, channel decision and unreadable files.

Issue 14: no split is silently reused as another, no image silently changes channels,
no bad file raises a traceback that does not name it.
"""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nca.data import DatasetUnavailable, dataset_source, load_images
from nca.data.sources.base import BadImageFile


def _images(folder, count, mode="RGB", start=0, suffix=".png", size=(10, 12)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        colour = (20 * i % 256, 100, 200)[: len(mode)] if mode != "1" else i % 2
        Image.new(mode, size, color=colour).save(folder / f"{i:03d}{suffix}")


def _tree(root, splits=("train", "test"), classes=("cats", "dogs"), count=3, mode="RGB"):
    for split in splits:
        for name in classes:
            _images(root / split / name, count, mode)
    return root


def _load(root, split, option="", size=8):
    return load_images(f"folder:{root}{option}", split, image_size=size)


def _unavailable(spec, split="train", match=""):
    """The error from check() (before a run) and from load(), which must agree."""
    with pytest.raises(DatasetUnavailable, match=match) as from_check:
        dataset_source(spec).check(root="data", download=False, image_size=8)
    with pytest.raises(DatasetUnavailable, match=match):
        load_images(spec, split, image_size=8)
    return str(from_check.value)


# ---------------------------------------------------------------- layouts


def test_train_and_test_folders(tmp_path):
    root = _tree(tmp_path)
    _images(root / "test" / "dogs", 1, start=3)
    train, test = _load(root, "train"), _load(root, "test")
    assert train.images.shape == (6, 3, 8, 8) and train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert test.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert str(root / "test") in test.description and "2 classes (cats, dogs)" in test.description
    assert str(root / "train") in train.description


@pytest.mark.parametrize("name", ["val", "valid", "Test"])
def test_val_or_valid_stands_in_for_test(tmp_path, name):
    root = _tree(tmp_path, splits=("train", name))
    assert len(_load(root, "test")) == 6
    assert str(root / name) in _load(root, "test").description


def test_test_is_preferred_to_val_and_the_unused_one_is_said(tmp_path):
    root = _tree(tmp_path, splits=("train", "test"))
    _images(root / "val" / "cats", 5)
    test = _load(root, "test")
    assert len(test) == 6 and "val/ not used" in test.description


def test_only_test_never_trains_on_the_test_images(tmp_path):
    root = _tree(tmp_path, splits=("test",))
    message = _unavailable(f"folder:{root}", "train", match="no train/ folder")
    assert str(root) in message and "valid layouts" in message
    with pytest.raises(DatasetUnavailable, match="no train/ folder"):  # not even the test split
        _load(root, "test")


def test_only_train_never_tests_on_the_training_images(tmp_path):
    root = _tree(tmp_path, splits=("train",))
    message = _unavailable(f"folder:{root}", "test", match="no test/ ")
    assert f"folder:{root / 'train'}?split=0.2" in message  # says how to split it instead
    with pytest.raises(DatasetUnavailable, match="no test/ "):
        _load(root, "train")
    assert dataset_source(f"folder:{root}").root == root


def test_only_val_is_missing_train(tmp_path):
    root = _tree(tmp_path, splits=("val",))
    _unavailable(f"folder:{root}", "test", match="has val/ but no train/ folder")


def test_a_flat_tree_needs_an_explicit_split(tmp_path):
    for name in ("cats", "dogs"):
        _images(tmp_path / name, 3)
    message = _unavailable(f"folder:{tmp_path}", "train", match=r"no train/ and test/ folders")
    assert f"folder:{tmp_path}?split=0.2" in message and "cats, dogs" in message


def test_class_folders_next_to_split_folders_are_ambiguous(tmp_path):
    root = _tree(tmp_path)
    _images(root / "birds", 2)
    message = _unavailable(f"folder:{root}", "train", match="ambiguous")
    assert "train/, test/" in message and "birds" in message
    _unavailable(f"folder:{root}?split=0.2", "train", match="ambiguous")


def test_folders_without_images_next_to_the_splits_are_ignored(tmp_path):
    root = _tree(tmp_path)
    (root / "logs").mkdir()
    (root / "logs" / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("a dataset")
    _images(root, 1)  # a preview image next to the splits is no split's data
    assert len(_load(root, "train")) == 6


def test_a_missing_or_non_folder_path(tmp_path):
    _unavailable(f"folder:{tmp_path / 'nope'}", match="does not exist")
    (tmp_path / "file").write_text("x")
    _unavailable(f"folder:{tmp_path / 'file'}", match="is not a folder")
    with pytest.raises(DatasetUnavailable, match="does not exist"):  # not "3 channels"
        dataset_source(f"folder:{tmp_path / 'nope'}").channels()


# ------------------------------------------------------------------ ?split=


def _flat(root, counts=None, mode="RGB"):
    for name, count in (counts or {"a": 10, "b": 5, "c": 1}).items():
        _images(root / name, count, mode)
    return root


def _files(root, option, split):
    layout = dataset_source(f"folder:{root}{option}").layout()
    return [path.relative_to(root).as_posix() for path, _ in layout.files[split]]


def test_split_holds_out_a_seeded_stratified_fraction(tmp_path):
    root = _flat(tmp_path / "flat")
    train, test = _files(root, "?split=0.2", "train"), _files(root, "?split=0.2", "test")
    assert not set(train) & set(test) and len(train) + len(test) == 16
    by_class = {c: sum(f.startswith(c) for f in test) for c in "abc"}
    assert by_class == {"a": 2, "b": 1, "c": 0}  # round(0.2 n), >= 1 each side, 1 image: train
    images = _load(root, "test", "?split=0.2")
    assert len(images) == 3 and images.labels.tolist() == [0, 0, 1]
    about = images.description
    assert "stratified" in about and "seed 0" in about and "20%" in about and str(root) in about
    assert len(_load(root, "train", "?split=0.2")) == 13


def test_split_says_what_it_could_not_do_as_asked(tmp_path):
    root = _flat(tmp_path / "flat")  # a: 10, b: 5, c: 1 image
    with pytest.warns(UserWarning) as caught:
        _load(root, "test", "?split=0.2")
    said = [str(w.message) for w in caught]
    assert any("1 class(es) hold a single image (c)" in line for line in said), said
    assert any("holds out 3 of 16 images (18.8%, not 20%)" in line for line in said), said
    even = _flat(tmp_path / "even", {"a": 10, "b": 10})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 2 of 10 per class is the asked share: nothing to say
        assert len(_load(even, "test", "?split=0.2")) == 4


def test_split_is_the_same_everywhere_and_the_seed_changes_it(tmp_path):
    root = _flat(tmp_path / "flat", {"a": 40, "b": 40})
    test = _files(root, "?split=0.25", "test")
    assert test == _files(root, "?split=0.25", "test")
    moved = tmp_path / "elsewhere" / "flat"  # a copy on another machine, another path
    shutil.copytree(root, moved)
    assert _files(moved, "?split=0.25", "test") == test  # depends on names, not location
    assert _files(root, "?split=0.25&seed=0", "test") == test
    other = _files(root, "?split=0.25&seed=7", "test")
    assert other != test and len(other) == len(test) == 20
    # pinned: the split a recorded config names must never change between versions
    assert test[:5] == ["a/001.png", "a/010.png", "a/014.png", "a/021.png", "a/026.png"]
    assert test[10:13] == ["b/005.png", "b/008.png", "b/022.png"]


def test_split_of_a_tree_that_is_already_split(tmp_path):
    root = _tree(tmp_path)
    _unavailable(f"folder:{root}?split=0.2", match="does not apply")
    only_train = _tree(tmp_path / "t", splits=("train",))
    message = _unavailable(f"folder:{only_train}?split=0.2", match="does not apply")
    assert f"folder:{only_train / 'train'}?split=0.2" in message
    assert len(_load(only_train / "train", "test", "?split=0.5")) == 4  # 2 of 3 per class


def test_split_of_single_image_classes_holds_nothing_out(tmp_path):
    root = _flat(tmp_path, {"a": 1, "b": 1})
    _unavailable(f"folder:{tmp_path}?split=0.3", match="holds out no test images")
    assert root


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ("?split=1.5", "0 < FRACTION < 1"),
        ("?split=0", "0 < FRACTION < 1"),
        ("?split=abc", "0 < FRACTION < 1"),
        ("?split=nan", "0 < FRACTION < 1"),
        ("?bogus=1", "unknown option bogus=.*valid options: split=FRACTION"),
        ("?seed=3", "seed= only applies with split="),
        ("?split=0.2&seed=-1", "seed= must be a whole number"),
        ("?split=0.2&split=0.3", "given twice"),
    ],
)
def test_bad_options_are_explained(tmp_path, option, match):
    with pytest.raises(ValueError, match=match):
        dataset_source(f"folder:{tmp_path}{option}")


def test_a_question_mark_in_a_path_is_still_a_path(tmp_path):
    root = _tree(tmp_path / "what?")
    assert len(_load(root, "train")) == 6
    assert dataset_source("folder:a?b/c").options.path == "a?b/c"
    with pytest.raises(ValueError, match="names no folder"):
        dataset_source("folder:?split=0.2")


# ---------------------------------------------------------------- channels


def test_grayscale_in_every_split_stays_single_channel(tmp_path):
    root = _tree(tmp_path, mode="L")
    _images(root / "test" / "cats", 1, mode="1", start=9)
    _images(root / "test" / "cats", 1, mode="LA", start=10)
    assert dataset_source(f"folder:{root}").channels() == 1
    assert _load(root, "train").channels == _load(root, "test").channels == 1
    assert "read as grayscale" in _load(root, "test").description


def test_a_colour_image_after_the_first_16_makes_every_split_rgb(tmp_path):
    root = tmp_path
    _images(root / "train" / "a", 20, mode="L")
    _images(root / "train" / "b", 1, mode="RGB")  # sorted after 20 gray files
    _images(root / "test" / "a", 2, mode="L")
    _images(root / "test" / "b", 1, mode="L")
    with pytest.warns(UserWarning, match=r"mixes grayscale and RGB images \(23 gray, 1 colour\)"):
        assert dataset_source(f"folder:{root}").channels() == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, test = _load(root, "train"), _load(root, "test")
    assert train.channels == test.channels == 3
    assert "all are read as RGB" in test.description
    colour = train.images[-1]
    assert not torch.equal(colour[0], colour[2])  # the RGB image kept its colour
    gray = train.images[1]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_colour_only_in_the_test_split_decides_for_the_training_split(tmp_path):
    root = tmp_path
    _images(root / "train" / "a", 3, mode="L")
    _images(root / "test" / "a", 2, mode="RGB")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dataset_source(f"folder:{root}").channels() == 3
        assert _load(root, "train").channels == _load(root, "test").channels == 3


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    folder = tmp_path / "train" / "a"
    folder.mkdir(parents=True)
    values = np.full((8, 8), 32896, dtype=np.uint16)  # 128 * 257: mid-gray
    Image.fromarray(values).save(folder / "x.png")
    _images(tmp_path / "test" / "a", 1, mode="L")
    train = _load(tmp_path, "train")
    assert train.channels == 1 and train.images.unique().tolist() == [128]


def test_floating_point_images_are_refused_by_name(tmp_path):
    folder = tmp_path / "train" / "a"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32)).save(folder / "x.tif")
    _images(tmp_path / "test" / "a", 1, mode="L")
    with pytest.raises(BadImageFile, match=r"x\.tif.*floating-point"):
        _load(tmp_path, "train")


def test_channel_detection_reads_headers_only(tmp_path):
    root = _tree(tmp_path, classes=[f"c{i}" for i in range(20)], count=50, mode="L")
    start = time.perf_counter()
    assert dataset_source(f"folder:{root}").channels() == 1  # 2,000 files
    assert time.perf_counter() - start < 10  # ~0.3 s on 2 CPU cores


# ------------------------------------------------------------ bad files


def _bad_tree(tmp_path, content):
    root = _tree(tmp_path)
    bad = root / "train" / "dogs" / "bad.png"
    bad.write_bytes(content(root / "train" / "dogs" / "000.png"))
    return root, bad


@pytest.mark.parametrize(
    "content",
    [
        lambda good: good.read_bytes()[: len(good.read_bytes()) // 2],  # truncated PNG
        lambda good: b"this is not a PNG file at all" * 10,  # garbage
        lambda good: b"",  # empty file
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_an_unreadable_image_is_an_error_naming_it(tmp_path, content):
    root, bad = _bad_tree(tmp_path, content)
    with pytest.raises(BadImageFile, match="cannot read image") as err:
        dataset_source(f"folder:{root}").channels()  # from the header, before any run
    assert str(bad) in str(err.value) and isinstance(err.value, ValueError)
    with pytest.raises(BadImageFile, match="bad.png"):
        _load(root, "train")


def test_truncated_pixel_data_is_named_at_decoding(tmp_path):
    root = _tree(tmp_path)
    good = root / "train" / "dogs" / "000.png"
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    big.save(good)
    good.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # header intact
    assert dataset_source(f"folder:{root}").channels() == 3  # the header reads fine
    with pytest.raises(BadImageFile, match=r"000\.png.*truncated"):
        _load(root, "train")


def test_an_image_past_pils_pixel_limit_is_named_with_its_size(tmp_path, huge_png):
    root = _tree(tmp_path / "tree")
    bad = root / "train" / "dogs" / "huge.png"
    bad.write_bytes(Path(huge_png).read_bytes())
    with pytest.raises(BadImageFile) as err:
        dataset_source(f"folder:{root}").channels()  # from the header, before any run
    assert f"{str(bad)!r} has 400,000,000 pixels" in str(err.value)
    assert "decompression-bomb limit" in str(err.value) and "corrupt" not in str(err.value)


def test_class_count_is_known_before_loading_and_numbers_the_labels(tmp_path):
    root = _tree(tmp_path, classes=("a", "b", "c"))
    _images(root / "test" / "d", 1)  # a class only in test/ is numbered too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dataset_source(f"folder:{root}").class_count() == 4
        assert _load(root, "test").labels.max() == 3
    embedded = load_images("embedded-mnist", "train")
    assert dataset_source("embedded-mnist").class_count() == embedded.labels.max() + 1


def test_bad_image_is_a_one_line_cli_error():
    from nca.cli.errors import user_errors

    with pytest.raises(Exception, match="cannot read image 'x.png'") as err, user_errors():
        raise BadImageFile("cannot read image 'x.png' (broken)")
    assert type(err.value).__name__ == "ClickException"


# -------------------------------------------------------------- neighbours


def test_an_empty_class_folder_is_named(tmp_path):
    root = _tree(tmp_path)
    (root / "test" / "birds").mkdir()
    (root / "test" / "birds" / "notes.txt").write_text("no images")
    message = _unavailable(f"folder:{root}", "test", match="holds no images")
    assert str(root / "test" / "birds") in message


def test_an_empty_split_is_named(tmp_path):
    root = _tree(tmp_path, splits=("train",))
    (root / "test").mkdir()
    message = _unavailable(f"folder:{root}", "test", match="holds no class folders")
    assert str(root / "test") in message


def test_images_outside_class_folders_are_an_error(tmp_path):
    root = _tree(tmp_path)
    _images(root / "train", 2)
    message = _unavailable(f"folder:{root}", "train", match="outside class folders")
    assert "000.png, 001.png" in message


def test_upper_case_suffixes_count_and_other_files_are_skipped(tmp_path):
    root = _tree(tmp_path)
    _images(root / "train" / "cats", 2, suffix=".PNG", start=10)
    _images(root / "train" / "cats", 1, suffix=".JPG", start=12)
    cats = root / "train" / "cats"
    (cats / "labels.csv").write_text("a,b")
    (cats / ".DS_Store").write_bytes(b"\0\1")
    (cats / "._000.png").write_bytes(b"AppleDouble resource fork, not a PNG")
    _images(cats / ".ipynb_checkpoints", 1)
    _images(root / "train" / ".ipynb_checkpoints", 1)  # a hidden folder is no class
    train = _load(root, "train")
    assert len(train) == 9 and train.labels.tolist() == [0] * 6 + [1] * 3


def test_nested_images_in_a_class_folder_belong_to_it(tmp_path):
    root = _tree(tmp_path)
    _images(root / "train" / "cats" / "more", 2)
    assert _load(root, "train").labels.tolist() == [0] * 5 + [1] * 3


def test_labels_agree_across_splits_with_different_classes(tmp_path):
    root = _tree(tmp_path, splits=("train",), classes=("cats", "dogs"))
    _images(root / "test" / "dogs", 2)
    with pytest.warns(UserWarning, match="only in train/: cats"):
        test = _load(root, "test")
    assert test.labels.tolist() == [1, 1]  # dogs, as in training (not relabelled 0)
    assert "only in train/: cats" in test.description


def test_images_of_different_sizes_are_resized(tmp_path):
    root = _tree(tmp_path)
    _images(root / "train" / "cats", 1, size=(50, 7), start=5)
    assert _load(root, "train", size=16).images.shape == (7, 3, 16, 16)


# ----------------------------------------------------------- tiny-imagenet


def _tiny(tmp_path):
    base = tmp_path / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("n01\n")
    _images(base / "train" / "n01" / "images", 2, suffix=".JPEG", size=(64, 64))
    (base / "train" / "n01" / "n01_boxes.txt").write_text("")
    Image.new("RGB", (64, 64)).save(base / "val" / "images" / "val_0.JPEG")
    (base / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn01\t0\t0\t63\t63\n")
    return base


def test_tiny_imagenet_names_a_bad_file_and_an_unknown_class(tmp_path):
    base = _tiny(tmp_path)
    assert len(load_images("tiny-imagenet", "train", root=str(tmp_path))) == 2
    bad = base / "train" / "n01" / "images" / "001.JPEG"
    bad.write_bytes(b"garbage")
    with pytest.raises(BadImageFile, match=r"001\.JPEG"):
        load_images("tiny-imagenet", "train", root=str(tmp_path))
    (base / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99\t0\t0\t63\t63\n")
    with pytest.raises(DatasetUnavailable, match="class 'n99' .* not listed in wnids.txt"):
        load_images("tiny-imagenet", "val", root=str(tmp_path))
    (base / "val" / "val_annotations.txt").write_text("missing.JPEG\tn01\t0\t0\t63\t63\n")
    with pytest.raises(BadImageFile, match=r"missing\.JPEG"):
        load_images("tiny-imagenet", "val", root=str(tmp_path))


def test_a_folder_that_cannot_be_listed_is_named_not_skipped(tmp_path, monkeypatch):
    import os

    from nca.data.sources import image_files

    root = _tree(tmp_path)
    real_walk = os.walk

    def walk(top, onerror=None, followlinks=False):
        if top == root / "train" / "dogs":  # as os.walk does for an unreadable folder
            onerror(PermissionError(13, "Permission denied", str(top)))
        yield from real_walk(top, onerror=onerror, followlinks=followlinks)

    monkeypatch.setattr(image_files.os, "walk", walk)
    message = _unavailable(f"folder:{root}", match="cannot list folder")
    assert str(root / "train" / "dogs") in message and "Permission denied" in message
