"""Configuration of the linear-probe task (paper §4.2, Table 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nca import TrainerConfig


@dataclass
class ProbeConfig(TrainerConfig):
    """Linear probing of a frozen, denoising-pretrained model; or raw-pixel references.

    The classifier trains on the engine (:class:`nca.engine.TrainerConfig`: AdamW,
    cosine schedule, checkpoints, resume); its length is ``epochs`` passes over the
    training features, so the engine's ``iterations`` field is not used.

    Attributes:
        source: Run directory or checkpoint of a model pretrained with the denoise task
            (``nca train --task probe --from runs/<run>``).
        features: ``model`` (the source's representation) or ``pixels`` (raw images:
            the Table 3 references).
        classifier: ``linear`` (the probe), or ``mlp100`` / ``mlp1000`` (2-layer MLPs with
            100 / 1000 hidden units, the raw-pixel references).
        pooled: Average features over space instead of flattening them.
        dataset: Dataset to classify; empty: the source run's dataset (also for pixel
            references given ``--from``), else ``embedded-mnist``.
        data_root: Folder holding the datasets; empty: the source run's (else ``data``).
        download: Let a missing dataset be downloaded (where its source allows it).
        image_size: Image side; unset: the source run's (or the dataset's default).
        feature_steps: CA steps on the unmasked input before reading hidden states;
            unset: the source run's evaluation steps (paper: T = 64).
        train_subset: Use only the first N training images.
        eval_subset: Evaluate on the first N test images.
        epochs: Passes over the (cached) training features.
        batch_size: Batch size (the denoise setup: 32).
        gradient_normalization: Per-parameter gradient normalisation (off: a probe is
            plain cross-entropy training).
        feature_batch_size: Images per forward pass when extracting features.
    """

    source: str = ""
    features: Literal["model", "pixels"] = "model"
    classifier: Literal["linear", "mlp100", "mlp1000"] = "linear"
    pooled: bool = False
    dataset: str = ""
    data_root: str = ""
    download: bool = False
    image_size: int | None = None
    feature_steps: int | None = None
    train_subset: int | None = None
    eval_subset: int | None = None
    epochs: int = 10
    batch_size: int = 32
    gradient_normalization: bool = False
    feature_batch_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.features == "model" and not self.source:
            raise ValueError(
                "a model probe needs --from RUN_OR_CHECKPOINT (a denoise-pretrained model); "
                "use features=pixels for the raw-pixel references"
            )
        if self.features == "model" and self.classifier != "linear":
            raise ValueError(
                f"classifier {self.classifier!r} is a raw-pixel reference; model features "
                f"are probed with classifier=linear"
            )
        if self.feature_steps is not None and self.feature_steps < 1:
            raise ValueError(f"feature_steps must be >= 1, got {self.feature_steps}")
        for name in ("epochs", "batch_size", "feature_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_subset", "eval_subset"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or unset, got {value}")
