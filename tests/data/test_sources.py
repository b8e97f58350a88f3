"""The built-in dataset sources (all but landcover, which has its own file)."""

import pytest
import torch

from nca.data import DatasetUnavailable, dataset_source, load_images
from nca.registry import UnknownPluginError


def test_embedded_sample_is_real_mnist():
    train = load_images("embedded-mnist", "train", image_size=32)
    test = load_images("embedded-mnist", "test", image_size=16)
    assert train.images.shape == (4000, 1, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (1000, 1, 16, 16)
    assert set(train.labels.tolist()) == set(range(10))
    batch = train.batch(torch.arange(4))
    assert batch.dtype == torch.float32 and batch.min() >= 0 and batch.max() <= 1
    assert 0.05 < train.batch(torch.arange(500)).mean() < 0.25  # mostly-black digit images


def test_torchvision_mnist_from_the_shared_folder(shared_dir):
    test = load_images("mnist", "test", root=str(shared_dir / "data"), image_size=32)
    assert len(test) == 10_000 and test.channels == 1
    embedded = load_images("embedded-mnist", "test", image_size=32)
    assert torch.equal(test.images[:1000], embedded.images)  # the sample is MNIST's first digits


def test_missing_dataset_offline_says_what_to_do(tmp_path):
    with pytest.raises(DatasetUnavailable, match="pass --download"):
        load_images("fashion-mnist", "train", root=str(tmp_path))
    with pytest.raises(DatasetUnavailable, match="pass --download"):  # checked before a run
        dataset_source("fashion-mnist").check(root=str(tmp_path), download=False, image_size=32)
    dataset_source("fashion-mnist").check(root=str(tmp_path), download=True, image_size=32)


def test_check_passes_for_present_data(shared_dir):
    dataset_source("mnist").check(root=str(shared_dir / "data"), download=False, image_size=32)


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(UnknownPluginError, match="'mnsit' is not installed. Did you mean 'mnist'"):
        load_images("mnsit", "train")


def test_folder_dataset(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for label in ("cats", "dogs"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (20 + i, 24), color=(40 * i, 100, 200)).save(folder / f"{i}.png")
    images = load_images(f"folder:{tmp_path}", "test", image_size=8)
    assert images.images.shape == (6, 3, 8, 8)
    assert images.labels.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(DatasetUnavailable, match="does not exist"):
        load_images(f"folder:{tmp_path / 'nope'}", "train")


def test_tiny_imagenet_layout(tmp_path):
    from PIL import Image

    base = tmp_path / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("n01\nn02\n")
    lines = []
    for wnid in ("n01", "n02"):
        folder = base / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (64, 64), color=(i * 50, 0, 0)).save(folder / f"{wnid}_{i}.JPEG")
        Image.new("RGB", (64, 64)).save(base / "val" / "images" / f"val_{wnid}.JPEG")
        lines.append(f"val_{wnid}.JPEG\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    train = load_images("tiny-imagenet", "train", root=str(tmp_path), image_size=64)
    assert train.images.shape == (4, 3, 64, 64) and train.labels.tolist() == [0, 0, 1, 1]
    val = load_images("tiny-imagenet", "val", root=str(tmp_path), image_size=32)
    assert val.images.shape == (2, 3, 32, 32) and val.labels.tolist() == [0, 1]
    with pytest.raises(DatasetUnavailable, match="Tiny ImageNet is not in"):
        load_images("tiny-imagenet", "train", root=str(tmp_path / "elsewhere"))


def test_default_sizes():
    from nca_denoise.config import DenoiseConfig

    assert DenoiseConfig().image_size == 32
    assert DenoiseConfig(dataset="tiny-imagenet").image_size == 64
    assert DenoiseConfig(dataset="tiny-imagenet", image_size=32).image_size == 32


def test_grayscale_folder_stays_single_channel(tmp_path):
    from PIL import Image

    from nca.data.sources.folder import folder_channels

    for split in ("train", "test"):
        folder = tmp_path / "digits" / split / "0"
        folder.mkdir(parents=True)
        for i in range(3):
            Image.new("L", (10, 10), color=40 * i).save(folder / f"{i}.png")
    assert folder_channels(str(tmp_path / "digits")) == 1
    images = load_images(f"folder:{tmp_path / 'digits'}", "train", image_size=8)
    assert images.images.shape == (3, 1, 8, 8)
