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
  (:data:`~vmapsim.traces.replay_rules.PURGE_BASE` + ``PURGE_PER_AREA`` per area) before the event.  At the start every
  pool decays and the ``num_purged`` oldest lazy areas are detached; the pool pushes (``purge_vmap_node()``) are spread over the
  time until the event, node by node in address order; if the kernel hands out an area still
  waiting to be pushed, that node's pushes up to it are done at once;
* a range the model predicted is *held* (reserved as busy, for at most :data:`PHANTOM_TTL`) when
  the kernel refused it :data:`STRIKES` times in a row: for aligned requests this means the
  kernel's free-tree descent does not meet that block (the tree's shape, unknowable from a
  snapshot, differs from the model's); for page-aligned requests it is done only when the
  kernel's choice is exactly the lowest fit once the range is taken (an allocation the trace has
  not shown holds it).  A later allocation or free of that range confirms it (``late-traced``,
  ``untraced-alloc``); a clash releases it;
* an entry the kernel skipped at a pool head is held busy (``pool_resync="limbo"``: most likely
  an allocation the trace does not show took it; on four of the seven captures of data/traces
  such an entry's free event comes later, which confirms it), unless the model pushed it in a
  purge still in progress: the kernel had not pushed it yet, so it returns to that purge's list
  and the node's pushes wait for the purge's end (or for the kernel to hand one of them out);
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
from ..vmalloc.vmap_area import PAGE_SIZE, VMALLOC_END, VMALLOC_START, nr_vmap_nodes_for
from .capture import MARKERS
from .formats import load_recording
from .hidden import HiddenPools
from .read import (
    ALLOC,
    FREE,
    MARK,
    PURGE,
    Event,
    find_file,
    read_meta,
    read_snapshot,
)
from .replay_rules import (
    MISS_CAUSES,
    explained_by_taking,
    final_state,
    miss_cause,
    plan_purges,
    reclassify,
)
from .validate import check_capture

__all__ = ["MISS_CAUSES", "ReplayResult", "add_arguments", "replay", "run"]

#: seconds within which a later allocation of another task taking a mispredicted address makes
#: the earlier miss "late-traced"
LATE_WINDOW = 0.02
#: a range reserved for an allocation the trace has not shown is given back after this long
PHANTOM_TTL = 5.0
#: consecutive explained refusals of the same predicted range before it is reserved
STRIKES = 2
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
    #: allocations whose prediction depended on no unknown (a known pool entry, a free-tree block
    #: the trace has shown, or any on a drained capture) and how many of them matched; the others
    #: were uncertain (see vmapsim.traces.hidden).  Designs without pools count none.
    certain: int = 0
    certain_matched: int = 0
    uncertain: int = 0
    uncertain_matched: int = 0
    #: per scored allocation (same order as ``records``): was its prediction certain?
    certain_flags: list = field(default_factory=list)

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
        if self.certain or self.uncertain:
            lines.insert(5, f"certain   {self.certain} ({_pct(self.certain_matched, self.certain)} "
                            f"matched), uncertain {self.uncertain} "
                            f"({_pct(self.uncertain_matched, self.uncertain)} matched)")
        if self.misses_by_cause:
            lines.append("misses by cause:")
            for k, v in sorted(self.misses_by_cause.items(), key=lambda kv: -kv[1]):
                lines.append(f"  {v:6d}  {k}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.2f}%" if b else "-"


def _dirty_warning(res) -> str:
    return (f"dirty start (pools not drained before the first snapshot): {res.uncertain} of "
            f"{res.allocs} allocations were uncertain (their prediction depended on inferred pool "
            f"contents), {_pct(res.uncertain_matched, res.uncertain)} of them matched; "
            f"{_pct(res.certain_matched, res.certain)} of the {res.certain} certain ones")


def _marker_index(events, text):
    for i, e in enumerate(events):
        if e.kind == MARK and e.text == text:
            return i
    return None


@dataclass
class _Inputs:
    """What a capture directory holds, read and checked (step 1 of a replay)."""
    meta: dict
    possible: int
    online: int
    trace: object
    before: object
    after: object
    warnings: list


def _load_inputs(directory: Path, recording: str | None = None) -> _Inputs:
    """Read ``meta``, the recording and both snapshots; warn about what meta says went wrong."""
    if not directory.is_dir():
        raise TraceError(directory, 0, "not a capture directory")
    warnings: list[str] = []
    meta = read_meta(find_file(directory, "meta")) if _exists(directory, "meta") else {}
    if not meta:
        warnings.append("no meta file (not a vmapsim capture): assuming 2 possible CPUs; the pools' "
                        "contents at the start are unknown and inferred from the trace")
    possible = int(meta.get("possible_cpus", 2))
    online = int(meta.get("online_cpus", possible))
    if meta.get("clean_pools", "1") != "1":
        warnings.append("pools were not drained at the start (clean_pools=0): their contents, "
                        "invisible in vmallocinfo, are inferred from the trace")
    if meta.get("external_drop_caches", "0") not in ("0", ""):
        warnings.append(f"someone wrote to drop_caches {meta['external_drop_caches']} time(s) during "
                        "the capture: the shrinker drained the pools without a trace event")
    if meta.get("lost_events", "0") not in ("0", ""):
        warnings.append(f"the trace buffer lost {meta['lost_events']} events")
    nodes = nr_vmap_nodes_for(possible)
    rec = load_recording(directory, recording)
    trace = rec.trace
    found = rec.warnings + _markers_from_meta(rec, meta)
    before = read_snapshot(find_file(directory, "vmallocinfo.before"), nodes)
    after = read_snapshot(find_file(directory, "vmallocinfo.after"), nodes)
    warnings += found + trace.warnings + before.warnings + after.warnings
    warnings += check_capture(trace, before, meta, after)   # impossible events: TraceError (file:line)
    if trace.lost_events and "lost_events" not in meta:
        warnings.append(f"the trace buffer lost {trace.lost_events} events")
    return _Inputs(meta, possible, online, trace, before, after, warnings)


def _markers_from_meta(rec, meta) -> list[str]:
    """A recording that cannot see ``trace_marker`` (perf) made by ``vmapsim capture --with
    perf``: the snapshot times are in meta (CLOCK_MONOTONIC ns, the clock perf recorded with);
    they become marker events."""
    times = {k: meta[f"marker_{k}_ns"] for k in MARKERS if f"marker_{k}_ns" in meta}
    if not times or any(e.kind == MARK for e in rec.trace.events):
        return []
    if rec.clock != "mono":
        return [f"meta has snapshot times but {rec.path.name} was not recorded with the monotonic "
                "clock: the snapshot windows are unknown"]
    for k, ns in times.items():
        ts = ((int(ns) + 500) // 1000) / 1e6
        rec.trace.events.append(Event(ts, 0, 0, "vmapsim", MARK, 0, text=MARKERS[k]))
    rec.trace.events.sort(key=lambda e: e.ts)
    return []


@dataclass
class _Windows:
    """Event indexes of the two snapshot windows and the events already in the first snapshot."""
    ib0: int
    ib1: int
    ia0: int
    ia1: int
    skip: set


def _snapshot_windows(events, before, warnings) -> _Windows:
    """Find the snapshot windows (``trace_marker`` lines); events logged while the first snapshot
    was read whose effect it already shows are skipped."""
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
        if e.kind == ALLOC and (e.addr, e.addr + e.size) in busy0 or e.kind == FREE and e.addr in lazy0:
            skip.add(i)
        elif e.kind == PURGE:
            warnings.append("a purge ran while the first snapshot was read")
    return _Windows(ib0, ib1, ia0, ia1, skip)


def _check_trace_facts(events, d, res, inp) -> None:
    """The trace's lazy_max_pages() against the model's; CPUs against meta's possible CPUs."""
    lmax = {e.nr_lazy_max for e in events if e.kind == FREE}
    res.lazy_max = max(lmax) if lmax else 0
    if lmax and lmax != {d.lazy_max_pages()}:
        inp.warnings.append(f"trace lazy_max_pages {sorted(lmax)} differs from the model's "
                            f"{d.lazy_max_pages()} (online CPUs {inp.online})")
    cpus = {e.cpu for e in events}
    if cpus and max(cpus) >= inp.possible:
        raise TraceError(inp.trace.path, 0, f"events on CPU {max(cpus)} but meta says "
                                            f"{inp.possible} possible CPUs")


def _start_state(d, before) -> None:
    """Load ``vmallocinfo.before`` into the design: busy areas inside the vmalloc range have an
    unknown allocating node (``pcpu_get_vm_areas`` areas never come from a pool); pools empty."""
    busy_init = []
    for s, e, caller in before.busy:
        in_range = VMALLOC_START <= s and e <= VMALLOC_END and not caller.startswith("pcpu_get_vm_areas")
        busy_init.append((s, e, VN_UNKNOWN if in_range else 0))
    d.load_state(busy_init, before.lazy)


class _Replayer:
    """The state of one replay between the start snapshot and the final one, and the handler of
    each event kind (:meth:`alloc`, :meth:`free`, :meth:`purge`)."""

    def __init__(self, d, res, events, win: _Windows, before, starts, warnings, trace_path,
                 dirty: bool = False):
        self.d, self.res, self.events, self.win = d, res, events, win
        self.starts, self.warnings, self.trace_path = starts, warnings, trace_path
        self.misses: Counter = Counter()
        self.pending: dict[int, tuple] = {}          # purge index -> (batch, t0, t1, total)
        self.where_pending: dict[int, tuple] = {}    # va_start -> (purge index, node)
        self.unknown_frees = 0
        self.count_mismatch = 0
        self.failed = 0
        self.last_nr_lazy = None
        self.phantoms: dict[int, tuple] = {}          # reserved start -> (end, pid, ts, record index)
        self.refused: dict[int, tuple] = {}           # predicted start -> (times refused in a row, record)
        self.can_reserve = hasattr(d, "reserve_range")
        self.purged: set = set()                      # (start, size) of purged areas (pool candidates)
        self.sizes = {s: e - s for s, e, _ in before.busy}       # busy start -> size (from the trace)
        self.lazy_fifo = deque((s, e - s) for s, e, _ in before.lazy)
        self.moments: list = []                       # model (busy, lazy) before each final-window event
        self.window_ranges: set = set()               # areas allocated or freed in the final-snapshot window
        self.can_stage = hasattr(d, "purge_begin")
        self.no_pools = type(d).pools is Design.pools
        self.explain = getattr(d, "explain_miss", None)
        #: candidate pool contents (vmapsim.traces.hidden); inferring them only when the pools
        #: may have held entries at the start, counting certain/uncertain predictions always
        self.hidden = None
        if not self.no_pools and self.can_reserve and hasattr(d, "free"):
            self.hidden = HiddenPools(d, active=dirty)

    # ---------------------------------------------------------------- the event loop
    def run(self, sample_every: int = 0) -> None:
        d, events, win = self.d, self.events, self.win
        ib0, ia0, skip = win.ib0, win.ia0, win.skip
        samples = self.res.samples
        handlers = {ALLOC: self.alloc, FREE: self.free, PURGE: self.purge}
        for i in range(ib0, win.ia1):
            e = events[i]
            if sample_every and (i - ib0) % sample_every == 0:
                m = d.index_memory()
                samples.append((e.ts, m.busy_areas, m.lazy_areas, m.free_ranges, m.pool_entries))
            if self.can_stage and i in self.starts:
                self.begin_purges(i, e)
            if self.pending:
                self.push_due(e.ts)
            if i >= ia0:
                self.final_window_moment()
            if i in skip:
                continue
            h = handlers.get(e.kind)
            if h is not None:
                h(i, e)
        self.loop_warnings()

    # ---------------------------------------------------------------- purges in flight
    def begin_purges(self, i, e) -> None:
        """Start every purge whose start was placed at event *i* (:func:`~vmapsim.traces.replay_rules.plan_purges`)."""
        d, events = self.d, self.events
        for k in self.starts[i]:
            pe = events[k]
            batch = d.purge_begin(False, limit=pe.npurged)
            t0 = events[i - 1].ts if i > 0 else e.ts
            total = sum(len(v) for v in batch.lists.values())
            self.pending[k] = (batch, t0, pe.ts, total)
            for node, lst in batch.lists.items():
                for va in lst:
                    self.where_pending[va.va_start] = (k, node)

    def push_due(self, ts) -> None:
        """Push the share of each pending purge's areas that time *ts* has reached."""
        d, where_pending = self.d, self.where_pending
        for k, (batch, t0, t1, total) in list(self.pending.items()):
            if not batch.lists:
                continue
            frac = 1.0 if t1 <= t0 else min(1.0, (ts - t0) / (t1 - t0))
            want = int(total * frac)
            done = total - sum(len(v) for v in batch.lists.values())
            while done < want and batch.lists:
                ready = [n for n in batch.lists if n not in batch.held] \
                    if getattr(batch, "held", None) else batch.lists
                if not ready:
                    break
                node = min(ready)
                lst = batch.lists[node]
                step = min(len(lst), want - done)
                upto = lst[step - 1].va_end if step < len(lst) else None
                for va in lst[:step]:
                    where_pending.pop(va.va_start, None)
                d.purge_push(batch, node, upto)
                done += step

    def final_window_moment(self) -> None:
        """An event of the final-snapshot window: drop the held ranges (inferences, never compared
        with a snapshot) and remember the model's lists at this moment."""
        d, phantoms = self.d, self.phantoms
        if phantoms:
            for p_addr in list(phantoms):
                d.release_range(p_addr)
            phantoms.clear()
        if self.hidden is not None and self.hidden.active:
            self.hidden.stop()
        self.moments.append((frozenset(d.busy_areas()), frozenset(d.lazy_areas())))

    # ---------------------------------------------------------------- alloc_vmap_area
    def alloc(self, i, e) -> None:
        if e.failed:
            self.failed += 1
            return
        d, res, phantoms, misses, records = self.d, self.res, self.phantoms, self.misses, self.res.records
        addr, size = e.addr, e.size
        if phantoms:
            for p_addr in [p for p, ph in phantoms.items() if e.ts - ph[2] > PHANTOM_TTL]:
                d.release_range(p_addr)
                del phantoms[p_addr]
        choice = d.predict_alloc(size, e.align, e.vstart, e.vend, e.cpu)
        hidden = self.hidden
        model, certain = choice, True
        if hidden is not None:
            choice, certain = hidden.predict(choice, e)
            if hidden.active:
                hidden.before_apply(e)
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
                    reclassify(records, misses, ph[3], "late-traced")
        pushed_now = self.push_if_pending(addr)
        free_before = None
        if pred != addr and choice.source == "free" or model.addr != addr and model.source == "free":
            free_before = d.free_ranges()
        src = d.apply_alloc(addr, size, e.align, e.vstart, e.vend, e.cpu)
        if getattr(d, "unpushed", None):
            self.note_unpushed()
        res.allocs += 1
        cause = ""
        if pred == addr:
            res.matched += 1
            self.refused.clear()
        else:
            cause = miss_cause(choice, src, e, pushed_now, self.no_pools and (addr, size) in self.purged,
                           free_before)
            if self.explain is not None:
                # a design whose policy differs from 6.18 names its own differences
                cause = self.explain(choice, src, e, cause)
            misses[cause] += 1
            if hidden is None or not hidden.active:
                self.hold_refused(choice, pred, src, e, free_before)
        if hidden is not None:
            hidden.observe(model, choice, certain, e, src, free_before)
        self.purged.discard((addr, size))
        self.sizes[addr] = size
        if i >= self.win.ia0:
            self.window_ranges.add((addr, addr + size))
        records.append((e.ts, e.cpu, addr, size, e.align, -1 if pred is None else pred, src, cause))

    def push_if_pending(self, addr) -> bool:
        """The kernel handed out an area still waiting in a pending purge: push that node's areas
        up to it now.  True if it did."""
        hit = self.where_pending.get(addr)
        if hit is None:
            return False
        k, node = hit
        batch = self.pending[k][0]
        lst = batch.lists.get(node, [])
        for va in lst:
            if va.va_start > addr:
                break
            self.where_pending.pop(va.va_start, None)
        if getattr(batch, "held", None):
            self.d.purge_push(batch, node, addr + 1, force=True)
        else:
            self.d.purge_push(batch, node, addr + 1)
        return True

    def note_unpushed(self) -> None:
        """Entries the design gave back to a purge still being pushed (the kernel had not pushed
        them yet) are pending again."""
        d = self.d
        gens = {b.gen: k for k, (b, *_r) in self.pending.items()}
        for va_start, node, gen in d.unpushed:
            k = gens.get(gen)
            if k is not None:
                self.where_pending[va_start] = (k, node)
        d.unpushed = []

    def hold_refused(self, choice, pred, src, e, free_before) -> None:
        """After a miss: a range the kernel refused :data:`STRIKES` times in a row is held busy
        (something the trace does not show holds it); any other miss resets the count."""
        refused, records = self.refused, self.res.records
        if self.can_reserve and choice.source == "free" and pred is not None and src == "free" \
                and (e.align > PAGE_SIZE or explained_by_taking(free_before, pred, e)):
            # refused twice in a row: something the trace does not show holds the range
            if refused.get(pred, (0,))[0] >= STRIKES - 1:
                self.d.reserve_range(pred, pred + e.size)
                self.phantoms[pred] = (pred + e.size, e.pid, e.ts,
                                       refused.get(pred, (0, len(records)))[1])
                refused.clear()
            else:
                refused[pred] = (refused.get(pred, (0,))[0] + 1, len(records))
        else:
            refused.clear()

    # ---------------------------------------------------------------- free_vmap_area_noflush
    def free(self, i, e) -> None:
        hint = None
        if self.last_nr_lazy is not None and e.nr_lazy > self.last_nr_lazy:
            hint = (e.nr_lazy - self.last_nr_lazy) * PAGE_SIZE
        self.last_nr_lazy = e.nr_lazy
        ph = self.phantoms.pop(e.addr, None)
        if ph is not None:
            # something held the reserved range: an allocation with no trace event
            reclassify(self.res.records, self.misses, ph[3], "untraced-alloc")
        sizes = self.sizes
        if i >= self.win.ia0 and e.addr in sizes:
            self.window_ranges.add((e.addr, e.addr + sizes[e.addr]))
        self.lazy_fifo.append((e.addr, sizes.pop(e.addr, 0)))
        if self.hidden is not None:
            self.hidden.freed(e.addr)
        r = self.d.apply_free(e.addr, e.cpu, hint)
        if r != "ok":
            self.unknown_frees += 1
            if self.unknown_frees <= 3:
                self.warnings.append(f"{self.trace_path}:{e.line}: free of {e.addr:#x}, which the model "
                                     "does not have as a busy area (event missing before the trace?)")
        self.res.lazy.append((e.ts, e.nr_lazy))

    # ---------------------------------------------------------------- purge_vmap_area_lazy
    def purge(self, i, e) -> None:
        d = self.d
        self.last_nr_lazy = None
        lazy_fifo = self.lazy_fifo
        for _ in range(min(e.npurged, len(lazy_fifo))):
            self.purged.add(lazy_fifo.popleft())
        if self.can_stage and i in self.pending:
            batch = self.pending.pop(i)[0]
            for lst in batch.lists.values():
                for va in lst:
                    self.where_pending.pop(va.va_start, None)
            n = d.purge_finish(batch)
        else:
            n = d.purge_vmap_area_lazy(False, e.cpu)
        if n != e.npurged:
            self.count_mismatch += 1
        self.res.purges.append((e.ts, e.npurged, n))

    def loop_warnings(self) -> None:
        warnings = self.warnings
        if self.unknown_frees > 3:
            warnings.append(f"{self.unknown_frees} frees of areas unknown to the model in total")
        if self.count_mismatch:
            warnings.append(f"{self.count_mismatch} purge(s) purged a different number of areas in "
                            "the model than num_purged says")
        if self.failed:
            warnings.append(f"{self.failed} failed allocation(s) in the trace (not scored)")


def replay(directory, design: str = "linux-6.18", sample_every: int = 0, account: bool = False,
           recording: str | None = None, infer: bool | None = None, **design_params) -> ReplayResult:
    """Replay the capture in *directory* under *design* (see the module docstring).

    *sample_every* > 0 also records, every that many events, ``(ts, busy, lazy, free ranges,
    pool entries)`` counts of the model in ``ReplayResult.samples``.  *account* keeps the
    design's per-operation lock records (off by default: the replay only needs addresses).
    *recording* names the file to replay when *directory* holds several.  *infer* forces the
    inference of hidden pool contents on (True) or off (False); by default it runs when the
    pools may have held entries at the start (no ``meta``, or ``clean_pools=0``).

    The steps: :func:`_load_inputs`, :func:`_snapshot_windows`, :func:`_check_trace_facts`,
    :func:`_start_state`, :func:`~vmapsim.traces.replay_rules.plan_purges`, the event loop (:class:`_Replayer`), and
    :func:`~vmapsim.traces.replay_rules.final_state`."""
    design = check_choice("design", design, available_designs())
    directory = Path(directory)
    inp = _load_inputs(directory, recording)
    warnings = inp.warnings
    d = make_design(design, possible_cpus=inp.possible, online_cpus=inp.online, **design_params)
    d.acct.enabled = account
    events = inp.trace.events
    res = ReplayResult(design, str(directory), meta=inp.meta)
    win = _snapshot_windows(events, inp.before, warnings)
    _check_trace_facts(events, d, res, inp)
    _start_state(d, inp.before)
    starts, w = plan_purges(events, win.ib0, win.ia1, len(inp.before.lazy), win.skip)
    warnings += w
    dirty = not inp.meta or inp.meta.get("clean_pools", "1") != "1"
    rp = _Replayer(d, res, events, win, inp.before, starts, warnings, inp.trace.path,
                   dirty if infer is None else infer)
    rp.run(sample_every)
    if rp.hidden is not None:
        res.certain, res.certain_matched, res.uncertain, res.uncertain_matched = rp.hidden.summary()
        res.certain_flags = rp.hidden.flags
        if dirty:
            warnings.append(_dirty_warning(res))
    res.final_state_equal = final_state(rp, inp.after, warnings)
    res.misses_by_cause = dict(rp.misses)
    res.warnings = warnings
    res.model = d
    return res


def _exists(directory, name):
    return (directory / name).exists() or (directory / (name + ".gz")).exists()


def add_arguments(parser) -> None:
    parser.add_argument("dir", help="capture directory: a recording of any form (tracefs text, trace-cmd "
                        "report, perf script, trace.dat, perf.data) and vmallocinfo.before/.after; meta "
                        "if vmapsim capture made it")
    parser.add_argument("--design", default="linux-6.18", help="design name (see vmapsim.designs.base)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--recording", default=None, metavar="NAME",
                        help="the file in DIR to replay when it holds several recordings "
                             "(default: found by content; tools' files first)")


def run(args) -> int:
    res = replay(args.dir, args.design, recording=args.recording)
    if args.json:
        print(json.dumps(res.as_json(), indent=2))
    else:
        print(res.table())
    return 0
