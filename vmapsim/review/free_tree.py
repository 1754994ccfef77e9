"""The experiments behind notebook ``01-free-tree``: the designs on the real traces.

Plain functions with keyword parameters returning data; the plots are in
:mod:`vmapsim.review.free_tree_plots`, the workload experiments in :mod:`vmapsim.review.free_tree_work`.

* :func:`replay_matrix` -- every trace of ``data/traces`` replayed under every design variant
  (:data:`VARIANTS`) next to ``linux-6.18``: agreement with the real kernel, and, per allocation,
  whether the design chose differently from 6.18 and why (:mod:`vmapsim.designs.reference`);
* :func:`address_differences` -- the allocations in which a design differs from 6.18;
* :func:`run_trace` -- a trace's operations re-executed through a design's own allocator
  (``alloc_vmap_area`` with the trace's sizes, alignments and CPUs, frees of the design's own
  addresses, purges when the design schedules them): the lock records and the memory of each
  design on a real workload;
* :func:`memory_table` -- index memory per design at the end of such a run.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..designs import make_design
from ..params import check_choice
from ..traces import captures
from ..traces.read import (
    ALLOC,
    FREE,
    PURGE,
    find_file,
    read_meta,
    read_snapshot,
    read_trace,
)
from ..traces.replay import replay
from ..vmalloc.vmap_area import nr_vmap_nodes_for

__all__ = ["VARIANTS", "variant", "TraceReplay", "replay_matrix",
           "address_differences", "reference_records", "LockWork", "run_trace", "record_op", "memory_row",
           "MEMORY_HEADER", "lock_family"]

#: label -> (registered design name, parameters): the designs and the overlay variants
VARIANTS = {
    "linux-6.18": ("linux-6.18", {}),
    "rfc-maple-busy": ("rfc-maple-busy", {}),
    "rfc-v1": ("rfc-v1", {}),
    "rfc-v1 -bump": ("rfc-v1", {"bump": False}),
    "rfc-v1 -bump -lazylist": ("rfc-v1", {"bump": False, "lazy_list": False}),
    "maple-nofree": ("maple-nofree", {}),
    "maple-nofree-sharded": ("maple-nofree-sharded", {}),
}


def variant(label: str):
    """``(design name, params)`` of a :data:`VARIANTS` label (error lists the labels)."""
    return VARIANTS[check_choice("design", label, VARIANTS)]


def make_variant(label: str, **params):
    name, p = variant(label)
    return make_design(name, **dict(p, **params))


# ----------------------------------------------------------------------------- replays
@dataclass
class TraceReplay:
    """One design variant replayed on one trace, compared with linux-6.18 event by event."""
    trace: str
    label: str
    allocs: int
    matched: int
    final_state_equal: bool
    misses_by_cause: dict
    #: allocations whose predicted address differs from 6.18's prediction, by cause
    own_by_cause: Counter
    #: of those, how many the design predicted right (6.18 wrong) / wrong (6.18 right)
    gained: int
    lost: int
    records: list = field(repr=False, default_factory=list)
    #: 6.18's predictions for the same allocations (``reference_records``)
    ref_records: list = field(repr=False, default_factory=list)

    @property
    def agreement(self) -> float:
        return self.matched / self.allocs if self.allocs else 0.0

    @property
    def own(self) -> int:
        return sum(self.own_by_cause.values())

    def line(self) -> str:
        causes = ", ".join(f"{k} {v}" for k, v in self.own_by_cause.most_common()) or "none"
        return (f"{self.label} on {self.trace}: {self.matched}/{self.allocs} "
                f"({100 * self.agreement:.2f}%) as the kernel; differs from 6.18 in {self.own} "
                f"({causes}); +{self.gained} -{self.lost} vs 6.18")


def reference_records(ref, got) -> list:
    """6.18's prediction for each of *got*'s allocations, as records: the reference kept beside
    the design during its replay (:mod:`vmapsim.designs.reference`) when it has one, else the
    standalone 6.18 replay *ref*."""
    model = got.model
    if getattr(model, "reference_predictions", None) is None or \
            len(model.reference_predictions) != len(got.records):
        return ref.records
    return [g[:5] + (p,) for g, p in zip(got.records, model.final_reference(got.records))]


def _compare(ref, got, trace, label) -> TraceReplay:
    own, gained, lost = Counter(), 0, 0
    base = reference_records(ref, got)
    for r, g in zip(base, got.records):
        if r[:5] != g[:5]:
            raise AssertionError(f"replays of {trace} scored different events")
        if g[5] == r[5]:
            continue
        own[g[7] or "matched-kernel"] += 1
        ok_g, ok_r = g[5] == g[2], r[5] == r[2]
        gained += ok_g and not ok_r
        lost += ok_r and not ok_g
    return TraceReplay(trace, label, got.allocs, got.matched, got.final_state_equal,
                       dict(got.misses_by_cause), own, gained, lost, got.records, base)


def replay_matrix(traces=None, labels=None) -> dict:
    """``{(trace, label): TraceReplay}`` for every trace and design variant (default: all)."""
    names = captures.trace_names(order="size")
    traces = names if traces is None else [check_choice("trace", t, names)
                                                   for t in traces]
    labels = list(VARIANTS) if labels is None else [check_choice("design", x, VARIANTS)
                                                    for x in labels]
    out = {}
    for t in traces:
        d = captures.trace_dir(t)
        ref = replay(d, "linux-6.18")
        for label in labels:
            name, params = VARIANTS[label]
            got = ref if label == "linux-6.18" else replay(d, name, **params)
            out[(t, label)] = _compare(ref, got, t, label)
    return out


def address_differences(tr: TraceReplay) -> list[tuple]:
    """``(time s, size, align, kernel addr, 6.18 prediction, design prediction, cause)`` of every
    allocation where the design's prediction differs from 6.18's (time from the first event)."""
    if not tr.records:
        return []
    t0 = tr.records[0][0]
    return [(g[0] - t0, g[3], g[4], g[2], r[5], g[5], g[7] or "matched-kernel")
            for r, g in zip(tr.ref_records, tr.records) if g[5] != r[5]]


# ----------------------------------------------------------------------------- lock records
_NODE = re.compile(r"\[\d+\]")


def lock_family(name) -> str:
    """``vn[3].busy.lock`` -> ``vn[*].busy.lock``; None -> ``(no lock)``."""
    return "(no lock)" if name is None else _NODE.sub("[*]", name)


@dataclass
class LockWork:
    """Lock records of many operations, summed per ``(operation, lock family, kind)``.

    ``cells[(op, lock, kind)] = [acquisitions, visited, written, alloc_bytes, free_bytes]``;
    ``ops[op]`` counts the operations; ``events`` sums the costed events' values
    (``events[kind + "#"]`` counts them) and holds the design's counters at the end
    (``na.*`` node allocation, ``bump.*`` bump chunks)."""
    cells: dict = field(default_factory=dict)
    ops: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)
    order: dict = field(default_factory=dict)

    def rows(self):
        """``(op, lock, kind, per op: acquisitions, visited, written, alloc B, free B)``."""
        out = []
        for (op, lock, kind), v in sorted(self.cells.items(),
                                          key=lambda kv: (kv[0][0], self.order.get(kv[0], 0))):
            n = self.ops[op] or 1
            out.append((op, lock, kind) + tuple(x / n for x in v))
        return out

    def per_op(self, op: str, what: int = 1) -> float:
        """Total of column *what* (1 visited, 2 written, 3 alloc, 4 free) per *op*, all locks."""
        n = self.ops[op] or 1
        return sum(v[what] for (o, _, _), v in self.cells.items() if o == op) / n

    def under_locks(self, op: str, what: int = 1) -> float:
        """Like :meth:`per_op` but only work done while holding a spinlock."""
        n = self.ops[op] or 1
        return sum(v[what] for (o, lk, k), v in self.cells.items()
                   if o == op and k == "spin") / n

    def acquisitions(self, op: str, family: str | None = None) -> float:
        n = self.ops[op] or 1
        return sum(v[0] for (o, lk, k), v in self.cells.items()
                   if o == op and k in ("spin", "mutex") and (family is None or lk == family)) / n


def record_op(work: LockWork, design, op: str) -> None:
    """Add the design's current lock record (``design.acct``) under *op*."""
    work.ops[op] += 1
    cells, order = work.cells, work.order
    for i, h in enumerate(design.acct.holds):
        key = (op, lock_family(h.lock), h.kind)
        c = cells.get(key)
        if c is None:
            c = cells[key] = [0, 0, 0, 0, 0]
            order[key] = i
        c[0] += 1
        c[1] += h.visited
        c[2] += h.written
        c[3] += h.alloc_bytes
        c[4] += h.free_bytes
    for kind, value in design.acct.events:
        work.events[kind] += value if isinstance(value, int) else 1
        work.events[kind + "#"] += 1


