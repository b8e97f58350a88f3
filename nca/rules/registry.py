"""The rule registry: ``register_rule``, ``create_rule``, ``list_rules``, ``rule_info``.

Rules are discovered from the ``nca.rules`` entry-point group. A name may carry
a preset, ``family:preset`` (e.g. ``vitca:32``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nca.config import FieldSpec, build_config, config_fields
from nca.registry import PluginRegistry, UnknownPluginError
from nca.rules.base import Rule, check_rule_class

RULES: PluginRegistry[type[Rule]] = PluginRegistry("nca.rules", "rule", check_rule_class)

#: Decorator / function adding a rule class under ``cls.name`` or ``name=``.
register_rule = RULES.register


def split_rule_name(name: str) -> tuple[str, str | None]:
    """``"vitca:32" -> ("vitca", "32")``; ``"vitca" -> ("vitca", None)``."""
    family, sep, preset = name.partition(":")
    if sep and not preset:
        raise UnknownPluginError(f"rule name {name!r} has an empty preset after ':'")
    return family, (preset if sep else None)


def get_rule_class(name: str) -> type[Rule]:
    """Load the rule class registered as ``name`` (a preset suffix is ignored)."""
    return RULES.load(split_rule_name(name)[0])


def list_rules(pattern: str = "*", *, kind: str | None = None, presets: bool = False) -> list[str]:
    """Registered rule names matching a glob ``pattern``.

    Args:
        pattern: ``fnmatch`` pattern, e.g. ``"vit*"``.
        kind: Keep only ``"ca"`` or ``"feedforward"`` rules (loads them).
        presets: Also list ``family:preset`` names (loads the rules).
    """
    names = RULES.names()
    if kind is None and not presets:
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    out = []
    for family in names:
        cls = RULES.load(family)
        if kind is not None and cls.kind != kind:
            continue
        candidates = [family] + ([f"{family}:{p}" for p in cls.presets] if presets else [])
        out.extend(n for n in candidates if fnmatch.fnmatchcase(n, pattern))
    return out


def resolve_rule_config(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    base: Any = None,
) -> tuple[type[Rule], Any]:
    """Rule class and config for ``name``: defaults < preset < ``base`` < ``overrides``.

    Raises:
        UnknownPluginError: unknown rule or preset.
        ConfigError: unknown or invalid override.
        TypeError: ``base`` is not an instance of the rule's ``config_class``.
    """
    family, preset = split_rule_name(name)
    cls = RULES.load(family)
    if base is not None and not isinstance(base, cls.config_class):
        raise TypeError(
            f"rule {family!r} needs a {cls.config_class.__name__} config, "
            f"got {type(base).__name__}: {base!r}"
        )
    config = cls.config_class() if base is None else base
    if preset is not None:
        if preset not in cls.presets:
            valid = ", ".join(f"{family}:{p}" for p in cls.presets) or "none"
            raise UnknownPluginError(f"rule {family!r} has no preset {preset!r}; presets: {valid}")
        if base is None:
            config = build_config(cls.config_class, cls.presets[preset], where=f"rule {name}")
    config = build_config(cls.config_class, overrides or {}, base=config, where="rule")
    return cls, config


def create_rule(name: str, config: Any = None, **overrides: Any) -> Rule:
    """Build a registered rule from its config: ``cls(config)`` (see :meth:`Rule.from_config`).

    The config is the rule class's defaults, updated by the preset (or replaced by
    ``config``), then by ``overrides``.

    Args:
        name: Registered name, optionally with a preset (``"vitca:32"``).
        config: Optional config instance replacing the defaults and preset.
        **overrides: Config fields to change (values are type-checked).

    Raises:
        UnknownPluginError: unknown rule or preset.
        ConfigError: unknown or invalid override.
        TypeError: ``config`` is not an instance of the rule's ``config_class``.

    Example:
        >>> rule = create_rule("convca", hidden_channels=8)
        >>> rule.layout.hidden_channels
        8
    """
    cls, config = resolve_rule_config(name, overrides, base=config)
    rule = cls.from_config(config)
    if not isinstance(getattr(rule, "config", None), cls.config_class):
        raise TypeError(
            f"{cls.__name__}.__init__ must call super().__init__(config), so rule.config "
            f"describes the rule; rule.config is {getattr(rule, 'config', None)!r}"
        )
    rule.rule_name = split_rule_name(name)[0]
    return rule


@dataclass(frozen=True)
class RuleInfo:
    """Everything ``nca info`` shows about a rule."""

    name: str
    kind: str
    summary: str
    provider: str
    target: str
    presets: Mapping[str, Mapping[str, Any]]
    fields: list[FieldSpec]
    #: Optional capabilities the rule declares (keys of ``nca.rules.CAPABILITIES``).
    capabilities: frozenset[str] = frozenset()


def rule_info(name: str) -> RuleInfo:
    """Describe a registered rule (loads it)."""
    family, _ = split_rule_name(name)
    cls = RULES.load(family)
    entry = RULES.entry(family)
    return RuleInfo(
        name=family,
        kind=cls.kind,
        summary=cls.summary(),
        provider=entry.provider,
        target=entry.target,
        presets=dict(cls.presets),
        fields=config_fields(cls.config_class),
        capabilities=frozenset(cls.capabilities),
    )
