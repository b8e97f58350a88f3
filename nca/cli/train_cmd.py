"""``nca train --rule R --task T``: resolve configs, build the rule, run the task."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from nca.cli.console import make_console
from nca.cli.errors import user_errors
from nca.cli.options import RUN_SOURCE, override_option
from nca.cli.task_options import given_task_options, peek_option, task_cli_options


def _task_name_from_args(args: list[str]) -> str | None:
    name = peek_option(args, "--task", "-t")
    if name is None:
        config = peek_option(args, "--config", "-c")
        if config:
            from nca.config import load_config_file

            try:
                name = load_config_file(config)["names"].get("task")
            except Exception:  # reported properly when the command runs
                name = None
    return name


class TaskAwareCommand(click.Command):
    """Adds the chosen task's options before parsing, so they validate and show in --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._base_params = list(self.params)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        self.params = list(self._base_params)  # no options left over from an earlier call
        name = _task_name_from_args(args)
        if name:
            from nca.tasks import TASKS

            if name in TASKS:
                with user_errors():
                    task_class = TASKS.load(name)
                known = {p.name for p in self.params}
                self.params.extend(o for o in task_cli_options(task_class) if o.name not in known)
        return super().parse_args(ctx, args)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; others are validated by
    :func:`~nca.cli.options.check_device` (as ``nca play`` and ``nca analyze`` do)."""
    import torch

    from nca.cli.options import check_device

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return check_device(device)


@dataclass
class RunSettings:
    """Top-level settings of a run config file.

    Attributes:
        seed: Random seed of the run.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        run_dir: Run directory (default ``runs/<task>-<rule>-<timestamp>``).
    """

    seed: int = 0
    device: str = "auto"
    run_dir: str | None = None

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


def _check_run_name(ctx: click.Context, param: click.Parameter, name: str | None) -> str | None:
    """``--name`` is one folder inside ``runs/``: no separators, ``..``, absolute paths
    or empty names, which would put the run elsewhere (``--run-dir`` takes any path)."""
    if name is None:
        return None
    import os

    separators = [s for s in (os.sep, os.altsep, "/") if s]
    if (
        not name.strip()
        or name in (".", "..")
        or any(s in name for s in separators)
        or os.path.isabs(name)
        or "\0" in name
    ):
        raise click.BadParameter(
            f"{name!r} is not a run name: a name is one folder inside runs/, without '/', "
            f"'..' or an absolute path; give --run-dir PATH to put the run elsewhere",
            ctx=ctx,
            param=param,
        )
    return name


def _run_dir(params: dict[str, Any], settings: RunSettings, task: str, rule: str) -> Path:
    if params["run_dir"]:
        return Path(params["run_dir"])
    if params["name"]:
        return Path("runs") / params["name"]
    if settings.run_dir:
        return Path(settings.run_dir)
    if params["resume"]:
        raise click.UsageError("--resume needs the run to continue: pass --run-dir or --name")
    # a label that is itself a run's name (a probe's source run) keeps its name, not its
    # time: one timestamp per folder name
    rule = re.sub(r"-\d{8}-\d{6}$", "", rule)
    return Path("runs") / f"{task}-{rule}-{time.strftime('%Y%m%d-%H%M%S')}"


@click.command("train", cls=TaskAwareCommand)
@click.option(
    "--rule",
    "-r",
    "rule_name",
    metavar="NAME[:PRESET]",
    help="Update rule to train (see `nca list`).",
)
@click.option("--task", "-t", "task_name", metavar="NAME", help="Task to train it on.")
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False),
    help="TOML/JSON run config: [rule] and [task] tables (with optional name = ...).",
)
@override_option("Set a config field, e.g. -o rule.hidden_channels=16 -o task.batch_size=8.")
@click.option("--preset", help="Task preset (see `nca info TASK`).")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory [default: runs/<name>].",
)
@click.option(
    "--name",
    callback=_check_run_name,
    help="Run name, a folder in runs/ [default: <task>-<rule>-<timestamp>].",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed [default: 0].")
@click.option("--device", default=None, help="auto, cpu, cuda, cuda:N [default: auto].")
@click.option("--resume", is_flag=True, help="Continue from the run directory's last checkpoint.")
@click.option(
    "--stop-after",
    type=click.IntRange(min=1),
    default=None,
    help="Stop (checkpointed) after N iterations of this invocation; continue "
    "later with --resume (cluster time limits).",
)
@click.option(
    "--init-from",
    type=RUN_SOURCE,
    default=None,
    help="Start a new run from the weights of this checkpoint, run directory or pretrained "
    "model (`nca pretrained`; same rule; fresh optimiser), e.g. to fine-tune one, or to "
    "branch a diverged run with -o lr=...",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def train_command(**params: Any) -> None:
    """Train a rule on a task.

    Options of the chosen task are added after --task NAME (try
    `nca train --task NAME --help`, or `nca info NAME`).
    """
    from nca.engine import distributed_env, launch

    console = make_console(quiet=False)
    with user_errors():
        if params["init_from"] is not None:  # before any work: one line if it is nothing
            from nca.checkpoint import find_checkpoint

            find_checkpoint(params["init_from"])
        request = _read_request(params)
        task, seed, device = _build_task(request, params, console)
        label = request.rule_family or type(task).source_label(task.config)
        run_dir = _run_dir(params, request.settings, request.task_name, label)
        try:
            metrics = launch(
                task,
                run_dir=run_dir,
                rule=request.rule_name,
                rule_options=request.rule_values,
                seed=seed,
                device=device,
                resume=params["resume"],
                quiet=params["quiet"],
                stop_after=params["stop_after"],
                init_from=params["init_from"],
                console=console if distributed_env()["rank"] == 0 else None,
            )
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]")
            raise SystemExit(130) from None
    if distributed_env()["rank"] == 0:
        from nca.engine.trainer import SMOOTHING

        title = (
            f"final metrics (training losses: means over the last {SMOOTHING} iterations or "
            f"fewer; eval_*: the final evaluation)"
        )
        _print_metrics(console, title, metrics)


@dataclass
class TrainRequest:
    """What ``nca train`` was asked, read from its options and config file.

    Attributes:
        task_name: Registered task name.
        rule_name: Registered rule name (``name[:preset]``), or ``None``.
        file: The config file's tables (``names``, ``task``, ``rule``).
        task_values: Task config values from the file, ``--flags`` and ``-o``.
        rule_values: Rule config values from the file and ``-o rule.X=``.
        settings: The run settings (seed, device, run directory) of the file.
    """

    task_name: str
    rule_name: str | None
    file: dict[str, Any]
    task_values: dict[str, Any]
    rule_values: dict[str, Any]
    settings: RunSettings

    @property
    def rule_family(self) -> str | None:
        from nca.rules import split_rule_name

        return split_rule_name(self.rule_name)[0] if self.rule_name else None


def _read_request(params: dict[str, Any]) -> TrainRequest:
    """The task and rule names, their config values and the run settings; unknown names
    fail first, naming what is missing."""
    from nca.config import build_config, config_fields, load_config_file, route_overrides
    from nca.rules import RULES, split_rule_name
    from nca.tasks import TASKS

    file = load_config_file(params["config_path"]) if params["config_path"] else {"names": {}}
    names = file["names"]
    rule_name = params["rule_name"] or names.get("rule")
    task_name = params["task_name"] or names.get("task")
    if not task_name:
        raise click.UsageError(
            f"missing --task; installed tasks: {', '.join(TASKS.names()) or 'none'}"
        )
    wanted = [(TASKS, task_name)] + ([(RULES, split_rule_name(rule_name)[0])] if rule_name else [])
    missing = [str(reg.unknown(name)) for reg, name in reversed(wanted) if name not in reg]
    if missing:
        raise click.ClickException("\n".join(missing))
    task_class = TASKS.load(task_name)
    if rule_name is None and task_class.requires_rule:
        raise click.UsageError(f"missing --rule; installed rules: {', '.join(RULES.names())}")
    sections = {"task": [f.name for f in config_fields(task_class.config_class)]}
    if rule_name:
        rule_class = RULES.load(split_rule_name(rule_name)[0])
        sections["rule"] = [f.name for f in config_fields(rule_class.config_class)]
    routed = route_overrides(params["overrides"], sections)
    flags = given_task_options(params)
    _check_agreement(task_class.config_class, flags, routed["task"])
    settings = build_config(
        RunSettings,
        {k: names[k] for k in ("seed", "device", "run_dir") if k in names},
        where="run config",
    )
    return TrainRequest(
        task_name,
        rule_name,
        file,
        {**file.get("task", {}), **flags, **routed["task"]},
        {**file.get("rule", {}), **routed.get("rule", {})},
        settings,
    )


def _build_task(request: TrainRequest, params: dict[str, Any], console) -> tuple[Any, int, str]:
    """The configured task (its preset picked for the device when none is given), the
    seed and the device."""
    from nca.tasks import TASKS, create_task, preset_task_values

    names = request.file["names"]
    task_class = TASKS.load(request.task_name)
    seed = params["seed"] if params["seed"] is not None else request.settings.seed
    device = resolve_device(params["device"] or request.settings.device)
    preset = params["preset"] or names.get("preset")
    chosen_for_device = False
    if preset is None and task_class.default_presets:
        import torch

        preset = task_class.default_presets.get(torch.device(device).type)
        chosen_for_device = preset is not None
    _note_replaced_file_values(request, params, console)
    task = create_task(request.task_name, preset=preset, **request.task_values)
    if chosen_for_device:
        about = task_class.preset_descriptions.get(preset)
        changed = sorted(set(preset_task_values(task_class, preset)) & set(request.task_values))
        console.print(
            f"No --preset given: using {request.task_name}'s {preset!r} preset on {device}"
            + (f" ({about})" if about else "")
            + (f"; you changed {', '.join(changed)}" if changed else "")
            + f". Pass --preset to choose another; `nca info {request.task_name}` lists them."
        )
    task.validate()
    return task, seed, device


def _note_replaced_file_values(request: TrainRequest, params: dict[str, Any], console) -> None:
    """The command line wins over the config file: say so wherever they differ (the
    file's value then does nothing), for its names, settings and field values."""
    names = request.file.get("names", {})
    given = {
        "task": params["task_name"],
        "rule": params["rule_name"],
        "preset": params["preset"],
        "seed": params["seed"],
        "device": params["device"],
        "run_dir": params["run_dir"],
    }
    replaced = [
        (f"--{key.replace('_', '-')} {value}", f"{_file_key(key)} = {names[key]!r}")
        for key, value in given.items()
        if value is not None and key in names and str(value) != str(names[key])
    ]
    for section, values in (("task", request.task_values), ("rule", request.rule_values)):
        file_values = request.file.get(section, {})
        prefix = "" if section == "task" else "rule."  # task fields are announced bare
        replaced += [
            (f"{prefix}{key}={values[key]}", f"{prefix}{key}={file_values[key]}")
            for key in sorted(file_values)
            if str(values[key]) != str(file_values[key])
        ]
    for new, old in replaced:
        line = f"{new} from the command line replaces {old} from {params['config_path']}"
        console.print(line, markup=False)  # "[task] name" is no rich markup


def _file_key(key: str) -> str:
    """How a config file writes a name or setting: ``[task] name``, ``seed``."""
    if key in ("task", "rule"):
        return f"[{key}] name"
    return "[task] preset" if key == "preset" else key


def _check_agreement(config_class: type, flags: dict, overrides: dict) -> None:
    """A field set both by its ``--flag`` and by ``-o`` must get one value."""
    from nca.config import coerce, config_fields

    types = {f.name: f.type for f in config_fields(config_class)}
    for key in sorted(set(flags) & set(overrides)):
        given = coerce(overrides[key], types[key], f"task.{key}")
        if coerce(flags[key], types[key], key) != given:
            flag = "--" + key.replace("_", "-")
            raise click.UsageError(
                f"{flag} {flags[key]} and -o {key}={overrides[key]} disagree; set it once"
            )


def _print_metrics(console, title: str, metrics) -> None:
    from nca.engine.report import metrics_table

    if metrics:
        console.print(metrics_table(title, metrics))
