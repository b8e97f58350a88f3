"""ONNX export of a cellular automaton's step function ``step(cells, mask) -> cells``.

The graph holds one update of :meth:`nca.core.CellularAutomaton.step`: the rule, the
residual update of the firing cells' output and hidden channels and, when the
automaton has one, living-cell masking. The firing mask is an *input*, so a runtime
draws it itself (``mask = uniform(B, 1, *cells) < σ``) and a seeded PyTorch rollout
can be replayed exactly. Not in the graph: seeding a grid, injecting new inputs,
drawing the mask and the optional Gaussian update noise.

onnx and onnxscript are imported only when :func:`export_step` runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from nca.core.automaton import CellularAutomaton
from nca.export.backends import attention_backend, with_attention_backend
from nca.export.errors import ExportError, require
from nca.rules.base import Rule

Exporter = Literal["dynamo", "torchscript"]
#: Tried in this order: the torch.export-based exporter (torch's default), then the
#: deprecated TorchScript one.
EXPORTERS: tuple[Exporter, ...] = ("dynamo", "torchscript")
#: Backend an attention rule falls back to when its own does not export.
FALLBACK_BACKEND = "reference"
INPUT_NAMES = ("cells", "mask")
OUTPUT_NAME = "next_cells"
#: Name of the dynamic batch axis in the graph.
BATCH_AXIS = "batch"

Shape = tuple[int | str, ...]


class StepModule(nn.Module):
    """``forward(cells, mask) -> next cells``: one update of an automaton, for export.

    Args:
        automaton: The automaton; its rule's weights are the graph's constants.
    """

    def __init__(self, automaton: CellularAutomaton) -> None:
        super().__init__()
        self.automaton = automaton

    def forward(self, cells: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One update.

        Args:
            cells: ``(B, C, *cells)`` cell grid (``(H', W')`` in 2-D, ``(L',)`` in 1-D,
                ``(D', H', W')`` in 3-D).
            mask: ``(B, 1, *cells)`` firing mask of 0.0 / 1.0 (all ones: synchronous).

        Returns:
            ``(B, C, *cells)``: ``cells + mask * rule(cells)`` on the output and hidden
            channels, then living-cell masking if the automaton has it.
        """
        # not step(): a torch.compile'd step (compile_step) does not export
        return self.automaton.eager_step(cells, mask)


