"""Rollouts: ``T`` applications of a step function, with optional gradient
checkpointing (paper App. A.2), fusion/mitosis octaves (App. A.1) and recorded
intermediate states for pictures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.checkpoint import checkpoint

from nca.core.equilibrium.stats import FixedPointStats
from nca.core.fusion import OctaveSteps, check_octaves_fit, fuse, mitosis, octave_plan
from nca.core.layout import CellLayout
from nca.core.random import SampleGenerators, normal
from nca.core.update import PAPER_UPDATE_RATE, check_update_rate, draw_update_mask

#: ``step(cells, mask) -> cells``: one asynchronous update with a pre-drawn mask (and,
#: with ``update_noise``, ``step(cells, mask, noise)`` with pre-drawn residual noise).
StepFn = Callable[..., torch.Tensor]


@dataclass
class RolloutResult:
    """What a rollout returns.

    Attributes:
        cells: Final cell grid ``(B, C, H', W')``.
        states: If requested, the grid after every step (detached), each
            ``(B, C, h, w)``; ``h, w`` change across fusion/mitosis.
        fixed_point: How a fixed-point rollout converged (``None`` for a plain one).
    """

    cells: torch.Tensor
    states: list[torch.Tensor] | None = field(default=None)
    fixed_point: FixedPointStats | None = field(default=None)


def paper_checkpoint_segments(steps: int) -> int:
    """⌊T/2⌋ segments, as the paper uses ``checkpoint_sequential`` (App. A.2)."""
    return steps // 2


def _segment_bounds(steps: int, segments: int) -> list[tuple[int, int]]:
    """Split ``range(steps)`` like ``torch.utils.checkpoint.checkpoint_sequential``:
    ``segments - 1`` equal checkpointed segments, the last one (with any
    remainder) run normally since its activations are needed right away."""
    size = steps // segments
    bounds = [(start, start + size) for start in range(0, size * (segments - 1), size)]
    bounds.append((size * (segments - 1), steps))
    return bounds


def _run_steps(
    step: StepFn,
    cells: torch.Tensor,
    masks: Sequence[torch.Tensor | None],
    segments: int,
    states: list[torch.Tensor] | None,
    noises: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    def run(x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        for i in range(start, stop):
            x = step(x, masks[i]) if noises is None else step(x, masks[i], noises[i])
            if states is not None:
                states.append(x.detach().clone())
        return x

    steps = len(masks)
    use_checkpoint = segments > 1 and steps > 1 and torch.is_grad_enabled()
    if not use_checkpoint:
        return run(cells, 0, steps)
    bounds = _segment_bounds(steps, min(segments, steps))
    for start, stop in bounds[:-1]:
        cells = checkpoint(run, cells, start, stop, use_reentrant=False)
    start, stop = bounds[-1]
    return run(cells, start, stop)


def _check_arguments(
    layout: CellLayout,
    cells: torch.Tensor,
    steps: int,
    rate: float,
    checkpoint_segments: int,
    octaves: int,
    return_states: bool,
    update_noise: float,
) -> float:
    """Refuse bad rollout arguments in one line; returns the checked rate."""
    layout.check_cells(cells)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    for name, value in (("checkpoint_segments", checkpoint_segments), ("octaves", octaves)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if isinstance(update_noise, bool) or not update_noise >= 0:
        raise ValueError(f"update_noise must be >= 0, got {update_noise!r}")
    check_octaves_fit(cells.shape[2:], octaves)
    if return_states and checkpoint_segments > 1 and torch.is_grad_enabled():
        raise ValueError(
            "return_states records every step, which gradient checkpointing avoids storing; "
            "use one or the other (or record states under torch.no_grad())"
        )
    return check_update_rate(rate)


def _draw(
    layout: CellLayout,
    cells: torch.Tensor,
    count: int,
    rate: float,
    generator: torch.Generator | SampleGenerators | None,
    update_noise: float,
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """The update masks of ``count`` steps, then (with ``update_noise``) their residual
    noise, drawn in that order from ``generator`` outside any checkpointed region."""
    masks = [draw_update_mask(cells, rate, generator) for _ in range(count)]
    if not update_noise:
        return masks, None
    shape = (cells.shape[0], layout.updatable_channels, *cells.shape[2:])
    noises = [
        normal(shape, generator=generator, device=cells.device, dtype=cells.dtype) * update_noise
        for _ in range(count)
    ]
    return masks, noises


def rollout(
    step: StepFn,
    layout: CellLayout,
    cells: torch.Tensor,
    steps: int,
    *,
    rate: float = PAPER_UPDATE_RATE,
    generator: torch.Generator | SampleGenerators | None = None,
    checkpoint_segments: int = 0,
    octaves: int = 0,
    octave_steps: OctaveSteps = "total",
    return_states: bool = False,
    update_noise: float = 0.0,
) -> RolloutResult:
    """Apply ``step`` ``steps`` times.

    Update masks are drawn from ``generator`` before each run of steps, outside
    any checkpointed region, so recomputation in backward is exact and the
    checkpointed rollout matches the plain one.

    Args:
        step: ``step(cells, mask) -> cells``, one update (see ``CellularAutomaton.step``).
        layout: Layout of ``cells``; used to stash and re-inject fixed channels
            around fusion/mitosis.
        cells: Initial grid ``(B, C, H', W')``.
        steps: Total rule applications ``T`` (>= 0).
        rate: Update probability σ in (0, 1].
        generator: Random source for update masks (one generator, or one per sample).
        checkpoint_segments: 0 or 1 disables gradient checkpointing; ``n > 1``
            splits the steps at the coarsest resolution into ``n`` segments
            whose activations are recomputed in backward (the paper uses
            ``⌊T/2⌋``: :func:`paper_checkpoint_segments`). Only active while
            autograd is recording.
        octaves: Number of fusion/mitosis octaves ``k`` (App. A.1); the grid
            size must be divisible by ``2**k`` and, with ``octave_steps="total"``,
            ``steps >= 4k``.
        octave_steps: What ``steps`` counts with octaves: every application
            (``total``, paper App. A.1) or the run at the coarsest grid (``coarsest``,
            the authors' release, ``steps + 4k`` applications in all).
        return_states: Record the grid after every step.
        update_noise: Standard deviation of Gaussian residual noise added to every
            update before masking (Randazzo et al. 2020: 0.02); drawn from ``generator``
            with the masks and passed to ``step(cells, mask, noise)``. 0: none.

    Returns:
        :class:`RolloutResult` with the final grid and, if requested, the states.
    """
    rate = _check_arguments(
        layout, cells, steps, rate, checkpoint_segments, octaves, return_states, update_noise
    )
    states: list[torch.Tensor] | None = [] if return_states else None
    stash: list[torch.Tensor] = []
    fixed = layout.fixed_slice
    for phase in octave_plan(steps, octaves, octave_steps):
        if phase.kind == "steps":
            masks, noises = _draw(layout, cells, phase.steps, rate, generator, update_noise)
            # Only the main run is checkpointed, as in the authors' code; the
            # 2-step runs around fusion and mitosis are cheap.
            segments = checkpoint_segments if phase.main else 0
            cells = _run_steps(step, cells, masks, segments, states, noises)
        elif phase.kind == "fuse":
            stash.append(cells[:, fixed].clone())  # keeps the gradient path to the inputs
            cells = fuse(cells)
        else:  # mitosis, then re-inject what this resolution held before fusing
            cells = mitosis(cells)
            cells = torch.cat([stash.pop(), cells[:, fixed.stop :]], dim=1)
    return RolloutResult(cells=cells, states=states)
