"""Configuration of the denoise task.

Defaults follow the paper's text (§3.1, §4, Alg. 1); where the paper is silent, the
authors' release decides. The ``paper`` preset selects the release's protocol
(``docs/reproducing.md`` lists every choice).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Literal

from nca import (
    OCTAVE_STEPS,
    PAPER_UPDATE_RATE,
    OctaveSteps,
    TrainerConfig,
    UnknownPluginError,
    default_image_size,
)
from nca_denoise.masking import COVERAGES, Coverage, CurriculumOrder

#: The paper's minibatch size ``b`` (§4), by dataset; 32 for every other one.
PAPER_BATCH_SIZES = {"tiny-imagenet": 8}
EvalProtocol = Literal["full", "authors"]


@dataclass
class DenoiseConfig(TrainerConfig):
    """Denoising-autoencoding settings. Defaults follow the paper (the ``paper`` preset).

    The engine's fields (``iterations``, ``lr``, ``optimizer``, ``lr_schedule``,
    ``gradient_normalization``, ``gradient``, ``fixed_point``, ``bf16``, ``log_every``,
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
            for tiny-imagenet), resolved when the config is built, so ``config.json``
            records the size used.
        train_subset: Use only the first N training images.
        eval_subset: Evaluate on the first N test images (paper: the whole split).
        batch_size: Batch size ``b``; unset: the paper's, 32 (8 for ``tiny-imagenet``, §4).
        steps_min: Smallest ``T`` of ``T ~ U{steps_min, steps_max}`` (paper: 8).
        steps_max: Largest ``T`` (paper: 32).
        eval_steps: CA steps at evaluation (paper: 64).
        eval_split: Split the final evaluation scores: ``test`` (the paper's test-set
            results; Tiny ImageNet's unlabelled test images) or ``val`` (Tiny ImageNet's
            labelled val split; the test split for datasets without one).
        eval_protocol: ``full`` (every test image under all nine configurations in a
            fixed order, per-image PSNR averaged: the paper's "all masking combinations,
            chosen in a fixed order"; independent of batch sizes) or ``authors`` (the
            release's test loop: batches of ``authors_batch_size`` in order, one
            configuration drawn per batch with a fixed seed, PSNR of each batch's pooled
            MSE, i.e. torchmetrics with ``dim=None``, averaged over batches). Reported
            in ``eval.json`` and the table heading.
        authors_batch_size: Test batch size of the ``authors`` protocol, whose PSNR
            depends on it: 32, the paper's ``b`` (the release's test batch size is set
            in configs that are not public).
        eval_octaves: Fusion/mitosis octaves at evaluation; unset: ``octaves``, as the
            release evaluates a model with the octaves it was trained with (Fig. 5),
            resolved when the config is built.
        update_rate: Cell update probability σ (paper: 0.5), in training and evaluation.
        pool_size: Sample-pool capacity ``N_P`` (paper: 1024); 0 disables the pool.
        reconstruction_weight: ``α``, weight of the L1 loss (authors' code: 100).
        overflow_weight: ``β``, weight of the overflow losses (authors' code: 100).
        octaves: Fusion/mitosis octaves during training (App. A.1; 0 = off).
        octave_steps: What ``T`` counts with octaves: ``total`` (every rule application;
            App. A.1's "T - 4 times" at the coarse grid) or ``coarsest`` (``T`` at the
            coarse grid, ``T + 4k`` in all: the release). Training and evaluation.
        curriculum: Grow the masking configurations over training (§4.1).
        curriculum_order: ``paper`` (§4.1's order 1x1/25, 1x1/50, 1x1/75, 2x2/25, ...;
            all nine from ``curriculum_end``) or ``release`` (1x1/25, 2x2/25, 4x4/25,
            1x1/50, ...; float32 ``geomspace`` thresholds, all nine from iteration
            6,877 with the default start and end).
        curriculum_start: Iteration of the first curriculum stage (authors: 500).
        curriculum_end: Iteration by which all nine configurations are allowed (10K).
        noise_per_patch: One noise value per masked patch (authors) rather than per pixel.
        coverage: ``exact`` (each image gets exactly ``round(coverage × patches)``
            masked patches; our reading of "covering 25 %") or ``bernoulli`` (each
            patch masked with probability ``coverage``: the release). Training and
            evaluation.
        batch_sampling: ``contiguous`` (Alg. 1 line 4: a random contiguous slice),
            ``iid`` (``b`` images drawn uniformly with replacement: the release's
            ``RandomSampler(replacement=True)``) or ``shuffle`` (``b`` distinct random
            images). Contiguous slices of a class-sorted list (Tiny ImageNet) are
            almost single-class batches.
        augment: The dataset's training augmentation, as in the release: random
            crops and flips (``landcover``), horizontal flips (``tiny-imagenet``);
            others have none.
        pool_replace_sampled: Pool batches replace the entries they were drawn from
            (the release's ``sample_with_replacement``) instead of joining the pool
            next to them (Alg. 1 line 25, "append").
        baseline_overflow: Feed-forward rules (U-Net, ViT) also get ``β`` × the output
            overflow loss, as in the release (the paper only describes the CA loss).
        validation_size: Images used by each validation (the val split where the dataset
            has one, else test).
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
    batch_size: int | None = None
    steps_min: int = 8
    steps_max: int = 32
    eval_steps: int = 64
    eval_split: Literal["test", "val"] = "test"
    eval_protocol: EvalProtocol = "full"
    authors_batch_size: int = 32
    eval_octaves: int | None = None
    update_rate: float = PAPER_UPDATE_RATE
    pool_size: int = 1024
    reconstruction_weight: float = 100.0
    overflow_weight: float = 100.0
    octaves: int = 0
    octave_steps: OctaveSteps = "total"
    curriculum: bool = True
    curriculum_order: CurriculumOrder = "paper"
    curriculum_start: int = 500
    curriculum_end: int = 10_000
    noise_per_patch: bool = True
    coverage: Coverage = "exact"
    batch_sampling: Literal["contiguous", "iid", "shuffle"] = "contiguous"
    augment: bool = True
    pool_replace_sampled: bool = False
    baseline_overflow: bool = True
    validation_size: int = 64
    eval_batch_size: int = 64
    lpips: Literal["auto", "on", "off"] = "auto"
    lpips_net: Literal["vgg", "alex"] = "vgg"
    lpips_weights: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        # resolved once, so config.json records the values used
        if self.batch_size is None:
            self.batch_size = PAPER_BATCH_SIZES.get(self.dataset, 32)
        if self.eval_octaves is None:
            self.eval_octaves = self.octaves
        # an unknown dataset keeps image_size unset: the task's validate() names it
        with contextlib.suppress(UnknownPluginError):
            self.image_size = self.image_size or default_image_size(self.dataset)
        positive = (
            "batch_size",
            "steps_min",
            "eval_steps",
            "validation_size",
            "eval_batch_size",
            "authors_batch_size",
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
        for name in ("pool_size", "octaves"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.eval_octaves is not None and self.eval_octaves < 0:
            raise ValueError(f"eval_octaves must be >= 0 or unset, got {self.eval_octaves}")
        choices = {
            "eval_split": ("test", "val"),
            "eval_protocol": ("full", "authors"),
            "octave_steps": OCTAVE_STEPS,
            "curriculum_order": ("paper", "release"),
            "coverage": COVERAGES,
            "batch_sampling": ("contiguous", "iid", "shuffle"),
        }
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(
                    f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}"
                )
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
    def test_octaves(self) -> int:
        """Deprecated name of :attr:`eval_octaves`."""
        warnings.warn(
            "DenoiseConfig.test_octaves is deprecated: use eval_octaves", DeprecationWarning, 2
        )
        return self.eval_octaves

    @property
    def size(self) -> int:
        """Deprecated name of :attr:`image_size`."""
        warnings.warn("DenoiseConfig.size is deprecated: use image_size", DeprecationWarning, 2)
        return self.image_size
