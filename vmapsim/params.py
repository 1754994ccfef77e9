"""Validation of user-facing parameters, shared by the CLI, the experiments and the widgets.

Each check returns the (normalised) value or raises :class:`~vmapsim.errors.ParameterError`
whose message names the parameter and what would have been valid.

>>> check_choice("design", "linux-6.18", ["linux-6.8", "linux-6.18"])
'linux-6.18'
>>> check_int("cpus", 4, lo=1, hi=1024)
4
>>> check_int("mask", "0x1f", hex_ok=True)
31
>>> check_float("rate", "0.25", 0, 1)
0.25

Text is read as ASCII only: ``int()`` and ``float()`` also accept other scripts' digits
(``'٣'``), underscores and ``inf``/``nan``, which are never what a user meant by a number here.
Seeds are integers in ``0..SEED_MAX`` (2**32 - 1) everywhere (:func:`check_seed`): every seed in
that range gives its own run, and a seed outside it is refused rather than reduced modulo
2**32 (which made ``--seed 0`` and ``--seed 4294967296`` the same run) or folded to its absolute
value (``random.Random(-1)`` is ``random.Random(1)``).
"""
from __future__ import annotations

import math
import numbers
import re
from typing import Iterable

from .errors import ParameterError

__all__ = ["check_choice", "check_int", "check_float", "check_seed", "check_fraction",
           "ParameterError", "SEED_MAX"]

#: the largest seed (seeds are 0..SEED_MAX; numpy's and the C library's seed range)
SEED_MAX = 2**32 - 1

_INT = re.compile(r"[+-]?[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def check_choice(name: str, value, valid: Iterable[str]) -> str:
    """Return *value* if it is one of *valid*, else raise naming *name* and listing the valid values."""
    valid = list(valid)
    if value not in valid:
        raise ParameterError(f"unknown {name} {_show(value)}; valid {name} values: "
                             f"{', '.join(map(str, valid))}")
    return value


def check_int(name: str, value, lo: int | None = None, hi: int | None = None,
              hex_ok: bool = False) -> int:
    """Return *value* as an int if it is an integer within [lo, hi] (either bound optional).

    Strings must be ASCII decimal digits with an optional sign (``0x...`` too with *hex_ok*)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        text = value.strip(" \t") if isinstance(value, str) else None
        if text is not None and _INT.fullmatch(text):
            value = int(text, 10)
        elif text is not None and hex_ok and _HEX.fullmatch(text):
            value = int(text, 16)
        else:
            what = "an integer (decimal" + (" or 0x hex" if hex_ok else "") + " digits)"
            raise ParameterError(f"{name} must be {what}, got {_show(value)}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParameterError(f"{name} must be {_range_text(lo, hi)}, got {value}")
    return value


def check_seed(name: str, value) -> int:
    """A seed: an integer in 0..SEED_MAX (see the module docstring)."""
    return check_int(name, value, lo=0, hi=SEED_MAX)


def check_float(name: str, value, lo: float | None = None, hi: float | None = None) -> float:
    """Return *value* as a finite float within [lo, hi] (either bound optional).

    NaN and infinities are refused; strings must be ASCII decimal numbers (``1.5``, ``2e-3``)."""
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip(" \t")):
        value = float(value.strip(" \t"))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a number, got {_show(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParameterError(f"{name} must be {_range_text(lo, hi)}, got {value}")
    return value


def check_fraction(name: str, value) -> float:
    """A fraction: a number in [0, 1]."""
    return check_float(name, value, 0.0, 1.0)


def _show(value) -> str:
    """repr() of *value*, cut to 60 characters (a bad parameter is named, never echoed in full)."""
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def _range_text(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"in {lo}..{hi}"
    if lo is not None:
        return f">= {lo}"
    return f"<= {hi}"
