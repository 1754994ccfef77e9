"""Which captures the repository ships, and how a trace is named: the one place for both.

A capture is a directory holding a recording of the ``vmalloc:*`` events (``vmapsim capture``
writes ``trace.txt``; any form :mod:`vmapsim.traces.formats` reads, under any name, will do)
and the ``/proc/vmallocinfo`` snapshots taken around it.  The captures in
``data/traces/`` are named by their directory; anywhere a trace is asked for, a reader may also
give the path of a capture directory of their own.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ParameterError
from ..paths import TRACES_DIR
from .formats import find_recordings

__all__ = ["KINDS", "RECORDING_NAMES", "capture_dirs", "has_capture", "kind_captures", "trace_dir",
           "trace_names"]

#: file names of the recording ``vmapsim capture`` writes (other names are found by content)
RECORDING_NAMES = ("trace.txt", "trace.txt.gz")


def has_capture(directory) -> bool:
    """True if *directory* holds a recording (of any form, under any name)."""
    d = Path(directory)
    if not d.is_dir():
        return False
    if any((d / n).exists() for n in RECORDING_NAMES):
        return True
    return bool(find_recordings(d))


def capture_dirs() -> dict[str, Path]:
    """name -> directory of every capture in ``data/traces/``, in name order."""
    if not TRACES_DIR.is_dir():
        return {}
    return {d.name: d for d in sorted(TRACES_DIR.iterdir()) if has_capture(d)}


#: ``data/traces/<set>/<kind>-...``: captures of each kind kept to score the replay's inference of
#: hidden state (``tuning``: used while building it; ``held-out``: replayed only once it was done)
KINDS = ("drained", "undrained", "dirty")
_SETS = ("tuning", "held-out")


def kind_captures() -> list[tuple[str, str, str, Path]]:
    """``(set, kind, name, directory)`` of the captures under ``data/traces/tuning`` and
    ``data/traces/held-out`` (not among :func:`trace_names`: they are scored, not used as
    workloads)."""
    out = []
    for st in _SETS:
        d = TRACES_DIR / st
        if not d.is_dir():
            continue
        for c in sorted(d.iterdir()):
            kind = c.name.split("-", 1)[0]
            if kind in KINDS and has_capture(c):
                out.append((st, kind, c.name, c))
    return out


def _size(d: Path) -> int:
    named = [d / n for n in RECORDING_NAMES if (d / n).exists()]
    return sum(p.stat().st_size for p in named or [p for p, _ in find_recordings(d)[:1]])


def trace_names(order: str = "name") -> list[str]:
    """Names of the shipped captures, by name (``order="name"``) or smallest recording first
    (``order="size"``, what quick runs take the first of)."""
    dirs = capture_dirs()
    if order == "size":
        return sorted(dirs, key=lambda n: (_size(dirs[n]), n))
    if order != "name":
        raise ParameterError(f"order must be 'name' or 'size', got {order!r}")
    return list(dirs)


def trace_dir(trace) -> Path:
    """``data/traces/<trace>`` for a shipped name, else *trace* as a capture directory; a
    ParameterError lists the shipped names otherwise."""
    dirs = capture_dirs()
    if str(trace) in dirs:
        return dirs[str(trace)]
    q = Path(str(trace)).expanduser()
    if has_capture(q):
        return q
    raise ParameterError(f"unknown trace {trace!r}; valid trace values: {', '.join(dirs) or '(none)'} "
                         "or a capture directory (vmapsim capture DIR)")
