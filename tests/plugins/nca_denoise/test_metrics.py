"""LPIPS against the published reference distances."""

import pytest
import torch
from nca_denoise.metrics import LpipsUnavailable, load_lpips, lpips_distance


def test_lpips_reproduces_the_published_reference_distances(shared_dir):
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    def load(name):
        path = shared_dir / "reference" / "lpips" / f"{name}.png"
        return pil_to_tensor(Image.open(path).convert("RGB")).float().unsqueeze(0) / 255

    model = load_lpips("alex", shared_dir / "weights")
    ref = load("ex_ref")
    assert round(lpips_distance(model, load("ex_p0"), ref).item(), 3) == 0.722
    assert round(lpips_distance(model, load("ex_p1"), ref).item(), 3) == 0.138


def test_lpips_vgg_loads_from_a_file_and_grayscale_is_tiled(shared_dir):
    model = load_lpips("vgg", shared_dir / "weights" / "lpips_vgg16_features.pth")
    x, y = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    assert torch.allclose(lpips_distance(model, x, x), torch.zeros(2), atol=1e-6)
    tiled = lpips_distance(model, x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1))
    torch.testing.assert_close(lpips_distance(model, x, y), tiled)  # gray = tiled RGB
    assert torch.all(tiled > 0)


def test_lpips_missing_weights_error(tmp_path):
    with pytest.raises(LpipsUnavailable, match="backbone weights not found"):
        load_lpips("vgg", tmp_path / "nothing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(LpipsUnavailable, match="torchvision key names"):
        load_lpips("alex", bad)
