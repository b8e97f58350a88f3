import math

import torch

from nca.layers.positional import sinusoidal_encoding, xy_fourier_encoding, xy_grid


def test_sinusoidal_encoding_formula():
    pe = sinusoidal_encoding(50, 8)
    assert pe.shape == (50, 8)
    n, i = 7, 3  # odd channel 2*1+1 uses its own index in the exponent
    assert math.isclose(pe[n, 2].item(), math.sin(n * 10000 ** (-2 / 8)), rel_tol=1e-6)
    assert math.isclose(pe[n, i].item(), math.cos(n * 10000 ** (-3 / 8)), rel_tol=1e-6)
    assert torch.all(pe[0, 1::2] == 1) and torch.all(pe[0, 0::2] == 0)


def test_xy_grid_and_fourier_channels():
    xy = xy_grid(3, 5)
    assert xy.shape == (2, 3, 5)
    assert xy[0, 0].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]  # x varies along columns
    assert xy[1, :, 0].tolist() == [-1.0, 0.0, 1.0]  # y along rows
    assert xy_fourier_encoding(4, 4, frequencies=5).shape[0] == 20
    assert xy_fourier_encoding(4, 4, frequencies=5, raw_xy=True).shape[0] == 22
    assert xy_fourier_encoding(4, 4, fourier=False, raw_xy=True).shape[0] == 2
    enc = xy_fourier_encoding(4, 4, frequencies=2)
    # blocks: sin(x·2^l π), sin(y·2^l π), cos(x·2^l π), cos(y·2^l π)
    x = xy_grid(4, 4)[0]
    torch.testing.assert_close(enc[1], torch.sin(2 * math.pi * x))
    torch.testing.assert_close(enc[4], torch.cos(math.pi * x))
