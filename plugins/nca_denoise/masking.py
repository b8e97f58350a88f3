"""Masking curriculum for denoising autoencoding (paper §4.1).

Nine noise configurations: patches of ``2^k × 2^k`` pixels (k = 0, 1, 2) covering
25, 50 or 75 % of the image. Grayscale images get Gaussian noise in masked
patches, RGB images get dropout (zeros). During training the list of allowed
configurations grows on a geometric schedule and each batch draws one allowed
configuration; the ``full`` evaluation uses all nine in a fixed order.

Two orders and schedules (``curriculum_order``):

* ``paper`` (§4.1's prose): 1×1/25 %, 1×1/50 %, 1×1/75 %, 2×2/25 %, …, each new one
  joining at ``round(start · r^k)``, geometrically spaced from 500 to 10K, so all
  nine are in use from iteration 10K ("maxing out at 10K").
* ``release`` (the authors' code, ``product(probabilities, patch sizes)``): 1×1/25 %,
  2×2/25 %, 4×4/25 %, 1×1/50 %, …; the thresholds are
  ``geomspace(500, 1e4, 9)`` in float32 truncated to integers,
  500, 727, 1057, 1537, 2236, 3251, 4728, 6876, 10000, and configuration ``k + 2``
  joins after threshold ``k`` (iteration > it), so all nine are in use from
  iteration 6,877.

Facts from the authors' release that the paper leaves out (each an option): a
masked patch gets **one** N(0, 1) value shared by all its pixels and channels,
and each patch is masked independently with probability ``p`` (``bernoulli``),
so the coverage is exact only in expectation. The default (``exact``) masks
exactly ``round(coverage × patches)`` patches per image, at positions drawn
uniformly without replacement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

#: (patch side, coverage) in the paper's order.
CONFIGURATIONS: tuple[tuple[int, float], ...] = tuple(
    (2**k, coverage) for k in range(3) for coverage in (0.25, 0.5, 0.75)
)
#: The same nine in the release's order: coverage outer, patch side inner.
RELEASE_ORDER: tuple[tuple[int, float], ...] = tuple(
    (2**k, coverage) for coverage in (0.25, 0.5, 0.75) for k in range(3)
)
CurriculumOrder = Literal["paper", "release"]
#: How many patches a configuration masks: exactly its coverage, or each with probability p.
Coverage = Literal["exact", "bernoulli"]
COVERAGES: tuple[str, ...] = ("exact", "bernoulli")


def config_name(config: tuple[int, float]) -> str:
    """``(2, 0.5) -> "2x2/50%"``."""
    side, coverage = config
    return f"{side}x{side}/{round(coverage * 100)}%"


@dataclass(frozen=True)
class Curriculum:
    """Which configurations are allowed at a training iteration.

    Attributes:
        start: Iteration of the first new stage (authors: 500).
        end: Iteration by which all configurations are allowed (paper: 10K).
        enabled: If False, every configuration is allowed from the start.
        order: ``paper`` (§4.1's order and thresholds) or ``release`` (the authors'
            code); see the module docstring.
    """

    start: int = 500
    end: int = 10_000
    enabled: bool = True
    order: CurriculumOrder = "paper"

    def __post_init__(self) -> None:
        if self.order not in ("paper", "release"):
            raise ValueError(f"curriculum order must be 'paper' or 'release', got {self.order!r}")
        if self.enabled and not 0 < self.start <= self.end:
            raise ValueError(f"curriculum needs 0 < start <= end, got {self.start}, {self.end}")

    @property
    def configurations(self) -> tuple[tuple[int, float], ...]:
        """The nine configurations in the order they join."""
        return CONFIGURATIONS if self.order == "paper" else RELEASE_ORDER

    def thresholds(self) -> list[int]:
        """``paper``: the iterations at which configurations 2..9 join; ``release``: the
        release's nine stage ends (configuration ``k + 2`` joins after the ``k``-th)."""
        if self.order == "release":
            import numpy as np

            stages = np.geomspace(self.start, self.end, num=len(RELEASE_ORDER), dtype=np.float32)
            return stages.astype(np.int32).tolist()
        stages = len(CONFIGURATIONS) - 1
        ratio = (self.end / self.start) ** (1 / (stages - 1)) if stages > 1 else 1.0
        return [round(self.start * ratio**i) for i in range(stages)]

    def allowed(self, iteration: int) -> int:
        """Number of allowed configurations (a prefix of :attr:`configurations`)."""
        if not self.enabled:
            return len(CONFIGURATIONS)
        if self.order == "release":  # the first stage end not yet passed decides
            for index, stage in enumerate(self.thresholds()):
                if iteration <= stage:
                    return index + 1
            return len(RELEASE_ORDER)
        return 1 + sum(iteration >= t for t in self.thresholds())

    def sample(self, iteration: int, generator: torch.Generator) -> tuple[int, float]:
        """One configuration drawn uniformly from those allowed at ``iteration``."""
        allowed = self.allowed(iteration)
        index = int(torch.randint(0, allowed, (1,), generator=generator))
        return self.configurations[index]


