"""Compare an exported ONNX step with PyTorch: same start, same masks, chained steps."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from nca.core.update import draw_update_mask
from nca.export.errors import ExportError, require
from nca.export.onnx_step import INPUT_NAMES, automaton_of, rule_name
from nca.export.state import check_state

#: Default tolerance on the largest absolute difference of any cell channel.
DEFAULT_ATOL = 1e-4


@dataclass
class CheckReport:
    """How far onnxruntime's rollout of the exported step is from PyTorch's.

    Attributes:
        path: The checked ``.onnx`` file.
        rule: Registered name of the rule.
        errors: Steps ``n`` -> largest ``|onnx - torch|`` over every cell channel of the
            grids after ``n`` chained steps (each runtime feeding itself its own output).
        atol: Tolerance.
        batch: Grids checked.
        seed: Seed of the start grids and the masks.
        magnitudes: Steps ``n`` -> largest ``|cell|`` of PyTorch's grids then, the scale
            the errors compare with (float32 keeps about 7 significant digits).
    """

    path: Path
    rule: str
    errors: dict[int, float]
    atol: float
    batch: int
    seed: int
    magnitudes: dict[int, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every error within ``atol`` (a NaN is not)."""
        return all(error <= self.atol for error in self.errors.values())

    def lines(self) -> list[str]:
        """Human-readable summary, one step count a line."""
        verdict = "ok" if self.ok else "FAILED"
        out = [
            f"check ({verdict}): onnxruntime vs PyTorch, {self.batch} grid(s), seed {self.seed}, "
            f"same masks, atol {self.atol:g}"
        ]
        for steps, error in self.errors.items():
            scale = self.magnitudes.get(steps)
            size = f" (cells up to |{scale:.3g}|)" if scale is not None else ""
            out.append(f"  {steps:>4} step(s): max |error| {error:.3g}{size}")
        return out

    def failure(self) -> str:
        """One line saying which step counts are out of tolerance (``""`` if none)."""
        bad = {n: e for n, e in self.errors.items() if not e <= self.atol}
        if not bad:
            return ""
        worst = ", ".join(
            f"{e:.3g} after {n} step(s)"
            + (f" (cells up to |{self.magnitudes[n]:.3g}|)" if n in self.magnitudes else "")
            for n, e in bad.items()
        )
        return (
            f"{self.path}: the ONNX step of rule {self.rule!r} differs from PyTorch by "
            f"{worst}; tolerance {self.atol:g}"
        )


def check_export(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    steps: Sequence[int] = (1, 32),
    atol: float = DEFAULT_ATOL,
    seed: int = 0,
    batch: int = 2,
    cells: torch.Tensor | None = None,
    raise_on_failure: bool = True,
) -> CheckReport:
    """Run the exported step in onnxruntime (CPU) next to ``model``'s PyTorch step.

    Both start from the same grid (``cells``, or :func:`~nca.export.state.check_state`)
    and use the same firing masks, drawn from a seeded ``torch.Generator`` at the
    automaton's update rate σ (all ones for σ = 1). Each runtime chains its own output
    for ``max(steps)`` steps; the grids are compared after each count in ``steps``.

    Args:
        model: The automaton (or task model) that was exported.
        path: The ``.onnx`` file.
        steps: Step counts to compare after (e.g. 1 and 32).
        atol: Tolerance on the largest absolute difference.
        seed: Seed of the start grid and the masks.
        batch: Grids, when the graph's batch axis is dynamic (else the graph's batch).
        cells: Start grid ``(B, C, *cells)`` (1-D, 2-D or 3-D, as exported) instead of
            a seeded one.
        raise_on_failure: Raise :class:`ExportError` when an error exceeds ``atol``.

    Returns:
        A :class:`CheckReport` (``.ok`` says whether every error is within ``atol``).

    Raises:
        ExportError: The file does not fit the automaton's layout, or (with
            ``raise_on_failure``) an error exceeds ``atol``.
        MissingExportDependency: onnxruntime is not installed.
        ValueError: Bad ``steps``, ``atol`` or ``batch``.
    """
    require("onnxruntime")
    automaton = automaton_of(model)
    counts = _check_arguments(steps, atol, batch)
    path = Path(path)
    session, (graph_batch, _, *grid) = _session(path, automaton)
    generator = torch.Generator().manual_seed(seed)
    if cells is None:
        batch = graph_batch if isinstance(graph_batch, int) else batch
        cells = check_state(automaton, batch, tuple(grid), generator)
    automaton.layout.check_cells(cells)
    batch = cells.shape[0]
    errors, magnitudes = _replay(automaton, session, cells, counts, generator)
    name = rule_name(automaton)
    report = CheckReport(path, name, errors, float(atol), batch, seed, magnitudes)
    if raise_on_failure and not report.ok:
        raise ExportError(report.failure())
    return report


def _check_arguments(steps: Sequence[int], atol: float, batch: int) -> list[int]:
    """The sorted distinct step counts; bad arguments refused in one line."""
    counts = sorted(set(steps))
    if not counts or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in counts):
        raise ValueError(f"steps must be positive integers, got {tuple(steps)!r}")
    if not (isinstance(atol, (int, float)) and math.isfinite(atol) and atol >= 0):
        raise ValueError(f"atol must be a finite number >= 0, got {atol!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    return counts


def _session(path: Path, automaton: nn.Module):
    """An onnxruntime CPU session of ``path`` and its cells input's shape, checked
    against the automaton's layout."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    if tuple(inputs) != INPUT_NAMES:
        raise ExportError(f"{path} takes inputs {list(inputs)}, not {list(INPUT_NAMES)}")
    shape = inputs["cells"]
    if len(shape) != 2 + automaton.layout.dims:
        raise ExportError(
            f"{path} takes {len(shape) - 2}-D grids but rule {rule_name(automaton)!r} steps "
            f"{automaton.layout.dims}-D ones"
        )
    if shape[1] != automaton.layout.cell_channels:
        raise ExportError(
            f"{path} takes {shape[1]}-channel cells but rule {rule_name(automaton)!r} has "
            f"{automaton.layout.cell_channels} ({automaton.layout.describe()})"
        )
    return session, shape


@torch.no_grad()
def _replay(
    automaton: nn.Module, session, cells: torch.Tensor, counts: list[int], generator
) -> tuple[dict[int, float], dict[int, float]]:
    """Both runtimes chain their own output with the same masks; the largest error and
    cell magnitude after each of ``counts`` steps."""
    import numpy as np

    errors: dict[int, float] = {}
    magnitudes: dict[int, float] = {}
    reference, exported = cells, cells.float().numpy()
    for step in range(1, counts[-1] + 1):
        mask = draw_update_mask(reference, automaton.update_rate, generator)
        if mask is None:  # σ = 1: every cell fires
            mask = torch.ones_like(reference[:, :1])
        reference = automaton.step(reference, mask, None)
        exported = session.run(None, {"cells": exported, "mask": mask.float().numpy()})[0]
        if step in counts:
            diff = np.abs(exported.astype(np.float64) - reference.double().numpy())
            errors[step] = float(diff.max()) if np.isfinite(diff).all() else math.nan
            magnitudes[step] = float(reference.abs().max())
    return errors, magnitudes