@dataclass
class ExportReport:
    """What :func:`export_step` wrote.

    Attributes:
        path: The ``.onnx`` file (weights included, no external data file).
        rule: Registered name of the rule.
        exporter: ``dynamo`` (``torch.onnx.export(dynamo=True)``) or ``torchscript``.
        opset: ONNX opset of the default domain.
        inputs: Input name -> shape (``"batch"`` where the batch axis is dynamic).
        outputs: Output name -> shape.
        dtype: Element type of every input and output (``float32``).
        attention_backend: Localized-attention backend of the exported graph (``None``:
            the rule has no attention).
        notes: What else a user of the file should know (backend swaps, parts of the
            automaton that are not in the graph).
    """

    path: Path
    rule: str
    exporter: Exporter
    opset: int
    inputs: dict[str, Shape]
    outputs: dict[str, Shape]
    dtype: str = "float32"
    attention_backend: str | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary, one fact a line."""

        def shapes(named: dict[str, Shape]) -> str:
            return ", ".join(f"{n} {tuple(s)}" for n, s in named.items())

        out = [
            f"file: {self.path}",
            f"rule: {self.rule}"
            + (f" (attention backend {self.attention_backend})" if self.attention_backend else ""),
            f"exporter: {self.exporter}, opset {self.opset}",
            f"inputs: {shapes(self.inputs)} ({self.dtype})",
            f"outputs: {shapes(self.outputs)} ({self.dtype})",
        ]
        return out + [f"note: {note}" for note in self.notes]


def rule_name(model: nn.Module) -> str:
    """Registered name of the rule inside ``model`` (a rule, automaton or task model)."""
    rule = getattr(model, "rule", model)
    return getattr(rule, "rule_name", None) or type(rule).__name__


def automaton_of(model: nn.Module) -> CellularAutomaton:
    """The :class:`~nca.core.CellularAutomaton` of ``model`` (itself, or ``model.automaton``).

    Raises:
        ExportError: ``model`` is a feed-forward rule (or a model around one), or a bare
            CA rule that is not wrapped in an automaton.
    """
    if isinstance(model, CellularAutomaton):
        return model
    automaton = getattr(model, "automaton", None)
    if isinstance(automaton, CellularAutomaton):
        return automaton
    name = rule_name(model)
    rule = getattr(model, "rule", model)
    if not isinstance(rule, Rule):
        raise ExportError(
            f"{type(model).__name__} holds no cellular automaton (no `automaton` attribute "
            f"and no rule): there is no CA step to export"
        )
    if rule.kind == "ca":
        raise ExportError(
            f"rule {name!r} is not wrapped in an automaton: export "
            f"CellularAutomaton(rule, update_rate=...) so the update and masking are known"
        )
    raise ExportError(
        f"rule {name!r} cannot be exported as a CA step: it is a feed-forward model "
        f"(images -> images in one pass), not a cellular automaton; only CA rules "
        f"(kind 'ca', e.g. convca, unetca, vitca) have a step function"
    )


def _check_size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _first_line(err: BaseException, limit: int = 240) -> str:
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _export_copy(automaton: CellularAutomaton, backend: str | None) -> CellularAutomaton:
    """A float32 copy of ``automaton`` (with attention ``backend``), in eval mode.

    A fresh automaton around a copied rule: the original's caches and compiled step
    are left alone (tracing must not write fake tensors into them).
    """
    rule = automaton.rule
    if backend is not None and attention_backend(rule) != backend:
        rule = with_attention_backend(rule, backend)
    else:
        import copy

        rule = copy.deepcopy(rule)
    clone = CellularAutomaton(
        rule.float(),
        update_rate=automaton.update_rate,
        cell_init=automaton.cell_init,
        alive=automaton.alive,
        update_noise=automaton.update_noise,
    )
    return clone.eval()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Swallow what the exporters print: progress lines (Python) and, from the
    TorchScript exporter's C++ side, whole graphs on file descriptors 1 and 2."""
    import sys
    import tempfile

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    sink = io.StringIO()
    try:
        with (
            tempfile.TemporaryFile() as trash,
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            os.dup2(trash.fileno(), 1)
            os.dup2(trash.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


def _torch_export(
    module: StepModule,
    example: tuple[torch.Tensor, torch.Tensor],
    path: Path,
    exporter: Exporter,
    dynamic_batch: bool,
    opset: int | None,
) -> None:
    """One ``torch.onnx.export`` call, its progress output and warnings swallowed."""
    kwargs: dict = {}
    if dynamic_batch and exporter == "dynamo":
        batch = torch.export.Dim(BATCH_AXIS)
        kwargs["dynamic_shapes"] = ({0: batch}, {0: batch})
    elif dynamic_batch:
        names = (*INPUT_NAMES, OUTPUT_NAME)
        kwargs["dynamic_axes"] = {name: {0: BATCH_AXIS} for name in names}
    if exporter == "dynamo":
        kwargs["external_data"] = False  # one self-contained file
    with torch.no_grad(), warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamo=exporter == "dynamo",
            verbose=False,
            **kwargs,
        )


def _shapes(values) -> dict[str, Shape]:
    """Name -> shape of ONNX graph inputs or outputs (``dim_param`` names for dynamic axes)."""
    out = {}
    for value in values:
        dims = value.type.tensor_type.shape.dim
        out[value.name] = tuple(d.dim_param if d.dim_param else int(d.dim_value) for d in dims)
    return out


def _metadata(automaton: CellularAutomaton, name: str, backend: str | None) -> dict[str, str]:
    """``nca.*`` metadata a runtime needs to seed grids, draw masks and read outputs."""
    layout = automaton.layout
    groups = ("positional", "input", "output", "hidden")
    alive = automaton.alive
    return {
        "nca.rule": name,
        "nca.attention_backend": backend or "",
        "nca.update_rate": repr(automaton.update_rate),
        "nca.update_noise": repr(automaton.update_noise),
        "nca.cell_init": automaton.cell_init,
        "nca.layout": json.dumps(
            {
                "input_channels": layout.input_channels,
                "output_channels": layout.output_channels,
                "hidden_channels": layout.hidden_channels,
                "positional_channels": layout.positional_channels,
                "patch_size": list(layout.patch_size),
                "slices": {g: [layout.slice(g).start, layout.slice(g).stop] for g in groups},
            }
        ),
        "nca.alive": json.dumps(
            None
            if alive is None
            else {
                "channel": alive.channel,
                "threshold": alive.threshold,
                "neighbourhood": alive.neighbourhood,
            }
        ),
        "nca.dims": str(layout.dims),
        "nca.mask": "(B, 1, *cells) float32, 1.0 where uniform(0, 1) < nca.update_rate",
    }


def _finish(path: Path, metadata: dict[str, str]) -> tuple[int, dict, dict]:
    """Check the written model, add metadata; returns ``(opset, inputs, outputs)``."""
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return int(opset), _shapes(model.graph.input), _shapes(model.graph.output)


def export_step(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    height: int | None = None,
    width: int | None = None,
    size: Sequence[int] | None = None,
    batch: int = 1,
    dynamic_batch: bool = True,
    exporters: Sequence[Exporter] = EXPORTERS,
    attention: str | None = None,
    opset: int | None = None,
    overwrite: bool = False,
) -> ExportReport:
    """Write the step function of ``model``'s automaton to an ONNX file.

    The graph maps ``cells`` ``(B, C, *cells)`` and ``mask`` ``(B, 1, *cells)`` (float32,
    1.0 where a cell fires) to ``next_cells`` ``(B, C, *cells)``; the cell grid is the
    image size over the patch size (``H' = height/P_H``, ``W' = width/P_W`` in 2-D), fixed.
    Exporters are tried in order (``dynamo`` first); a rule with localized attention
    whose own backend exports with none of them is exported through the ``reference``
    backend (same weights, same values).

    Args:
        model: A :class:`~nca.core.CellularAutomaton`, or a task model with an
            ``automaton`` attribute.
        path: The ``.onnx`` file to write.
        height: Image height ``H`` in pixels (2-D; a multiple of the patch height).
        width: Image width ``W`` in pixels (2-D; a multiple of the patch width).
        size: Instead of ``height`` and ``width``: the image size in pixels, one entry
            per spatial dimension of the automaton (``(L,)``, ``(H, W)``, ``(D, H, W)``).
        batch: Batch size of the graph when it is static.
        dynamic_batch: Make the batch axis dynamic (named ``batch``); if that does not
            export, the graph is exported for ``batch`` (and a note says so).
        exporters: Exporters to try, in order: ``dynamo`` and/or ``torchscript``.
        attention: Force this attention backend (``shifted``, ``conv``, ``reference``)
            instead of the rule's own with the fallback; rules with attention only.
        opset: ONNX opset (``None``: the exporter's default).
        overwrite: Replace an existing ``path``.

    Returns:
        An :class:`ExportReport` (exporter used, opset, shapes, notes).

    Raises:
        ExportError: A feed-forward model, or no exporter could export the rule.
        MissingExportDependency: onnx or onnxscript is not installed.
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        NotWritable: ``path`` cannot be created (a read-only folder, a file above it).
        NotEnoughMemory: The grid could never fit in this machine's memory.
        ValueError: Bad sizes, exporters or attention backend.
    """
    automaton = automaton_of(model)
    name = rule_name(automaton)
    pixels = _image_size(automaton, height, width, size)
    grid = _check_request(automaton, path, pixels, batch, exporters, overwrite)
    own = attention_backend(automaton.rule)
    backends = _backends(name, own, attention)
    failures: list[str] = []
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")  # never a half-written `path`
    try:
        for exporter, backend, module, dynamic in _attempts(
            automaton, exporters, backends, dynamic_batch
        ):
            failure = _try_export(module, partial, exporter, backend, dynamic, batch, grid, opset)
            if failure is not None:
                failures.append(failure)
                continue
            notes = _notes(automaton, own, backend, dynamic_batch, dynamic, batch, failures)
            used, inputs, outputs = _finish(partial, _metadata(automaton, name, backend))
            os.replace(partial, path)
            return ExportReport(
                path, name, exporter, used, inputs, outputs, "float32", backend, notes
            )
    finally:
        partial.unlink(missing_ok=True)
    raise ExportError(f"rule {name!r} does not export to ONNX: " + "; ".join(failures))


def _image_size(
    automaton: CellularAutomaton,
    height: int | None,
    width: int | None,
    size: Sequence[int] | None,
) -> tuple[int, ...]:
    """The image size in pixels asked for, one entry per spatial dimension."""
    dims = automaton.layout.dims
    if size is not None:
        if height is not None or width is not None:
            raise ValueError("pass either size or height and width, not both")
        size = tuple(size)
        if len(size) != dims:
            raise ValueError(
                f"size {size} has {len(size)} entries; rule {rule_name(automaton)!r} steps "
                f"{dims}-D grids: pass {dims}"
            )
        return tuple(_check_size(f"size[{i}]", n) for i, n in enumerate(size))
    if dims != 2:
        raise ValueError(
            f"rule {rule_name(automaton)!r} steps {dims}-D grids: pass size=(...) with "
            f"{dims} entries instead of height and width"
        )
    if height is None or width is None:
        raise ValueError("pass height and width (or size)")
    return _check_size("height", height), _check_size("width", width)


#: Grids a traced step holds at once, at the least: the input cells, the rule's update
#: and the next cells (the exporters and the check hold more).
_GRIDS_HELD = 3


def _check_request(
    automaton: CellularAutomaton,
    path: str | os.PathLike,
    pixels: tuple[int, ...],
    batch: int,
    exporters: Sequence[Exporter],
    overwrite: bool,
) -> tuple[int, ...]:
    """Refuse bad sizes, exporters, an existing or unwritable file and grids that can
    never fit in memory; returns the cell grid (``(H', W')`` in 2-D)."""
    from nca.resources import check_fits_in_memory, check_writable

    _check_size("batch", batch)
    layout = automaton.layout
    grid = layout.cell_grid_size(pixels)
    unknown = [e for e in exporters if e not in EXPORTERS]
    if unknown or not exporters:
        raise ValueError(f"unknown exporters {unknown or '(none)'}; valid: {', '.join(EXPORTERS)}")
    # the example grids are float32 (B, C, *grid); B is at least 2 for a dynamic batch
    cells = max(batch, 2) * layout.cell_channels * math.prod(grid)
    check_fits_in_memory(
        _GRIDS_HELD * cells * 4,
        f"exporting a step on a {'x'.join(map(str, pixels))}-pixel grid",
        "choose a smaller grid (nca export --height/--width/--size)",
    )
    require("onnx", *(["onnxscript"] if "dynamo" in exporters else []))
    if Path(path).exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass another path (or overwrite=True)")
    if not Path(path).exists():
        check_writable(path, "choose another path")
    return grid


def _backends(name: str, own: str | None, attention: str | None) -> list[str | None]:
    """Attention backends to try: ``attention`` if asked, else the rule's own and then
    the fallback (``[None]``: the rule has no attention)."""
    if attention is not None:
        if own is None:
            raise ValueError(f"rule {name!r} has no attention layers; leave attention unset")
        return [attention]
    return [own] + ([FALLBACK_BACKEND] if own not in (None, FALLBACK_BACKEND) else [])


def _attempts(
    automaton: CellularAutomaton,
    exporters: Sequence[Exporter],
    backends: list[str | None],
    dynamic_batch: bool,
) -> Iterator[tuple[Exporter, str | None, StepModule, bool]]:
    """``(exporter, backend, step module, dynamic batch)`` in the order they are tried."""
    for exporter in exporters:
        for backend in backends:
            module = StepModule(_export_copy(automaton, backend)).eval()
            for dynamic in (True, False) if dynamic_batch else (False,):
                yield exporter, backend, module, dynamic


def _try_export(
    module: StepModule,
    path: Path,
    exporter: Exporter,
    backend: str | None,
    dynamic: bool,
    batch: int,
    grid: tuple[int, ...],
    opset: int | None,
) -> str | None:
    """Export ``module`` to ``path``; ``None``, or one line saying why it failed."""
    # torch.export specialises axes of size 1: trace a dynamic batch with 2
    size = max(batch, 2) if dynamic else batch
    channels = module.automaton.layout.cell_channels
    values = torch.Generator().manual_seed(0)  # a local generator: the global RNG is left alone
    example = (torch.rand(size, channels, *grid, generator=values), torch.ones(size, 1, *grid))
    try:
        _torch_export(module, example, path, exporter, dynamic, opset)
    except Exception as err:  # the exporters raise anything
        cause = _os_error(err)
        if cause is not None:  # the file system's fault (a full disk), not the rule's
            raise cause from None
        where = [f"{backend} backend"] if backend else []
        where += ["dynamic batch"] if dynamic else []
        return (
            exporter + (f" ({', '.join(where)})" if where else "")
            + f": {type(err).__name__}: {_first_line(err)}"
        )  # fmt: skip
    return None


def _os_error(err: BaseException) -> OSError | None:
    """The :class:`OSError` behind ``err`` (itself, or what it was raised ``from``), if any:
    the exporters wrap what writing the file raised."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__
    return None


def _notes(
    automaton: CellularAutomaton,
    own: str | None,
    backend: str | None,
    dynamic_batch: bool,
    dynamic: bool,
    batch: int,
    failures: list[str],
) -> list[str]:
    """What a user of the file should know (:attr:`ExportReport.notes`)."""
    notes = []
    if backend != own:
        why = f"the rule's own backend {own!r} does not export" if failures else "as asked"
        notes.append(
            f"attention runs through the {backend!r} backend ({why}); "
            f"same weights and values, only the implementation differs"
        )
    if dynamic_batch and not dynamic:
        notes.append(f"the batch axis could not be made dynamic: the graph takes batch {batch}")
    param = next(automaton.rule.parameters(), None)
    if param is not None and param.dtype != torch.float32:
        notes.append(f"the rule's {param.dtype} weights were converted to float32")
    if automaton.update_noise:
        notes.append(
            f"the automaton adds Gaussian update noise (std {automaton.update_noise:g}) in "
            f"PyTorch rollouts; the exported step adds none"
        )
    if automaton.alive is not None:
        notes.append(f"living-cell masking on channel {automaton.alive.channel} is in the graph")
    if failures:
        notes.append("failed before: " + "; ".join(failures))
    return notes
