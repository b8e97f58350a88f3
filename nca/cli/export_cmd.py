"""``nca export RUN --format onnx``: the trained automaton's step function as a file."""

from __future__ import annotations

from pathlib import Path

import click

from nca.cli.console import make_console
from nca.cli.errors import user_errors
from nca.cli.options import checkpoint_option

FORMATS = ("onnx",)


@click.command("export")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
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
    help="Grid height in pixels [default: the task's training size].",
)
@click.option(
    "--width",
    type=click.IntRange(min=1),
    default=None,
    help="Grid width in pixels [default: the task's training size].",
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
    check: bool,
    which: str,
) -> None:
    """Export the step function of the CA rule in SOURCE (a run directory or checkpoint).

    The ONNX graph maps cells (B, C, H', W') and a 0/1 firing mask (B, 1, H', W') to the
    next cells; seeding, input injection and the mask draw stay with the runtime (see
    docs/export.md). Feed-forward rules (unet, vit) have no step and are refused.
    """
    from nca.checkpoint import find_checkpoint, run_dir_of
    from nca.export import automaton_of, check_export, export_step, require
    from nca.resources import writable_folder
    from nca.tasks import load_run

    console = make_console()
    with user_errors():
        require("onnx", "onnxscript", *(["onnxruntime"] if check else []))  # before the work
        checkpoint = find_checkpoint(source, which)
        path = out or run_dir_of(checkpoint) / "export" / f"step-{checkpoint.stem}.{format_}"
        if path.exists():
            raise click.ClickException(
                f"{path} exists; pass another --out (exports are never replaced)"
            )
        if not writable_folder(path.parent):
            raise click.ClickException(
                f"cannot write {path} (read-only folder); pass --out FILE in a writable folder"
            )
        stored = load_run(checkpoint, device="cpu")
        task, model = stored.task, stored.model
        automaton = automaton_of(model)
        size = height, width
        if None in size:
            trained = training_size(task, model, checkpoint, automaton.layout)
            if trained is None:
                raise click.UsageError(
                    f"task {task.name!r} records no grid size this command can read; "
                    f"pass --height H --width W (pixels)"
                )
            size = (height or trained[0], width or trained[1])
        with console.status(f"exporting {checkpoint} to {format_}"):
            report = export_step(automaton, path, height=size[0], width=size[1])
        for line in report.lines():
            console.print(line)
        if check:
            with console.status("checking with onnxruntime"):
                result = check_export(automaton, path, raise_on_failure=False)
            for line in result.lines():
                console.print(line)
            if not result.ok:
                raise click.ClickException(result.failure() + " (the file is kept)")


def training_size(task, model, checkpoint: Path, layout) -> tuple[int, int] | None:
    """The grid size ``(H, W)`` in pixels a run trained on, where it can be read.

    The grid of the task's viewer (``Task.playground``: the grid ``nca play`` runs),
    else the task config (``grid_size``, ``size`` or ``image_size``: square), else the
    sample pool stored in the checkpoint (its grids' ``(H', W')`` times the patch size);
    ``None`` when none of them is there.
    """
    import torch

    p_h, p_w = layout.patch_size
    try:
        with torch.no_grad():
            seeded = task.playground(model).seed()
        return int(seeded.shape[-2]) * p_h, int(seeded.shape[-1]) * p_w
    except (ValueError, NotImplementedError, OSError, RuntimeError):
        pass  # no viewer, or its data is not here: read the config
    for name in ("grid_size", "size", "image_size"):
        value = getattr(task.config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value, value
    from nca.checkpoint import load_checkpoint

    pool = load_checkpoint(checkpoint).get("pool") or {}
    cells = pool.get("cells") if isinstance(pool, dict) else None
    if getattr(cells, "ndim", 0) == 4 and cells.shape[1] == layout.cell_channels:
        return int(cells.shape[-2]) * p_h, int(cells.shape[-1]) * p_w
    return None
