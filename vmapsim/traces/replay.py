"""``vmapsim replay DIR --design NAME``: replay a captured trace and score the design's address choices.

The start state is ``vmallocinfo.before``; events are replayed in time order; for every
``alloc_vmap_area`` event the design first *predicts* the address (no side effects), then the
real address is *applied* so the model stays in sync with the kernel.  Modelling decisions
(docs/kernel-vmalloc.md section 11.2):

* the CPU of an event line is the CPU of ``node_alloc()``;
* a ``purge_vmap_area_lazy`` event marks the *end* of a purge.  Its start lies after the last
  earlier event of the same task (the drain work runs to completion; a re-queued drain starts
  where the previous one ended) and after the free of the ``num_purged``-th oldest lazy area, but
  before the free of the next one; within those bounds it is placed a typical purge duration
  (:data:`PURGE_BASE` + :data:`PURGE_PER_AREA` per area) before the event.  At the start every
  pool decays and the ``num_purged`` oldest lazy areas are detached; the pool pushes (``purge_vmap_node()``) are spread over the
  time until the event, node by node in address order; if the kernel hands out an area still
  waiting to be pushed, that node's pushes up to it are done at once;
* a range the model predicted is *held* (reserved as busy, for at most :data:`PHANTOM_TTL`) when
  the kernel refused it :data:`STRIKES` times in a row: for aligned requests this means the
  kernel's free-tree descent does not meet that block (the tree's shape, unknowable from a
  snapshot, differs from the model's); for page-aligned requests it is done only when the
  kernel's choice is exactly the lowest fit once the range is taken (an allocation the trace has
  not shown holds it).  A later allocation or free of that range confirms it (``late-traced``,
  ``untraced-alloc``); a clash releases it.  The same evidence rule applies to pools: an entry
  the kernel skipped at the head is held busy (``pool_resync="limbo"``);
* a design whose policy differs from 6.18 may name its own misses: if it has
  ``explain_miss(choice, src, event, cause) -> cause``, replay calls it for every miss with the
  cause replay would give (see :mod:`vmapsim.designs.reference`);
* events logged while a snapshot was being read (between the capture's ``trace_marker``
  lines) are applied only if the snapshot does not already show their effect; areas they touch
  are not compared in the final state.

Output (``--json``, keys exact): ``allocs``, ``matched``, ``agreement``, ``final_state_equal``,
``misses_by_cause``, ``warnings``.
"""
from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from ..designs import available_designs, make_design
from ..designs.base import VN_UNKNOWN, Choice, Design
from ..errors import TraceError
from ..params import check_choice
from ..vmalloc.free_space import lowest_fit_reference
from ..vmalloc.vmap_area import PAGE_SIZE, VMALLOC_END, VMALLOC_START, nr_vmap_nodes_for
from .capture import MARKERS
from .read import (
    ALLOC,
    FREE,
    MARK,
    PURGE,
    find_file,
    read_meta,
    read_snapshot,
    read_trace,
)
from .validate import check_capture

__all__ = ["replay", "ReplayResult", "MISS_CAUSES", "add_arguments", "run"]

#: seconds within which a later allocation of another task taking a mispredicted address makes
#: the earlier miss "late-traced"
LATE_WINDOW = 0.02
#: a range reserved for an allocation the trace has not shown is given back after this long
PHANTOM_TTL = 5.0
#: consecutive explained refusals of the same predicted range before it is reserved
STRIKES = 2
#: duration of a purge (decay, detach, flush, pushes) assumed when placing its start: the digest's
#: 0.07-0.57 ms for 0-5000 areas measured on this machine's traces
PURGE_BASE = 70e-6
PURGE_PER_AREA = 0.1e-6

