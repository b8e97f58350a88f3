"""``-o key=value`` overrides and config files (TOML or JSON).

Keys may be qualified with the section they belong to (``rule.hidden_channels``,
``task.batch_size``); an unqualified key goes to whichever section has a field
of that name, and is an error if both or neither do.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nca.config.dataclass_config import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS = ("rule", "task")
TOP_LEVEL_KEYS = ("seed", "device", "run_dir")


def parse_override(text: str) -> tuple[str, str]:
    """Split ``key=value``; the value stays a string (typed later per field)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. rule.depth=2)")
    return key, value.strip()


def route_overrides(
    overrides: Iterable[str], fields_by_section: Mapping[str, Iterable[str]]
) -> dict[str, dict[str, str]]:
    """Group ``key=value`` strings by section.

    Args:
        overrides: Raw ``key=value`` strings.
        fields_by_section: Section name -> its field names.

    Returns:
        Section -> {field: raw value}.
    """
    fields = {s: set(f) for s, f in fields_by_section.items()}
    routed: dict[str, dict[str, str]] = {s: {} for s in fields}
    for text in overrides:
        key, value = parse_override(text)
        section, dot, name = key.partition(".")
        if dot and section in fields:
            routed[section][name] = value
            continue
        # ``fixed_point.tol`` belongs to the section with a ``fixed_point`` field
        owners = [s for s, names in fields.items() if key in names or section in names]
        if len(owners) > 1:
            raise ConfigError(
                f"override {key!r} is ambiguous: both {' and '.join(owners)} have it; "
                f"write {' or '.join(f'{s}.{key}' for s in owners)}"
            )
        if not owners:
            every = sorted(f"{s}.{n}" for s, names in fields.items() for n in names)
            bare = [n for names in fields.values() for n in names]
            close = difflib.get_close_matches(key, every + bare, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown override {key!r}.{hint} Valid keys: {', '.join(every)}")
        routed[owners[0]][key] = value
    return routed


def load_config_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a ``.toml`` or ``.json`` run config.

    Layout (every part optional)::

        seed = 0                 # also: device, run_dir
        [rule]
        name = "convca:tiny"     # rule name, with an optional preset
        hidden_channels = 8      # any rule config field
        [task]
        name = "denoise"
        preset = "quick"         # a task preset
        batch_size = 8           # any task config field

    Returns:
        ``{"names": {...}, "rule": {...}, "task": {...}}`` where ``names`` holds
        ``rule``, ``task``, ``preset``, ``seed``, ``device`` and ``run_dir`` when given.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            data = tomllib.loads(path.read_text())
    except (ValueError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot parse config file {str(path)!r}: {err}") from err
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"config file {str(path)!r}: the top level must be a table ([rule], [task], "
            f"{', '.join(TOP_LEVEL_KEYS)}), got {_shape(data)}"
        )
    out: dict[str, dict[str, Any]] = {"names": {}, "rule": {}, "task": {}}
    for key, value in data.items():
        if key in SECTIONS:
            _read_section(path, key, value, out)
        elif key in TOP_LEVEL_KEYS:
            out["names"][key] = value
        else:
            raise ConfigError(
                f"{str(path)!r}: unknown top-level key {key!r}; valid: [rule], [task], "
                f"{', '.join(TOP_LEVEL_KEYS)}"
            )
    return out


def _read_section(path: Path, key: str, value: Any, out: dict[str, dict[str, Any]]) -> None:
    """Put table ``[key]`` into ``out``; its ``name`` (and the task's ``preset``) into
    ``out["names"]``. Every one of them must be of the right shape."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"config file {str(path)!r}: {key} must be a table ([{key}] with its fields), "
            f"got {_shape(value)}"
        )
    table = dict(value)
    for name in ("name", "preset") if key == "task" else ("name",):
        if name in table:
            given = table.pop(name)
            if not isinstance(given, str) or not given:
                raise ConfigError(
                    f"config file {str(path)!r}: [{key}] {name} must be a non-empty string "
                    f'(e.g. {name} = "{_EXAMPLES[key, name]}"), got {given!r}'
                )
            out["names"]["preset" if name == "preset" else key] = given
    out[key] = table


#: What an example of each named entry looks like, for error messages.
_EXAMPLES = {("rule", "name"): "vitca", ("task", "name"): "denoise", ("task", "preset"): "quick"}


def _shape(value: Any) -> str:
    """``a list ([1, 2])``: what a value is, for an error that expected another shape."""
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__} ({shown})"
