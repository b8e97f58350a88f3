"""The ``-o`` options of experiments: what values they take, checked before any work.

Every experiment (the paper's and the tasks') follows the same conventions, so one
check serves them all:

* an integer option (steps, counts, factors, scales, every-n) is at least 1, or at
  least 0 where its default is 0 (0 then means "the task's default", e.g. ``steps``);
* every integer of a tuple option (noise patch sizes, ``damage_at`` steps) is at least 1;
* a float option is finite and at least 0; ``coverage`` is a fraction in [0, 1], each of
  ``rates`` (σ) in (0, 1] and ``tolerance_db`` above 0.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Mapping
from typing import Any

#: Float options with their own range: name -> (low, high, low included).
FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {
    "coverage": (0.0, 1.0, True),
    "rates": (0.0, 1.0, False),
    "tolerance_db": (0.0, math.inf, False),
}


def _ints(value: Any) -> list[int]:
    """The integers in ``value`` (an int or nested tuples of ints)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, (tuple, list)):
        return [n for item in value for n in _ints(item)]
    return []


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, (tuple, list)):
        return [x for item in value for x in _floats(item)]
    return []


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_show(v) for v in value)
    return str(value)


def _check_ints(experiment: str, name: str, value: Any, default: Any) -> None:
    lowest = (
        0 if (isinstance(default, int) and not isinstance(default, bool) and default == 0) else 1
    )
    bad = [n for n in _ints(value) if n < lowest]
    if bad:
        zero = " (0: the task's default)" if lowest == 0 else ""
        raise ValueError(
            f"{experiment}: {name}={_show(value)} must be {'>= 0' if lowest == 0 else '>= 1'}"
            f"{zero}; got {bad[0]}"
        )


def _check_floats(experiment: str, name: str, value: Any) -> None:
    low, high, closed = FLOAT_RANGES.get(name, (0.0, math.inf, True))
    for x in _floats(value):
        inside = math.isfinite(x) and (x >= low if closed else x > low) and x <= high
        if not inside:
            span = f"{'[' if closed else '('}{low:g}, {high:g}]" if high < math.inf else (
                f"{'>=' if closed else '>'} {low:g}"
            )  # fmt: skip
            raise ValueError(f"{experiment}: {name}={_show(value)} must be in {span}; got {x}")


def check_options(experiment: str, function: Callable, options: Mapping[str, Any]) -> None:
    """Refuse, in one line naming the option and its valid range, a value of ``options``
    (already coerced to the types of ``function``'s keyword-only parameters) that the
    experiment cannot run with."""
    parameters = inspect.signature(function).parameters
    hints = typing.get_type_hints(function)
    for name, value in options.items():
        if name not in parameters:
            continue  # unknown options are refused by the caller, with the valid ones
        hint = str(hints.get(name, ""))
        if "float" in hint or isinstance(value, float):
            _check_floats(experiment, name, value)
        else:
            _check_ints(experiment, name, value, parameters[name].default)
