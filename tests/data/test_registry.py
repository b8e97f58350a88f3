"""The dataset registry: built-ins through entry points, third-party sources, errors."""

import pytest
import torch

from nca.data import (
    DATASETS,
    DatasetSource,
    ImageSet,
    dataset_source,
    default_image_size,
    list_datasets,
    load_images,
    register_dataset,
)
from nca.registry import UnknownPluginError

BUILT_IN = {
    "embedded-mnist": (1, 32),
    "mnist": (1, 32),
    "fashion-mnist": (1, 32),
    "cifar10": (3, 32),
    "celeba": (3, 32),
    "tiny-imagenet": (3, 64),
    "landcover": (3, 32),
}


def test_built_ins_are_discovered_through_entry_points():
    assert set(BUILT_IN) | {"folder"} <= set(list_datasets())
    assert DATASETS.entry("landcover").target == "nca.data.sources.landcover:LandCoverRep"


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_every_built_in_knows_its_channels_and_size(name):
    channels, size = BUILT_IN[name]
    source = dataset_source(name)
    assert source.channels() == channels and default_image_size(name) == size
    assert source.summary()  # shown by `nca list --type datasets`


def test_arguments_are_checked():
    assert dataset_source("folder:/some/where").argument == "/some/where"
    with pytest.raises(ValueError, match="needs an argument: folder:PATH"):
        dataset_source("folder")
    with pytest.raises(ValueError, match="takes no argument"):
        dataset_source("mnist:extra")
    with pytest.raises(UnknownPluginError, match="Did you mean 'landcover'"):
        dataset_source("landcovr")


def test_bad_split_and_size_are_explained():
    with pytest.raises(ValueError, match="has no 'val' split; valid: train, test"):
        load_images("embedded-mnist", "val")
    with pytest.raises(ValueError, match="image_size must be >= 4"):
        load_images("embedded-mnist", "train", image_size=2)


class Checkerboards(DatasetSource):
    """Synthetic checkerboards (a third-party dataset in a test)."""

    name = "checkerboards"

    def channels(self) -> int:
        return 1

    def load(self, split, *, root, download, image_size):
        y, x = torch.meshgrid(torch.arange(image_size), torch.arange(image_size), indexing="ij")
        board = ((y // 2 + x // 2) % 2 * 255).to(torch.uint8)
        images = board.expand(8, 1, image_size, image_size).contiguous()
        return ImageSet(images, torch.zeros(8, dtype=torch.long), self.name)


def test_third_party_sources_register_and_load():
    register_dataset(Checkerboards)
    try:
        assert "checkerboards" in list_datasets()
        data = load_images("checkerboards", "train", image_size=8)
        assert data.images.shape == (8, 1, 8, 8)
    finally:
        DATASETS.unregister("checkerboards")


def test_a_non_source_is_refused():
    with pytest.raises(TypeError, match="subclass of nca.data.DatasetSource"):
        register_dataset(dict, name="dict")


def test_a_source_returning_the_wrong_size_is_a_reported_plugin_bug():
    class Wrong(Checkerboards):
        name = "wrong-size"

        def load(self, split, *, root, download, image_size):
            return super().load(split, root=root, download=download, image_size=image_size + 2)

    register_dataset(Wrong)
    try:
        with pytest.raises(RuntimeError, match="bug in the dataset plugin"):
            load_images("wrong-size", "train", image_size=8)
    finally:
        DATASETS.unregister("wrong-size")
