"""``nca analyze`` experiments of the grow task: growth, regeneration, persistence."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from nca import circle_damage, make_generator, psnr, save_animation, save_curves, save_grid


def on_white(rgba: torch.Tensor) -> torch.Tensor:
    """Premultiplied RGBA ``(B, 4, H, W)`` composited on white: ``(B, 3, H, W)``."""
    return rgba[:, :3] + (1 - rgba[:, 3:4])


def project(volume: torch.Tensor, axis: int) -> torch.Tensor:
    """Premultiplied RGBA voxels ``(B, 4, D, H, W)`` seen along spatial ``axis`` (0: from
    the front, 1: from the top, 2: from the left), front to back with the "over"
    operator, on white: ``(B, 3, ·, ·)`` of the two other axes."""
    moved = volume.movedim(2 + axis, 2)  # (B, 4, depth, rows, cols)
    alpha = moved[:, 3:4].clamp(0, 1)
    through = torch.cumprod(1 - alpha, dim=2)  # transmittance after each voxel
    before = torch.cat([torch.ones_like(through[:, :, :1]), through[:, :, :-1]], dim=2)
    rgb = (before * moved[:, :3]).sum(dim=2)
    return rgb + through[:, :, -1]


#: Pixels per voxel in the pictures of volumes (their grids are small).
VOXEL_PIXELS = 4


def to_picture(rgba: torch.Tensor) -> torch.Tensor:
    """What a grid looks like, ``(B, 3, h, w)``: an image on white, or a volume's views
    from the front, the side and the top next to each other (white gaps), each voxel
    ``VOXEL_PIXELS`` pixels wide."""
    if rgba.ndim == 4:
        return on_white(rgba)
    views = [project(rgba, 0), project(rgba, 2).transpose(-1, -2), project(rgba, 1)]
    views = [v.repeat_interleave(VOXEL_PIXELS, -2).repeat_interleave(VOXEL_PIXELS, -1)
             for v in views]  # fmt: skip
    height = max(v.shape[-2] for v in views)
    padded = [torch.nn.functional.pad(v, (0, 2, 0, height - v.shape[-2]), value=1.0)
              for v in views]  # fmt: skip
    return torch.cat(padded, dim=-1)


#: Frames of a turntable: one full turn in steps of 15°.
TURNTABLE_FRAMES = 24


def rotate(volume: torch.Tensor, degrees: float) -> torch.Tensor:
    """RGBA voxels ``(B, 4, D, H, W)`` turned by ``degrees`` about the vertical axis (the
    rows, ``H``), trilinear, on a grid padded so no corner leaves it: ``(B, 4, S, H, S)``
    with ``S = ceil(√2 · max(D, W))``."""
    depth, width = volume.shape[2], volume.shape[4]
    side = math.ceil(math.sqrt(2) * max(depth, width))
    pad_d, pad_w = side - depth, side - width
    square = torch.nn.functional.pad(
        volume, (pad_w // 2, pad_w - pad_w // 2, 0, 0, pad_d // 2, pad_d - pad_d // 2)
    )
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    # affine_grid's coordinates are (x: W, y: H, z: D); a turn mixes x and z
    theta = torch.tensor([[cos, 0.0, sin, 0.0], [0.0, 1.0, 0.0, 0.0], [-sin, 0.0, cos, 0.0]])
    theta = theta.to(volume).expand(volume.shape[0], 3, 4)
    grid = torch.nn.functional.affine_grid(theta, list(square.shape), align_corners=False)
    return torch.nn.functional.grid_sample(square, grid, align_corners=False)


def turntable(volume: torch.Tensor, frames: int = TURNTABLE_FRAMES) -> list[torch.Tensor]:
    """Orthographic front views ``(B, 3, H·k, S·k)`` (``k = VOXEL_PIXELS``) of RGBA voxels
    ``(B, 4, D, H, W)`` turned a full turn in ``frames`` steps, on white."""
    views = []
    for index in range(frames):
        view = project(rotate(volume, 360.0 * index / frames).clamp(0, 1), 0)
        views.append(view.repeat_interleave(VOXEL_PIXELS, -2).repeat_interleave(VOXEL_PIXELS, -1))
    return views


def save_turntable(grown: torch.Tensor, target: torch.Tensor, path: Path) -> Path:
    """A GIF of the grown volumes ``(B, 4, D, H, W)`` next to the target, turning."""
    both = torch.cat([grown, target.expand(1, *grown.shape[1:])])
    views = turntable(both)
    labels = [f"{360 * i // len(views)}°" for i in range(len(views))]
    return save_animation(views, path, labels=labels, scale=1, duration_ms=120)


def trajectory(model, cells: torch.Tensor, steps: int, generator, events=None):
    """``steps`` single updates of ``cells``; ``events[t](cells)`` runs before step ``t``.

    Returns:
        The RGBA ``(B, 4, H', W')`` after each step (a list of ``steps``) and the last grids.
    """
    frames = []
    with torch.no_grad():
        for t in range(1, steps + 1):
            if events and t in events:
                cells = events[t](cells)
            cells = model.run(cells, 1, generator=generator)
            frames.append(model.output(cells).float().clamp(0, 1))
    return frames, cells


def psnr_curve(frames, target: torch.Tensor) -> list[float]:
    """Mean PSNR (dB) of each frame's RGBA against the target."""
    return [float(psnr(f, target.expand_as(f)).mean()) for f in frames]


