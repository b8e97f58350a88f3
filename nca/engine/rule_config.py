"""The one path from a rule name to the config of the rule a task trains.

``nca train``, :func:`nca.launch`, ``nca eval``, ``nca play``, ``nca export`` and
``nca analyze`` all resolve a rule's config here, so a task's settings apply the same way
everywhere. The order, lowest first: the rule's defaults, its own preset
(``vitca:32``), the task preset's rule defaults, the values the task decides from its
data (:meth:`nca.tasks.Task.rule_settings`), then the values the user gave (a config
file's ``[rule]`` table, ``-o rule.X=``). A user value that contradicts a value the task
decides is an error, never silently replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nca.errors import NCAError
from nca.rules import RULES, resolve_rule_config, split_rule_name

#: Key of a task preset's defaults for the rule's config.
PRESET_RULE_KEY = "rule"


class RuleConfigConflict(NCAError, ValueError):
    """A rule config value contradicts what the task decides from its data."""


@dataclass
class ResolvedRule:
    """A rule name and the config the task will train it with.

    Attributes:
        name: Registered name, optionally ``name:preset``.
        config: The rule's config instance.
        from_preset: Values the task preset's rule defaults set (for a note to the user).
    """

    name: str
    config: Any
    from_preset: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The registered name without its preset."""
        return split_rule_name(self.name)[0]


def preset_task_values(task_class: type, preset: str) -> dict[str, Any]:
    """The task-config part of a preset (without its rule defaults)."""
    return {k: v for k, v in task_class.presets[preset].items() if k != PRESET_RULE_KEY}


def preset_rule_values(
    task_class: type, preset: str | None, rule_name: str, fields: set[str]
) -> dict[str, Any]:
    """Defaults a task preset gives the config of rule ``rule_name`` (fields it has).

    ``"*"`` entries apply to every rule that has the field; an entry under the rule's
    own name wins over them.
    """
    if preset is None or preset not in task_class.presets:
        return {}
    part = task_class.presets[preset].get(PRESET_RULE_KEY, {})
    values = {k: v for k, v in part.get("*", {}).items() if k in fields}
    values.update(part.get(rule_name, {}))
    return values


def preset_rule_defaults(task: Any, rule: str) -> dict[str, Any]:
    """The rule-config defaults of the preset ``task`` was created with, for the fields
    rule ``rule`` has and its own preset does not set."""
    family, rule_preset = split_rule_name(rule)
    cls = RULES.load(family)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    own = set(cls.presets.get(rule_preset, {})) if rule_preset else set()
    values = preset_rule_values(type(task), getattr(task, "preset", None), family, fields)
    return {k: v for k, v in values.items() if k not in own}


def rule_fields(rule: str) -> set[str]:
    """The config field names of rule ``rule`` (``name[:preset]``)."""
    cls = RULES.load(split_rule_name(rule)[0])
    return {f.name for f in dataclasses.fields(cls.config_class)}


def resolve_task_rule(
    task: Any,
    rule: str,
    values: Mapping[str, Any] | None = None,
    *,
    config: Any = None,
) -> ResolvedRule:
    """The config of rule ``rule`` trained (or evaluated) on ``task``.

    Args:
        task: A configured :class:`nca.tasks.Task`.
        rule: Registered rule name, optionally ``name:preset``.
        values: Field values the user gave (config file, ``-o rule.X=``, or a stored
            run's config): they win over the presets.
        config: A config instance instead (``nca.launch(rule_config=...)``): the task's
            settings replace the fields it leaves at their defaults; a field it changed
            to another value than the task's is an error.

    Raises:
        RuleConfigConflict: a given value contradicts one the task decides.
        UnknownPluginError, ConfigError: unknown rule or preset, invalid value.
    """
    family = split_rule_name(rule)[0]
    check_class = getattr(task, "check_rule_class", None)
    if check_class is not None:  # a kind or dimension the task refuses: before any config
        check_class(RULES.load(family), family)
    implied = dict(task.rule_settings(rule_fields(rule)))
    if config is not None:  # the fields it changed from the defaults count as given
        _, config = resolve_rule_config(rule, base=config)
        defaults = type(config)()
        given = {k: getattr(config, k) for k in implied if _differs(config, defaults, k)}
        _check_agrees(config, implied, given, "rule_config")
        _, config = resolve_rule_config(rule, implied, base=config)
        return ResolvedRule(rule, config)
    values = dict(values or {})
    from_preset = {k: v for k, v in preset_rule_defaults(task, rule).items() if k not in values}
    _, config = resolve_rule_config(rule, {**from_preset, **implied, **values})
    _check_agrees(config, implied, values, "rule")
    return ResolvedRule(rule, config, from_preset)


def _check_agrees(
    config: Any, implied: Mapping[str, Any], given: Mapping[str, Any], where: str
) -> None:
    """Every value the task decides, that was also ``given``, holds in ``config``."""
    for key, value in implied.items():
        if key in given and _normal(getattr(config, key)) != _normal(value):
            raise RuleConfigConflict(
                f"{where}.{key}={_shown(given[key])} conflicts with the task, which sets "
                f"{key}={value} from its data (e.g. --image-size); leave {where}.{key} unset"
            )


def _differs(config: Any, defaults: Any, key: str) -> bool:
    return _normal(getattr(config, key)) != _normal(getattr(defaults, key))


def _normal(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _shown(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)
