"""Rollouts scored per step, and the ``nca analyze`` experiments of the classify task."""

from __future__ import annotations

from pathlib import Path

import torch

from nca import (
    GridModel,
    ImageSet,
    make_generator,
    save_animation,
    save_curves,
    save_grid,
    write_report,
)
from nca_classify.model import PALETTE, Tally, class_map


def mutation_partners(count: int, generator: torch.Generator) -> torch.Tensor:
    """For each of ``count`` digits, another digit's index (a random derangement-like
    shift: digit ``i`` becomes digit ``perm[(k + offset) % count]``, never itself)."""
    if count < 2:
        return torch.zeros(count, dtype=torch.long)
    perm = torch.randperm(count, generator=generator)
    offset = int(torch.randint(1, count, (1,), generator=generator))
    partner = torch.empty(count, dtype=torch.long)
    partner[perm] = perm.roll(-offset)
    return partner


@torch.no_grad()
def rollout_tally(
    model: GridModel,
    split: ImageSet,
    count: int,
    steps: int,
    batch_size: int,
    device,
    *,
    seed: int,
    mutate: bool = True,
) -> Tally:
    """Score the first ``count`` digits of ``split`` after each of ``steps`` steps; with
    ``mutate``, then swap every digit for another of them and score ``steps`` more."""
    generator = make_generator(seed, "cpu")
    partners = mutation_partners(count, generator) if mutate else None
    updates = make_generator(seed + 1, device)
    tally = Tally(2 * steps if mutate else steps)
    for start in range(0, count, batch_size):
        index = torch.arange(start, min(start + batch_size, count))
        images, labels = split.batch(index, device), split.labels[index].to(device)
        cells = model.seed_with(images)
        for t in range(steps):
            cells = model.run(cells, 1, generator=updates)
            tally.add(t, model.output(cells), model.alive(cells), labels)
        if partners is None:
            continue
        swap = partners[index]
        cells = model.inject(cells, split.batch(swap, device))
        labels = split.labels[swap].to(device)
        for t in range(steps, 2 * steps):
            cells = model.run(cells, 1, generator=updates)
            tally.add(t, model.output(cells), model.alive(cells), labels)
    return tally


def summary(curves: dict[str, list[float]], train_steps: int, steps: int) -> dict[str, float]:
    """The article's table from per-step curves: accuracies at T and at ``steps`` (its
    200), the best over the first ``steps`` and where, and the end after the mutation."""
    cell, major, agree = curves["cell_accuracy"], curves["majority_accuracy"], curves["agreement"]
    t = min(train_steps, steps) - 1
    first = cell[:steps]
    best = max(range(len(first)), key=first.__getitem__)
    result = {
        "cell_accuracy_T": cell[t],
        "majority_accuracy_T": major[t],
        "agreement_T": agree[t],
        f"cell_accuracy_{steps}": cell[steps - 1],
        f"majority_accuracy_{steps}": major[steps - 1],
        f"agreement_{steps}": agree[steps - 1],
        "top_cell_accuracy": first[best],
        "top_cell_accuracy_step": float(best + 1),
        "top_agreement": max(agree[:steps]),
    }
    if len(cell) > steps:
        result["cell_accuracy_mutated"] = cell[-1]
        result["majority_accuracy_mutated"] = major[-1]
        result["agreement_mutated"] = agree[-1]
    return result


