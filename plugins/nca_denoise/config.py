"""Configuration of the denoise task; defaults are the paper's numbers (§3.1, §4, Alg. 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nca import PAPER_UPDATE_RATE, TrainerConfig


@dataclass
class DenoiseConfig(TrainerConfig):
    """Denoising-autoencoding settings. Defaults follow the paper (the ``paper`` preset).

    The engine's fields (``iterations``, ``lr``, ``optimizer``, ``lr_schedule``,
    ``gradient_normalization``, ``gradient_checkpointing``, ``bf16``, ``log_every``,
    ``validate_every``, ``checkpoint_every``, ...) come from
    :class:`nca.engine.TrainerConfig`, whose defaults are the paper's too.

    Attributes:
        dataset: ``embedded-mnist`` (shipped sample), ``mnist``, ``fashion-mnist``,
            ``cifar10``, ``celeba``, ``tiny-imagenet``, ``landcover``, ``folder:PATH`` or
            any installed dataset plugin (``nca list --type datasets``).
        data_root: Folder holding the datasets.
        download: Let a missing dataset be downloaded (where its source allows it).
        image_size: Side of the (square) images after resampling (landcover: the crop
            side, at most the tile size); unset: the dataset's size in the paper (32, 64
            for tiny-imagenet).
        train_subset: Use only the first N training images.
        eval_subset: Evaluate on the first N test images (paper: the whole split).
        batch_size: Batch size ``b`` (paper: 32).
        steps_min: Smallest ``T`` of ``T ~ U{steps_min, steps_max}`` (paper: 8).
        steps_max: Largest ``T`` (paper: 32).
        eval_steps: CA steps at evaluation (paper: 64).
        update_rate: Cell update probability σ (paper: 0.5), in training and evaluation.
        pool_size: Sample-pool capacity ``N_P`` (paper: 1024); 0 disables the pool.
        reconstruction_weight: ``α``, weight of the L1 loss (authors' code: 100).
        overflow_weight: ``β``, weight of the overflow losses (authors' code: 100).
        octaves: Fusion/mitosis octaves during training (App. A.1; 0 = off).
        curriculum: Grow the masking configurations over training (§4.1).
        curriculum_start: Iteration of the first curriculum stage (authors: 500).
        curriculum_end: Iteration by which all nine configurations are allowed (10K).
        noise_per_patch: One noise value per masked patch (authors) rather than per pixel.
        batch_sampling: ``contiguous`` (Alg. 1 line 4: a random contiguous slice) or
            ``shuffle`` (random images).
        validation_size: Test images used by each validation.
        eval_batch_size: Batch size of evaluation.
        lpips: ``auto`` (LPIPS if its backbone weights are available, else skipped
            with a note), ``on`` (required) or ``off``.
        lpips_net: LPIPS backbone: ``vgg`` (the authors' choice) or ``alex``.
        lpips_weights: File or folder with the backbone weights in torchvision key
            names (offline use); empty downloads them through torchvision.
    """

    dataset: str = "embedded-mnist"
    data_root: str = "data"
    download: bool = False
    image_size: int | None = None
    train_subset: int | None = None
    eval_subset: int | None = None
    batch_size: int = 32
    steps_min: int = 8
    steps_max: int = 32
    eval_steps: int = 64
    update_rate: float = PAPER_UPDATE_RATE
    pool_size: int = 1024
    reconstruction_weight: float = 100.0
    overflow_weight: float = 100.0
    octaves: int = 0
    curriculum: bool = True
    curriculum_start: int = 500
    curriculum_end: int = 10_000
    noise_per_patch: bool = True
    batch_sampling: Literal["contiguous", "shuffle"] = "contiguous"
    validation_size: int = 64
    eval_batch_size: int = 64
    lpips: Literal["auto", "on", "off"] = "auto"
    lpips_net: Literal["vgg", "alex"] = "vgg"
    lpips_weights: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        positive = ("batch_size", "steps_min", "eval_steps", "validation_size", "eval_batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps_max < self.steps_min:
            raise ValueError(
                f"steps_max ({self.steps_max}) must be >= steps_min ({self.steps_min})"
            )
        if not 0 < self.update_rate <= 1:
            raise ValueError(f"update_rate must be in (0, 1], got {self.update_rate}")
        for name in ("pool_size", "octaves"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("train_subset", "eval_subset"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or unset, got {value}")
        if self.image_size is not None and (self.image_size < 8 or self.image_size % 4):
            raise ValueError(
                f"image_size must be a multiple of 4 (the 4x4 noise patches) and at least 8, "
                f"got {self.image_size}"
            )

    @property
    def size(self) -> int:
        """The image side used: ``image_size``, or the dataset's default."""
        from nca import default_image_size

        return self.image_size or default_image_size(self.dataset)
