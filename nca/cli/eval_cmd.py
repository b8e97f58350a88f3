"""``nca eval RUN``: evaluate a checkpoint (or a run directory's latest one) with its task."""

from __future__ import annotations

from pathlib import Path

import click

from nca.cli.console import make_console
from nca.cli.errors import user_errors
from nca.cli.options import RUN_SOURCE, checkpoint_option, override_option


@click.command("eval")
@click.argument("source", type=RUN_SOURCE)
@click.option("--task", "-t", "task_name", help="Task to evaluate with [default: the run's task].")
@override_option("Change a task config field for evaluation, e.g. -o eval_subset=100.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Report file [default: a new RUN/eval-<checkpoint>-<settings>.json; an earlier "
    "report is never replaced].",
)
@checkpoint_option
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed."
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def eval_command(
    source: Path,
    task_name: str | None,
    overrides: tuple[str, ...],
    out: Path | None,
    which: str,
    seed: int,
    device: str,
    quiet: bool,
) -> None:
    """Evaluate SOURCE: a checkpoint file, a run directory or a pretrained model's name
    (`nca pretrained` lists them)."""
    import torch

    from nca.checkpoint import find_checkpoint, load_checkpoint, run_dir_of
    from nca.cli.train_cmd import _print_metrics, resolve_device
    from nca.config import config_fields, route_overrides
    from nca.engine import EvaluatedCheckpoint, RunContext, distributed_env, seed_everything
    from nca.tasks import TASKS, load_run, trained_task

    console = make_console()
    with user_errors():
        checkpoint = find_checkpoint(source, which)
        data = load_checkpoint(checkpoint)
        task_name = trained_task(checkpoint, data, task_name)
        task_class = TASKS.load(task_name)
        routed = route_overrides(
            overrides, {"task": [f.name for f in config_fields(task_class.config_class)]}
        )
        device = resolve_device(device)
        seed_everything(seed)
        if out is None:  # a pretrained model's reports go to runs/pretrained/NAME: made here
            run_dir_of(checkpoint).mkdir(parents=True, exist_ok=True)
        report = out or new_report_path(run_dir_of(checkpoint), checkpoint, routed["task"])
        check_writable(report)  # before the work, not after
        run = RunContext(
            run_dir_of(checkpoint),
            seed=seed,
            device=device,
            quiet=quiet,
            report=report,
            evaluated=EvaluatedCheckpoint.of(checkpoint, data),
            **distributed_env(),
        )
        stored = load_run(checkpoint, task_name=task_name, overrides=routed["task"], run=run)
        with torch.no_grad():
            metrics = dict(stored.task.evaluate(stored.model, run))
    _print_metrics(console, f"{task_name} evaluation of {checkpoint}", metrics)
    if report.is_file():
        console.print(f"report: {report}")


def new_report_path(run_dir: Path, checkpoint: Path, overrides: dict) -> Path:
    """``RUN/eval-<checkpoint>-<settings digest>.json``, numbered if that file exists."""
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode())
    stem = f"eval-{checkpoint.stem}-{digest.hexdigest()[:8]}"
    path, number = run_dir / f"{stem}.json", 1
    while path.exists():
        number += 1
        path = run_dir / f"{stem}-{number}.json"
    return path


def check_writable(path: Path) -> None:
    """Fail now if the report cannot be written (a read-only run directory)."""
    import os

    folder = path.parent if path.parent != Path("") else Path(".")
    if path.exists():
        raise click.ClickException(
            f"{path} exists; pass another --out (reports are never replaced)"
        )
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise click.ClickException(
            f"cannot write the report to {folder} (read-only or missing); pass --out PATH "
            f"in a writable folder"
        )
