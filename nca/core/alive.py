"""Living-cell masking (Mordvintsev et al., *Growing Neural Cellular Automata*, 2020).

A cell is alive when it, or one of its 8 neighbours (2 in 1-D, 26 in 3-D), has an alpha
above a threshold (0.1): ``max_pool3x3(alpha) > 0.1``. After an update, cells that were
not alive both before and after it are cleared (every updatable channel set to 0), so
the pattern can only grow at its border and empty space stays empty.

Self-classifying digits (Randazzo et al. 2020) use the cell's own value instead of its
neighbourhood, on the fixed pixel channel: only the digit's cells (pixel > 0.1) live.

The neighbourhood's maximum is ``max_pool`` (kernel 3, stride 1, padding 1) written as
one maximum of three shifted views per spatial dimension: the same values (NaN
included), about 8x faster than ``F.max_pool2d`` on a CPU for the article's one-channel
72x72 grid, where two masks a step cost 3 % of the growing NCA's training step
(``benchmarks/results/convca_step_variants_cpu.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: The article's alive threshold on alpha.
ALIVE_THRESHOLD = 0.1


def neighbourhood_max(values: torch.Tensor) -> torch.Tensor:
    """Each cell's largest value over its 3 (1-D), 3×3 (2-D) or 3×3×3 (3-D) neighbourhood,
    cells beyond the border not counted: ``F.max_poolNd(values, 3, stride=1, padding=1)``.

    Args:
        values: Floating-point ``(B, K, *cells)``, 1 to 3 spatial dimensions.

    Returns:
        ``(B, K, *cells)``, detached (a mask is not differentiated).
    """
    out = values.detach()
    for dim in range(2, out.ndim):
        size = out.shape[dim]
        # F.pad lists its pads from the last dimension backwards.
        pads = (0, 0) * (out.ndim - 1 - dim) + (1, 1)
        padded = F.pad(out, pads, value=float("-inf"))
        out = torch.maximum(
            torch.maximum(padded.narrow(dim, 0, size), padded.narrow(dim, 1, size)),
            padded.narrow(dim, 2, size),
        )
    return out


def living_mask(alpha: torch.Tensor, threshold: float = ALIVE_THRESHOLD) -> torch.Tensor:
    """``(B, 1, *cells)`` alpha -> boolean ``(B, 1, *cells)``: alive where the 3×3 (3 in
    1-D, 3×3×3 in 3-D) neighbourhood's largest alpha exceeds ``threshold``."""
    if alpha.ndim not in (3, 4, 5) or alpha.shape[1] != 1:
        raise ValueError(
            f"alpha must have shape (B, 1, *cells) with 1 to 3 spatial dimensions, "
            f"e.g. (B, 1, H, W); got {tuple(alpha.shape)}"
        )
    return neighbourhood_max(alpha) > threshold


@dataclass(frozen=True)
class AliveMasking:
    """Which channel is alpha and the alive threshold.

    Attributes:
        channel: Index of alpha among the cell's channels (e.g. the 4th output
            channel of an RGBA layout).
        threshold: Alive threshold (the article: 0.1).
        neighbourhood: Alive where the 3×3 (3-D: 3×3×3) neighbourhood's largest value
            exceeds the threshold (growing); ``False``: where the cell's own value does
            (classifying).
    """

    channel: int
    threshold: float = ALIVE_THRESHOLD
    neighbourhood: bool = True

    def mask(self, cells: torch.Tensor) -> torch.Tensor:
        """Alive cells of ``(B, C, *cells)``: boolean ``(B, 1, *cells)``."""
        if not 0 <= self.channel < cells.shape[1]:
            raise ValueError(
                f"alpha channel {self.channel} is outside the cell's {cells.shape[1]} channels"
            )
        values = cells[:, self.channel : self.channel + 1]
        if not self.neighbourhood:
            return values > self.threshold
        return living_mask(values, self.threshold)
