"""ImageSet: uint8 storage, float batches, random crops and flips, shards and subsets."""

import pytest
import torch

from nca.core import make_generator
from nca.data import ImageSet, centre_crop


def _set(n=6, size=10, crop=None, flips=False, random_crop=True):
    images = torch.arange(n * 3 * size * size, dtype=torch.int64).remainder(251).to(torch.uint8)
    images = images.view(n, 3, size, size)
    return ImageSet(images, torch.arange(n), "toy", crop, random_crop=random_crop, flips=flips)


def _windows(image: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Every crop of ``image`` under every combination of flips."""
    h, w = image.shape[-2:]
    out = []
    for y in range(h - size + 1):
        for x in range(w - size + 1):
            crop = image[:, y : y + size, x : x + size]
            out += [crop, crop.flip(-1), crop.flip(-2), crop.flip(-1).flip(-2)]
    return out


def test_plain_batches_are_the_stored_images_in_unit_range():
    data = _set()
    batch = data.batch(torch.tensor([4, 1]))
    assert batch.dtype == torch.float32 and batch.shape == (2, 3, 10, 10)
    assert torch.equal(batch * 255, data.images[[4, 1]].float())
    assert not data.augmented and data.image_size == 10


def test_random_crops_and_flips_are_windows_of_the_image_and_seeded():
    data = _set(crop=4, flips=True)
    assert data.augmented and data.image_size == 4
    index = torch.arange(6)
    first = data.batch(index, generator=make_generator(3))
    again = data.batch(index, generator=make_generator(3))
    other = data.batch(index, generator=make_generator(4))
    assert first.shape == (6, 3, 4, 4)
    assert torch.equal(first, again) and not torch.equal(first, other)
    for i in range(6):
        crop = (first[i] * 255).round().to(torch.uint8)
        assert any(torch.equal(crop, w) for w in _windows(data.images[i], 4))
    centre = data.batch(index)
    assert not torch.equal(first, centre)


def test_every_offset_and_flip_occurs():
    data = ImageSet(
        torch.arange(9, dtype=torch.uint8).view(1, 1, 3, 3).expand(400, 1, 3, 3).contiguous(),
        torch.zeros(400, dtype=torch.long),
        "toy",
        crop=2,
        random_crop=True,
        flips=True,
    )
    batch = (data.batch(torch.arange(400), generator=make_generator(0)) * 255).round()
    distinct = {tuple(b.flatten().tolist()) for b in batch}
    assert len(distinct) == 16  # 4 offsets x 4 flip combinations, all distinct here


def test_without_a_generator_batches_are_centre_crops():
    data = _set(crop=4, flips=True)
    batch = data.batch(torch.tensor([2]))
    assert torch.equal(batch[0] * 255, data.images[2, :, 3:7, 3:7].float())


def test_fixed_crops_ignore_the_generator_and_draw_nothing():
    data = _set(crop=4, random_crop=False)
    generator = make_generator(0)
    state = generator.get_state()
    batch = data.batch(torch.tensor([2]), generator=generator)
    assert torch.equal(batch[0] * 255, data.images[2, :, 3:7, 3:7].float())
    assert torch.equal(generator.get_state(), state) and not data.augmented


@pytest.mark.parametrize("size,crop", [(10, 4), (9, 4), (11, 6), (100, 32), (7, 7)])
def test_centre_crop_matches_torchvision(size, crop):
    from torchvision.transforms import CenterCrop

    images = torch.randint(0, 255, (2, 3, size, size), dtype=torch.uint8)
    assert torch.equal(centre_crop(images, crop), CenterCrop(crop)(images))


def test_shard_and_subset_keep_the_augmentation():
    data = _set(crop=4, flips=True)
    shard = data.shard(1, 2)
    assert shard.labels.tolist() == [1, 3, 5] and shard.crop == 4 and shard.flips
    assert shard.random_crop
    subset = data.subset(2)
    assert len(subset) == 2 and subset.crop == 4 and subset.flips


def test_a_subset_larger_than_the_split_keeps_all_and_says_so():
    data = _set()
    with pytest.warns(UserWarning, match=rf"eval_subset=50 but {data.name} has {len(data)} images"):
        assert data.subset(50, "eval_subset") is data
    with pytest.raises(ValueError, match="eval_subset must be >= 1, got 0"):
        data.subset(0, "eval_subset")


def test_bad_construction_is_explained():
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), "x")
    with pytest.raises(ValueError, match="labels must have shape"):
        ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3), "x")
    with pytest.raises(ValueError, match=r"crop must be in \[1, 4\]"):
        ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2), "x", crop=5)