def class_map_rollout(
    model: GridModel,
    split: ImageSet,
    out: Path,
    *,
    steps: int,
    count: int,
    seed: int,
    mutate_at: int,
    every: int = 0,
) -> dict:
    """A GIF of class maps over ``steps`` steps (digits swapped before step ``mutate_at``
    when it is > 0), a frame every ``every`` steps (0: ``steps // 100``, at least 1, so
    about 100 frames), key frames as a PNG, and the per-step accuracy of these digits."""
    if steps < 1 or count < 1:
        raise ValueError(f"steps and count must be >= 1, got steps={steps}, count={count}")
    if mutate_at and not 2 <= mutate_at <= steps:
        raise ValueError(f"mutate_at={mutate_at} must be in [2, {steps}]")
    device = next(model.parameters()).device
    count = len(split.subset(count, "--count"))
    index = torch.arange(count)
    images, labels = split.batch(index, device), split.labels[index].to(device)
    swap = mutation_partners(count, make_generator(seed, "cpu")) if mutate_at else None
    updates = make_generator(seed + 1, device)
    tally, frames = Tally(steps), []
    with torch.no_grad():
        cells = model.seed_with(images)
        for t in range(1, steps + 1):
            if swap is not None and t == mutate_at:
                cells = model.inject(cells, split.batch(swap, device))
                labels = split.labels[swap].to(device)
            cells = model.run(cells, 1, generator=updates)
            tally.add(t - 1, model.output(cells), model.alive(cells), labels)
            frames.append(class_map(model, cells).cpu())
    if every < 0:
        raise ValueError(f"every must be >= 0 (0: about 100 frames), got {every}")
    every = every or max(1, steps // 100)
    shown = list(range(0, steps, every)) + ([steps - 1] if (steps - 1) % every else [])
    key = [(str(digit), PALETTE[digit].tolist()) for digit in range(len(PALETTE))]
    save_animation([frames[t] for t in shown], out / "class_map.gif",
                   labels=[f"step {t + 1}" for t in shown], key=key)  # fmt: skip
    keys = sorted({0, 4, 19, steps - 1} | ({mutate_at - 2, mutate_at + 19} if mutate_at else set()))
    keys = [k for k in keys if 0 <= k < steps]
    save_grid([frames[k] for k in keys], out / "frames.png", scale=3)
    curves = tally.curves()
    save_curves(curves, out / "accuracy.png", xlabel="step", ylabel="%",
                marks=(mutate_at,) if mutate_at else (), title="self-classification")  # fmt: skip
    # "after step N", as the evaluation says it (the swap happens before step N + 1)
    mutation = {"mutation_after_step": mutate_at - 1} if mutate_at else {}
    return {**curves, "frames_at_steps": [k + 1 for k in keys], "gif_frame_every": every,
            **mutation,
            "final_cell_accuracy": curves["cell_accuracy"][-1]}  # fmt: skip


def persistence_plot(curves: dict[str, list[float]], train_steps: int, out: Path) -> dict:
    """Accuracy and agreement curves with T marked; the numbers at T and at the end."""
    factor = len(curves["cell_accuracy"]) // train_steps
    save_curves(curves, out / "accuracy.png", xlabel="step", ylabel="%", marks=(train_steps,),
                title=f"persistence to {factor} x T")  # fmt: skip
    t = train_steps - 1
    return {
        **curves,
        "cell_accuracy_T": curves["cell_accuracy"][t],
        "cell_accuracy_end": curves["cell_accuracy"][-1],
        "majority_accuracy_T": curves["majority_accuracy"][t],
        "majority_accuracy_end": curves["majority_accuracy"][-1],
        "agreement_T": curves["agreement"][t],
        "agreement_end": curves["agreement"][-1],
    }


@torch.no_grad()
def evaluate(model: GridModel, split: ImageSet, config, run) -> dict[str, float]:
    """The task's evaluation (see :meth:`ClassifyTask.evaluate`): the summary of
    :func:`rollout_tally` over ``eval_count`` digits, reported with its curves."""
    cfg = config
    device = torch.device(run.device)
    count = len(split) if cfg.eval_count == 0 else len(split.subset(cfg.eval_count, "eval_count"))
    tally = rollout_tally(
        model, split, count, cfg.eval_steps, cfg.eval_batch_size, device, seed=2024
    )
    curves = tally.curves()
    result = summary(curves, cfg.steps, cfg.eval_steps)
    dataset = cfg.eval_dataset or cfg.dataset
    title = (
        f"classify evaluation ({count} {cfg.eval_split} digits of {dataset}; mutation after "
        f"step {cfg.eval_steps})"
    )
    details = {"dataset": dataset, "split": cfg.eval_split, "digits": count, "T": cfg.steps,
               "mutation_after": cfg.eval_steps}  # fmt: skip
    write_report(run, title, result, details=details, extra={"curves": curves},
                 number_format=".2f")  # fmt: skip
    return result
