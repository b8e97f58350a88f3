"""What an analysis works on: a frozen rule, sample images, and the task's noise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from nca.core import CellularAutomaton, ImageModel, make_generator
from nca.metrics import psnr as image_psnr

Corrupt = Callable[[torch.Tensor, tuple[int, int], float, torch.Generator], torch.Tensor]


@dataclass
class Subject:
    """A model and data to analyse.

    Attributes:
        model: The rule as an :class:`~nca.core.ImageModel` (CA or feed-forward), in
            eval mode, with σ as trained.
        images: Clean images ``(N, C, H, W)`` in [0, 1].
        labels: Class labels ``(N,)`` (for the PCA colouring), or ``None``.
        corrupt: ``corrupt(images, (patch_h, patch_w), coverage, generator)``.
        update_rate: σ the rule was trained with.
        seed: Seed of every random draw of the analysis.
    """

    model: ImageModel
    images: torch.Tensor
    labels: torch.Tensor | None
    corrupt: Corrupt
    seed: int = 0

    @property
    def rule(self) -> torch.nn.Module:
        return self.model.rule

    @property
    def is_ca(self) -> bool:
        return self.model.is_ca

    @property
    def update_rate(self) -> float:
        return self.model.update_rate

    def require(self, capability: str, what: str) -> None:
        """Raise unless the rule declares ``capability`` (e.g. ``head_masking``)."""
        supports = getattr(self.rule, "supports", None)
        if supports is None or not supports(capability):
            raise ValueError(
                f"{what} needs a rule with the {capability!r} capability (e.g. vitca); "
                f"{self.model.name} does not declare it"
            )

    def automaton(self, update_rate: float | None = None) -> CellularAutomaton:
        if not self.is_ca:
            raise ValueError(f"this experiment needs a CA rule; {self.model.name} is feed-forward")
        return CellularAutomaton(self.rule, update_rate=update_rate or self.update_rate)

    def generator(self, offset: int = 0, device=None) -> torch.Generator:
        return make_generator(self.seed + offset, device or self.images.device)

    def masked(self, patch=(1, 1), coverage: float = 0.5, images=None, offset: int = 0):
        images = self.images if images is None else images
        if coverage <= 0:
            return images.clone()
        return self.corrupt(images, tuple(patch), coverage, make_generator(self.seed + offset))


def psnr(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image PSNR (dB, capped at 100) of images in [0, 1] (:func:`nca.psnr`)."""
    return float(image_psnr(output, target).mean())
