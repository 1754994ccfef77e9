"""Validation of user-facing parameters, shared by the CLI, the experiments and the widgets.

Each check returns the (normalised) value or raises :class:`~vmapsim.errors.ParameterError`
whose message names the parameter and what would have been valid.

>>> check_choice("design", "linux-6.18", ["linux-6.8", "linux-6.18"])
'linux-6.18'
>>> check_int("cpus", 4, lo=1, hi=1024)
4
"""
from __future__ import annotations

import numbers
from typing import Iterable

from .errors import ParameterError

__all__ = ["check_choice", "check_int", "check_float", "ParameterError"]


def check_choice(name: str, value, valid: Iterable[str]) -> str:
    """Return *value* if it is one of *valid*, else raise naming *name* and listing the valid values."""
    valid = list(valid)
    if value not in valid:
        raise ParameterError(f"unknown {name} {value!r}; valid {name} values: {', '.join(map(str, valid))}")
    return value


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return *value* as an int if it is an integer within [lo, hi] (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            value = int(value)
        else:
            raise ParameterError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParameterError(f"{name} must be {_range_text(lo, hi)}, got {value}")
    return value


def check_float(name: str, value, lo: float | None = None, hi: float | None = None) -> float:
    """Return *value* as a float within [lo, hi] (either bound optional); NaN is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParameterError(f"{name} must be {_range_text(lo, hi)}, got {value}")
    return value


def _range_text(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"in {lo}..{hi}"
    if lo is not None:
        return f">= {lo}"
    return f"<= {hi}"
