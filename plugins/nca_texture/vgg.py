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


def _read_state(path: Path) -> dict:
    """The object ``torch.load`` reads from ``path`` (a state dict, if it is usable).

    Raises:
        VGGUnavailable: the file is missing, truncated or not a PyTorch file.
    """
    if not path.is_file():
        raise VGGUnavailable(f"VGG16 weights not found at {str(path)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip: RuntimeError; text: KeyError; pickles: others
        reason = (str(err).strip().splitlines() or [""])[0][:120] or type(err).__name__
        raise VGGUnavailable(
            f"cannot read VGG16 weights {str(path)!r} ({type(err).__name__}: {reason}): the "
            f"file is truncated or not a PyTorch state dict; replace it (this project's copy: "
            f"{OFFLINE_HINT})"
        ) from None
    if not isinstance(state, dict):
        raise VGGUnavailable(f"{str(path)!r} is not a state dict")
    return state


def _features_state(path: Path) -> dict[str, torch.Tensor]:
    state = _read_state(path)
    return {
        k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier")
    }


def _download_state() -> tuple[dict[str, torch.Tensor], str]:
    """torchvision's ``IMAGENET1K_V1`` features (from torch.hub's cache when there) and
    where they came from, for messages."""
    from torchvision.models import VGG16_Weights

    url = VGG16_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    try:
        full = torch.hub.load_state_dict_from_url(
            url, progress=False, map_location="cpu", weights_only=True
        )
    except Exception as err:
        stale = (
            f"; torch.hub's copy {str(cached)!r} may be truncated: delete it to download again"
            if cached.is_file()
            else ""
        )
        raise VGGUnavailable(
            f"the texture loss needs VGG16's ImageNet weights: the torchvision download "
            f"({url}) failed ({type(err).__name__}: {err}){stale}. Offline, pass "
            f"-o vgg_weights=PATH to a torchvision VGG16 state dict or its features (this "
            f"project's copy: {OFFLINE_HINT})"
        ) from err
    state = {k.removeprefix("features."): v for k, v in full.items() if k.startswith("features.")}
    return state, repr(str(cached)) if cached.is_file() else url


def _check_state(state: dict, wanted: dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights that would load but not work: missing tensors, other shapes, NaN
    or infinite values (training would stop on NaN losses that look like a too-high
    learning rate), or all-zero filters (every feature 0: nothing to match).

    Args:
        state: The file's tensors, keys without the ``features.`` prefix.
        wanted: The model's own state dict (names and shapes to match).
        source: The file (or URL), for messages.

    Raises:
        VGGUnavailable: one line naming ``source``, the first bad tensor and what is wrong.
    """
    missing = set(wanted) - set(state)
    if missing:
        raise VGGUnavailable(
            f"{source} does not hold VGG16's features in torchvision key names (missing "
            f"{len(missing)} of {len(wanted)} tensors, e.g. {sorted(missing)[0]!r})"
        )
    for key, expected in wanted.items():
        value, name = state[key], f"features.{key}"
        problem = ""
        if not isinstance(value, torch.Tensor):
            problem = f"is a {type(value).__name__}, not a tensor"
        elif tuple(value.shape) != tuple(expected.shape):
            problem = f"has shape {tuple(value.shape)}, VGG16's is {tuple(expected.shape)}"
        elif not value.is_floating_point():
            problem = f"holds {value.dtype} values, not floating-point weights"
        elif not bool(torch.isfinite(value).all()):
            problem = f"holds {int((~torch.isfinite(value)).sum())} NaN or infinite values"
        elif key.endswith("weight") and not bool(value.any()):
            problem = "is all zeros (untrained)"
        if problem:
            raise VGGUnavailable(
                f"VGG16 weights {source} are unusable: {name} {problem}; use torchvision's "
                f"VGG16 ImageNet weights (this project's copy: {OFFLINE_HINT})"
            )


def load_vgg16_features(weights: str | Path | None = None) -> nn.Module:
    """VGG16's convolutional layers up to relu5_1, frozen, in eval mode.

    Args:
        weights: File with torchvision's VGG16 weights (``features.N.*`` keys, or a whole
            ``vgg16`` state dict); ``None``: torchvision's ``IMAGENET1K_V1`` download.

    Raises:
        VGGUnavailable: neither source worked, or the weights are unusable (truncated or
            not a state dict, other shapes, NaN or infinite values, all-zero filters);
            the message names the file and says what would work.
    """
    from torchvision.models import vgg16

    model = vgg16(weights=None).features[: STYLE_LAYERS[-1] + 1]
    if weights:
        state, source = _features_state(Path(weights)), repr(str(weights))
    else:
        state, source = _download_state()
    wanted = model.state_dict()
    _check_state(state, wanted, source)
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
