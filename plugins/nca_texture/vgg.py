"""VGG16 feature statistics for texture losses (Gatys et al.'s Gram matrices; sliced
optimal transport), with torchvision's weights from the download or a local file."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nca import NCAError

#: torchvision ``vgg16().features`` indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
STYLE_LAYERS = (1, 6, 11, 18, 25)
#: ImageNet normalisation of torchvision's VGG16.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: A file in ``../shared`` (the project's offline copy) that holds these weights.
OFFLINE_HINT = "../shared/weights/lpips_vgg16_features.pth"


class VGGUnavailable(NCAError):
    """VGG16's ImageNet weights could be neither downloaded nor read from a file."""


def _features_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise VGGUnavailable(f"VGG16 weights not found at {str(path)!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise VGGUnavailable(f"{str(path)!r} is not a state dict")
    return {
        k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier")
    }


def load_vgg16_features(weights: str | Path | None = None) -> nn.Module:
    """VGG16's convolutional layers up to relu5_1, frozen, in eval mode.

    Args:
        weights: File with torchvision's VGG16 weights (``features.N.*`` keys, or a whole
            ``vgg16`` state dict); ``None``: torchvision's ``IMAGENET1K_V1`` download.

    Raises:
        VGGUnavailable: neither source worked; the message says what would.
    """
    from torchvision.models import VGG16_Weights, vgg16

    model = vgg16(weights=None).features[: STYLE_LAYERS[-1] + 1]
    if weights:
        state = _features_state(Path(weights))
    else:
        url = VGG16_Weights.IMAGENET1K_V1.url
        try:
            full = torch.hub.load_state_dict_from_url(
                url, progress=False, map_location="cpu", weights_only=True
            )
        except Exception as err:
            raise VGGUnavailable(
                f"the texture loss needs VGG16's ImageNet weights: the torchvision download "
                f"({url}) failed ({type(err).__name__}: {err}). Offline, pass "
                f"-o vgg_weights=PATH to a torchvision VGG16 state dict or its features (this "
                f"project's copy: {OFFLINE_HINT})"
            ) from err
        state = {
            k.removeprefix("features."): v for k, v in full.items() if k.startswith("features.")
        }
    wanted = set(model.state_dict())
    missing = wanted - set(state)
    if missing:
        raise VGGUnavailable(
            f"{weights!s} does not hold VGG16's features in torchvision key names (missing "
            f"{len(missing)} of {len(wanted)} tensors, e.g. {sorted(missing)[0]!r})"
        )
    model.load_state_dict({k: state[k] for k in wanted})
    for module in model.modules():  # in-place ReLUs would overwrite the features we keep
        if isinstance(module, nn.ReLU):
            module.inplace = False
    for param in model.parameters():
        param.requires_grad_(False)
    return model.eval()


def style_features(vgg: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """``(B, 3, H, W)`` RGB in [0, 1] -> the relu1_1 ... relu5_1 maps ``(B, C_l, H_l, W_l)``."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x, features = (images - mean) / std, []
    for index, layer in enumerate(vgg):
        x = layer(x)
        if index in STYLE_LAYERS:
            features.append(x)
    return features


def gram(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W) -> (B, C, C)`` Gram matrices, normalised by ``H·W``."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return torch.einsum("bcn,bdn->bcd", flat, flat) / (h * w)


def gram_loss(sources: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    """Per-image sum over layers of the mean squared Gram difference ``(B,)``; ``targets``
    hold one image's features (batch 1)."""
    total = 0
    for s, t in zip(sources, targets, strict=True):
        total = total + (gram(s) - gram(t)).square().mean(dim=(1, 2))
    return total


def sliced_ot_loss(
    sources: list[torch.Tensor],
    targets: list[torch.Tensor],
    projections: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-image sliced-Wasserstein distance between feature distributions ``(B,)``: each
    layer's features are projected on ``projections`` random unit directions, sorted, and
    compared (the target's sorted projections resampled to the source's count)."""
    total = 0
    for s, t in zip(sources, targets, strict=True):
        directions = torch.randn(s.shape[1], projections, generator=generator, device="cpu")
        directions = F.normalize(directions, dim=0).to(s.device, s.dtype)
        source, target = _project_sorted(s, directions), _project_sorted(t, directions)
        target = F.interpolate(target, source.shape[-1], mode="nearest")
        total = total + (source - target).square().sum(dim=(1, 2))
    return total


def _project_sorted(features: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` features on ``(C, P)`` directions, sorted: ``(B, P, H·W)``."""
    return torch.einsum("bcn,cp->bpn", features.flatten(2), directions).sort(-1)[0]
