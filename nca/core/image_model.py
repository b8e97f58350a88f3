"""One adapter from any rule to ``images -> images`` and ``images -> features``.

Tasks, evaluation, probing and analysis see a model, not a rule kind: a CA rule
is seeded with the (masked) images, rolled out ``T`` asynchronous steps at rate
σ (optionally with fusion/mitosis octaves and gradient checkpointing) and read
back from its output channels; a feed-forward rule (U-Net, ViT) takes one pass.
This is the only place that branches on the two kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nca.core.automaton import PAPER_UPDATE_RATE, CellularAutomaton
from nca.core.equilibrium import (
    FixedPointConfig,
    FixedPointStats,
    GradientMode,
    check_gradient_mode,
)
from nca.core.fusion import OCTAVE_STEPS, OctaveSteps
from nca.core.layout import CellLayout
from nca.core.losses import overflow_losses
from nca.core.random import SampleGenerators

Generator = torch.Generator | SampleGenerators | None


@dataclass
class ModelOutput:
    """What one call of :meth:`ImageModel.run` produced.

    Attributes:
        images: Output images ``(B, C_o, H, W)``.
        cells: Final cell grids ``(B, C, H', W')`` (CA rules), else ``None``.
        overflow: Overflow loss of the final grid (paper Alg. 1 lines 20-21); 0 for
            feed-forward rules.
        fixed_point: How the equilibrium solve went, for ``gradient="fixed-point"``
            rollouts that recorded gradients; else ``None``.
    """

    images: torch.Tensor
    cells: torch.Tensor | None
    overflow: torch.Tensor
    fixed_point: FixedPointStats | None = None


class ImageModel(nn.Module):
    """Any rule as an image model.

    Args:
        rule: A CA rule (has a :class:`~nca.core.CellLayout` ``layout``) or a
            feed-forward image model ``(B, C, H, W) -> (B, C, H, W)``.
        update_rate: σ of the asynchronous updates (paper: 0.5); CA rules only.
        steps: Default number of CA steps ``T`` (e.g. the evaluation's 64).
        octaves: Fusion/mitosis octaves of each rollout (App. A.1; 0 = off).
        octave_steps: What ``T`` counts with octaves: ``total`` (every rule
            application, the paper's text) or ``coarsest`` (the run at the coarsest
            grid, ``T + 4k`` in all: the authors' release).
        gradient: How rollouts that record gradients are differentiated: ``bptt``,
            ``checkpoint`` (⌊T/2⌋ segments, App. A.2) or ``fixed-point`` (solved to the
            equilibrium, implicit gradient; ``T`` then only applies without gradients).
        fixed_point: Settings of the ``fixed-point`` mode (default: its defaults).
    """

    def __init__(
        self,
        rule: nn.Module,
        *,
        update_rate: float = PAPER_UPDATE_RATE,
        steps: int = 64,
        octaves: int = 0,
        octave_steps: OctaveSteps = "total",
        gradient: GradientMode = "bptt",
        fixed_point: FixedPointConfig | None = None,
    ) -> None:
        super().__init__()
        self.rule = rule
        self.is_ca = isinstance(getattr(rule, "layout", None), CellLayout)
        self.automaton = CellularAutomaton(rule, update_rate=update_rate) if self.is_ca else None
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        self.steps = steps
        if octave_steps not in OCTAVE_STEPS:
            raise ValueError(
                f"octave_steps must be one of {', '.join(OCTAVE_STEPS)}, got {octave_steps!r}"
            )
        self.octaves = octaves
        self.octave_steps: OctaveSteps = octave_steps
        self.gradient: GradientMode = check_gradient_mode(gradient)  # type: ignore[assignment]
        self.fixed_point = fixed_point or FixedPointConfig()

    @property
    def update_rate(self) -> float:
        return self.automaton.update_rate if self.automaton is not None else 1.0

    @property
    def layout(self) -> CellLayout:
        if self.automaton is None:
            raise ValueError(f"{self.name} is feed-forward: it has no cell layout")
        return self.automaton.layout

    @property
    def name(self) -> str:
        return getattr(self.rule, "rule_name", None) or type(self.rule).__name__

    def seed(self, images: torch.Tensor) -> torch.Tensor:
        """Fresh grids ``(B, C, H', W')`` holding ``images`` ``(B, C_i, H, W)`` (CA only)."""
        if self.automaton is None:
            raise ValueError(f"{self.name} is feed-forward: it has no cell grid to seed")
        return self.automaton.seed(images)

    def run(
        self,
        inputs: torch.Tensor,
        *,
        steps: int | None = None,
        generator: Generator = None,
        seeded: bool = False,
        octaves: int | None = None,
    ) -> ModelOutput:
        """Map inputs to outputs.

        Args:
            inputs: Images ``(B, C_i, H, W)``, or (CA rules, ``seeded=True``) live
                grids ``(B, C, H', W')`` such as pool samples.
            steps: CA steps ``T`` (default: ``self.steps``).
            generator: Source of the update masks (CA rules); a
                :class:`~nca.core.random.SampleGenerators` makes each sample's masks
                independent of the rest of its batch.
            seeded: ``inputs`` are grids, not images.
            octaves: Fusion/mitosis octaves of this rollout (default: ``self.octaves``).
        """
        if self.automaton is None:
            if seeded:
                raise ValueError(f"{self.name} is feed-forward: it takes images, not grids")
            images = self.rule(inputs)
            return ModelOutput(images, None, images.new_zeros((), dtype=torch.float32))
        steps = self.steps if steps is None else steps
        cells = inputs if seeded else self.automaton.seed(inputs)
        result = self.automaton(
            cells,
            steps,
            generator=generator,
            gradient=self.gradient,
            fixed_point=self.fixed_point,
            octaves=self.octaves if octaves is None else octaves,
            octave_steps=self.octave_steps,
        )
        out = result.cells
        return ModelOutput(
            self.automaton.output_image(out),
            out,
            overflow_losses(self.layout, out).total,
            result.fixed_point,
        )

    def forward(
        self, images: torch.Tensor, *, steps: int | None = None, generator: Generator = None
    ) -> torch.Tensor:
        """``(B, C_i, H, W) -> (B, C_o, H, W)``."""
        return self.run(images, steps=steps, generator=generator).images

    def features(
        self,
        images: torch.Tensor,
        *,
        steps: int | None = None,
        generator: Generator = None,
        pooled: bool = False,
    ) -> torch.Tensor:
        """Representations to probe (paper §4.2): ``(B, F)``.

        CA rules: the hidden channels after ``steps`` steps on ``images``; feed-forward
        rules: their ``features()`` maps ``(B, F, h, w)`` (the rule must declare the
        ``features`` capability). Flattened, or averaged over space when ``pooled``.
        """
        if self.automaton is not None:
            cells = self.run(images, steps=steps, generator=generator).cells
            maps = self.layout.group(cells, "hidden")  # (B, C_h, H', W')
        else:
            supports = getattr(self.rule, "supports", None)
            if supports is None or not supports("features"):
                raise ValueError(f"rule {self.name!r} exposes no features to probe")
            maps = self.rule.features(images)  # (B, F, h, w)
        return maps.mean(dim=tuple(range(2, maps.ndim))) if pooled else maps.flatten(1)
