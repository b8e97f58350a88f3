"""The task registry: tasks are discovered from the ``nca.tasks`` entry-point group."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nca.config import FieldSpec, build_config, config_fields
from nca.engine.rule_config import preset_task_values
from nca.registry import PluginRegistry, UnknownPluginError
from nca.tasks.base import Task, check_task_class

TASKS: PluginRegistry[type[Task]] = PluginRegistry("nca.tasks", "task", check_task_class)

#: Decorator / function adding a task class under ``cls.name`` or ``name=``.
register_task = TASKS.register


def get_task_class(name: str) -> type[Task]:
    """Load the task class registered as ``name``."""
    return TASKS.load(name)


def list_tasks(pattern: str = "*") -> list[str]:
    """Registered task names matching a glob ``pattern``; imports nothing."""
    return [n for n in TASKS.names() if fnmatch.fnmatchcase(n, pattern)]


def resolve_task_config(
    name: str, overrides: Mapping[str, Any] | None = None, *, preset: str | None = None
) -> tuple[type[Task], Any]:
    """Task class and config: defaults < preset < overrides."""
    cls = TASKS.load(name)
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in cls.presets:
            valid = ", ".join(cls.presets) or "none"
            raise UnknownPluginError(f"task {name!r} has no preset {preset!r}; presets: {valid}")
        values.update(preset_task_values(cls, preset))
    values.update(overrides or {})
    return cls, build_config(cls.config_class, values, where="task")


def create_task(name: str, *, preset: str | None = None, **overrides: Any) -> Task:
    """Build a registered task with its config (defaults < ``preset`` < ``overrides``).

    The task remembers ``preset``, so :func:`nca.launch` gives a rule it builds from a
    name the preset's rule defaults (``presets[preset]["rule"]``), as ``nca train`` does.
    """
    cls, config = resolve_task_config(name, overrides, preset=preset)
    task = cls(config)
    task.name = name  # the registered name wins: checkpoints record it, `nca eval` finds it
    task.preset = preset
    return task


@dataclass(frozen=True)
class TaskInfo:
    """Everything ``nca info`` shows about a task."""

    name: str
    summary: str
    provider: str
    target: str
    rule_kinds: tuple[str, ...]
    cli_options: tuple[str, ...]
    cli_flags: Mapping[str, str]
    presets: Mapping[str, Mapping[str, Any]]
    fields: list[FieldSpec]


def task_info(name: str) -> TaskInfo:
    """Describe a registered task (loads it)."""
    cls = TASKS.load(name)
    entry = TASKS.entry(name)
    return TaskInfo(
        name=name,
        summary=cls.summary(),
        provider=entry.provider,
        target=entry.target,
        rule_kinds=tuple(sorted(cls.rule_kinds)),
        cli_options=tuple(cls.cli_options),
        cli_flags=dict(cls.cli_flags),
        presets=dict(cls.presets),
        fields=config_fields(cls.config_class),
    )