#: cause -> explanation (the keys of ``misses_by_cause``)
MISS_CAUSES = {
    "pool-decayed-in-kernel": "the kernel's pool head was deeper in the model's pool: the kernel's pool "
                              "was longer or decayed differently (pre-trace pools, vn_id of pre-trace areas)",
    "pool-empty-in-kernel": "the model popped its pool, the kernel searched the free tree (pool detached "
                            "during a decay, or an entry the kernel never had)",
    "pool-entry-elsewhere": "the kernel took a pool entry the model holds on another node or had not yet "
                            "pushed (task migrated after node_alloc(), push timing)",
    "purge-timing": "the model's estimate of where the purge started or pushed differs from the kernel",
    "aligned-search-shape": "aligned request served by the free tree at a different block: the "
                            "size+align-1 descent depends on the rb-tree shape, unknown at the start",
    "free-tree-state": "page-aligned free-tree choice differs: the model's free space differs from the "
                       "kernel's (an untraced change, or an allocation logged late)",
    "late-traced": "the model's choice was taken by another task whose event was logged later "
                   "(cond_resched() runs before the tracepoint)",
    "model-state-wrong": "the kernel's range is busy or lazy in the model (an event the trace lacks)",
    "predicted-failure": "the model found no space",
    "untraced-alloc": "the model's choice was held by an allocation that has no trace event (its free "
                      "appears later); the replay then reserves the range",
    "kernel-pool-reuse": "the kernel reused a purged area of this size from a per-node pool; the design "
                         "has no pool entry for it (designs without pools, or a different pool policy)",
}


