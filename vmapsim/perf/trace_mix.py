"""Replaying a real trace's operation mix in the performance model (``--workload trace:<name>``).

A trace in ``data/traces/<name>/`` (captured by ``vmapsim capture``) holds a tracefs
log of the ``vmalloc`` events (``trace.txt[.gz]``, parsed by :mod:`vmapsim.traces.read`).  The performance model does not replay addresses (``vmapsim replay`` does
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

from dataclasses import dataclass
from functools import lru_cache

from ..errors import ParameterError, TraceError
from ..traces import captures
from ..vmalloc.vmap_area import PAGE_SIZE


@dataclass(frozen=True)
class OpMix:
    """The operation sequence of one trace: ``("alloc", pages, align)`` / ``("free", k)`` where
    *k* is the index of the allocation (in this list's allocation order) it frees."""
    name: str
    ops: tuple
    allocs: int
    frees: int


@lru_cache(maxsize=8)
def load_mix(name: str) -> OpMix:
    """Parse the capture *name* (``vmapsim.traces.read.read_trace``) into its operation mix."""
    from ..traces.read import ALLOC, FREE, find_file, read_trace
    dirs = captures.capture_dirs()
    if name not in dirs:
        raise ParameterError(f"unknown trace {name!r}; valid trace names: "
                             f"{', '.join(dirs) or '(none in data/traces/)'}")
    tr = read_trace(find_file(dirs[name], "trace.txt"))
    ops, live, allocs, frees = [], {}, 0, 0
    for ev in tr.events:
        if ev.kind == ALLOC:
            if ev.failed:
                continue
            pages = max(1, ev.size // PAGE_SIZE - 1)     # size includes the guard page
            live[ev.addr] = allocs
            ops.append(("alloc", pages, max(PAGE_SIZE, ev.align)))
            allocs += 1
        elif ev.kind == FREE:
            k = live.pop(ev.addr, None)
            if k is not None:
                ops.append(("free", k))
                frees += 1
    if not allocs:
        raise TraceError(dirs[name], 0, "no alloc_vmap_area events")
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
