import itertools

import pytest
import torch
from nca_denoise.masking import CONFIGURATIONS, Curriculum, config_name, mask_images


def test_configurations_in_the_papers_order():
    assert [config_name(c) for c in CONFIGURATIONS] == [
        "1x1/25%",
        "1x1/50%",
        "1x1/75%",
        "2x2/25%",
        "2x2/50%",
        "2x2/75%",
        "4x4/25%",
        "4x4/50%",
        "4x4/75%",
    ]


def test_curriculum_grows_geometrically_to_all_nine_by_10k():
    curriculum = Curriculum()
    thresholds = curriculum.thresholds()
    assert thresholds[0] == 500 and thresholds[-1] == 10_000 and len(thresholds) == 8
    ratios = [b / a for a, b in itertools.pairwise(thresholds)]
    assert max(ratios) - min(ratios) < 0.01
    assert curriculum.allowed(1) == 1 and curriculum.allowed(499) == 1
    assert curriculum.allowed(500) == 2 and curriculum.allowed(10_000) == 9
    assert Curriculum(enabled=False).allowed(1) == 9


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=config_name)
def test_gaussian_patches_share_one_value_and_cover_the_fraction(config):
    side, coverage = config
    images = torch.full((64, 1, 16, 16), 0.5)
    masked = mask_images(images, config, torch.Generator().manual_seed(0))
    changed = masked != 0.5
    patches = (16 // side) ** 2
    per_image = changed.flatten(1).float().mean(1)
    # every image gets exactly round(coverage * patches) noisy patches
    assert torch.all(per_image == round(coverage * patches) / patches)
    patches = masked.unfold(2, side, side).unfold(3, side, side)  # (B, 1, h, w, side, side)
    flat = patches.reshape(*patches.shape[:4], -1)
    assert torch.all(flat == flat[..., :1])  # one noise value per patch


def test_rgb_uses_dropout_and_masks_all_channels_together():
    images = torch.rand(8, 3, 8, 8) + 1.0
    masked = mask_images(images, (2, 0.5), torch.Generator().manual_seed(1))
    zero = masked == 0
    assert torch.all(zero.all(dim=1) == zero.any(dim=1))
    assert torch.all((masked == images) | zero)


def test_masks_are_seeded():
    images = torch.rand(4, 1, 8, 8)
    a = mask_images(images, (1, 0.5), torch.Generator().manual_seed(3))
    b = mask_images(images, (1, 0.5), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="not divisible by the patch size 4x4"):
        mask_images(torch.rand(1, 1, 6, 6), (4, 0.5), torch.Generator())
    rectangular = mask_images(
        torch.full((2, 1, 8, 8), 0.5), ((4, 1), 0.5), torch.Generator().manual_seed(0)
    )
    columns = rectangular.unfold(2, 4, 4)  # (B, 1, 2, 8, 4): each 4x1 patch shares one value
    assert torch.all(columns == columns[..., :1])
