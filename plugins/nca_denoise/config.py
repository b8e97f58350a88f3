"""Configuration of the denoise task; defaults are the paper's numbers (§3.1, §4, Alg. 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class DenoiseConfig:
    """Denoising-autoencoding settings. Defaults follow the paper (the ``paper`` preset).

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
        iterations: Training iterations ``I`` (paper: 100K).
        batch_size: Batch size ``b`` (paper: 32).
        lr: AdamW learning rate ``η`` (paper: 1e-3), cosine-annealed to 0.
        weight_decay: AdamW weight decay (PyTorch's default).
        steps_min: Smallest ``T`` of ``T ~ U{steps_min, steps_max}`` (paper: 8).
        steps_max: Largest ``T`` (paper: 32).
        eval_steps: CA steps at evaluation (paper: 64).
        update_rate: Cell update probability σ (paper: 0.5), in training and evaluation.
        pool_size: Sample-pool capacity ``N_P`` (paper: 1024); 0 disables the pool.
        reconstruction_weight: ``α``, weight of the L1 loss (authors' code: 100).
        overflow_weight: ``β``, weight of the overflow losses (authors' code: 100).
        gradient_normalization: Per-parameter gradient L2 normalisation (Alg. 1).
        gradient_checkpointing: Checkpoint the rollout in ⌊T/2⌋ segments (App. A.2).
        octaves: Fusion/mitosis octaves during training (App. A.1; 0 = off).
        curriculum: Grow the masking configurations over training (§4.1).
        curriculum_start: Iteration of the first curriculum stage (authors: 500).
        curriculum_end: Iteration by which all nine configurations are allowed (10K).
        noise_per_patch: One noise value per masked patch (authors) rather than per pixel.
        batch_sampling: ``contiguous`` (Alg. 1 line 4: a random contiguous slice) or
            ``shuffle`` (random images).
        log_every: Iterations between metric records.
        validate_every: Iterations between validations (PSNR on a few test images,
            sample grid).
        validation_size: Test images used by each validation.
        checkpoint_every: Iterations between checkpoints (also at the end and on Ctrl-C).
        eval_batch_size: Batch size of evaluation.
        lpips: ``auto`` (LPIPS if its backbone weights are available, else skipped
            with a note), ``on`` (required) or ``off``.
        lpips_net: LPIPS backbone: ``vgg`` (the authors' choice) or ``alex``.
        lpips_weights: File or folder with the backbone weights in torchvision key
            names (offline use); empty downloads them through torchvision.
        bf16: bfloat16 autocast for the rule's forward pass in training (meant for CUDA;
            also runs on CPU). Cell states, losses and evaluation stay float32.
    """

    dataset: str = "embedded-mnist"
    data_root: str = "data"
    download: bool = False
    image_size: int | None = None
    train_subset: int | None = None
    eval_subset: int | None = None
    iterations: int = 100_000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    steps_min: int = 8
    steps_max: int = 32
    eval_steps: int = 64
    update_rate: float = 0.5
    pool_size: int = 1024
    reconstruction_weight: float = 100.0
    overflow_weight: float = 100.0
    gradient_normalization: bool = True
    gradient_checkpointing: bool = False
    octaves: int = 0
    curriculum: bool = True
    curriculum_start: int = 500
    curriculum_end: int = 10_000
    noise_per_patch: bool = True
    batch_sampling: Literal["contiguous", "shuffle"] = "contiguous"
    log_every: int = 50
    validate_every: int = 1000
    validation_size: int = 64
    checkpoint_every: int = 1000
    eval_batch_size: int = 64
    lpips: Literal["auto", "on", "off"] = "auto"
    lpips_net: Literal["vgg", "alex"] = "vgg"
    lpips_weights: str = ""
    bf16: bool = False

    def __post_init__(self) -> None:
        positive = (
            "iterations",
            "batch_size",
            "steps_min",
            "eval_steps",
            "log_every",
            "validate_every",
            "validation_size",
            "checkpoint_every",
            "eval_batch_size",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps_max < self.steps_min:
            raise ValueError(
                f"steps_max ({self.steps_max}) must be >= steps_min ({self.steps_min})"
            )
        if not 0 < self.update_rate <= 1:
            raise ValueError(f"update_rate must be in (0, 1], got {self.update_rate}")
        if self.pool_size < 0 or self.octaves < 0:
            raise ValueError("pool_size and octaves must be >= 0")
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
