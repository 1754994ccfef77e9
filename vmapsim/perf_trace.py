"""Replaying a real trace's operation mix in the performance model (``--workload trace:<name>``).

A trace in ``data/traces/`` (captured by ``vmapsim capture``, issue 4) is a tracefs log of the
``vmalloc`` events.  The performance model does not replay addresses (``vmapsim replay`` does
that); it replays the *operation mix*: the sequence of ``alloc_vmap_area`` requests (size,
alignment, whether the request spans the whole vmalloc range) and of
``free_vmap_area_noflush`` events, each free matched to the allocation it releases.  Every
simulated worker replays that sequence (worker *w* starts at a different offset, so workers
are not in lock-step), keeping the trace's lifetimes: an area is freed when the trace frees it.
One op is one trace event.

Areas that were live before tracing started and are freed during it are skipped (the trace
has no allocation for them); allocations outside the standard range are replayed as standard
ones (the Design interface's ``alloc_vmap_area`` gets the default range).
"""
from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from functools import lru_cache

from .errors import ParameterError, TraceError
from .paths import TRACES_DIR
from .vmap_area import PAGE_SIZE

_ALLOC = re.compile(r"alloc_vmap_area:\s+va_start=(?:0x)?([0-9a-fA-F]+)\s+size=(\d+)\s+align=(\d+)"
                    r"\s+vstart=(?:0x)?([0-9a-fA-F]+)\s+vend=(?:0x)?([0-9a-fA-F]+)\s+failed=(\d+)")
_FREE = re.compile(r"free_vmap_area_noflush:\s+va_start=(?:0x)?([0-9a-fA-F]+)")
_SUFFIXES = (".trace", ".trace.gz", ".txt", ".txt.gz")


@dataclass(frozen=True)
class OpMix:
    """The operation sequence of one trace: ``("alloc", pages, align)`` / ``("free", k)`` where
    *k* is the index of the allocation (in this list's allocation order) it frees."""
    name: str
    ops: tuple
    allocs: int
    frees: int


def trace_files() -> dict:
    """name -> path of every trace in ``data/traces/``."""
    out = {}
    if TRACES_DIR.is_dir():
        for p in sorted(TRACES_DIR.rglob("*")):
            for suf in _SUFFIXES:
                if p.name.endswith(suf) and p.is_file():
                    out[p.name[: -len(suf)]] = p
    return out


def trace_names() -> list[str]:
    return list(trace_files())


def _open(path):
    return gzip.open(path, "rt", errors="replace") if str(path).endswith(".gz") else \
        open(path, errors="replace")


@lru_cache(maxsize=8)
def load_mix(name: str) -> OpMix:
    """Parse the trace *name* into its operation mix (unknown names list the valid ones)."""
    files = trace_files()
    if name not in files:
        raise ParameterError(f"unknown trace {name!r}; valid trace names: "
                             f"{', '.join(files) or '(none in data/traces/)'}")
    path = files[name]
    ops, live, allocs, frees = [], {}, 0, 0
    with _open(path) as f:
        for lineno, line in enumerate(f, 1):
            if "alloc_vmap_area:" in line:
                m = _ALLOC.search(line)
                if not m:
                    raise TraceError(path, lineno, "malformed alloc_vmap_area event")
                start, size, align, _, _, failed = m.groups()
                if int(failed):
                    continue
                pages = max(1, int(size) // PAGE_SIZE - 1)     # size includes the guard page
                live[int(start, 16)] = allocs
                ops.append(("alloc", pages, max(PAGE_SIZE, int(align))))
                allocs += 1
            elif "free_vmap_area_noflush:" in line:
                m = _FREE.search(line)
                if not m:
                    raise TraceError(path, lineno, "malformed free_vmap_area_noflush event")
                k = live.pop(int(m.group(1), 16), None)
                if k is not None:
                    ops.append(("free", k))
                    frees += 1
    if not allocs:
        raise TraceError(path, 0, "no alloc_vmap_area events")
    return OpMix(name, tuple(ops), allocs, frees)


def replay_workload(spec, rng, worker: int):
    """Worker generator: replay ``spec.trace`` for ``spec.loops`` events, then free leftovers."""
    mix = spec.trace
    ops = mix.ops
    n = len(ops)
    start = (worker * 7919) % n if n else 0
    addr_of = {}                  # (pass, allocation index) -> address
    base = 0
    alloc_k = sum(1 for o in ops[:start] if o[0] == "alloc")
    i = start
    for counted in [False] * spec.warmup + [True] * spec.loops:
        op = ops[i]
        if op[0] == "alloc":
            p = yield ("alloc", op[1], op[2])
            if p is not None:
                addr_of[(base, alloc_k)] = p
            alloc_k += 1
        else:
            p = addr_of.pop((base, op[1]), None) or addr_of.pop((base - 1, op[1]), None)
            if p is not None:
                yield ("free", p)
        yield ("end", counted)
        i += 1
        if i == n:
            i, base, alloc_k = 0, base + 1, 0
    for p in addr_of.values():
        yield ("free", p)
    return True
