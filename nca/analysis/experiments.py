"""The paper's qualitative experiments (Fig. 2, 4, 6, 7; App. A.3), one function each.

Every experiment takes a :class:`~nca.analysis.subject.Subject` and an output
folder, writes pictures there (PNG grids, GIF rollouts, plots when matplotlib
is installed) and returns the numbers behind them (JSON-friendly). Rollouts
run at the rule's training σ unless stated.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

from nca.analysis.media import save_animation, save_curves, save_grid
from nca.analysis.splat import colour_heads, splat_attention
from nca.analysis.subject import Subject, psnr
from nca.core import damage as damage_cells
from nca.resources import check_fits_in_memory


def _check_events(name: str, at: tuple[int, ...], steps: int, *, first: int = 1) -> None:
    """Event steps must fall inside the rollout (``first <= t < steps``)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    bad = [t for t in at if not first <= t < steps]
    if bad:
        raise ValueError(
            f"{name}={','.join(map(str, at))} does not fit a rollout of steps={steps}: every "
            f"step must be in [{first}, {steps - 1}]; raise steps or choose earlier steps"
        )


def _trajectory(
    subject: Subject,
    masked: torch.Tensor,
    steps: int,
    *,
    update_rate=None,
    offset: int = 1,
    events=None,
):
    """Roll out ``steps`` single steps; ``events[t](cells) -> cells`` runs before step ``t``.
    Returns the output images after every step and the grids' update norms."""
    ca = subject.automaton(update_rate)
    generator = subject.generator(offset)
    cells = ca.seed(masked)
    outputs, norms = [], []
    with torch.no_grad():
        for t in range(1, steps + 1):
            if events and t in events:
                cells = events[t](cells)
            new = ca(cells, 1, generator=generator).cells
            norms.append(float((new - cells).abs().mean()))
            cells = new
            outputs.append(ca.output_image(cells))
    return outputs, norms, cells


def rollout(
    subject: Subject,
    out: Path,
    *,
    steps: int = 64,
    patch: tuple[int, int] = (1, 1),
    coverage: float = 0.5,
    every: int = 1,
) -> dict:
    """Animation of input | output over time | target with a step counter."""
    if every < 1:  # range() would fail (0) or show nothing (< 0)
        raise ValueError(f"every must be >= 1 (a frame every N steps), got {every}")
    masked = subject.masked(patch, coverage)
    outputs, _, _ = _trajectory(subject, masked, steps)
    shown = list(range(0, steps, every))
    frames = [torch.cat([masked, outputs[t], subject.images], dim=-1) for t in shown]
    save_animation(frames, out / "rollout.gif", labels=[f"step {t + 1}" for t in shown])
    curve = [psnr(o, subject.images) for o in outputs]
    save_curves({"output": curve}, out / "psnr.png", xlabel="step", ylabel="PSNR (dB)")
    return {"psnr": curve, "input_psnr": psnr(masked, subject.images)}


def damage(
    subject: Subject,
    out: Path,
    *,
    steps: int = 192,
    damage_at: tuple[int, ...] = (64, 96),
    patch: tuple[int, int] = (1, 1),
    coverage: float = 0.5,
) -> dict:
    """Fig. 4a: damage a random H/2×W/2 region (U(-1, 1)) at the given steps; keep going."""
    _check_events("damage_at", damage_at, steps, first=2)
    masked = subject.masked(patch, coverage)
    generator = subject.generator(7)
    layout = subject.automaton().layout
    events = {t: (lambda c: damage_cells(layout, c, generator=generator)[0]) for t in damage_at}
    outputs, _, _ = _trajectory(subject, masked, steps, events=events)
    curve = [psnr(o, subject.images) for o in outputs]
    keys = sorted({t - 1 for t in damage_at} | {t for t in damage_at} | {steps - 1})
    save_grid(
        [masked] + [outputs[t - 1] if t < steps else outputs[-1] for t in keys] + [subject.images],
        out / "frames.png",
        scale=2,
    )
    save_curves(
        {"output": curve},
        out / "psnr.png",
        xlabel="step",
        ylabel="PSNR (dB)",
        marks=damage_at,
        title="damage resilience",
    )
    return {
        "psnr": curve,
        "damage_at": list(damage_at),
        "psnr_before_damage": [curve[t - 2] for t in damage_at],
        "final_psnr": curve[-1],
    }


