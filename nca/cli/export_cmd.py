"""``nca export RUN --format onnx``: the trained automaton's step function as a file."""

from __future__ import annotations

from pathlib import Path

import click

from nca.cli.console import make_console
from nca.cli.errors import user_errors
from nca.cli.options import RUN_SOURCE, checkpoint_option

FORMATS = ("onnx",)


def _parse_size(ctx, param, value: str | None) -> tuple[int, ...] | None:
    """``--size 16,16,16`` (or ``16x16x16``) -> ``(16, 16, 16)``: positive integers."""
    if value is None:
        return None
    parts = value.replace("x", ",").split(",")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if not size or any(n < 1 for n in size):
        raise click.BadParameter(
            f"{value!r} is not a size: pass positive pixel counts, one per axis, e.g. "
            f"16 (1-D), 32,32 (2-D) or 16,16,16 (3-D)"
        )
    return size


@click.command("export")
@click.argument("source", type=RUN_SOURCE)
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    required=True,
    help="File format: onnx (the step function step(cells, mask) -> cells).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write [default: RUN/export/step-<checkpoint>.onnx; an existing file is "
    "never replaced].",
)
@click.option(
    "--height",
    type=click.IntRange(min=1),
    default=None,
    help="2-D runs: grid height in pixels [default: the task's training size].",
)
@click.option(
    "--width",
    type=click.IntRange(min=1),
    default=None,
    help="2-D runs: grid width in pixels [default: the task's training size].",
)
@click.option(
    "--size",
    callback=_parse_size,
    default=None,
    metavar="N[,N[,N]]",
    help="Grid size in pixels, one entry per axis (any dimension: 64 for a 1-D run, "
    "16,16,16 for a 3-D one) [default: the task's training size].",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Run the file in onnxruntime for 1 and 32 steps and compare it with PyTorch.",
)
@checkpoint_option
def export_command(
    source: Path,
    format_: str,
    out: Path | None,
    height: int | None,
    width: int | None,
    size: tuple[int, ...] | None,
    check: bool,
    which: str,
) -> None:
    """Export the step function of the CA rule in SOURCE (a run directory, checkpoint or
    pretrained model's name; `nca pretrained` lists them).

    The ONNX graph maps cells (B, C, *grid) and a 0/1 firing mask (B, 1, *grid) to the
    next cells, for grids of the run's dimension (rows, images or volumes); seeding,
    input injection and the mask draw stay with the runtime (see docs/export.md).
    Feed-forward rules (unet, vit) and probe runs have no step and are refused.
    """
    from nca.checkpoint import find_checkpoint, run_dir_of
    from nca.export import automaton_of, check_export, export_step, require
    from nca.resources import check_writable
    from nca.tasks import load_run

    console = make_console()
    with user_errors():
        require("onnx", "onnxscript", *(["onnxruntime"] if check else []))  # before the work
        if size is not None and (height is not None or width is not None):
            raise click.UsageError("pass either --size or --height/--width, not both")
        checkpoint = find_checkpoint(source, which)
        refuse_models_without_a_step(checkpoint)
        path = out or run_dir_of(checkpoint) / "export" / f"step-{checkpoint.stem}.{format_}"
        if path.exists():
            raise click.ClickException(
                f"{path} exists; pass another --out (exports are never replaced)"
            )
        check_writable(path, "pass --out FILE in a writable folder")
        stored = load_run(checkpoint, device="cpu")
        task, model = stored.task, stored.model
        automaton = automaton_of(model)
        pixels = grid_size(task, model, checkpoint, automaton.layout, height, width, size)
        with console.status(f"exporting {checkpoint} to {format_}"):
            report = export_step(automaton, path, size=pixels)
        for line in report.lines():
            console.print(line)
        if check:
            with console.status("checking with onnxruntime"):
                result = check_export(automaton, path, raise_on_failure=False)
            for line in result.lines():
                console.print(line)
            if not result.ok:
                raise click.ClickException(result.failure() + " (the file is kept)")


