import pytest
import torch
from nca_denoise.data import DatasetUnavailable, load_images


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


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown dataset 'mnsit'. Did you mean 'mnist'?"):
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
