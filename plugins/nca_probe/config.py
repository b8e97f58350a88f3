"""Configuration of the linear-probe task (paper §4.2, Table 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nca import TrainerConfig

#: Valid values of :attr:`ProbeConfig.vit_features`.
VIT_FEATURES = ("auto", "embedding", "final")


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
        eval_split: The labelled split the probe is scored on: ``test``, or ``val`` where
            the dataset has one (Tiny ImageNet, whose test images are unlabelled).
        epochs: Passes over the (cached) training features.
        batch_size: Batch size (the denoise setup: 32).
        gradient_normalization: Per-parameter gradient normalisation (off: a probe is
            plain cross-entropy training).
        feature_batch_size: Images per forward pass when extracting features.
        vit_features: Which ViT tokens are probed: ``auto`` (the source rule's own
            ``features`` setting, ``embedding`` unless it was trained with another),
            ``embedding`` (``LN1(embed + PE)`` before any block: the authors' release)
            or ``final`` (the final LayerNorm after the blocks: this toolkit's earlier
            choice). Only for rules with a ``features`` setting (``vit``).
        features_per_epoch: Recompute the CA model's training features at the start of
            every epoch, with fresh update masks seeded by the run's seed, the epoch
            and the image (the authors' release: the stochastic asynchronous updates
            then act as data augmentation). Costs a full ``T``-step rollout of every
            training image per epoch (``epochs`` times the feature extraction of the
            default) and the training features are not cached; resume stays exact.
            Off: features computed once with fixed per-image masks and cached. No
            effect on feed-forward rules and pixels (their features are deterministic).
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
    eval_split: Literal["test", "val"] = "test"
    epochs: int = 10
    batch_size: int = 32
    gradient_normalization: bool = False
    feature_batch_size: int = 128
    vit_features: Literal["auto", "embedding", "final"] = "auto"
    features_per_epoch: bool = False

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
        if self.vit_features not in VIT_FEATURES:
            raise ValueError(
                f"vit_features must be one of {VIT_FEATURES}, got {self.vit_features!r}"
            )
        if self.features == "pixels" and self.vit_features != "auto":
            raise ValueError(
                f"vit_features={self.vit_features} chooses a ViT model's tokens; raw-pixel "
                f"references (features=pixels) take vit_features=auto"
            )
        if not isinstance(self.features_per_epoch, bool):
            raise ValueError(
                f"features_per_epoch must be true or false, got {self.features_per_epoch!r}"
            )
        for name in ("train_subset", "eval_subset"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or unset, got {value}")
