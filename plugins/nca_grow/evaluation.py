"""The grow task's evaluation: growth, persistence and one regeneration, in PSNR."""

from __future__ import annotations

from pathlib import Path

import torch

from nca import GridModel, circle_damage, make_generator, psnr
from nca_grow.analysis import to_picture


def per_sample_loss(rgba: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The article's L2 loss of each grid: mean squared RGBA error ``(B,)`` (of images
    ``(B, 4, H, W)`` or volumes ``(B, 4, D, H, W)``)."""
    return ((rgba.float() - target) ** 2).mean(dim=tuple(range(1, rgba.ndim)))


def grow(model: GridModel, count: int, size: tuple[int, int], steps: int, device, seed: int):
    """``count`` grids grown from the seed for ``steps`` steps, and the generator of their
    update masks (to continue them)."""
    generator = make_generator(seed, device)
    return model.run(model.seed(count, size, device), steps, generator=generator), generator


@torch.no_grad()
def evaluate_growth(
    model: GridModel, target: torch.Tensor, steps: int, repeats: int, device
) -> tuple[dict[str, float], list[torch.Tensor]]:
    """Grow ``repeats`` seeds for ``T = steps``; keep them to ``10 T``; cut a disc out of
    the grown pattern and run ``T`` more steps.

    Args:
        model: The task's model.
        target: Premultiplied RGBA ``(1, 4, *grid)`` (an image or a volume) on ``device``.
        steps: ``T``.
        repeats: Seeds grown.
        device: Where to run.

    Returns:
        The metrics, and the grids ``(B, C, *grid)`` grown, kept, damaged and recovered.
    """

    def score(cells):
        rgba = model.output(cells).float()
        return float(psnr(rgba, target.expand_as(rgba)).mean())

    size = tuple(target.shape[2:])
    grown, generator = grow(model, repeats, size, steps, device, seed=2024)
    result = {
        "psnr_T": score(grown),
        "loss_T": float(per_sample_loss(model.output(grown), target).mean()),
    }
    kept = model.run(grown, 9 * steps, generator=generator)
    result["psnr_10T"] = score(kept)
    damaged, _ = circle_damage(grown, generator=make_generator(7, device))
    result["psnr_damaged"] = score(damaged)
    recovery, cells = [], damaged
    for _ in range(steps):
        cells = model.run(cells, 1, generator=generator)
        recovery.append(score(cells))
    result["psnr_recovered"] = recovery[-1]
    within = [i + 1 for i, value in enumerate(recovery) if value >= result["psnr_T"] - 1.0]
    if result["psnr_damaged"] >= result["psnr_T"] - 1.0:
        result["recovery_steps"] = 0.0  # the damage cost less than 1 dB: nothing to repair
    else:
        result["recovery_steps"] = float(within[0]) if within else float("nan")
    return result, [grown, kept, damaged, cells]


def save_stages(model: GridModel, target: torch.Tensor, stages, path: Path) -> None:
    """One row: target, grown at T, at 10 T, damaged, recovered (first seed of each)."""
    from torchvision.utils import save_image

    rgba = [target] + [model.output(c[:1]).float() for c in stages]
    save_image(to_picture(torch.cat(rgba).clamp(0, 1)), path, nrow=len(rgba), padding=1)
