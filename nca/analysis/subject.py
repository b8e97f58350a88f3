"""What an analysis works on: a frozen rule, sample images, and the task's noise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from nca.core import CellularAutomaton, make_generator

Corrupt = Callable[[torch.Tensor, tuple[int, int], float, torch.Generator], torch.Tensor]


@dataclass
class Subject:
    """A model and data to analyse.

    Attributes:
        rule: The rule, in eval mode (CA or feed-forward).
        images: Clean images ``(N, C, H, W)`` in [0, 1].
        labels: Class labels ``(N,)`` (for the PCA colouring), or ``None``.
        corrupt: ``corrupt(images, (patch_h, patch_w), coverage, generator)``.
        update_rate: σ the rule was trained with.
        seed: Seed of every random draw of the analysis.
    """

    rule: torch.nn.Module
    images: torch.Tensor
    labels: torch.Tensor | None
    corrupt: Corrupt
    update_rate: float = 0.5
    seed: int = 0

    @property
    def is_ca(self) -> bool:
        return getattr(self.rule, "kind", None) == "ca"

    def automaton(self, update_rate: float | None = None) -> CellularAutomaton:
        if not self.is_ca:
            raise ValueError(
                f"this experiment needs a CA rule; {getattr(self.rule, 'rule_name', 'the rule')} "
                f"is feed-forward"
            )
        return CellularAutomaton(self.rule, update_rate=update_rate or self.update_rate)

    def generator(self, offset: int = 0, device=None) -> torch.Generator:
        return make_generator(self.seed + offset, device or self.images.device)

    def masked(self, patch=(1, 1), coverage: float = 0.5, images=None, offset: int = 0):
        images = self.images if images is None else images
        if coverage <= 0:
            return images.clone()
        return self.corrupt(images, tuple(patch), coverage, make_generator(self.seed + offset))


def psnr(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image PSNR (dB, capped at 100) of images in [0, 1]."""
    mse = (output.clamp(0, 1) - target).square().flatten(1).mean(1).clamp(min=1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


def load_subject(
    source: str | Path, count: int = 8, *, device: str = "cpu", seed: int = 0
) -> Subject:
    """A :class:`Subject` from a run directory or checkpoint, using the run's task for
    images and noise (the task must implement ``analysis_images`` and ``corrupt``)."""
    from nca.checkpoint import find_checkpoint, load_checkpoint, load_rule
    from nca.tasks import create_task

    data = load_checkpoint(find_checkpoint(source))
    stored = data.get("task") or {}
    if not stored.get("name"):
        raise ValueError(f"{source} does not name the task it was trained with")
    task = create_task(stored["name"], **stored.get("config", {}))
    images, labels = task.analysis_images(count)
    rule = load_rule(data, map_location=device).to(device)
    for param in rule.parameters():
        param.requires_grad_(False)
    return Subject(
        rule,
        images.to(device),
        labels,
        task.corrupt,
        float(stored.get("config", {}).get("update_rate", 0.5)),
        seed,
    )
