"""Checking an objective's parameters: each a number of the right kind, or an InputError naming it."""

from __future__ import annotations

import math
import numbers
from typing import Any

from .exceptions import InputError


def is_number(value: Any) -> bool:
    """Whether `value` is a number (int or float) as JSON means it. Booleans are not: `true` in a
    JSON file is not a number, whatever Python thinks (bool is an int to Python)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """Whether `value` is a whole number as JSON means it (is_number: a bool is not one), numpy's
    integers among them (an id or a year read from an array)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def number(name: str, value: Any, where: str, *, above: float | None = None,
           at_least: float | None = None) -> float:
    """`value` as a finite float, > `above` / >= `at_least` when given (is_number: booleans are refused)."""
    if not is_number(value):
        raise InputError(f"{where}: `{name}` must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{where}: `{name}` must be finite, got {v!r}")
    if above is not None and not v > above:
        raise InputError(f"{where}: `{name}` must be > {above:g}, got {v!r}")
    if at_least is not None and not v >= at_least:
        raise InputError(f"{where}: `{name}` must be >= {at_least:g}, got {v!r}")
    return v


def choice(name: str, value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise InputError(f"{where}: `{name}` must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def unknown_keys(data: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    extra = sorted(set(data) - set(known))
    if extra:
        raise InputError(f"{where}: unknown parameter(s) {', '.join(extra)}; known: {', '.join(known)}")
