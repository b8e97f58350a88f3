"""``nca analyze EXPERIMENT RUN``: the paper's qualitative experiments from a checkpoint."""

from __future__ import annotations

import typing
from pathlib import Path

import click

from nca.cli.console import make_console
from nca.cli.errors import user_errors
from nca.cli.options import RUN_SOURCE, check_device, override_option

#: Kept in sync with nca.analysis.EXPERIMENTS (listed here so --help does not import torch).
EXPERIMENT_NAMES = (
    "rollout",
    "attention",
    "damage",
    "convergence",
    "pca",
    "update-rates",
    "unseen-noise",
    "changing-inputs",
    "masking-extremes",
    "interpolation",
    "head-masking",
)


def _parse_options(experiment: str, function, overrides: tuple[str, ...]) -> dict:
    from nca.analysis import experiment_options
    from nca.config import coerce, parse_override

    hints = typing.get_type_hints(function)
    parameters = [p for p in experiment_options(function) if p.name != "seed"]
    valid = {p.name for p in parameters}
    options = {}
    for text in overrides:
        key, value = parse_override(text)
        if key not in valid:
            raise click.UsageError(
                f"{experiment} has no option {key!r}; valid: "
                + ", ".join(f"{p.name} (default {p.default!r})" for p in parameters)
            )
        options[key] = coerce(value, hints[key], key)
    return options


def _experiment_function(experiment: str, task_name: str | None, checkpoint: Path):
    """The function of ``experiment`` for a run of ``task_name``, and whether it is the
    task's own (else the paper's); one line naming the valid ones if there is none."""
    from nca.analysis import EXPERIMENTS
    from nca.tasks import TASKS

    task_class = TASKS.load(task_name) if task_name in TASKS else None
    own = dict(task_class.experiments) if task_class is not None else {}
    valid = task_class.analysis_experiments() if task_class is not None else EXPERIMENT_NAMES
    if experiment in own:
        return getattr(task_class, own[experiment]), True
    if experiment in valid:
        return EXPERIMENTS[experiment], False
    if not valid:
        raise click.UsageError(
            f"a {task_name} run has no experiments: nca analyze rolls out the CA rule of a "
            f"run, and {checkpoint} holds none" + _instead(checkpoint)
        )
    if experiment in EXPERIMENTS:
        raise click.UsageError(
            f"{experiment!r} is an experiment of the denoising task; a {task_name} run has: "
            + ", ".join(valid)
        )
    raise click.UsageError(
        f"no experiment {experiment!r} for this run (task {task_name!r}); valid: "
        + ", ".join(valid)
    )


def _instead(checkpoint: Path) -> str:
    """`` (analyze the run it probes: SOURCE)`` for a probe checkpoint that names one."""
    from nca.checkpoint import load_checkpoint

    task = load_checkpoint(checkpoint).get("task") or {}
    probed = (task.get("config") or {}).get("source")
    return f" (analyze the run it probes: nca analyze EXPERIMENT {probed})" if probed else ""


def _count_option(console, experiment: str, function, count: int, options: dict) -> None:
    """``--count`` sizes the paper's experiments (test images); a task's experiment takes
    it as its ``count`` option unless ``-o count=`` is given; one that has no count says
    it ignores it."""
    from nca.analysis import experiment_options

    names = {p.name for p in experiment_options(function)}
    if "count" in names:
        options.setdefault("count", count)
    else:
        valid = ", ".join(sorted(names - {"seed"})) or "none"
        console.print(
            f"[yellow]warning:[/yellow] {experiment} ignores --count {count} (it analyses no "
            f"test images; its options: {valid})"
        )


@click.command("analyze")
@click.argument("experiment")
@click.argument("source", type=RUN_SOURCE)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="Test images to analyse (paper experiments: default 8); a task experiment's "
    "count (seeds, grids) [default: its own].",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder [default: RUN/analysis/EXPERIMENT].",
)
@override_option("Experiment option, e.g. -o steps=128 -o damage_at=32,64.")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of masks and updates.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N.")
def analyze_command(
    experiment: str,
    source: Path,
    count: int | None,
    out: Path | None,
    overrides: tuple[str, ...],
    seed: int,
    device: str,
) -> None:
    """Run EXPERIMENT on the model in SOURCE (a run directory, checkpoint or pretrained
    model's name; `nca pretrained` lists them).

    \b
    rollout           input | output over time | target (GIF), PSNR per step
    attention         per-head attention splat map over the output (Fig. 2)
    damage            damage an H/2xW/2 region twice, keep updating (Fig. 4a)
    convergence       2,784 steps: PSNR and cell-update size per step (Fig. 4b)
    pca               2-D/3-D PCA of converged hidden states by class (Fig. 4c)
    update-rates      sigma in 25/50/75/100 %: steps to converge (Fig. 4d)
    unseen-noise      4x1 and 1x4 noise patches at 65 % (Fig. 4e)
    changing-inputs   new inputs injected mid-rollout (Fig. 4f)
    masking-extremes  unmasked and fully masked inputs (Fig. 4g)
    interpolation     a 4x larger grid than in training (Fig. 4h)
    head-masking      every subset of attention heads masked (Fig. 7)

    These are the denoise task's. Runs of other tasks have their own (`nca info TASK`
    lists them):

    \b
    grow: growth, regeneration, persistence
    classify: class-map, mutation, persistence
    texture: growth, persistence
    eca: space-time
    Probe runs have none (analyze the run they probe).
    """
    from nca.analysis import run_experiment, run_task_experiment
    from nca.checkpoint import find_checkpoint, load_checkpoint, run_dir_of
    from nca.resources import check_writable
    from nca.tasks import load_run, load_subject

    device = check_device(device)  # before any loading: one line, no traceback

    console = make_console()
    with user_errors():
        checkpoint = find_checkpoint(source)
        task_name = (load_checkpoint(checkpoint).get("task") or {}).get("name")
        function, own = _experiment_function(experiment, task_name, checkpoint)
        options = _parse_options(experiment, function, overrides)
        if own and count is not None:
            _count_option(console, experiment, function, count, options)
        folder = out or run_dir_of(checkpoint) / "analysis" / experiment
        # before the work, not after: results.json is written last
        check_writable(folder / "results.json", "pass --out DIR in a writable folder")
        with console.status(f"running {experiment}"):
            if own:
                stored = load_run(checkpoint, device=device)
                results = run_task_experiment(
                    experiment, stored.task, stored.model, folder, seed=seed, **options
                )
            else:
                subject = load_subject(source, count or 8, device=device, seed=seed)
                results = run_experiment(experiment, subject, folder, **options)
    summary = {k: v for k, v in results.items() if not isinstance(v, list)}
    console.print(f"[bold]{experiment}[/bold] -> {folder}")
    for key, value in summary.items():
        console.print(f"  {key}: {value}")
