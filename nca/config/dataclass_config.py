"""Typed dataclass configs: build from plain values, validate, describe.

Configs are ``@dataclass`` classes whose fields match a constructor's keyword
arguments. Values from TOML files or ``-o key=value`` strings are coerced to
the field's annotated type, and errors name the field, the bad value and what
would be valid. Field documentation is read from the class docstring's
Google-style ``Attributes:`` section, so code, ``nca info`` and the API docs
share one source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

_NONE_WORDS = {"none", "null"}
_TRUE_WORDS = {"true", "yes", "on", "1"}
_FALSE_WORDS = {"false", "no", "off", "0"}


class ConfigError(ValueError):
    """A config value or key is invalid; the message says what would be valid."""


@dataclass(frozen=True)
class FieldSpec:
    """One config field, for help texts and ``nca info``."""

    name: str
    type: Any
    default: Any
    doc: str

    @property
    def type_name(self) -> str:
        return type_name(self.type)

    @property
    def required(self) -> bool:
        return self.default is MISSING


def type_name(tp: Any) -> str:
    """Readable name of an annotation, e.g. ``int``, ``'zeros' | 'circular'``."""
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in get_args(tp))
    if origin in (tuple, list):
        args = ", ".join("..." if a is Ellipsis else type_name(a) for a in get_args(tp))
        return f"{origin.__name__}[{args}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def field_docs(cls: type) -> dict[str, str]:
    """Parse ``name (type): text`` entries of the docstrings' ``Attributes:`` sections,
    base classes first (a config that extends another, e.g. a task's config extending
    ``nca.engine.TrainerConfig``, inherits the docs of the fields it inherits)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is not object and dataclasses.is_dataclass(klass):
            docs.update(_own_field_docs(klass))
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
    doc = cls.__doc__ or ""
    doc = inspect.cleandoc(doc) if doc else ""
    docs: dict[str, str] = {}
    in_section, current = False, None
    for line in doc.splitlines():
        if re.match(r"^(Attributes|Args):\s*$", line):
            in_section, current = True, None
            continue
        if in_section:
            if line and not line.startswith(" "):
                in_section = False  # next section
                continue
            entry = re.match(r"^ {2,4}(\w+)(?: \([^)]*\))?:\s*(.*)$", line)
            if entry:
                current = entry.group(1)
                docs[current] = entry.group(2).strip()
            elif current and line.strip():
                docs[current] += " " + line.strip()
    return docs


def config_fields(cls: type) -> list[FieldSpec]:
    """The fields of a config dataclass with resolved types, defaults and docs."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass config")
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        specs.append(FieldSpec(f.name, hints.get(f.name, Any), default, docs.get(f.name, "")))
    return specs


def _fail(where: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{where}: expected {expected}, got {value!r}")


def _split_sequence(value: Any) -> list[Any] | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        text = value.strip().strip("()[]")
        return [p.strip() for p in re.split(r"[,x×]", text) if p.strip()] if text else []
    return None


def coerce(value: Any, tp: Any, where: str = "value") -> Any:
    """Convert ``value`` (a TOML value or a command-line string) to annotation ``tp``.

    Raises:
        ConfigError: naming ``where``, the value and the expected type.
    """
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin is Literal:
        return _coerce_literal(value, tp, where)
    if origin in (Union, types.UnionType):
        return _coerce_union(value, tp, where)
    if origin in (tuple, list):
        return _coerce_sequence(value, tp, where)
    if _is_config_class(tp):
        return _coerce_config(value, tp, where)
    if isinstance(tp, type) and tp in _SCALARS:
        return _SCALARS[tp](value, where)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _fail(where, value, type_name(tp))


def _coerce_literal(value: Any, tp: Any, where: str) -> Any:
    choices = get_args(tp)
    for choice in choices:
        if value == choice or (isinstance(value, str) and value == str(choice)):
            return choice
    raise ConfigError(f"{where}: {value!r} is not one of {', '.join(repr(c) for c in choices)}")


def _coerce_union(value: Any, tp: Any, where: str) -> Any:
    """The first member type ``value`` converts to (``none``/``null`` for ``None``)."""
    args = get_args(tp)
    if type(None) in args and (
        value is None or (isinstance(value, str) and value.lower() in _NONE_WORDS)
    ):
        return None
    for arg in args:
        if arg is type(None):
            continue
        try:
            return coerce(value, arg, where)
        except ConfigError:
            pass  # the error names the union, not the member that came closest
    raise _fail(where, value, type_name(tp))


def _split_outer(text: str) -> list[str] | None:
    """The top-level items of ``"4x1,1x4"``, ``"(4,1),(1,4)"`` or ``"[[4,1],[1,4]]"``
    (a sequence of sequences); ``None`` when brackets do not pair up."""
    text = text.strip()
    while len(text) >= 2 and text[0] + text[-1] in ("()", "[]") and _pairs(text[1:-1]):
        text = text[1:-1].strip()
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += char in "(["
        depth -= char in ")]"
        if depth < 0:
            return None
        if char == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if depth:
        return None
    items.append(text[start:].strip())
    return [item for item in items if item]


def _pairs(text: str) -> bool:
    """Whether every bracket of ``text`` closes one opened before it."""
    depth = 0
    for char in text:
        depth += char in "(["
        depth -= char in ")]"
        if depth < 0:
            return False
    return depth == 0


def _coerce_sequence(value: Any, tp: Any, where: str) -> tuple | list:
    """A list, ``tuple[X, ...]`` or fixed-length tuple, from a sequence or ``"3x3"``/``"3,5"``;
    a sequence of sequences from ``"4x1,1x4"``, ``"(4,1),(1,4)"`` or ``"[[4,1],[1,4]]"``."""
    args = get_args(tp)
    nested = bool(args) and get_origin(args[0]) in (tuple, list)
    items = _split_outer(value) if nested and isinstance(value, str) else _split_sequence(value)
    if items is None:
        raise _fail(where, value, type_name(tp))
    if nested and isinstance(value, str):
        try:
            return _coerce_items(items, tp, where)
        except ConfigError as err:
            raise ConfigError(f"{err} (a sequence of sequences reads as 4x1,1x4)") from None
    return _coerce_items(items, tp, where)


def _joined(items: list[Any]) -> Any:
    """The value an error names: a one-item list's item, else the items joined by commas."""
    if len(items) == 1:
        return items[0]
    return ",".join(str(item) for item in items)