def convergence(
    subject: Subject,
    out: Path,
    *,
    steps: int = 2784,
    patch: tuple[int, int] = (1, 1),
    coverage: float = 0.5,
) -> dict:
    """Fig. 4b: a long rollout: PSNR and the mean absolute cell update per step."""
    masked = subject.masked(patch, coverage)
    outputs, norms, _ = _trajectory(subject, masked, steps)
    curve = [psnr(o, subject.images) for o in outputs]
    save_curves({"output": curve}, out / "psnr.png", xlabel="step", ylabel="PSNR (dB)")
    save_curves({"update": norms}, out / "update_norm.png", xlabel="step", ylabel="mean |Δ cell|")
    save_grid(
        [masked, outputs[min(63, steps - 1)], outputs[-1], subject.images],
        out / "frames.png",
        scale=2,
    )
    return {
        "psnr": curve,
        "update_norm": norms,
        "final_psnr": curve[-1],
        "max_update_last_100": max(norms[-100:]),
    }


def hidden_pca(
    subject: Subject,
    out: Path,
    *,
    steps: int = 64,
    patch: tuple[int, int] = (1, 1),
    coverage: float = 0.5,
) -> dict:
    """Fig. 4c: 2-D and 3-D PCA of converged hidden states, one point per image."""
    if subject.images.shape[0] < 2:  # one point has no variance to explain
        raise ValueError(
            f"pca needs at least 2 images (one point each; 4 or more for the 3-D plot), "
            f"got {subject.images.shape[0]}: pass --count 2 or more"
        )
    masked = subject.masked(patch, coverage)
    _, _, cells = _trajectory(subject, masked, steps)
    hidden = subject.automaton().layout.group(cells, "hidden").flatten(1).float()
    centred = hidden - hidden.mean(0)
    _, singular, basis = torch.linalg.svd(centred, full_matrices=False)
    coords = centred @ basis[:3].T
    explained = (singular**2 / (singular**2).sum())[:3].tolist()
    _scatter(coords, subject.labels, out)
    return {
        "explained_variance_ratio": explained,
        "points": coords.tolist(),
        "labels": subject.labels.tolist() if subject.labels is not None else None,
    }


def _scatter(coords: torch.Tensor, labels, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    colours = labels.tolist() if labels is not None else None
    fig = plt.figure(figsize=(9, 4))
    ax2 = fig.add_subplot(1, 2, 1)
    ax2.scatter(coords[:, 0], coords[:, 1], c=colours, cmap="tab10", s=8)
    ax2.set_title("hidden states, PCA 2-D")
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    if coords.shape[1] >= 3:
        ax3.scatter(coords[:, 0], coords[:, 1], coords[:, 2], c=colours, cmap="tab10", s=8)
    ax3.set_title("PCA 3-D")
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "pca.png", dpi=120)
    plt.close(fig)


def update_rates(
    subject: Subject,
    out: Path,
    *,
    rates: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0),
    steps: int = 128,
    tolerance_db: float = 0.1,
    patch: tuple[int, int] = (1, 1),
    coverage: float = 0.5,
) -> dict:
    """Fig. 4d / App. A.3: PSNR over time per σ and the steps to converge (the step after
    which PSNR stays within ``tolerance_db`` of its final value)."""
    masked = subject.masked(patch, coverage)
    curves, converged = {}, {}
    for rate in rates:
        outputs, _, _ = _trajectory(subject, masked, steps, update_rate=rate)
        curve = [psnr(o, subject.images) for o in outputs]
        curves[f"σ = {rate:g}"] = curve
        away = [t for t, v in enumerate(curve) if abs(v - curve[-1]) > tolerance_db]
        converged[str(rate)] = (away[-1] + 2) if away else 1
    save_curves(curves, out / "psnr.png", xlabel="step", ylabel="PSNR (dB)")
    return {"steps_to_converge": converged, "final_psnr": {k: v[-1] for k, v in curves.items()}}


