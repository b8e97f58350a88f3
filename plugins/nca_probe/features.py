"""Frozen representations for probing (paper §4.2), extracted once and cached.

* CA rules: the hidden channels of the cell grid after ``T`` steps on the
  unmasked input (``(B, C_h, H', W')``);
* U-Net: the bottleneck features; ViT: its tokens, ``LN1(embed + PE)`` before
  the blocks or the final LayerNorm's (their ``features()`` methods; the ViT's
  ``features`` setting, which the probe's ``vit_features`` can change);
* pixels: the image itself.

Flattened, or averaged over space with ``pooled``. Features are stored as
float16 (half the memory of float32; a probe does not need more) and cached per
(checkpoint, images, settings) next to the source run, since the model is frozen.
With ``features_per_epoch`` a CA model's training features are instead recomputed
every epoch with fresh update masks (:func:`epoch_feature_seed`) and not cached.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from nca import ImageModel, SampleGenerators, derive_seed, load_checkpoint, save_checkpoint

#: Seed of the CA update masks used for feature extraction (fixed across runs).
FEATURE_SEED = 4321
#: Bump when extraction changes, so old caches are not reused (2: per-image update masks).
FEATURE_VERSION = 2


def epoch_feature_seed(seed: int, epoch: int, index: int) -> int:
    """Seed of training image ``index``'s update masks in ``epoch`` (``features_per_epoch``)."""
    return derive_seed(seed, f"features/{epoch}", index)


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


@torch.no_grad()
def extract(
    model: ImageModel | None,
    images_fn,
    count: int,
    *,
    steps: int,
    pooled: bool,
    batch_size: int,
    device,
    progress=None,
    mask_seed: Callable[[int], int] | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """float16 features ``(count, F)`` of ``count`` images, filled batch by batch
    (no float32 copy of the whole set); ``images_fn(index) -> (b, C, H, W)``.

    ``model=None`` gives raw pixels. Each image's CA update masks come from a
    generator of its own, seeded ``mask_seed(i)`` for the ``i``-th image (default
    ``derive_seed(FEATURE_SEED, i)``), so the features do not depend on ``batch_size``.
    ``out``: a ``(count, F)`` float16 tensor to fill instead of a new one.
    """
    if mask_seed is None:
        mask_seed = lambda i: derive_seed(FEATURE_SEED, i)  # noqa: E731
    for start in range(0, count, batch_size):
        index = torch.arange(start, min(start + batch_size, count))
        images = images_fn(index)
        if model is None:
            chunk = pixel_features(images, pooled)
        else:
            generator = None
            if model.is_ca:
                seeds = [mask_seed(int(i)) for i in index]
                generator = SampleGenerators.from_seeds(seeds, device)
            chunk = model.features(images, steps=steps, generator=generator, pooled=pooled)
        chunk = chunk.half().cpu()
        if not torch.isfinite(chunk).all():
            raise ValueError("features overflow float16 (or are NaN); the model has diverged")
        if out is None:
            out = torch.empty((count, chunk.shape[1]), dtype=torch.float16)
        elif out.shape != (count, chunk.shape[1]):
            raise ValueError(f"out has shape {tuple(out.shape)}, not {(count, chunk.shape[1])}")
        out[start : start + len(index)] = chunk
        if progress is not None:
            progress(len(index))
    return out
