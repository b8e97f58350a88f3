"""One model for a CA grown or run on a grid, read through its output channels.

Growing (Mordvintsev et al. 2020), self-organising textures (Niklasson et al. 2021) and
self-classifying digits (Randazzo et al. 2020) differ only in how a grid starts, which
cells live and how the output channels are read; each task configures a
:class:`GridModel` with those choices instead of writing its own wrapper. Images in,
images out (denoising) is :class:`~nca.core.ImageModel`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from nca.core.alive import AliveMasking
from nca.core.automaton import PAPER_UPDATE_RATE, CellularAutomaton
from nca.core.equilibrium import FixedPointConfig, GradientMode, check_gradient_mode
from nca.core.layout import CellLayout
from nca.core.rollout import RolloutResult
from nca.core.seed import single_cell_seed

#: How a blank grid starts: every channel 0 (``empty``) or, in addition, one live cell in
#: the centre whose channels from the alive channel on are 1 (``single-cell``).
BlankSeed = Literal["empty", "single-cell"]
BLANK_SEEDS: tuple[str, ...] = ("empty", "single-cell")


class GridModel(nn.Module):
    """A CA rule run on cell grids ``(B, C, *cells)`` of the rule's dimension.

    Args:
        rule: A CA rule (has a :class:`~nca.core.CellLayout` ``layout``).
        update_rate: Cell fire rate σ.
        blank: How :meth:`seed` starts a grid (``empty`` or ``single-cell``; the
            latter needs ``alive`` for its alive channel).
        alive: Living-cell masking (after each update, cells not alive before and after
            it are cleared); ``None``: every cell lives.
        update_noise: Std of the Gaussian residual noise added to every update (0: none).
        output_offset: Added to the output channels when they are read (the texture
            notebook's ``to_rgb``: 0.5).
        gradient: How rollouts that record gradients are differentiated (``bptt``,
            ``checkpoint`` or ``fixed-point``).
        fixed_point: Settings of the ``fixed-point`` mode (default: its defaults).
    """

    def __init__(
        self,
        rule: nn.Module,
        *,
        update_rate: float = PAPER_UPDATE_RATE,
        blank: BlankSeed = "empty",
        alive: AliveMasking | None = None,
        update_noise: float = 0.0,
        output_offset: float = 0.0,
        gradient: GradientMode = "bptt",
        fixed_point: FixedPointConfig | None = None,
    ) -> None:
        super().__init__()
        if blank not in BLANK_SEEDS:
            raise ValueError(f"blank must be one of {', '.join(BLANK_SEEDS)}, got {blank!r}")
        if blank == "single-cell" and alive is None:
            raise ValueError("a single-cell seed needs living-cell masking (alive=...)")
        self.rule = rule
        self.automaton = CellularAutomaton(
            rule, update_rate=update_rate, alive=alive, update_noise=update_noise
        )
        self.blank: BlankSeed = blank
        self.output_offset = float(output_offset)
        self.gradient: GradientMode = check_gradient_mode(gradient)  # type: ignore[assignment]
        self.fixed_point = fixed_point or FixedPointConfig()
        self.is_ca = True

    @property
    def name(self) -> str:
        return getattr(self.rule, "rule_name", None) or type(self.rule).__name__

    @property
    def layout(self) -> CellLayout:
        return self.automaton.layout

    @property
    def update_rate(self) -> float:
        return self.automaton.update_rate

    def _dtype(self) -> torch.dtype:
        return next(self.rule.parameters()).dtype

    def seed(
        self, batch: int, size: int | tuple[int, ...], device: torch.device | str | None = None
    ) -> torch.Tensor:
        """Blank grids ``(B, C, *size)`` of ``size`` cells (see ``blank``; an int is the
        side of a square or cubic grid), with the rule's positional channels for rules
        that concatenate them to cells."""
        size = (size,) * self.layout.dims if isinstance(size, int) else tuple(size)
        device = device if device is not None else next(self.rule.parameters()).device
        if self.blank == "single-cell":
            cells = single_cell_seed(
                self.layout, batch, size, alive_from=self.automaton.alive.channel,
                device=device, dtype=self._dtype(),
            )  # fmt: skip
        else:
            shape = (batch, self.layout.cell_channels, *size)
            cells = torch.zeros(shape, device=device, dtype=self._dtype())
        if self.layout.positional_channels:
            encoding = self.rule.positional_encoding(*size, device=cells.device, dtype=cells.dtype)
            cells[:, self.layout.slice("positional")] = encoding
        return cells

    def seed_with(self, images: torch.Tensor) -> torch.Tensor:
        """Grids ``(B, C, H, W)`` holding ``images`` ``(B, C_i, H, W)`` in their input
        channels, every updatable channel 0 (Randazzo et al. 2020)."""
        cells = self.automaton.seed(images.to(self._dtype()))
        cells[:, self.layout.updatable_slice] = 0
        return cells

    def inject(self, cells: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Live grids with new ``images`` in their input channels; cells that the new
        images leave dead lose their state (the self-classifying article's mutation)."""
        cells = self.automaton.inject(cells, images.to(cells.dtype))
        return self.automaton.clear_dead(cells)

    def rollout(
        self, cells: torch.Tensor, steps: int, *, generator: torch.Generator | None = None
    ) -> RolloutResult:
        """``steps`` updates of ``cells``, differentiated by :attr:`gradient` when
        gradients are recorded (``fixed-point``: solved to the equilibrium)."""
        return self.automaton(
            cells, steps, generator=generator, gradient=self.gradient,
            fixed_point=self.fixed_point,
        )  # fmt: skip

    def run(
        self, cells: torch.Tensor, steps: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The grids after ``steps`` updates of ``cells``."""
        return self.rollout(cells, steps, generator=generator).cells

    def output(self, cells: torch.Tensor) -> torch.Tensor:
        """The output channels ``(B, C_o, H, W)`` plus ``output_offset``."""
        image = self.layout.image(cells, "output")
        return image + self.output_offset if self.output_offset else image

    def alive(self, cells: torch.Tensor) -> torch.Tensor:
        """Living cells ``(B, 1, *cells)`` (boolean; all of them without masking)."""
        if self.automaton.alive is None:
            return torch.ones_like(cells[:, :1], dtype=torch.bool)
        return self.automaton.alive.mask(cells)
