"""Frozen representations for probing (paper §4.2), extracted once and cached.

* CA rules: the hidden channels of the cell grid after ``T`` steps on the
  unmasked input (``(B, C_h, H', W')``);
* U-Net: the bottleneck features; ViT: the LayerNorm'd tokens (their
  ``features()`` methods);
* pixels: the image itself.

Flattened, or averaged over space with ``pooled``. Features are cached per
(checkpoint, dataset split, settings) as float16 tensors next to the source
run, since the model is frozen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch

from nca import CellularAutomaton, load_checkpoint, make_generator, save_checkpoint

#: Seed of the CA update masks used for feature extraction (fixed across runs).
FEATURE_SEED = 4321


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


def cache_key(checkpoint: Path, **settings) -> str:
    """Identifies a checkpoint file (path, size, mtime) and the extraction settings."""
    stat = checkpoint.stat()
    blob = json.dumps(
        {
            "checkpoint": str(checkpoint.resolve()),
            "size": stat.st_size,
            "mtime": stat.st_mtime_ns,
            **settings,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached(path: Path, compute: Callable[[], tuple[torch.Tensor, torch.Tensor]]):
    """``(features, labels)`` from ``path`` if present, else computed and saved (float16)."""
    if path.is_file():
        data = load_checkpoint(path)
        return data["features"].float(), data["labels"], True
    features, labels = compute()
    save_checkpoint(path, {"features": features.half(), "labels": labels})
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
    """Features of ``count`` images, in batches; ``images_fn(index) -> (b, C, H, W)``."""
    generator = make_generator(FEATURE_SEED, device)
    chunks = []
    for start in range(0, count, batch_size):
        index = torch.arange(start, min(start + batch_size, count))
        images = images_fn(index)
        if rule is None:
            chunks.append(pixel_features(images, pooled).cpu())
        else:
            chunks.append(
                model_features(
                    rule,
                    images,
                    steps=steps,
                    update_rate=update_rate,
                    generator=generator,
                    pooled=pooled,
                ).cpu()
            )
        if progress is not None:
            progress(len(index))
    return torch.cat(chunks)