def refuse_models_without_a_step(checkpoint: Path) -> None:
    """One line, before the run is loaded, for a checkpoint that holds no rule (a probe
    run's linear classifier): what it is, and what can be exported instead."""
    from nca.checkpoint import load_checkpoint

    data = load_checkpoint(checkpoint)
    if data.get("rule"):
        return
    task = data.get("task") or {}
    name = task.get("name")
    probed = (task.get("config") or {}).get("source")
    instead = (
        f"; export the model it probes: nca export {probed} --format onnx"
        if probed
        else "; only runs of CA rules (convca, unetca, vitca) have a step to export"
    )
    what = "a linear classifier on frozen features" if name == "probe" else "no rule"
    raise click.ClickException(
        f"{checkpoint} is a {name or 'rule-less'} run ({what}): it holds no CA rule, so it "
        f"has no step function to export" + instead
    )


def grid_size(
    task,
    model,
    checkpoint: Path,
    layout,
    height: int | None,
    width: int | None,
    size: tuple[int, ...] | None,
) -> tuple[int, ...]:
    """The image size to export for, in pixels, one entry per axis of the run's grids:
    ``--size``, else ``--height``/``--width`` (2-D) over the training size."""
    dims = layout.dims
    if size is not None:
        if len(size) != dims:
            raise click.UsageError(
                f"--size {','.join(map(str, size))} has {len(size)} entries; this run's "
                f"grids are {dims}-D: pass {dims}"
            )
        return size
    if (height is not None or width is not None) and dims != 2:
        raise click.UsageError(
            f"--height/--width size 2-D grids; this run's grids are {dims}-D: pass --size "
            f"with {dims} entries"
        )
    if height is not None and width is not None:
        return height, width
    trained = training_size(task, model, checkpoint, layout)
    if trained is None:
        flags = "--height H --width W" if dims == 2 else f"--size ({dims} entries)"
        raise click.UsageError(
            f"task {task.name!r} records no grid size this command can read; pass {flags} (pixels)"
        )
    if dims == 2:
        return height or trained[0], width or trained[1]
    return trained


def training_size(task, model, checkpoint: Path, layout) -> tuple[int, ...] | None:
    """The grid size in pixels a run trained on (one entry per axis), where it can be read.

    The grid of the task's viewer (``Task.playground``: the grid ``nca play`` runs, 2-D),
    else the image size the task gives its rule (``RuleNeeds.image_size``, any
    dimension), else the task config (``grid_size``, ``size`` or ``image_size``: square),
    else the sample pool stored in the checkpoint (its grids times the patch size);
    ``None`` when none of them is there.
    """
    import torch

    patch = layout.patch_size
    try:
        with torch.no_grad():
            seeded = task.playground(model).seed()
        if seeded.ndim == 2 + layout.dims:
            return tuple(int(n) * p for n, p in zip(seeded.shape[2:], patch, strict=True))
    except (ValueError, NotImplementedError, OSError, RuntimeError):
        pass  # no viewer (or not in this dimension), or its data is not here
    try:
        needed = task.rule_needs().image_size
    except (ValueError, NotImplementedError, OSError, RuntimeError):
        needed = None  # the task's data is not here
    if needed is not None and len(needed) == layout.dims:
        return tuple(int(n) for n in needed)
    return _configured_size(task, checkpoint, layout)


def _configured_size(task, checkpoint: Path, layout) -> tuple[int, ...] | None:
    """A square (cubic) size from the task config, else the stored pool's grids."""
    for name in ("grid_size", "size", "image_size"):
        value = getattr(task.config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return (value,) * layout.dims
    from nca.checkpoint import load_checkpoint

    pool = load_checkpoint(checkpoint).get("pool") or {}
    cells = pool.get("cells") if isinstance(pool, dict) else None
    if getattr(cells, "ndim", 0) == 2 + layout.dims and cells.shape[1] == layout.cell_channels:
        return tuple(int(n) * p for n, p in zip(cells.shape[2:], layout.patch_size, strict=True))
    return None
