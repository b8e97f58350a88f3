"""Evaluation (paper §4.1): T = 64 steps for CA rules, PSNR / SSIM / LPIPS of outputs and
of the masked inputs, under one of two protocols.

``full`` (default): every test image under all nine noise configurations in a fixed
order; per-image metrics averaged per configuration. Noise masks are drawn per fixed
chunk of images and each image's CA update masks from a generator of its own (seeded by
configuration and image index), so the numbers do not depend on the evaluation batch
size.

``authors`` (the release's test loop): the split in order, in batches of a fixed size;
each batch gets one configuration drawn at random with a fixed seed; per batch the PSNR
of the pooled MSE (:func:`nca.batch_psnr`, torchmetrics with ``dim=None``) and the
batch means of SSIM and LPIPS; the reported value is the mean over batches. A batch's
PSNR is never above the mean of its per-image PSNRs, so on the same outputs this
protocol reads lower than ``full``, and it depends on the batch size.

Masks and CA update masks come from fixed seeds, independent of the training run, so
every model is scored on exactly the same corrupted images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from nca import (
    ImageModel,
    ImageSet,
    SampleGenerators,
    batch_psnr,
    derive_seed,
    make_generator,
    psnr,
    ssim,
)
from nca_denoise.masking import CONFIGURATIONS, Coverage, config_name, mask_images
from nca_denoise.metrics import lpips_distance

#: Seed of evaluation masks (fixed: all runs see the same corrupted images).
EVAL_SEED = 1234
#: Images whose noise masks are drawn together (bounds evaluation memory).
MASK_CHUNK = 1024
#: Protocol names and their one-line descriptions (table headings, eval.json).
PROTOCOLS = {
    "full": "all nine configurations per image, per-image PSNR averaged",
    "authors": "one seeded configuration per test batch, PSNR of each batch's pooled MSE "
    "averaged over batches (the authors' release)",
}


@dataclass
class EvalResult:
    """Mean metrics per configuration, for outputs and for the masked inputs.

    Attributes:
        rows: ``{configuration: {"psnr", "ssim", "lpips", "input_psnr", ...}}``.
        notes: Remarks (e.g. why LPIPS is missing).
        protocol: ``full`` or ``authors``.
        overall: The protocol's headline values when they are not the mean of
            ``rows`` (``authors``: the mean over batches); ``None``: the mean of rows.
        batches: ``authors``: test batches per configuration.
    """

    rows: dict[str, dict[str, float]]
    notes: list[str] = field(default_factory=list)
    protocol: str = "full"
    overall: dict[str, float] | None = None
    batches: dict[str, int] | None = None

    def mean(self) -> dict[str, float]:
        """The headline metrics: ``full``, the average over configurations; ``authors``,
        the average over test batches."""
        if self.overall is not None:
            return dict(self.overall)
        keys = next(iter(self.rows.values())).keys()
        return {k: sum(r[k] for r in self.rows.values()) / len(self.rows) for k in keys}


def step_generators(
    seed: int, stream: str, first: int, count: int, device: torch.device | str
) -> SampleGenerators:
    """Update-mask generators of images ``first .. first + count - 1`` of a stream."""
    seeds = [derive_seed(seed, stream, index) for index in range(first, first + count)]
    return SampleGenerators.from_seeds(seeds, device)


def _outputs(model: ImageModel, masked, steps, octaves, generator) -> torch.Tensor:
    return model.run(masked, steps=steps, generator=generator, octaves=octaves).images.float()


@torch.no_grad()
def evaluate_model(
    model: ImageModel,
    test: ImageSet,
    *,
    protocol: str = "full",
    steps: int = 64,
    octaves: int | None = None,
    batch_size: int = 64,
    authors_batch_size: int = 32,
    device: torch.device | str = "cpu",
    lpips_model=None,
    configurations=CONFIGURATIONS,
    noise_per_patch: bool = True,
    coverage: Coverage = "exact",
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Score ``model`` on ``test`` under ``protocol`` (see the module docstring).

    Args:
        model: Any rule as an :class:`nca.ImageModel` (σ is its update rate; paper
            Table 6: the training rate).
        test: Test images.
        protocol: ``full`` or ``authors``.
        steps: CA updates per image (paper: 64).
        octaves: Fusion/mitosis octaves of each rollout (default: the model's).
        batch_size: Images per forward pass of ``full`` (the results do not depend on it).
        authors_batch_size: Test batch size of ``authors`` (the results depend on it).
        device: Where to run.
        lpips_model: An LPIPS model, or ``None`` to skip LPIPS.
        configurations: ``(patch side, coverage)`` list (default: all nine).
        noise_per_patch: As in training.
        coverage: ``exact`` or ``bernoulli`` patch counts, as in training.
        progress: Called with the number of images done after each batch.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    model = model.to(device).eval()
    octaves = model.octaves if octaves is None else octaves
    mask = {"noise_per_patch": noise_per_patch, "coverage_mode": coverage}
    if protocol == "authors":
        return _authors(
            model, test, steps, octaves, authors_batch_size, device, lpips_model,
            configurations, mask, progress,
        )  # fmt: skip
    rows = {}
    for index, config in enumerate(configurations):
        mask_gen = make_generator(derive_seed(EVAL_SEED, "noise", index))
        sums: dict[str, float] = {}
        # noise masks are drawn per fixed-size chunk (not per batch), so they do not depend
        # on batch_size, and memory stays bounded however large the split
        for chunk_start in range(0, len(test), MASK_CHUNK):
            chunk = torch.arange(chunk_start, min(chunk_start + MASK_CHUNK, len(test)))
            targets = test.batch(chunk, "cpu")
            masked_all = mask_images(targets, config, mask_gen, **mask)
            for start in range(0, len(chunk), batch_size):
                target = targets[start : start + batch_size].to(device)
                masked = masked_all[start : start + batch_size].to(device)
                generator = None
                if model.is_ca:
                    first = int(chunk[start])
                    generator = step_generators(
                        EVAL_SEED, f"steps/{index}", first, target.shape[0], device
                    )
                output = _outputs(model, masked, steps, octaves, generator)
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
    return EvalResult(rows, protocol="full")


def _authors(
    model, test, steps, octaves, batch_size, device, lpips_model, configurations, mask, progress
) -> EvalResult:
    """The release's test loop: one seeded configuration per batch, batch-level metrics."""
    config_gen = make_generator(derive_seed(EVAL_SEED, "authors/configuration", 0))
    mask_gen = make_generator(derive_seed(EVAL_SEED, "authors/noise", 0))
    per_config: dict[str, list[dict[str, float]]] = {}
    every: list[dict[str, float]] = []
    for start in range(0, len(test), batch_size):
        index = torch.arange(start, min(start + batch_size, len(test)))
        drawn = int(torch.randint(len(configurations), (1,), generator=config_gen))
        config = configurations[drawn]
        target = test.batch(index, "cpu")
        masked = mask_images(target, config, mask_gen, **mask)
        target, masked = target.to(device), masked.to(device)
        generator = None
        if model.is_ca:
            generator = step_generators(EVAL_SEED, "authors/steps", start, len(index), device)
        output = _outputs(model, masked, steps, octaves, generator)
        values = {
            "psnr": float(batch_psnr(output, target)),
            "ssim": float(ssim(output, target).mean()),
            "input_psnr": float(batch_psnr(masked, target)),
            "input_ssim": float(ssim(masked, target).mean()),
        }
        if lpips_model is not None:
            values["lpips"] = float(lpips_distance(lpips_model, output, target).mean())
            values["input_lpips"] = float(lpips_distance(lpips_model, masked, target).mean())
        every.append(values)
        per_config.setdefault(config_name(config), []).append(values)
        if progress is not None:
            progress(len(index))

    def average(records: list[dict[str, float]]) -> dict[str, float]:
        return {k: sum(r[k] for r in records) / len(records) for k in records[0]}

    order = [config_name(c) for c in configurations]
    rows = {name: average(per_config[name]) for name in order if name in per_config}
    batches = {name: len(per_config[name]) for name in rows}
    return EvalResult(rows, protocol="authors", overall=average(every), batches=batches)
