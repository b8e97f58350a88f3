"""The ``nca train`` command line of a shipped model: written from a run's settings,
read back to train it again."""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping
from typing import Any


def changed_fields(base: Mapping[str, Any], recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``recorded`` that differ from ``base``, nested tables flattened to
    ``outer.inner`` keys (as ``-o fixed_point.tol=...`` spells them)."""
    changed: dict[str, Any] = {}
    for key, value in recorded.items():
        default = base.get(key)
        if isinstance(value, Mapping) and isinstance(default, Mapping):
            inner = changed_fields(default, value)
            changed.update({f"{key}.{k}": v for k, v in inner.items()})
        elif _plain(value) != _plain(default):
            changed[key] = value
    return changed


def _plain(value: Any) -> Any:
    """Tuples and lists compare alike (a JSON record holds lists)."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def format_value(value: Any) -> str:
    """A config value as ``-o key=VALUE`` writes it: ``true``, ``none``, ``800,1000``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)


def training_command(
    task: str,
    rule: str | None,
    *,
    preset: str | None,
    seed: int,
    task_values: Mapping[str, Any] | None = None,
    rule_values: Mapping[str, Any] | None = None,
    rule_fields: Collection[str] = (),
) -> str:
    """``nca train --task T --rule R --preset P --seed S -o key=value ...``.

    Args:
        task: Task name.
        rule: Rule name (``name[:preset]``), or ``None``.
        preset: Task preset, or ``None``.
        seed: Seed of the run.
        task_values: Task fields set over the preset (``-o key=value``).
        rule_values: Rule fields set over the resolved defaults (``-o rule.key=value``).
        rule_fields: The rule config's field names: a task field of the same name is
            written ``-o task.key=value``, which ``nca train`` needs to tell them apart
            (denoise's and ViTCA's ``image_size``).
    """
    words = ["nca", "train", "--task", task]
    words += ["--rule", rule] if rule else []
    words += ["--preset", preset] if preset else []
    words += ["--seed", str(seed)]
    for key, value in sorted((task_values or {}).items()):
        prefix = "task." if key in rule_fields else ""
        words += ["-o", f"{prefix}{key}={format_value(value)}"]
    for key, value in sorted((rule_values or {}).items()):
        words += ["-o", f"rule.{key}={format_value(value)}"]
    return shlex.join(words)


def command_arguments(command: str) -> list[str]:
    """The arguments of ``nca`` in a recorded command (``train --task ...``).

    Raises:
        ValueError: it is not an ``nca train`` command.
    """
    words = shlex.split(command)
    if words[:2] != ["nca", "train"]:
        raise ValueError(f"not an 'nca train' command: {command!r}")
    return words[1:]