def _final_outputs(subject: Subject, masked: torch.Tensor, steps: int) -> torch.Tensor:
    if subject.is_ca:
        return _trajectory(subject, masked, steps)[0][-1]
    with torch.no_grad():
        return subject.model(masked)


def unseen_noise(
    subject: Subject,
    out: Path,
    *,
    steps: int = 64,
    coverage: float = 0.65,
    patches: tuple[tuple[int, int], ...] = ((4, 1), (1, 4)),
) -> dict:
    """Fig. 4e: noise shapes never seen in training (4×1 and 1×4 patches at 65 %)."""
    results, rows = {}, []
    for index, patch in enumerate(patches):
        masked = subject.masked(patch, coverage, offset=index)
        output = _final_outputs(subject, masked, steps)
        results[f"{patch[0]}x{patch[1]}"] = {
            "psnr": psnr(output, subject.images),
            "input_psnr": psnr(masked, subject.images),
        }
        rows += [masked, output]
    save_grid([*rows, subject.images], out / "outputs.png", scale=2)
    return results


def changing_inputs(
    subject: Subject,
    out: Path,
    *,
    switch_at: tuple[int, ...] = (48, 96),
    steps: int = 144,
    patch: tuple[int, int] = (1, 1),
    coverage: float = 0.5,
) -> dict:
    """Fig. 4f: re-inject new masked inputs (other images) at the given steps."""
    _check_events("switch_at", switch_at, steps)
    count = subject.images.shape[0]
    targets = [subject.images.roll(shifts=k, dims=0) for k in range(len(switch_at) + 1)]
    inputs = [subject.masked(patch, coverage, images=t, offset=k) for k, t in enumerate(targets)]
    ca = subject.automaton()
    events = {t: (lambda c, k=k: ca.inject(c, inputs[k + 1])) for k, t in enumerate(switch_at)}
    outputs, _, _ = _trajectory(subject, inputs[0], steps, events=events)
    phase = [sum(t + 1 > s for s in switch_at) for t in range(steps)]
    curve = [psnr(o, targets[p]) for o, p in zip(outputs, phase, strict=True)]
    keys = [s - 2 for s in switch_at] + [steps - 1]
    save_grid([inputs[0]] + [outputs[k] for k in keys], out / "frames.png", scale=2)
    save_curves(
        {"output vs current target": curve},
        out / "psnr.png",
        xlabel="step",
        ylabel="PSNR (dB)",
        marks=switch_at,
    )
    return {"psnr": curve, "switch_at": list(switch_at), "images": count}


def unmasked_and_masked(subject: Subject, out: Path, *, steps: int = 64) -> dict:
    """Fig. 4g: no mask (autoencoding) and a fully masked input (the median image)."""
    clean_out = _final_outputs(subject, subject.images, steps)
    blank = subject.masked((1, 1), 1.0)
    blank_out = _final_outputs(subject, blank, steps)
    median = subject.images.median(dim=0).values
    save_grid(
        [subject.images, clean_out, blank, blank_out, median.unsqueeze(0).expand_as(blank_out)],
        out / "outputs.png",
        scale=2,
    )
    distance = (blank_out.clamp(0, 1) - median).abs().mean(dim=(1, 2, 3))
    return {
        "unmasked_psnr": psnr(clean_out, subject.images),
        "fully_masked_l1_to_median": float(distance.mean()),
        "fully_masked_l1_to_mean": float(
            (blank_out.clamp(0, 1) - subject.images.mean(0)).abs().mean()
        ),
    }


