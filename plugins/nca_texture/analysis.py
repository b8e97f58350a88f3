"""The texture task's evaluation and ``nca analyze`` experiments: grids grown from empty
cells, judged by the style loss."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from nca import GridModel, make_generator, save_animation, save_curves, save_grid

#: ``style_loss(rgb (B, 3, H, W), generator) -> (B,)`` against the target texture.
StyleLoss = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def overflow(cells: torch.Tensor) -> torch.Tensor:
    """The notebook's overflow loss: ``Σ |x − clamp(x, −1, 1)|`` over the batch."""
    return (cells - cells.clamp(-1.0, 1.0)).abs().sum()


@torch.no_grad()
def grow(model: GridModel, count: int, size: int, steps: int, device, seed: int):
    """``count`` empty grids of side ``size`` grown for ``steps`` steps, and the generator
    of their update masks."""
    generator = make_generator(seed, device)
    return model.run(model.seed(count, size, device), steps, generator=generator), generator


def pad_to(images: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
    """``image`` padded with white to the largest height and width among ``images``."""
    height = max(i.shape[-2] for i in images)
    width = max(i.shape[-1] for i in images)
    pad = (0, width - image.shape[-1], 0, height - image.shape[-2])
    return torch.nn.functional.pad(image.clamp(0, 1), pad, value=1.0)


@torch.no_grad()
def evaluate_texture(
    model: GridModel, style_loss: StyleLoss, target: torch.Tensor, config, device
) -> tuple[dict[str, float], torch.Tensor]:
    """Style loss of the empty seed (grey), of grids grown for ``steps_max`` on the
    training grid and for ``eval_steps`` on an ``eval_size`` grid; and a picture row.

    Returns:
        The metrics, and one row ``(3, 3, H, W)``: target, grown, grown large.
    """
    cfg, projections = config, make_generator(0, "cpu")

    def score(cells):
        return float(style_loss(model.output(cells), projections).mean())

    seed = model.seed(2, cfg.grid_size, device)
    grown, _ = grow(model, 2, cfg.grid_size, cfg.steps_max, device, seed=2024)
    large, _ = grow(model, 2, cfg.eval_size, cfg.eval_steps, device, seed=2025)
    result = {
        "loss_seed": score(seed),
        "loss_T": score(grown),
        f"loss_{cfg.eval_steps}_steps_{cfg.eval_size}px": score(large),
        "overflow_T": float(overflow(grown)),
    }
    pictures = [target.to(device), model.output(grown[:1]), model.output(large[:1])]
    return result, torch.cat([pad_to(pictures, p) for p in pictures])


@torch.no_grad()
def growth(
    model: GridModel, style_loss: StyleLoss, out: Path, *, steps: int, size: int, count: int,
    every: int, seed: int,
) -> dict:  # fmt: skip
    """A GIF of ``count`` grids growing the texture from empty cells, and the style loss
    every ``every`` steps."""
    device = next(model.parameters()).device
    generator, projections = make_generator(seed, device), make_generator(0, "cpu")
    cells, frames, losses = model.seed(count, size, device), [], []
    for t in range(1, steps + 1):
        cells = model.run(cells, 1, generator=generator)
        if t % every == 0 or t == steps:
            rgb = model.output(cells)
            frames.append((t, rgb.clamp(0, 1).cpu()))
            losses.append(float(style_loss(rgb, projections).mean()))
    save_animation([f for _, f in frames], out / "growth.gif",
                   labels=[f"step {t}" for t, _ in frames], scale=2)  # fmt: skip
    save_grid([frames[len(frames) // 4][1], frames[len(frames) // 2][1], frames[-1][1]],
              out / "frames.png", scale=2)  # fmt: skip
    save_curves({"style loss": losses}, out / "loss.png", xlabel=f"step / {every}",
                ylabel="loss", title="texture growth")  # fmt: skip
    return {"steps": [t for t, _ in frames], "loss": losses, "final_loss": losses[-1]}


@torch.no_grad()
def persistence(
    model: GridModel, style_loss: StyleLoss, out: Path, *, period: int, size: int,
    factor: int, count: int, seed: int,
) -> dict:  # fmt: skip
    """Grow for ``factor`` × ``period`` steps: the style loss at T, 2 T, 5 T and the end,
    with pictures."""
    device = next(model.parameters()).device
    generator, projections = make_generator(seed, device), make_generator(0, "cpu")
    cells = model.seed(count, size, device)
    marks = sorted({m for m in (1, 2, 5, factor) if m <= factor})
    pictures, losses, done = [], [], 0
    for m in marks:
        cells = model.run(cells, (m - done) * period, generator=generator)
        done = m
        rgb = model.output(cells)
        pictures.append(rgb)
        losses.append(float(style_loss(rgb, projections).mean()))
    save_grid(pictures, out / "frames.png", scale=2)
    return {"T": period, "marks": [m * period for m in marks], "loss_at_marks": losses}
