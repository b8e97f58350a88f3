"""Masking curriculum for denoising autoencoding (paper §4.1).

Nine noise configurations, in the paper's order: patches of ``2^k × 2^k``
pixels (k = 0, 1, 2) covering 25, 50 or 75 % of the image. Grayscale images
get Gaussian noise in masked patches, RGB images get dropout (zeros). During
training the list of allowed configurations grows from (1×1, 25 %) on a
geometric schedule and each batch draws one allowed configuration;
evaluation uses all nine in this fixed order.

Facts from the authors' release that the paper leaves out (each an option):
a masked patch gets **one** N(0, 1) value shared by all its pixels and
channels, and the stage thresholds are geometrically spaced between
iterations 500 and 10K. Each image gets exactly ``round(coverage × patches)``
masked patches, at positions drawn uniformly without replacement (the coverage
is exact per image, not only in expectation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: (patch side, coverage) in the paper's order.
CONFIGURATIONS: tuple[tuple[int, float], ...] = tuple(
    (2**k, coverage) for k in range(3) for coverage in (0.25, 0.5, 0.75)
)


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
    """

    start: int = 500
    end: int = 10_000
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.enabled and not 0 < self.start <= self.end:
            raise ValueError(f"curriculum needs 0 < start <= end, got {self.start}, {self.end}")

    def thresholds(self) -> list[int]:
        """Iterations at which configurations 2..9 join (geometrically spaced)."""
        stages = len(CONFIGURATIONS) - 1
        ratio = (self.end / self.start) ** (1 / (stages - 1)) if stages > 1 else 1.0
        return [round(self.start * ratio**i) for i in range(stages)]

    def allowed(self, iteration: int) -> int:
        """Number of allowed configurations (a prefix of ``CONFIGURATIONS``) at ``iteration``."""
        if not self.enabled:
            return len(CONFIGURATIONS)
        return 1 + sum(iteration >= t for t in self.thresholds())


def mask_images(
    images: torch.Tensor,
    config: tuple[int, float],
    generator: torch.Generator,
    *,
    noise: str = "auto",
    noise_per_patch: bool = True,
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
    ranks = torch.rand((batch, patches), generator=generator).argsort(dim=1).argsort(dim=1)
    masked = (ranks < round(coverage * patches)).view(grid)
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


def sample_configuration(allowed: int, generator: torch.Generator) -> tuple[int, float]:
    """One configuration drawn uniformly from the first ``allowed``."""
    index = int(torch.randint(0, allowed, (1,), generator=generator))
    return CONFIGURATIONS[index]
