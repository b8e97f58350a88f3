"""LPIPS (the ``lpips`` package) for the denoising evaluation; PSNR and SSIM are the
toolkit's own (:func:`nca.psnr`, :func:`nca.ssim`).

LPIPS takes [-1, 1] RGB inputs; grayscale is tiled
to three channels. Its backbone (VGG16 by default, as in the authors' code;
AlexNet optional) comes from the normal torchvision download when online, or
from an explicit weights file with torchvision key names when offline.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import torch

LpipsNet = Literal["vgg", "alex"]
#: Smallest image side each LPIPS backbone accepts (its pooling stages shrink it to nothing).
LPIPS_MIN_SIZE = {"vgg": 16, "alex": 32}
#: Weight files in torchvision key names, as shipped in the project's shared folder.
WEIGHT_FILES = {"vgg": "lpips_vgg16_features.pth", "alex": "lpips_alexnet_features.pth"}


class LpipsUnavailable(RuntimeError):
    """The LPIPS backbone weights could be neither downloaded nor read from a file."""


def load_lpips(
    net: LpipsNet = "vgg", weights: str | Path | None = None, device: torch.device | str = "cpu"
) -> torch.nn.Module:
    """An ``lpips.LPIPS`` model in eval mode.

    Args:
        net: Backbone, ``vgg`` (the authors' choice) or ``alex``.
        weights: File with the backbone's ImageNet weights in torchvision key
            names (``features.N.weight``/``bias``); ``None`` downloads them
            through torchvision (cached in ``~/.cache/torch``).
        device: Where to put the model.

    Raises:
        LpipsUnavailable: neither source worked; says which file would do.
    """
    import lpips

    if net not in WEIGHT_FILES:
        raise ValueError(f"unknown LPIPS network {net!r}; valid: {', '.join(WEIGHT_FILES)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's "pretrained is deprecated" noise
        if weights is None:
            try:
                model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=False, verbose=False)
            except Exception as err:
                raise LpipsUnavailable(
                    f"LPIPS-{net} needs ImageNet {net} backbone weights: the torchvision download "
                    f"failed ({type(err).__name__}: {err}). Offline, pass lpips_weights=PATH to "
                    f"a {WEIGHT_FILES[net]} file (torchvision key names), or set lpips=off"
                ) from err
        else:
            path = Path(weights)
            if path.is_dir():
                path = path / WEIGHT_FILES[net]
            if not path.is_file():
                raise LpipsUnavailable(f"LPIPS-{net} backbone weights not found at {str(path)!r}")
            model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
            state = torch.load(path, map_location="cpu", weights_only=True)
            layers = (
                model.net.slice1,
                model.net.slice2,
                model.net.slice3,
                model.net.slice4,
                model.net.slice5,
            )
            mapped = {}
            for layer in layers:  # slices keep torchvision's indices as child names
                for name, module in layer.named_children():
                    for param in ("weight", "bias"):
                        key = f"features.{name}.{param}"
                        if hasattr(module, param) and key in state:
                            mapped[(module, param)] = state[key]
            expected = sum(
                1
                for layer in layers
                for _, m in layer.named_children()
                for p in ("weight", "bias")
                if getattr(m, p, None) is not None
            )
            if len(mapped) != expected:
                raise LpipsUnavailable(
                    f"{str(path)!r} does not hold the {net} backbone in torchvision key names "
                    f"(matched {len(mapped)} of {expected} tensors)"
                )
            with torch.no_grad():
                for (module, param), value in mapped.items():
                    getattr(module, param).copy_(value)
    return model.to(device).eval()


@torch.no_grad()
def lpips_distance(model: torch.nn.Module, output: torch.Tensor, target: torch.Tensor):
    """Per-image LPIPS of ``(B, C, H, W)`` images in [0, 1]: ``(B,)``."""

    def prepare(x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(0, 1) * 2 - 1
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    return model(prepare(output), prepare(target)).flatten()