def mask_images(
    images: torch.Tensor,
    config: tuple[int, float],
    generator: torch.Generator,
    *,
    noise: str = "auto",
    noise_per_patch: bool = True,
    coverage_mode: Coverage = "exact",
) -> torch.Tensor:
    """Corrupt a batch with one noise configuration.

    Args:
        images: ``(B, C, H, W)`` in [0, 1]; ``H, W`` multiples of the patch side.
        config: ``(patch side, coverage)``; the side may be ``(h, w)`` for rectangular
            patches (e.g. the unseen 4×1 and 1×4 noise of Fig. 4e).
        generator: CPU generator (masks are drawn on the CPU, then moved).
        noise: ``gaussian``, ``dropout``, or ``auto`` (gaussian for 1 channel,
            dropout otherwise, as in the paper).
        noise_per_patch: One N(0, 1) value per masked patch (authors) instead of
            per pixel.
        coverage_mode: ``exact`` (``round(coverage × patches)`` patches per image) or
            ``bernoulli`` (each patch with probability ``coverage``, the release).

    Returns:
        Masked images ``(B, C, H, W)`` (Gaussian noise is not clipped).
    """
    side, coverage = config
    side_h, side_w = (side, side) if isinstance(side, int) else side
    batch, channels, height, width = images.shape
    if height % side_h or width % side_w:
        raise ValueError(
            f"image size {height}x{width} is not divisible by the patch size {side_h}x{side_w}"
        )
    grid = (batch, 1, height // side_h, width // side_w)
    patches = grid[2] * grid[3]
    if coverage_mode == "exact":
        ranks = torch.rand((batch, patches), generator=generator).argsort(dim=1).argsort(dim=1)
        masked = (ranks < round(coverage * patches)).view(grid)
    elif coverage_mode == "bernoulli":
        masked = torch.rand(grid, generator=generator) < coverage
    else:
        raise ValueError(f"coverage_mode must be one of {COVERAGES}, got {coverage_mode!r}")
    masked = masked.repeat_interleave(side_h, -2).repeat_interleave(side_w, -1).to(images.device)
    kind = noise if noise != "auto" else ("gaussian" if channels == 1 else "dropout")
    if kind == "dropout":
        fill = torch.zeros((), device=images.device)
    elif kind == "gaussian":
        if noise_per_patch:
            values = torch.randn(grid, generator=generator)
            values = values.repeat_interleave(side_h, -2).repeat_interleave(side_w, -1)
        else:
            values = torch.randn((batch, channels, height, width), generator=generator)
        fill = values.to(images.device, images.dtype)
    else:
        raise ValueError(f"unknown noise {noise!r}; valid: auto, gaussian, dropout")
    return torch.where(masked, fill, images)
