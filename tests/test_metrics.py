"""Image metrics (nca.psnr / nca.ssim) against independent references."""

import math

import pytest
import torch

from nca import psnr, ssim


def test_psnr_hand_computed():
    target = torch.zeros(2, 1, 4, 4)
    output = torch.full((2, 1, 4, 4), 0.1)
    output[1] = 0.5
    expected = torch.tensor([10 * math.log10(1 / 0.01), 10 * math.log10(1 / 0.25)])
    torch.testing.assert_close(psnr(output, target), expected)


def test_psnr_and_ssim_match_scikit_image():
    skimage = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(0)
    # 64x64: torchmetrics and scikit-image treat the 5-pixel border slightly differently,
    # which matters less on larger images (about 4e-4 here)
    target = torch.rand(3, 1, 64, 64, generator=g)
    output = (target + 0.1 * torch.randn(3, 1, 64, 64, generator=g)).clamp(0, 1)
    for i in range(3):
        a, b = output[i, 0].double().numpy(), target[i, 0].double().numpy()
        assert math.isclose(
            psnr(output, target)[i].item(),
            skimage.peak_signal_noise_ratio(b, a, data_range=1.0),
            rel_tol=1e-4,
        )
        reference = skimage.structural_similarity(
            b, a, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        assert math.isclose(ssim(output, target)[i].item(), reference, abs_tol=1e-3)


def test_psnr_of_an_exact_reconstruction_is_capped():
    x = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(psnr(x, x), torch.full((2,), 100.0))


def test_ssim_of_identical_images_is_one():
    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(ssim(x, x), torch.ones(2))