def loss_curve(frames, target: torch.Tensor) -> list[float]:
    """Mean L2 loss of each frame's RGBA against the target (the training loss)."""
    return [float(((f - target) ** 2).mean()) for f in frames]


def growth(model, target, out: Path, *, steps: int, count: int, seed: int, every: int) -> dict:
    """A GIF of ``count`` seeds growing for ``steps`` steps and the PSNR per step."""
    device = target.device
    generator = make_generator(seed, device)
    cells = model.seed(count, tuple(target.shape[2:]), device)
    frames, _ = trajectory(model, cells, steps, generator)
    shown = list(range(0, steps, every)) + ([steps - 1] if (steps - 1) % every else [])
    save_animation(
        [to_picture(torch.cat([frames[t], target])) for t in shown],
        out / "growth.gif",
        labels=[f"step {t + 1}" for t in shown],
    )
    curve = psnr_curve(frames, target)
    save_curves({"grown": curve}, out / "psnr.png", xlabel="step", ylabel="PSNR (dB)",
                title="growth from one cell")  # fmt: skip
    if target.ndim == 5:  # a volume: its shape shows best turning (see docs/tasks/grow.md)
        save_turntable(frames[-1], target, out / "turntable.gif")
    return {"psnr": curve, "final_psnr": curve[-1], "steps": steps, "count": count}


def regeneration(
    model, target, out: Path, *, steps: int, damage_at: tuple[int, ...], count: int, seed: int,
    every: int = 2,
) -> dict:  # fmt: skip
    """Grow, cut a disc (a ball, in a volume) out at each of ``damage_at``, keep going;
    PSNR and L2 loss per step, the dB each cut cost and the updates after it until the
    PSNR is back within 1 dB of its value before the cut. A GIF of the whole rollout
    beside the target, a frame every ``every`` steps and the first frame after each cut."""
    bad = [t for t in damage_at if not 2 <= t < steps]
    if bad:
        raise ValueError(
            f"damage_at={','.join(map(str, damage_at))} does not fit a rollout of "
            f"steps={steps}: every step must be in [2, {steps - 1}]"
        )
    device = target.device
    generator, cuts = make_generator(seed, device), make_generator(seed + 7, device)
    events = {t: (lambda c: circle_damage(c, generator=cuts)[0]) for t in damage_at}
    cells = model.seed(count, tuple(target.shape[2:]), device)
    frames, _ = trajectory(model, cells, steps, generator, events=events)
    curve = psnr_curve(frames, target)
    lost, back = [], []
    for i, t in enumerate(damage_at):
        before = curve[t - 2]
        lost.append(before - curve[t - 1])
        end = damage_at[i + 1] - 1 if i + 1 < len(damage_at) else steps
        within = [s - t + 2 for s in range(t - 1, end) if curve[s] >= before - 1.0]
        back.append(float(within[0]) if within else float("nan"))
    save_regeneration_gif(frames, target, damage_at, every, out / "regeneration.gif")
    keys = sorted({t - 2 for t in damage_at} | {t - 1 for t in damage_at} | {steps - 1})
    save_grid([to_picture(frames[k]) for k in keys] + [to_picture(target.expand_as(frames[0]))],
              out / "frames.png", scale=2)  # fmt: skip
    save_curves({"regenerating": curve}, out / "psnr.png", xlabel="step", ylabel="PSNR (dB)",
                marks=damage_at, title="damage and regeneration")  # fmt: skip
    loss = loss_curve(frames, target)
    save_curves({"regenerating": loss}, out / "loss.png", xlabel="step", ylabel="L2 loss",
                marks=damage_at, title="damage and regeneration")  # fmt: skip
    return {
        "damage": "ball" if target.ndim == 5 else "disc",
        "psnr": curve,
        "loss": loss,
        "damage_at": list(damage_at),
        "db_lost": lost,
        "steps_to_1db": back,
        "final_psnr": curve[-1],
    }


def save_regeneration_gif(frames, target, damage_at, every: int, path: Path) -> Path:
    """A GIF of the rollout ``frames`` beside the target: a frame every ``every`` steps,
    the last one and the first after each cut (labelled ``cut``)."""
    steps = len(frames)
    cuts = {t - 1 for t in damage_at}
    shown = sorted(set(range(0, steps, every)) | cuts | {steps - 1})
    return save_animation(
        [to_picture(torch.cat([frames[t], target])) for t in shown],
        path,
        labels=[f"step {t + 1}" + (" (cut)" if t in cuts else "") for t in shown],
    )


def persistence(model, target, out: Path, *, steps: int, factor: int, count: int, seed: int):
    """Grow for ``factor × steps`` steps (the training T): PSNR per step, pictures at
    T, 2T, 5T and the end."""
    device = target.device
    generator = make_generator(seed, device)
    cells = model.seed(count, tuple(target.shape[2:]), device)
    total = factor * steps
    frames, _ = trajectory(model, cells, total, generator)
    curve = psnr_curve(frames, target)
    marks = sorted({m * steps for m in (1, 2, 5, factor) if m * steps <= total})
    save_grid([to_picture(frames[m - 1]) for m in marks], out / "frames.png", scale=2)
    save_curves({"grown": curve}, out / "psnr.png", xlabel="step", ylabel="PSNR (dB)",
                marks=marks, title=f"persistence to {factor} x T")  # fmt: skip
    return {
        "psnr": curve,
        "T": steps,
        "marks": marks,
        "psnr_at_marks": [curve[m - 1] for m in marks],
        "final_psnr": curve[-1],
    }
