"""Evaluation (paper §4.1): every masking configuration in a fixed order, T = 64
steps for CA rules, PSNR / SSIM / LPIPS of outputs and of the masked inputs.

Masks and CA update masks come from fixed seeds, independent of the training
run, so every model is scored on exactly the same corrupted images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from nca import CellularAutomaton, ImageSet, make_generator
from nca_denoise.masking import CONFIGURATIONS, config_name, mask_images
from nca_denoise.metrics import lpips_distance, psnr, ssim

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


@torch.no_grad()
def predict(
    rule, masked: torch.Tensor, *, steps: int, update_rate: float, generator: torch.Generator
) -> torch.Tensor:
    """Output images of a CA (``steps`` updates) or feed-forward rule."""
    if rule.kind == "ca":
        ca = CellularAutomaton(rule, update_rate=update_rate)
        cells = ca(ca.seed(masked), steps, generator=generator).cells
        return ca.output_image(cells)
    return rule(masked)


@torch.no_grad()
def evaluate_rule(
    rule,
    test: ImageSet,
    *,
    steps: int = 64,
    update_rate: float = 0.5,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    lpips_model=None,
    configurations=CONFIGURATIONS,
    noise_per_patch: bool = True,
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Score ``rule`` on ``test`` for each configuration.

    Args:
        rule: A CA or feed-forward rule.
        test: Test images.
        steps: CA updates per image (paper: 64).
        update_rate: σ used at test time (the training rate, paper Table 6).
        batch_size: Images per forward pass.
        device: Where to run.
        lpips_model: An LPIPS model, or ``None`` to skip LPIPS.
        configurations: ``(patch side, coverage)`` list (default: all nine).
        noise_per_patch: As in training.
        progress: Called with the number of images done after each batch.
    """
    rule = rule.to(device).eval()
    rows = {}
    for index, config in enumerate(configurations):
        mask_gen = make_generator(EVAL_SEED + index)
        step_gen = make_generator(EVAL_SEED + 100 + index, device)
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
                output = predict(
                    rule, masked, steps=steps, update_rate=update_rate, generator=step_gen
                ).float()
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