@dataclass
class ReplayResult:
    """What a replay measured.  ``as_json()`` gives exactly the CLI's JSON keys."""
    design: str
    trace: str
    allocs: int = 0
    matched: int = 0
    final_state_equal: bool = False
    misses_by_cause: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    #: per scored allocation: (ts, cpu, addr, size, align, predicted or -1, source, cause or "")
    records: list = field(default_factory=list)
    #: per purge event: (ts, npurged, model npurged)
    purges: list = field(default_factory=list)
    #: per free event: (ts, nr_lazy)
    lazy: list = field(default_factory=list)
    #: with ``sample_every``: (ts, busy, lazy, free ranges, pool entries) of the model
    samples: list = field(default_factory=list)
    #: nr_lazy_max reported by the trace's free events (lazy_max_pages() of the traced kernel)
    lazy_max: int = 0
    meta: dict = field(default_factory=dict)
    #: the design object at the end of the replay (for inspection: memory, reference data)
    model: object = field(default=None, repr=False)

    @property
    def agreement(self) -> float:
        return self.matched / self.allocs if self.allocs else 0.0

    def as_json(self) -> dict:
        return {"allocs": self.allocs, "matched": self.matched, "agreement": self.agreement,
                "final_state_equal": self.final_state_equal,
                "misses_by_cause": dict(sorted(self.misses_by_cause.items())),
                "warnings": list(self.warnings)}

    def table(self) -> str:
        lines = [f"trace   {self.trace}", f"design  {self.design}",
                 f"allocs  {self.allocs}", f"matched {self.matched}",
                 f"agreement {100 * self.agreement:.2f}%",
                 f"final state equal: {'yes' if self.final_state_equal else 'NO'}"]
        if self.misses_by_cause:
            lines.append("misses by cause:")
            for k, v in sorted(self.misses_by_cause.items(), key=lambda kv: -kv[1]):
                lines.append(f"  {v:6d}  {k}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


def _marker_index(events, text):
    for i, e in enumerate(events):
        if e.kind == MARK and e.text == text:
            return i
    return None


def _plan_purges(events, i0, i1, initial_lazy, skip):
    """Estimate each purge's start (see the module docstring).

    Returns ``{start_index: [purge_index, ...]}`` and a list of warnings."""
    queue = deque([-1] * initial_lazy)
    last_by_pid: dict[int, int] = {}
    starts: dict[int, list] = {}
    bad = 0
    for i in range(i0, i1):
        e = events[i]
        if i in skip:
            continue
        if e.kind == FREE:
            queue.append(i)
        elif e.kind == PURGE:
            n = min(e.npurged, len(queue))
            lo = last_by_pid.get(e.pid, i0 - 1) + 1
            hi = i
            if n:
                lo = max(lo, queue[n - 1] + 1)
                if n < len(queue) and queue[n] >= 0:
                    hi = min(hi, queue[n])
            if hi < lo:
                bad += 1
                hi = lo
            # the kernel's purge takes about PURGE_BASE + npurged * PURGE_PER_AREA seconds
            t_start = e.ts - PURGE_BASE - e.npurged * PURGE_PER_AREA
            p = hi
            while p > lo and events[p - 1].ts > t_start:
                p -= 1
            for _ in range(n):
                queue.popleft()
            p = max(p, i0)
            starts.setdefault(p, []).append(i)
        if e.kind != MARK:
            last_by_pid[e.pid] = i
    warnings = []
    if bad:
        warnings.append(f"{bad} purge(s) whose start could not be placed consistently "
                        "(lazy frees interleaved with the purge's own task)")
    return starts, warnings


def replay(directory, design: str = "linux-6.18", sample_every: int = 0, account: bool = False,
           **design_params) -> ReplayResult:
    """Replay the capture in *directory* under *design* (see the module docstring).

    *sample_every* > 0 also records, every that many events, ``(ts, busy, lazy, free ranges,
    pool entries)`` counts of the model in ``ReplayResult.samples``.  *account* keeps the
    design's per-operation lock records (off by default: the replay only needs addresses)."""
    design = check_choice("design", design, available_designs())
    directory = Path(directory)
    if not directory.is_dir():
        raise TraceError(directory, 0, "not a capture directory")
    warnings: list[str] = []
    meta = read_meta(find_file(directory, "meta")) if _exists(directory, "meta") else {}
    if not meta:
        warnings.append("no meta file: assuming 2 possible CPUs and drained pools")
    possible = int(meta.get("possible_cpus", 2))
    online = int(meta.get("online_cpus", possible))
    if meta.get("clean_pools", "1") != "1":
        warnings.append("pools were not drained at the start (clean_pools=0): pool entries "
                        "invisible in vmallocinfo will cause misses")
    if meta.get("external_drop_caches", "0") not in ("0", ""):
        warnings.append(f"someone wrote to drop_caches {meta['external_drop_caches']} time(s) during "
                        "the capture: the shrinker drained the pools without a trace event")
    if meta.get("lost_events", "0") not in ("0", ""):
        warnings.append(f"the trace buffer lost {meta['lost_events']} events")
    nodes = nr_vmap_nodes_for(possible)
    trace = read_trace(find_file(directory, "trace.txt"))
    before = read_snapshot(find_file(directory, "vmallocinfo.before"), nodes)
    after = read_snapshot(find_file(directory, "vmallocinfo.after"), nodes)
    warnings += trace.warnings + before.warnings + after.warnings
    warnings += check_capture(trace, before, meta)      # impossible events: TraceError (file:line)
    if trace.lost_events and "lost_events" not in meta:
        warnings.append(f"the trace buffer lost {trace.lost_events} events")
    d = make_design(design, possible_cpus=possible, online_cpus=online, **design_params)
    d.acct.enabled = account
    events = trace.events
    res = ReplayResult(design, str(directory), meta=meta)

    # ---------------------------------------------------------------- windows
    ib0 = _marker_index(events, MARKERS["before_begin"])
    ib1 = _marker_index(events, MARKERS["before_end"])
    ia0 = _marker_index(events, MARKERS["after_begin"])
    ia1 = _marker_index(events, MARKERS["after_end"])
    if ib0 is None or ib1 is None:
        warnings.append("no snapshot markers: events are assumed to start after vmallocinfo.before")
        ib0 = ib1 = 0
    if ia0 is None or ia1 is None:
        warnings.append("trace has no final-snapshot markers (truncated, or captured by another "
                        "tool): the final state may differ")
        ia0 = ia1 = len(events)
    idrop = _marker_index(events, MARKERS["drop_caches"])
    if idrop is not None and any(e.kind == PURGE and e.npurged for e in events[idrop:ib0]):
        warnings.append("a purge ran between drop_caches and the first snapshot: pools were not "
                        "empty at the start")
    busy0 = {(s, e) for s, e, _ in before.busy}
    lazy0 = {s for s, e, _ in before.lazy}
    skip = set()
    for i in range(ib0, ib1):
        e = events[i]
        if e.kind == ALLOC and (e.addr, e.addr + e.size) in busy0:
            skip.add(i)
        elif e.kind == FREE and e.addr in lazy0:
            skip.add(i)
        elif e.kind == PURGE:
            warnings.append("a purge ran while the first snapshot was read")
    lmax = {e.nr_lazy_max for e in events if e.kind == FREE}
    res.lazy_max = max(lmax) if lmax else 0
    if lmax and lmax != {d.lazy_max_pages()}:
        warnings.append(f"trace lazy_max_pages {sorted(lmax)} differs from the model's "
                        f"{d.lazy_max_pages()} (online CPUs {online})")
    cpus = {e.cpu for e in events}
    if cpus and max(cpus) >= possible:
        raise TraceError(trace.path, 0, f"events on CPU {max(cpus)} but meta says {possible} possible CPUs")

    # ---------------------------------------------------------------- start state
    busy_init = []
    for s, e, caller in before.busy:
        in_range = VMALLOC_START <= s and e <= VMALLOC_END and not caller.startswith("pcpu_get_vm_areas")
        busy_init.append((s, e, VN_UNKNOWN if in_range else 0))
    d.load_state(busy_init, before.lazy)
    starts, w = _plan_purges(events, ib0, ia1, len(before.lazy), skip)
    warnings += w

    # ---------------------------------------------------------------- main loop
    misses: Counter = Counter()
    pending: dict[int, tuple] = {}          # purge index -> (batch, t0, t1, total)
    where_pending: dict[int, tuple] = {}    # va_start -> (purge index, node)
    unknown_frees = 0
    count_mismatch = 0
    failed = 0
    last_nr_lazy = None
    phantoms: dict[int, tuple] = {}          # reserved start -> (end, pid, ts, record index)
    refused: dict[int, tuple] = {}           # predicted start -> (times refused in a row, record)
    can_reserve = hasattr(d, "reserve_range")
    purged: set = set()                      # (start, size) of purged areas (pool candidates)
    sizes = {s: e - s for s, e, _ in before.busy}       # busy start -> size (from the trace)
    lazy_fifo = deque((s, e - s) for s, e, _ in before.lazy)
    no_pools = type(d).pools is Design.pools
    moments: list = []                      # model (busy, lazy) before each final-window event
    window_ranges: set = set()               # areas allocated or freed in the final-snapshot window
    records, purges, lazyrec = res.records, res.purges, res.lazy
    can_stage = hasattr(d, "purge_begin")
    no_pools = type(d).pools is Design.pools
    explain = getattr(d, "explain_miss", None)

    def push_due(ts):
        for k, (batch, t0, t1, total) in list(pending.items()):
            if not batch.lists:
                continue
            frac = 1.0 if t1 <= t0 else min(1.0, (ts - t0) / (t1 - t0))
            want = int(total * frac)
            done = total - sum(len(v) for v in batch.lists.values())
            while done < want and batch.lists:
                node = min(batch.lists)
                lst = batch.lists[node]
                step = min(len(lst), want - done)
                upto = lst[step - 1].va_end if step < len(lst) else None
                for va in lst[:step]:
                    where_pending.pop(va.va_start, None)
                d.purge_push(batch, node, upto)
                done += step

    samples = res.samples
    for i in range(ib0, ia1):
        e = events[i]
        if sample_every and (i - ib0) % sample_every == 0:
            m = d.index_memory()
            samples.append((e.ts, m.busy_areas, m.lazy_areas, m.free_ranges, m.pool_entries))
        if can_stage and i in starts:
            for k in starts[i]:
                pe = events[k]
                batch = d.purge_begin(False, limit=pe.npurged)
                t0 = events[i - 1].ts if i > 0 else e.ts
                total = sum(len(v) for v in batch.lists.values())
                pending[k] = (batch, t0, pe.ts, total)
                for node, lst in batch.lists.items():
                    for va in lst:
                        where_pending[va.va_start] = (k, node)
        if pending:
            push_due(e.ts)
        if i >= ia0:
            if phantoms:                   # inferences, not areas: never compared with a snapshot
                for p_addr in list(phantoms):
                    d.release_range(p_addr)
                phantoms.clear()
            moments.append((frozenset(d.busy_areas()), frozenset(d.lazy_areas())))
        if i in skip:
            continue
        kind = e.kind
        if kind == ALLOC:
            if e.failed:
                failed += 1
                continue
            addr, size = e.addr, e.size
            if phantoms:
                for p_addr in [p for p, ph in phantoms.items() if e.ts - ph[2] > PHANTOM_TTL]:
                    d.release_range(p_addr)
                    del phantoms[p_addr]
            choice = d.predict_alloc(size, e.align, e.vstart, e.vend, e.cpu)
            for p_addr, ph in phantoms.items():
                # a range held for a task whose event has not been logged: this may be that event
                if ph[1] != e.pid and e.ts - ph[2] < LATE_WINDOW and ph[0] - p_addr == size \
                        and p_addr % e.align == 0 and e.vstart <= p_addr and ph[0] <= e.vend:
                    choice = Choice(p_addr, "free", choice.node)
                    break
            pred = choice.addr
            if phantoms:
                for p_addr in [p for p, ph in phantoms.items() if p < addr + size and addr < ph[0]]:
                    ph = phantoms.pop(p_addr)
                    d.release_range(p_addr)
                    if p_addr == addr and ph[1] != e.pid:
                        # the earlier miss was this allocation's range, logged late
                        _reclassify(records, misses, ph[3], "late-traced")
            hit = where_pending.get(addr)
            pushed_now = False
            if hit is not None:
                k, node = hit
                batch = pending[k][0]
                lst = batch.lists.get(node, [])
                for va in lst:
                    if va.va_start > addr:
                        break
                    where_pending.pop(va.va_start, None)
                d.purge_push(batch, node, addr + 1)
                pushed_now = True
            free_before = None
            if pred != addr and choice.source == "free":
                free_before = d.free_ranges()
            src = d.apply_alloc(addr, size, e.align, e.vstart, e.vend, e.cpu)
            res.allocs += 1
            cause = ""
            if pred == addr:
                res.matched += 1
                refused.clear()
            else:
                cause = _cause(choice, src, e, pushed_now, no_pools and (addr, size) in purged,
                               free_before)
                if explain is not None:
                    # a design whose policy differs from 6.18 names its own differences
                    cause = explain(choice, src, e, cause)
                misses[cause] += 1
                if can_reserve and choice.source == "free" and pred is not None and src == "free" \
                        and (e.align > PAGE_SIZE or _explained_by_taking(free_before, pred, e)):
                    # refused twice in a row: something the trace does not show holds the range
                    if refused.get(pred, (0,))[0] >= STRIKES - 1:
                        d.reserve_range(pred, pred + size)
                        phantoms[pred] = (pred + size, e.pid, e.ts,
                                          refused.get(pred, (0, len(records)))[1])
                        refused.clear()
                    else:
                        refused[pred] = (refused.get(pred, (0,))[0] + 1, len(records))
                else:
                    refused.clear()
            purged.discard((addr, size))
            sizes[addr] = size
            if i >= ia0:
                window_ranges.add((addr, addr + size))
            records.append((e.ts, e.cpu, addr, size, e.align, -1 if pred is None else pred, src, cause))
        elif kind == FREE:
            hint = None
            if last_nr_lazy is not None and e.nr_lazy > last_nr_lazy:
                hint = (e.nr_lazy - last_nr_lazy) * PAGE_SIZE
            last_nr_lazy = e.nr_lazy
            ph = phantoms.pop(e.addr, None)
            if ph is not None:
                # something held the reserved range: an allocation with no trace event
                _reclassify(records, misses, ph[3], "untraced-alloc")
            if i >= ia0 and e.addr in sizes:
                window_ranges.add((e.addr, e.addr + sizes[e.addr]))
            lazy_fifo.append((e.addr, sizes.pop(e.addr, 0)))
            r = d.apply_free(e.addr, e.cpu, hint)
            if r != "ok":
                unknown_frees += 1
                if unknown_frees <= 3:
                    warnings.append(f"{trace.path}:{e.line}: free of {e.addr:#x}, which the model does "
                                    "not have as a busy area (event missing before the trace?)")
            lazyrec.append((e.ts, e.nr_lazy))
        elif kind == PURGE:
            last_nr_lazy = None
            for _ in range(min(e.npurged, len(lazy_fifo))):
                purged.add(lazy_fifo.popleft())
            if can_stage and i in pending:
                batch = pending.pop(i)[0]
                for lst in batch.lists.values():
                    for va in lst:
                        where_pending.pop(va.va_start, None)
                n = d.purge_finish(batch)
            else:
                n = d.purge_vmap_area_lazy(False, e.cpu)
            if n != e.npurged:
                count_mismatch += 1
            purges.append((e.ts, e.npurged, n))
    if unknown_frees > 3:
        warnings.append(f"{unknown_frees} frees of areas unknown to the model in total")
    if count_mismatch:
        warnings.append(f"{count_mismatch} purge(s) purged a different number of areas in the model "
                        "than num_purged says")
    if failed:
        warnings.append(f"{failed} failed allocation(s) in the trace (not scored)")

    # ---------------------------------------------------------------- final state
    moments.append((frozenset(d.busy_areas()), frozenset(d.lazy_areas())))
    real = _compare_final(moments, after)
    # an area is in no list between find_unlink_vmap_area() and the lazy insert (its free event),
    # and between the alloc event and the busy insert: if the read hit that window it is absent
    listed = {(s, e) for s, e, _ in after.busy} | {(s, e) for s, e, _ in after.lazy}
    in_flight = {x for x in real if x in window_ranges and x not in listed}
    if in_flight:
        warnings.append(f"{len(in_flight)} area(s) were between the busy and the lazy list while the "
                        "final snapshot was read (absent from both; not compared)")
        real -= in_flight
    late_frees = {x for x in real if x in moments[-1][0] and x in {(s, e) for s, e, _ in after.lazy}}
    if late_frees:
        warnings.append(f"{len(late_frees)} late free(s): busy in the model, lazy in vmallocinfo.after "
                        "(freed after tracing stopped, before the snapshot was read)")
        real -= late_frees
    res.final_state_equal = not real
    if len(moments) > 1:
        warnings.append(f"{len(moments) - 1} event(s) happened while the final snapshot was read: the "
                        "busy list is compared with the model at one moment, the lazy list at the "
                        "same or a later one")
    if real:
        sample = ", ".join(f"{s:#x}-{e:#x}" for s, e in sorted(real)[:3])
        warnings.append(f"final state differs from vmallocinfo.after in {len(real)} area(s): {sample}")
    res.misses_by_cause = dict(misses)
    res.warnings = warnings
    res.model = d
    return res


def _compare_final(moments, after) -> set:
    """Areas in which vmallocinfo.after differs from the model.

    vmalloc_info_show() prints every node's busy list, then every lazy list, each under its own
    lock; events logged while it ran may or may not be in it.  The snapshot is equal if some
    model moment t1 matches the busy list and some moment t2 >= t1 the lazy list; otherwise the
    difference at the best such pair is returned."""
    want_busy = frozenset([(s, e) for s, e, _ in after.busy] + list(after.twice))
    want_lazy = frozenset((s, e) for s, e, _ in after.lazy)
    bdiff = [len(want_busy ^ b) for b, _ in moments]
    ldiff = [len(want_lazy ^ lz) for _, lz in moments]
    best, t1_best, best_pair = None, 0, None
    for t2 in range(len(moments)):
        if bdiff[t2] < bdiff[t1_best]:
            t1_best = t2
        cost = bdiff[t1_best] + ldiff[t2]
        if best is None or cost < best:
            best, best_pair = cost, (t1_best, t2)
    t1, t2 = best_pair
    if best == 0:
        return set()
    return set(want_busy ^ moments[t1][0]) | set(want_lazy ^ moments[t2][1])


def _reclassify(records, misses, idx, cause):
    r = records[idx]
    if r[7] and r[7] != cause:
        misses[r[7]] -= 1
        if not misses[r[7]]:
            del misses[r[7]]
        misses[cause] += 1
        records[idx] = r[:7] + (cause,)


def _explained_by_taking(free, p, e) -> bool:
    """Would the kernel rule have chosen ``e.addr`` had ``[p, p + e.size)`` been taken already?"""
    q = p + e.size
    rest = []
    for s, t in free:
        if t <= p or s >= q:
            rest.append((s, t))
        else:
            if s < p:
                rest.append((s, p))
            if q < t:
                rest.append((q, t))
    exact = lowest_fit_reference(rest, e.size, e.align, e.vstart, e.vend, adjust=False)
    if e.align <= PAGE_SIZE:
        return exact == e.addr
    bound = lowest_fit_reference(rest, e.size, e.align, e.vstart, e.vend, adjust=True)
    inside = any(s <= e.addr and e.addr + e.size <= t for s, t in rest)
    return inside and exact is not None and exact <= e.addr and (bound is None or e.addr <= bound) \
        and exact == e.addr


def _exists(directory, name):
    return (directory / name).exists() or (directory / (name + ".gz")).exists()


def _cause(choice, src, e, pushed_now, pool_reuse, free_before=None) -> str:
    if pool_reuse:
        return "kernel-pool-reuse"
    if pushed_now:
        return "purge-timing"
    if choice.source == "fail":
        return "predicted-failure"
    if src.startswith("not-free:"):
        where = src.split(":", 1)[1]
        return "pool-entry-elsewhere" if where == "pool" else "model-state-wrong"
    if choice.source == "pool":
        if src == "pool-behind-head":
            return "pool-decayed-in-kernel"
        if src == "free":
            return "pool-empty-in-kernel"
        return "purge-timing"
    if src in ("pool", "pool-behind-head"):
        return "purge-timing"
    if e.align > PAGE_SIZE and src == "free" and free_before is not None:
        # the kernel rule on the model's free space: any exact fit at or below the lowest block
        # of size >= size+align-1 may be met on the descent, depending on the tree's shape
        ref = lowest_fit_reference(free_before, e.size, e.align, e.vstart, e.vend)
        if ref is None or e.addr <= ref:
            return "aligned-search-shape"
    return "free-tree-state"


def add_arguments(parser) -> None:
    parser.add_argument("dir", help="capture directory (vmallocinfo.before, trace.txt, vmallocinfo.after, meta)")
    parser.add_argument("--design", default="linux-6.18", help="design name (see vmapsim.designs.base)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    res = replay(args.dir, args.design)
    if args.json:
        print(json.dumps(res.as_json(), indent=2))
    else:
        print(res.table())
    return 0