# ----------------------------------------------------------------------------- trace-driven runs
@dataclass
class TraceRun:
    """:func:`run_trace`'s result."""
    trace: str
    label: str
    allocs: int
    failed: int
    work: LockWork
    memory: object                      # IndexMemory at the end
    peak_busy: int
    design: object = field(repr=False, default=None)


def run_trace(label: str, trace: str, limit: int | None = None, **params) -> TraceRun:
    """Re-execute *trace* through design *label*'s own allocator (see the module docstring).

    The start state is ``vmallocinfo.before``; allocations use the trace's size, alignment,
    range and CPU and return the design's own address; a free of a traced address frees the
    design's area of the same allocation; the design purges when it schedules the drain and
    wherever the kernel purged (``purge_vmap_area_lazy`` events that purged something).
    *limit* stops after that many events."""
    directory = captures.trace_dir(trace)
    meta = read_meta(find_file(directory, "meta"))
    possible = int(meta.get("possible_cpus", 2))
    online = int(meta.get("online_cpus", possible))
    nodes = nr_vmap_nodes_for(possible)
    before = read_snapshot(find_file(directory, "vmallocinfo.before"), nodes)
    tr = read_trace(find_file(directory, "trace.txt"))
    d = make_variant(label, possible_cpus=possible, online_cpus=online, **params)
    d.replay_reference = False
    d.load_state([(s, e, 0) for s, e, _ in before.busy], before.lazy)
    mine: dict[int, int] = {}           # traced va_start -> the design's va_start
    pre = {s for s, _, _ in before.busy}
    work = LockWork()
    allocs = failed = peak = busy = 0
    for i, e in enumerate(tr.events):
        if limit is not None and i >= limit:
            break
        if e.kind == ALLOC and not e.failed:
            a = d.alloc_vmap_area(e.size, e.align, e.vstart, e.vend, cpu=e.cpu)
            record_op(work, d, "alloc_vmap_area")
            allocs += 1
            if a is None:
                failed += 1
                continue
            mine[e.addr] = a
            busy += 1
            peak = max(peak, busy)
        elif e.kind == FREE:
            a = mine.pop(e.addr, e.addr if e.addr in pre else None)
            if a is None:
                continue
            pre.discard(e.addr)
            va = d.find_unlink_vmap_area(a, cpu=e.cpu)
            record_op(work, d, "find_unlink_vmap_area")
            if va is None:
                continue
            busy -= 1
            drain = d.free_vmap_area_noflush(va, cpu=e.cpu)
            record_op(work, d, "free_vmap_area_noflush")
            if drain:
                d.purge_vmap_area_lazy(cpu=e.cpu)
                record_op(work, d, "purge_vmap_area_lazy")
        elif e.kind == PURGE and e.npurged and d.lazy_nr():
            # the kernel purged here for a reason the design does not see (vm_unmap_aliases,
            # a drain scheduled by an untraced free, ...): purge too
            d.purge_vmap_area_lazy(cpu=e.cpu)
            record_op(work, d, "purge_vmap_area_lazy")
    d.validate()
    add_counters(work, d)
    return TraceRun(trace, label, allocs, failed, work, d.index_memory(), peak, d)


def add_counters(work: LockWork, d) -> None:
    na = getattr(d, "na", None)
    if na is not None:
        for k, v in na.counts.items():
            work.events["na." + k] += v
    bump = getattr(d, "bump", None)
    if bump is not None:
        for k, v in bump.counts.items():
            work.events["bump." + k] += v


# ----------------------------------------------------------------------------- memory
MEMORY_HEADER = ("design", "vmap_area B", "busy", "lazy", "pool", "free ranges", "vmap_area KiB",
                 "tree nodes KiB", "total KiB", "B per busy area")


def memory_row(label: str, m) -> tuple:
    """One row of the memory table for :class:`~vmapsim.designs.base.IndexMemory` *m*."""
    return (label, m.sizeof_vmap_area, m.busy_areas, m.lazy_areas, m.pool_entries, m.free_ranges,
            round(m.vmap_area_bytes / 1024, 1), round(m.index_node_bytes / 1024, 1),
            round(m.total_bytes / 1024, 1), round(m.bytes_per_busy_area, 1))
