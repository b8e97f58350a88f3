"""Tiny ImageNet's three splits on a small fake tree in the archive's layout."""

import pytest
import torch
from PIL import Image

from nca import load_images


@pytest.fixture
def tiny_root(tmp_path):
    base = tmp_path / "tiny-imagenet-200"
    wnids = ["n01", "n02"]
    (base).mkdir()
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")

    def image(path, value):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (value, value, value)).save(path)

    for c, wnid in enumerate(wnids):
        for i in range(3):
            image(base / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", 40 * c + i)
    rows = []
    for i in range(4):
        image(base / "val" / "images" / f"val_{i}.JPEG", 100 + i)
        rows.append(f"val_{i}.JPEG\t{wnids[i % 2]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(rows) + "\n")
    for i in range(5):
        image(base / "test" / "images" / f"test_{i}.JPEG", 200 + i)
    return tmp_path


def test_train_val_and_unlabelled_test_splits(tiny_root):
    train = load_images("tiny-imagenet", "train", root=str(tiny_root), image_size=16)
    val = load_images("tiny-imagenet", "val", root=str(tiny_root), image_size=16)
    test = load_images("tiny-imagenet", "test", root=str(tiny_root), image_size=16)
    assert (len(train), len(val), len(test)) == (6, 4, 5)
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1] and val.labels.tolist() == [0, 1, 0, 1]
    assert test.labels.tolist() == [-1] * 5  # the test split has no labels
    assert train.flips == "horizontal" and test.flips == "none"  # the release flips training


def test_horizontal_flips_never_flip_vertically(tiny_root):
    train = load_images("tiny-imagenet", "train", root=str(tiny_root), image_size=16)
    ramp = torch.arange(16, dtype=torch.uint8).view(1, 1, 16, 1) * 8
    train.images = (ramp + ramp.transpose(-1, -2)).expand(6, 3, 16, 16).contiguous()
    plain = train.batch(torch.arange(6))
    flipped = train.batch(torch.arange(6), generator=torch.Generator().manual_seed(1))
    for a, b in zip(plain, flipped, strict=True):
        assert torch.equal(a, b) or torch.equal(a.flip(-1), b)
    assert not torch.equal(plain, flipped)


def test_a_missing_val_split_is_named():
    with pytest.raises(ValueError, match="'embedded-mnist' has no 'val' split; valid: train, test"):
        load_images("embedded-mnist", "val")
