"""CLI options a task contributes to ``nca train``, generated from its config fields.

A task lists config field names in ``cli_options``; each becomes a
``--field-name`` option whose type, choices and help come from the field's
annotation and docstring. An option left out keeps the config's value (``None``
means "not given").
"""

from __future__ import annotations

from dataclasses import MISSING
from typing import Any, Literal, get_args, get_origin

import click

from nca.config.dataclass_config import FieldSpec, config_fields, type_name

#: Prefix of the destination names of task options in click's params.
PARAM_PREFIX = "task_opt__"
#: Engine fields offered on every task whose config has them (``--gradient fixed-point``,
#: ``--compile``, ``--sparse-update``).
ENGINE_CLI_OPTIONS = ("gradient", "compile", "sparse_update")


def _click_type(spec: FieldSpec) -> Any:
    tp = spec.type
    if get_origin(tp) is Literal:
        return click.Choice([str(c) for c in get_args(tp)])
    if tp in (int, float):
        return tp
    return str  # coerced later by nca.config with the full type


def option_for_field(spec: FieldSpec, flag: str | None = None) -> click.Option:
    """A click option for one config field (``flag`` overrides ``--field-name``)."""
    flag = flag or "--" + spec.name.replace("_", "-")
    default = "" if spec.default is MISSING else f" [default: {spec.default!r}]"
    help_text = f"{spec.doc or spec.name} ({type_name(spec.type)}){default}"
    if spec.type is bool:
        return click.Option(
            [f"{flag}/--no-{flag[2:]}", PARAM_PREFIX + spec.name], default=None, help=help_text
        )
    return click.Option(
        [flag, PARAM_PREFIX + spec.name], type=_click_type(spec), default=None, help=help_text
    )


def task_cli_options(task_class: type) -> list[click.Option]:
    """Options for the fields listed in ``task_class.cli_options``, and the engine's
    :data:`ENGINE_CLI_OPTIONS` where the task's config has them."""
    specs = {s.name: s for s in config_fields(task_class.config_class)}
    flags = getattr(task_class, "cli_flags", {})
    names = list(task_class.cli_options)
    names += [n for n in ENGINE_CLI_OPTIONS if n in specs and n not in names]
    return [option_for_field(specs[name], flags.get(name)) for name in names]


def given_task_options(params: dict[str, Any]) -> dict[str, Any]:
    """Task option values the user actually gave, keyed by config field."""
    return {
        key[len(PARAM_PREFIX) :]: value
        for key, value in params.items()
        if key.startswith(PARAM_PREFIX) and value is not None
    }


def peek_option(args: list[str], *flags: str) -> str | None:
    """Value of the last ``--flag VALUE``, ``--flag=VALUE`` or ``-fVALUE`` in raw ``args``."""
    value = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        for flag in flags:
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif flag.startswith("--") and arg.startswith(flag + "="):
                value = arg.split("=", 1)[1]
            elif len(flag) == 2 and arg.startswith(flag) and len(arg) > 2:
                value = arg[2:]
    return value
