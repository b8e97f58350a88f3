"""Frozen representations for probing (paper §4.2), extracted once and cached.

* CA rules: the hidden channels of the cell grid after ``T`` steps on the
  unmasked input (``(B, C_h, H', W')``);
* U-Net: the bottleneck features; ViT: the LayerNorm'd tokens (their
  ``features()`` methods);
* pixels: the image itself.

Flattened, or averaged over space with ``pooled``. Features are stored as
float16 (half the memory of float32; a probe does not need more) and cached per
(checkpoint, images, settings) next to the source run, since the model is frozen.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from nca import CellularAutomaton, load_checkpoint, make_generator, save_checkpoint

#: Seed of the CA update masks used for feature extraction (fixed across runs).
FEATURE_SEED = 4321
#: Bump when extraction changes, so old caches are not reused.
FEATURE_VERSION = 1


@torch.no_grad()
def model_features(
    rule,
    images: torch.Tensor,
    *,
    steps: int,
    update_rate: float,
    generator: torch.Generator,
    pooled: bool = False,
) -> torch.Tensor:
    """``(B, F)`` features of ``images`` ``(B, C, H, W)`` under a frozen ``rule``."""
    if rule.kind == "ca":
        ca = CellularAutomaton(rule, update_rate=update_rate)
        cells = ca(ca.seed(images), steps, generator=generator).cells
        maps = ca.layout.group(cells, "hidden")  # (B, C_h, H', W')
        spatial = (2, 3)
    elif hasattr(rule, "features"):
        maps = rule.features(images)
        # U-Net: (B, F, h, w); ViT: (B, H', W', d), flagged by features_channels_last
        spatial = (1, 2) if getattr(rule, "features_channels_last", False) else (2, 3)
    else:
        raise ValueError(f"rule {rule.rule_name!r} exposes no features to probe")
    return maps.mean(dim=spatial) if pooled else maps.flatten(1)


def pixel_features(images: torch.Tensor, pooled: bool = False) -> torch.Tensor:
    """Raw pixels ``(B, C·H·W)`` (or per-channel means when pooled)."""
    return images.mean(dim=(2, 3)) if pooled else images.flatten(1)


def tensor_digest(*tensors: torch.Tensor) -> str:
    """Content hash of tensors (the images and labels a cache entry was computed from)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_key(checkpoint: Path, **settings) -> str:
    """Identifies a checkpoint file (path, size, mtime), the data and the settings."""
    stat = checkpoint.stat()
    blob = json.dumps(
        {
            "checkpoint": str(checkpoint.resolve()),
            "size": stat.st_size,
            "mtime": stat.st_mtime_ns,
            "version": FEATURE_VERSION,
            **settings,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached(path: Path, compute: Callable[[], tuple[torch.Tensor, torch.Tensor]]):
    """``(features float16, labels, hit)`` from ``path`` if readable, else computed and saved."""
    if path.is_file():
        try:
            data = load_checkpoint(path)
            return data["features"], data["labels"], True
        except (ValueError, KeyError) as err:
            warnings.warn(
                f"ignoring unreadable feature cache {path} ({err}); recomputing", stacklevel=2
            )
    features, labels = compute()
    save_checkpoint(path, {"features": features, "labels": labels})
    return features, labels, False


def extract(
    rule,
    images_fn,
    count: int,
    *,
    steps: int,
    update_rate: float,
    pooled: bool,
    batch_size: int,
    device,
    progress=None,
) -> torch.Tensor:
    """float16 features ``(count, F)`` of ``count`` images, filled batch by batch
    (no float32 copy of the whole set); ``images_fn(index) -> (b, C, H, W)``."""
    generator = make_generator(FEATURE_SEED, device)
    out = None
    for start in range(0, count, batch_size):
        index = torch.arange(start, min(start + batch_size, count))
        images = images_fn(index)
        if rule is None:
            chunk = pixel_features(images, pooled)
        else:
            chunk = model_features(
                rule,
                images,
                steps=steps,
                update_rate=update_rate,
                generator=generator,
                pooled=pooled,
            )
        chunk = chunk.half().cpu()
        if not torch.isfinite(chunk).all():
            raise ValueError("features overflow float16 (or are NaN); the model has diverged")
        if out is None:
            out = torch.empty((count, chunk.shape[1]), dtype=torch.float16)
        out[start : start + len(index)] = chunk
        if progress is not None:
            progress(len(index))
    return out