def _coerce_items(items: list[Any], tp: Any, where: str) -> tuple | list:
    origin, args = get_origin(tp), get_args(tp)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(items) != len(args):
            raise _fail(where, _joined(items), f"{type_name(tp)} ({len(args)} values)")
        pairs = enumerate(zip(items, args, strict=True))
        out = [coerce(v, a, f"{where}[{i}]") for i, (v, a) in pairs]
    else:
        item_tp = args[0] if args else Any
        out = [coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(items)]
    return tuple(out) if origin is tuple else out


def _coerce_config(value: Any, tp: type, where: str) -> Any:
    if isinstance(value, tp):
        return value
    if not isinstance(value, Mapping):
        raise _fail(where, value, f"a table of {tp.__name__} fields")
    return build_config(tp, value, where=where)


def _coerce_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.lower() in _TRUE_WORDS
    raise _fail(where, value, "a boolean (true/false)")


def _coerce_int(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value.strip().replace("_", ""))
    raise _fail(where, value, "an integer")


def _coerce_float(value: Any, where: str) -> float:
    """A finite float: ``inf``, ``nan`` and overflowing ``1e999`` set no training
    quantity (a learning rate, a weight, a tolerance) to anything but NaN weights."""
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int too large for a float
            number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value)
    if number is None:
        raise _fail(where, value, "a number")
    if not math.isfinite(number):
        raise _fail(where, value, "a finite number (not inf or nan)")
    return number


def _coerce_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    raise _fail(where, value, "a string")


def _coerce_path(value: Any, where: str) -> Path:
    if isinstance(value, (str, Path)):
        return Path(value)
    raise _fail(where, value, "a path")


#: Converters of the plain annotations, ``(value, where) -> value``.
_SCALARS: dict[Any, Callable[[Any, str], Any]] = {
    bool: _coerce_bool,
    int: _coerce_int,
    float: _coerce_float,
    str: _coerce_str,
    Path: _coerce_path,
}


def unknown_key_error(key: str, known: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{where}: unknown option {key!r}.{hint} Valid options: {', '.join(known)}")


def _is_config_class(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def build_config(
    cls: type,
    values: Mapping[str, Any] | None = None,
    *,
    base: Any = None,
    where: str | None = None,
) -> Any:
    """Instantiate config ``cls`` from plain ``values`` over ``base`` (or the defaults).

    Args:
        cls: A config dataclass.
        values: Field name -> value (TOML value or string); coerced per field type. A
            field that is itself a config dataclass takes a table, or its sub-fields one
            by one as ``field.sub_field`` keys (over ``base``'s or the default value).
        base: Optional instance whose values are the starting point.
        where: Prefix for error messages (e.g. ``"rule"``).

    Raises:
        ConfigError: unknown key (with the closest valid one), bad value, or a
            validation error raised by the config's ``__post_init__``.
    """
    where = where or cls.__name__
    specs = {s.name: s for s in config_fields(cls)}
    kwargs: dict[str, Any] = {}
    if base is not None:
        kwargs.update({name: getattr(base, name) for name in specs})
    nested: dict[str, dict[str, Any]] = {}
    for key, value in (values or {}).items():
        head, dot, rest = key.partition(".")
        if dot and head in specs and _is_config_class(specs[head].type):
            nested.setdefault(head, {})[rest] = value  # fixed_point.tol=...: one sub-field
            continue
        if key not in specs:
            raise unknown_key_error(key, list(specs), where)
        kwargs[key] = coerce(value, specs[key].type, f"{where}.{key}")
    for head, sub_values in nested.items():
        current = kwargs.get(head, specs[head].default)
        current = None if current is MISSING else current
        kwargs[head] = build_config(
            specs[head].type, sub_values, base=current, where=f"{where}.{head}"
        )
    missing = [n for n, s in specs.items() if s.required and n not in kwargs]
    if missing:
        raise ConfigError(f"{where}: missing required option(s): {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: {err}") from err


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain, TOML/JSON-friendly dict of a config (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)
