"""A cellular automaton: an update rule run by the core's seed/step/rollout.

CAX-style split: the *rule* perceives a grid and proposes an update for the
output and hidden channels; the automaton owns everything generic (seeding,
injection, stochastic residual update, rollout, fusion/mitosis).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from nca.core.alive import AliveMasking
from nca.core.compiled import DEFAULT_MEMORY_BUDGET, CompiledStep
from nca.core.equilibrium import (
    FixedPointConfig,
    GradientMode,
    check_gradient_mode,
    fixed_point_rollout,
)
from nca.core.fusion import OctaveSteps
from nca.core.layout import CellLayout
from nca.core.rollout import RolloutResult, paper_checkpoint_segments, rollout
from nca.core.seed import CELL_INITS, CellInit, inject, seed
from nca.core.update import PAPER_UPDATE_RATE, apply_update, check_update_rate


@runtime_checkable
class UpdateRuleLike(Protocol):
    """What the core needs from a CA rule (``nca.rules.CARule`` satisfies it)."""

    layout: CellLayout

    def __call__(self, cells: torch.Tensor) -> torch.Tensor:  # (B,C,*cells) -> (B,C_upd,*cells)
        ...

    def positional_encoding(
        self, *size: int, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor | None:  # (C_γ, *size) or None
        ...


class CellularAutomaton(nn.Module):
    """Runs a CA update rule over cell grids.

    Args:
        rule: A CA rule module with a ``layout`` (see :class:`UpdateRuleLike`).
        update_rate: Cell update probability σ in (0, 1] (paper: 0.5).
        cell_init: ``"constant"`` or ``"random"``; ``None`` takes the rule's
            ``cell_init`` attribute if it has one, else ``"constant"``.
        alive: Living-cell masking (:class:`~nca.core.alive.AliveMasking`): after each
            update, cells not alive both before and after it are cleared; ``None``: off.
        update_noise: Standard deviation of Gaussian residual noise added to each update
            before it is masked (Randazzo et al. 2020: 0.02, in training and at test); 0:
            none.
        sparse_update: Pass each step's firing mask to the rule, which then computes the
            update of the firing cells only (rules with the ``sparse_update``
            capability, e.g. ViTCA). The same values and gradients up to float rounding,
            for about ``1 - σ`` less of the rule's per-cell work past its keys and
            values; steps with ``σ = 1`` are dense either way.

    Example:
        >>> ca = CellularAutomaton(create_rule("convca"))          # doctest: +SKIP
        >>> cells = ca.seed(masked_images, generator=g)               # doctest: +SKIP
        >>> out = ca(cells, steps=32, generator=g).cells              # doctest: +SKIP
    """

    def __init__(
        self,
        rule: nn.Module,
        *,
        update_rate: float = PAPER_UPDATE_RATE,
        cell_init: CellInit | None = None,
        alive: AliveMasking | None = None,
        update_noise: float = 0.0,
        sparse_update: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(getattr(rule, "layout", None), CellLayout):
            raise TypeError(
                f"{type(rule).__name__} is not a CA rule: it has no CellLayout `layout` "
                f"attribute (feed-forward models are called directly, not through an automaton)"
            )
        self.rule = rule
        self.update_rate = check_update_rate(update_rate)
        cell_init = cell_init or getattr(rule, "cell_init", "constant")
        if cell_init not in CELL_INITS:
            raise ValueError(f"unknown cell init {cell_init!r}; valid: {', '.join(CELL_INITS)}")
        self.cell_init: CellInit = cell_init
        self.alive = alive
        if isinstance(update_noise, bool) or not float(update_noise) >= 0:
            raise ValueError(f"update_noise must be >= 0, got {update_noise!r}")
        self.update_noise = float(update_noise)
        self.sparse_update = False
        self.use_sparse_update(sparse_update)

    def use_sparse_update(self, enabled: bool = True) -> None:
        """Turn the ``sparse_update`` step on or off (see the class arguments).

        Raises:
            ValueError: the rule does not declare the ``sparse_update`` capability.
        """
        if not isinstance(enabled, bool):
            raise TypeError(f"sparse_update must be True or False, got {enabled!r}")
        supports = getattr(self.rule, "supports", None)
        if enabled and not (callable(supports) and supports("sparse_update")):
            name = getattr(self.rule, "rule_name", None) or type(self.rule).__name__
            raise ValueError(
                f"rule {name!r} cannot compute a sparse update (it lacks the "
                f"'sparse_update' capability; `nca list` shows which rules have it)"
            )
        self.sparse_update = enabled

    @property
    def layout(self) -> CellLayout:
        return self.rule.layout

    def compile_step(
        self, mode: str | None = None, memory_budget: float = DEFAULT_MEMORY_BUDGET
    ) -> CompiledStep:
        """Compile :meth:`step` with ``torch.compile`` (on first use; eager, with one
        warning, where compilation is unavailable). Rollouts, checkpointed segments and
        fixed-point solves then all run the compiled step.

        Args:
            mode: ``torch.compile`` mode (``None``: its default).
            memory_budget: Share of the step's activations its compiled backward keeps
                (see :class:`~nca.core.compiled.CompiledStep`).

        Returns:
            The :class:`~nca.core.compiled.CompiledStep` now used by this automaton.
        """
        name = getattr(self.rule, "rule_name", type(self.rule).__name__)
        self._compiled = CompiledStep(self.eager_step, name, mode, memory_budget)
        return self._compiled

    def _check_dtype(self, tensor: torch.Tensor, what: str) -> None:
        param = next(self.rule.parameters(), None)
        if param is not None and tensor.is_floating_point() and tensor.dtype != param.dtype:
            raise TypeError(
                f"{what} are {tensor.dtype} but the rule's parameters are {param.dtype}; "
                f"convert one of them (e.g. images.to({param.dtype}) or rule.to({tensor.dtype}))"
            )

    def seed(
        self,
        images: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Fresh grid ``(B, C, H/P_H, W/P_W)`` holding ``images`` ``(B, C_i, H, W)`` as input."""
        self._check_dtype(images, "images")
        positional = None
        if self.layout.positional_channels:
            positional = self.rule.positional_encoding(
                *images.shape[2:], device=images.device, dtype=images.dtype
            )
        return seed(
            self.layout,
            images,
            init=self.cell_init,
            mask=mask,
            positional=positional,
            generator=generator,
        )

    def inject(
        self, cells: torch.Tensor, images: torch.Tensor, *, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Replace the input channels of a live grid with new (masked) images."""
        return inject(self.layout, cells, images, mask=mask)

    def step(
        self, cells: torch.Tensor, mask: torch.Tensor | None, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One update: ``cells + mask * (rule(cells) + noise)`` on the output and hidden
        channels (compiled after :meth:`compile_step`).

        Args:
            cells: ``(B, C, H', W')``.
            mask: ``(B, 1, H', W')`` 0/1 firing mask, or ``None`` (synchronous).
            noise: ``(B, C_o·P_H·P_W + C_h, H', W')`` residual noise, or ``None``.
        """
        compiled = self.__dict__.get("_compiled")
        if compiled is not None:
            return compiled(cells, mask, noise)
        return self.eager_step(cells, mask, noise)

    def eager_step(
        self, cells: torch.Tensor, mask: torch.Tensor | None, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The step without ``torch.compile``, for export and tracing: what :meth:`step`
        runs, or compiles after :meth:`compile_step` (a compiled step does not export).

        Args:
            cells: ``(B, C, H', W')``.
            mask: ``(B, 1, H', W')`` 0/1 firing mask, or ``None`` (synchronous).
            noise: ``(B, C_o·P_H·P_W + C_h, H', W')`` residual noise, or ``None``.

        Returns:
            ``(B, C, H', W')``: the updated grid, after living-cell masking if any.
        """
        if self.sparse_update and mask is not None:
            update = self.rule(cells, firing=mask)
        else:
            update = self.rule(cells)
        updated = apply_update(self.layout, cells, update, mask, noise)
        if self.alive is None:
            return updated
        return self.clear_dead(updated, self.alive.mask(cells) & self.alive.mask(updated))

    def clear_dead(self, cells: torch.Tensor, alive: torch.Tensor | None = None) -> torch.Tensor:
        """``cells`` with every updatable channel of the dead cells set to 0.

        Args:
            cells: ``(B, C, H', W')``.
            alive: Boolean ``(B, 1, H', W')`` of the living cells; default: the living-cell
                masking's view of ``cells`` (a step passes "alive before and after").
        """
        if self.alive is None:
            return cells
        keep = self.alive.mask(cells) if alive is None else alive
        start = self.layout.updatable_slice.start
        if start == 0:  # every channel updatable: no copy through a concatenation
            return cells * keep
        return torch.cat([cells[:, :start], cells[:, start:] * keep], dim=1)

    def forward(
        self,
        cells: torch.Tensor,
        steps: int,
        *,
        generator: torch.Generator | None = None,
        update_rate: float | None = None,
        gradient: GradientMode = "bptt",
        fixed_point: FixedPointConfig | None = None,
        checkpoint_segments: int = 0,
        octaves: int = 0,
        octave_steps: OctaveSteps = "total",
        return_states: bool = False,
    ) -> RolloutResult:
        """Roll the grid forward ``steps`` times; see :func:`nca.core.rollout.rollout`.

        Args:
            gradient: How a rollout that records gradients is differentiated: ``bptt``;
                ``checkpoint`` (``checkpoint_segments``, default the paper's ⌊T/2⌋); or
                ``fixed-point``: the grid is solved to its equilibrium (at most
                ``fixed_point.max_steps`` rule evaluations; ``steps`` is not used) and
                differentiated implicitly, in memory that does not grow with the number
                of steps (:mod:`nca.core.equilibrium`). Without gradients (evaluation)
                every mode is the plain ``steps``-step rollout.
            fixed_point: Settings of the ``fixed-point`` mode (default: its defaults).
            checkpoint_segments: Explicit segment count (``> 1`` checkpoints in any mode
                but ``fixed-point``).
        """
        self._check_dtype(cells, "cells")
        check_gradient_mode(gradient)
        rate = self.update_rate if update_rate is None else update_rate
        if gradient == "fixed-point" and torch.is_grad_enabled():
            for name, value in (("octaves", octaves), ("checkpoint_segments", checkpoint_segments)):
                if value:
                    raise ValueError(
                        f"gradient=fixed-point solves one grid for its equilibrium; it cannot "
                        f"be combined with {name}={value} (use gradient=bptt or checkpoint)"
                    )
            if return_states:
                raise ValueError("gradient=fixed-point records no intermediate states")
            out, stats = fixed_point_rollout(
                self.step, self.layout, cells, fixed_point or FixedPointConfig(), rate=rate,
                generator=generator,
            )  # fmt: skip
            return RolloutResult(cells=out, fixed_point=stats)
        if gradient == "checkpoint" and not checkpoint_segments:
            checkpoint_segments = paper_checkpoint_segments(steps)
        return rollout(
            self.step,
            self.layout,
            cells,
            steps,
            rate=rate,
            generator=generator,
            checkpoint_segments=checkpoint_segments,
            octaves=octaves,
            octave_steps=octave_steps,
            return_states=return_states,
            update_noise=self.update_noise,
        )

    def output_image(self, cells: torch.Tensor) -> torch.Tensor:
        """Output channels as images ``(B, C_o, H, W)``."""
        return self.layout.image(cells, "output")
