"""``nca info NAME``: a rule's or task's config fields, defaults, docs and presets, or
what a dataset holds."""

from __future__ import annotations

from dataclasses import MISSING

import click

from nca.cli.console import make_console
from nca.cli.errors import user_errors


def _rows(fields, prefix: str = ""):
    """``(option, type, default, description)`` per field; a nested config (e.g.
    ``fixed_point``) gives a row of its own and one row per sub-field
    (``fixed_point.tol``), as ``-o`` spells them."""
    import dataclasses

    from nca.config.dataclass_config import config_fields

    for spec in fields:
        name = prefix + spec.name
        if dataclasses.is_dataclass(spec.default):
            nested = type(spec.default)
            yield name, nested.__name__, f"see {name}.*", spec.doc
            subfields = [
                dataclasses.replace(sub, default=getattr(spec.default, sub.name))
                for sub in config_fields(nested)
            ]
            yield from _rows(subfields, name + ".")
            continue
        default = "(required)" if spec.default is MISSING else repr(spec.default)
        yield name, spec.type_name, default, spec.doc


def _fields_table(title: str, fields):
    """Two columns, so that an 80-column terminal shows everything: the option (never
    cut: it is what the user types) over its type and default, and the description."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=True)
    table.add_column("option: type = default")
    table.add_column("description", min_width=30, ratio=1)
    for name, type_name, default, doc in _rows(fields):
        option = Group(
            Text(name, style="bold", no_wrap=True, overflow="ignore"),
            Text(f"{type_name} = {default}", style="dim", overflow="fold"),
        )
        table.add_row(option, doc)
    return table


def _presets_table(family: str, presets, sep: str):
    from rich.table import Table

    table = Table(title="presets")
    table.add_column("preset", no_wrap=True, style="bold")
    table.add_column("settings")
    for preset, values in presets.items():
        settings = ", ".join(f"{k}={v!r}" for k, v in values.items())
        table.add_row(f"{family}{sep}{preset}", settings)
    return table


@click.command("info")
@click.argument("name")
def info_command(name: str) -> None:
    """Show the options (with defaults and docs) and presets of rule or task NAME, or what
    dataset NAME holds."""
    import difflib

    from nca.data import DATASETS
    from nca.registry import UnknownPluginError
    from nca.rules import RULES, rule_info, split_rule_name
    from nca.tasks import TASKS, task_info

    console = make_console()
    with user_errors():
        family, _ = split_rule_name(name)
        is_rule, is_task = family in RULES, name in TASKS
        dataset = name.partition(":")[0]
        is_dataset = dataset in DATASETS
        if not (is_rule or is_task or is_dataset):
            known = RULES.names() + TASKS.names() + DATASETS.names()
            close = difflib.get_close_matches(family, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownPluginError(
                f"no rule, task or dataset called {name!r} is installed.{hint} "
                f"Rules: {', '.join(RULES.names()) or 'none'}; "
                f"tasks: {', '.join(TASKS.names()) or 'none'}; "
                f"datasets: {', '.join(DATASETS.names()) or 'none'}."
            )
        if is_dataset and not (is_rule or is_task):
            _dataset_info(console, dataset, DATASETS)
        if is_rule:
            info = rule_info(family)
            kind = "CA update rule" if info.kind == "ca" else "feed-forward model"
            console.print(f"[bold]{info.name}[/bold] — {kind} from {info.provider} ({info.target})")
            console.print(info.summary)
            console.print(
                f"Override with -o rule.<option>=<value>; presets with --rule {info.name}:<preset>."
            )
            if info.presets:
                console.print(_presets_table(info.name, info.presets, ":"))
            console.print(_fields_table("rule options", info.fields))
        if is_task:
            info = task_info(name)
            console.print(f"[bold]{info.name}[/bold] — task from {info.provider} ({info.target})")
            console.print(info.summary)
            console.print(f"Trains rule kinds: {', '.join(info.rule_kinds)}.")
            experiments = TASKS.load(name).analysis_experiments()  # own, or the paper's
            if experiments:
                console.print(f"Experiments of `nca analyze`: {', '.join(experiments)}")
            if info.cli_options:
                flags = ", ".join(
                    info.cli_flags.get(o, "--" + o.replace("_", "-")) for o in info.cli_options
                )
                console.print(f"Options of `nca train --task {name}`: {flags}")
            if info.presets:
                console.print(_presets_table(info.name, info.presets, " --preset "))
                for preset, about in TASKS.load(name).preset_descriptions.items():
                    console.print(f"  {preset}: {about}")
            console.print(_fields_table("task options", info.fields))


def _dataset_info(console, name: str, registry) -> None:
    import inspect

    cls, entry = registry.load(name), registry.entry(name)
    spec = f"{name}:{cls.argument_name}" if cls.argument_name else name
    console.print(f"[bold]{spec}[/bold] — dataset from {entry.provider} ({entry.target})")
    console.print(inspect.getdoc(cls) or "")
    channels = "" if cls.argument_name else f"{cls(None).channels()} channel(s), "
    reads_root = not cls.argument_name and name != "embedded-mnist"
    root = " --data-root DIR" if reads_root else ""
    console.print(
        f"{channels}default image size {cls.default_image_size}; use with "
        f"`nca train ... --dataset {spec}{root}`."
    )
