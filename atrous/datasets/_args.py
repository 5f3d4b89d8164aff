"""Argument checks shared by the generators (each error names the argument, its value and the range)."""

from __future__ import annotations

import math

from atrous.datasets.dense import _check_float
from atrous.errors import SpecError


def check_range(name: str, value: object, low: float, high: float = math.inf) -> tuple[float, float]:
    """A range ``(a, b)`` of numbers with ``low < a <= b < high``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or len(value) != 2:
        raise SpecError(f"{name} must be a pair (low, high) with {low:g} < low <= high < {high:g}, got {value!r}")
    a = _check_float(f"{name}[0]", value[0], low, high, low_open=True, high_open=True)
    b = _check_float(f"{name}[1]", value[1], low, high, low_open=True, high_open=True)
    if b < a:
        raise SpecError(f"{name}[1] must be >= {name}[0] = {a:g} (and < {high:g}), got {b:g}")
    return a, b
