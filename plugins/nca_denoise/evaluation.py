"""Evaluation (paper §4.1): every masking configuration in a fixed order, T = 64
steps for CA rules, PSNR / SSIM / LPIPS of outputs and of the masked inputs.

Masks and CA update masks come from fixed seeds, independent of the training
run, so every model is scored on exactly the same corrupted images. Noise masks
are drawn per fixed chunk of images and each image's CA update masks from a
generator of its own (seeded by configuration and image index), so the numbers
do not depend on the evaluation batch size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from nca import ImageModel, ImageSet, SampleGenerators, derive_seed, make_generator, psnr, ssim
from nca_denoise.masking import CONFIGURATIONS, config_name, mask_images
from nca_denoise.metrics import lpips_distance

#: Seed of evaluation masks (fixed: all runs see the same corrupted images).
EVAL_SEED = 1234
#: Images whose noise masks are drawn together (bounds evaluation memory).
MASK_CHUNK = 1024


@dataclass
class EvalResult:
    """Mean metrics per configuration, for outputs and for the masked inputs.

    Attributes:
        rows: ``{configuration: {"psnr", "ssim", "lpips", "input_psnr", ...}}``.
        notes: Remarks (e.g. why LPIPS is missing).
    """

    rows: dict[str, dict[str, float]]
    notes: list[str] = field(default_factory=list)

    def mean(self) -> dict[str, float]:
        """Average over configurations."""
        keys = next(iter(self.rows.values())).keys()
        return {k: sum(r[k] for r in self.rows.values()) / len(self.rows) for k in keys}


def step_generators(
    seed: int, stream: str, first: int, count: int, device: torch.device | str
) -> SampleGenerators:
    """Update-mask generators of images ``first .. first + count - 1`` of a stream."""
    seeds = [derive_seed(seed, stream, index) for index in range(first, first + count)]
    return SampleGenerators.from_seeds(seeds, device)


@torch.no_grad()
def evaluate_model(
    model: ImageModel,
    test: ImageSet,
    *,
    steps: int = 64,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    lpips_model=None,
    configurations=CONFIGURATIONS,
    noise_per_patch: bool = True,
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Score ``model`` on ``test`` for each configuration.

    Args:
        model: Any rule as an :class:`nca.ImageModel` (σ is its update rate; paper
            Table 6: the training rate).
        test: Test images.
        steps: CA updates per image (paper: 64).
        batch_size: Images per forward pass (the results do not depend on it).
        device: Where to run.
        lpips_model: An LPIPS model, or ``None`` to skip LPIPS.
        configurations: ``(patch side, coverage)`` list (default: all nine).
        noise_per_patch: As in training.
        progress: Called with the number of images done after each batch.
    """
    model = model.to(device).eval()
    rows = {}
    for index, config in enumerate(configurations):
        mask_gen = make_generator(derive_seed(EVAL_SEED, "noise", index))
        sums: dict[str, float] = {}
        # noise masks are drawn per fixed-size chunk (not per batch), so they do not depend
        # on batch_size, and memory stays bounded however large the split
        for chunk_start in range(0, len(test), MASK_CHUNK):
            chunk = torch.arange(chunk_start, min(chunk_start + MASK_CHUNK, len(test)))
            targets = test.batch(chunk, "cpu")
            masked_all = mask_images(targets, config, mask_gen, noise_per_patch=noise_per_patch)
            for start in range(0, len(chunk), batch_size):
                target = targets[start : start + batch_size].to(device)
                masked = masked_all[start : start + batch_size].to(device)
                generator = None
                if model.is_ca:
                    first = int(chunk[start])
                    generator = step_generators(
                        EVAL_SEED, f"steps/{index}", first, target.shape[0], device
                    )
                output = model(masked, steps=steps, generator=generator).float()
                values = {
                    "psnr": psnr(output, target),
                    "ssim": ssim(output, target),
                    "input_psnr": psnr(masked, target),
                    "input_ssim": ssim(masked, target),
                }
                if lpips_model is not None:
                    values["lpips"] = lpips_distance(lpips_model, output, target)
                    values["input_lpips"] = lpips_distance(lpips_model, masked, target)
                for key, value in values.items():
                    sums[key] = sums.get(key, 0.0) + float(value.sum())
                if progress is not None:
                    progress(target.shape[0])
        rows[config_name(config)] = {k: v / len(test) for k, v in sums.items()}
    return EvalResult(rows)