def spatial_interpolation(
    subject: Subject,
    out: Path,
    *,
    scale: int = 4,
    steps: int = 64,
    patch: tuple[int, int] = (1, 1),
    coverage: float = 0.5,
) -> dict:
    """Fig. 4h: run the rule on a grid ``scale`` times larger (e.g. 32×32 -> 128×128)."""
    subject.automaton()  # CA rules only: feed-forward models have no grid to enlarge
    count, channels, height, width = subject.images.shape
    cells = subject.automaton().layout.cell_channels
    # float32 images and cell grids, before the first is allocated
    check_fits_in_memory(
        count * (channels + cells) * height * width * scale**2 * 4,
        f"interpolation at scale={scale} ({count} grids of {height * scale}x{width * scale})",
        "lower -o scale or --count",
    )
    large = torch.nn.functional.interpolate(
        subject.images, scale_factor=scale, mode="bilinear", align_corners=False
    ).clamp(0, 1)
    masked = subject.masked(patch, coverage, images=large)
    output = _trajectory(subject, masked, steps)[0][-1]
    save_grid([masked, output, large], out / "outputs.png")
    return {
        "size": list(large.shape[-2:]),
        "psnr": psnr(output, large),
        "input_psnr": psnr(masked, large),
    }


def head_masking(subject: Subject, out: Path, *, steps: int = 64, coverage: float = 0.0) -> dict:
    """Fig. 7: outputs with each subset of attention heads masked (autoencoding by default)."""
    subject.require("head_masking", "head masking")
    rule = subject.rule
    heads = rule.head_count()
    masked = subject.masked((1, 1), coverage)
    results, rows = {}, []
    try:
        for size in range(heads):
            for subset in itertools.combinations(range(heads), size):
                rule.mask_heads(list(subset))
                output = _trajectory(subject, masked, steps)[0][-1]
                results["masked " + (",".join(map(str, subset)) or "none")] = psnr(
                    output, subject.images
                )
                rows.append(output[:1])
    finally:
        rule.mask_heads([])
    save_grid([torch.cat(rows)], out / "outputs.png", scale=2)
    return {"psnr": results}


def attention_splat(
    subject: Subject,
    out: Path,
    *,
    steps: int = 64,
    patch: tuple[int, int] = (1, 1),
    coverage: float = 0.5,
) -> dict:
    """Fig. 2: each head's local attention, colour-coded per head and blended over the
    output: every cell splats its attention weights onto the neighbours it attends to."""
    subject.require("attention_maps", "attention splat maps")
    rule = subject.rule
    masked = subject.masked(patch, coverage)
    _, _, cells = _trajectory(subject, masked, steps - 1)
    rule.record_attention()
    try:
        with torch.no_grad():
            rule(cells)
        attention = rule.attention_maps()[-1]  # (B, H', W', heads, M)
    finally:
        rule.record_attention(False)
    colour_map = colour_heads(splat_attention(attention, rule.attention_neighbourhood()).cpu())
    base = subject.automaton().output_image(cells).clamp(0, 1).cpu()
    base = base.expand(-1, 3, -1, -1) if base.shape[1] == 1 else base
    if colour_map.shape[-1] != base.shape[-1]:  # patches: one colour per cell
        colour_map = torch.nn.functional.interpolate(colour_map, size=base.shape[-2:])
    blended = (0.5 * base + 0.5 * colour_map.clamp(0, 1)).clamp(0, 1)
    save_grid([base, blended], out / "splat.png", scale=4)
    entropy = -(attention.clamp(min=1e-12).log() * attention).sum(-1).mean(dim=(0, 1, 2))
    return {"attention_entropy_per_head": entropy.tolist()}


EXPERIMENTS = {
    "rollout": rollout,
    "attention": attention_splat,
    "damage": damage,
    "convergence": convergence,
    "pca": hidden_pca,
    "update-rates": update_rates,
    "unseen-noise": unseen_noise,
    "changing-inputs": changing_inputs,
    "masking-extremes": unmasked_and_masked,
    "interpolation": spatial_interpolation,
    "head-masking": head_masking,
}
