"""Checking a capture against what the kernel can emit, before a design replays it.

:func:`check_capture` is a pre-pass over the parsed trace (:mod:`vmapsim.traces.read`) and the
``vmallocinfo.before`` snapshot.  It never changes the events; it either raises
:class:`~vmapsim.errors.TraceError` naming file:line, or returns warnings that name file:line
and say what the problem does to the replay's numbers.

**Refused: events the kernel cannot emit** (each rule from mm/vmalloc.c, 6.18; see
docs/kernel-vmalloc.md sections 3.1, 4, 5.2 and 11.1):

* ``alloc_vmap_area``: ``size`` 0 or not a multiple of PAGE_SIZE, or ``align`` not a power of
  two (``alloc_vmap_area()`` returns ``-EINVAL`` before the tracepoint); ``failed`` other than
  0/1 (the tracepoint records ``IS_ERR_VALUE(addr)``); a successful area that is not page
  aligned, not aligned to ``align``, or not inside ``[vstart, vend]``; a failed one whose
  ``va_start`` is not an error value (or ``vend``, the convention before error values); a
  window outside the kernel half or empty (``vstart > vend``).  ``align`` may be below
  PAGE_SIZE: ``vmalloc()`` passes 1 (17,811 of the allocations of ``large-s31``).
* ``free_vmap_area_noflush``: ``va_start`` not page aligned or outside the kernel half;
  ``nr_lazy`` 0 (it counts pages after adding this area's); ``nr_lazy_max`` that is not
  ``lazy_max_pages() = fls(num_online_cpus()) * 32 MiB / PAGE_SIZE`` for any CPU count up to
  ``possible_cpus``.
* ``purge_vmap_area_lazy`` that purged areas (``num_purged > 0``) with ``start >= end``.
* Any event on a CPU at or above ``possible_cpus`` of ``meta``.
* A line that repeats another exactly (same CPU, timestamp, task and fields) for an
  allocation, a free or a purge that purged something: the kernel logs each such event once,
  and the state it changes makes a second identical one impossible within one timestamp.
* The capture's own ``trace_marker`` lines out of order or twice.
* A free of an area that is lazy already (freed at an earlier line and not purged since), unless
  the trace lost events.

**Warned: events that contradict the state so far** (they can have a cause the trace does not
show, such as ``free_vmap_area()`` on an error path, which has no tracepoint):

* an allocation overlapping a busy area;
* a free of an address that is no busy area's start;
* a purge of more areas than are lazy;
* ``nr_lazy`` drifting away from the pages of the lazy areas the trace accounts for (a free or
  purge event missing or doubled, an allocation's size edited): ``nr_lazy`` equals that sum at
  99.6 % of the frees of the shipped captures; a free logged late (its pages were added before
  other CPUs' frees that are logged first) makes a difference that returns to zero by itself, so
  only a difference that lasts :data:`LAG_SECONDS` and :data:`LAG_FREES` is reported (a purge
  resets both);
* an area ``vmallocinfo.after`` lists busy that the trace freed and never allocated again;
* an identical line for an empty purge; a ``trace_marker`` text that looks like the capture's
  but is not one of them; ``nr_lazy_max`` changing during the trace; windows that are neither
  the vmalloc nor the module window the model knows.

The state follows the replay's own rules (docs/kernel-vmalloc.md section 11.2): it starts from
``vmallocinfo.before`` at the first snapshot marker (without snapshot markers the state checks
are skipped, and a warning says so); events logged while that snapshot was read
count only if the snapshot does not already show them; lazy areas are purged oldest first.
"""
from __future__ import annotations

import bisect
from collections import deque

from ..errors import TraceError
from ..vmalloc.vmap_area import MODULES_VADDR, PAGE_SHIFT, PAGE_SIZE, VMALLOC_END, VMALLOC_START
from .capture import MARKERS
from .read import ALLOC, FREE, KERNEL_SPACE, MARK, PURGE

__all__ = ["LAG_FREES", "LAG_SECONDS", "MAX_NAMED", "check_capture"]

U64 = 1 << 64
#: IS_ERR_VALUE(x): the top MAX_ERRNO (4095) values of an unsigned long
ERR_MIN = U64 - 4095
#: arch/x86/include/asm/pgtable_64_types.h: MODULES_END (MODULES_VADDR is 0xffffffffa0000000
#: without, 0xffffffffc0000000 with KASLR of the kernel image)
MODULES_END = 0xFFFFFFFFFF000000
KNOWN_WINDOWS = {(VMALLOC_START, VMALLOC_END): "vmalloc",
                 (MODULES_VADDR, MODULES_END): "modules",
                 (0xFFFFFFFFA0000000, MODULES_END): "modules"}
#: lazy_max_pages() per fls(num_online_cpus()): 32 MiB of pages
LAZY_UNIT = (32 << 20) >> PAGE_SHIFT
#: how long an nr_lazy difference must last, in trace time and in frees, before it is reported.
#: A free is logged after its pages were added (atomic_long_add_return(), then lazy.lock, the
#: insert, the tracepoint; a preemption may fall in between), so other CPUs' frees can show its
#: pages first.  In the 16 shipped captures (80 such differences) the longest lasted 32 ms (over 2
#: frees) and the one over most frees 6 frees (10 us); a missing free shows until the next purge.
LAG_SECONDS = 0.1
LAG_FREES = 16
#: named occurrences per kind of warning (the rest are counted)
MAX_NAMED = 5
_ORDER = ("drop_caches", "before_begin", "before_end", "after_begin", "after_end")


def check_capture(trace, before, meta: dict | None = None, after=None) -> list[str]:
    """Check *trace* (a :class:`~vmapsim.traces.read.Trace`) and the *before* snapshot; raise
    :class:`TraceError` (file:line) for an impossible event, return warnings (see the module
    docstring).  *meta* is the capture's ``meta`` dict (``possible_cpus``, ``lost_events``)."""
    meta = meta or {}
    possible = int(meta.get("possible_cpus", 2))
    lost = trace.lost_events or int(meta.get("lost_events", 0) or 0)
    c = _Checker(trace.path, possible, lost)
    for e in trace.events:
        c.event(e)
    c.markers(trace.events)
    c.state(trace.events, before, after)
    return c.report()


class _Checker:
    def __init__(self, path, possible, lost):
        self.path, self.possible, self.lost = path, possible, lost
        self.named: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        self.tails: dict[str, str] = {}
        self.recent: dict[int, tuple[float, dict]] = {}    # cpu -> (ts, {key: line})
        self.windows: dict[tuple, list] = {}
        self.lazy_max: tuple | None = None
        self.max_fls = max(1, possible.bit_length())
        #: (seconds, frees) of every nr_lazy difference that went back to zero by itself
        self.excursions: list = []

    # ------------------------------------------------------------------ reporting
    def fail(self, e, problem):
        raise TraceError(self.path, e.line, problem)

    def warn(self, kind, line, text, tail):
        """One warning of *kind* naming *line*; after MAX_NAMED of a kind only a count."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        lst = self.named.setdefault(kind, [])
        if len(lst) < MAX_NAMED:
            lst.append(f"{self.path}:{line}: {text}" if line else f"{self.path}: {text}")
        self.tails[kind] = tail

    def report(self) -> list[str]:
        out = []
        for kind, lst in self.named.items():
            n = self.counts[kind]
            more = f" ({n - len(lst)} more like it)" if n > len(lst) else ""
            out.append(f"{lst[0]}; {self.tails[kind]}{more}" if self.tails[kind] else lst[0] + more)
            out += lst[1:]
        return out

    # ------------------------------------------------------------------ per event
    def event(self, e):
        if e.cpu >= self.possible:
            self.fail(e, f"event on CPU {e.cpu}, but meta says possible_cpus={self.possible}")
        if e.kind == ALLOC:
            self.alloc(e)
        elif e.kind == FREE:
            self.free(e)
        elif e.kind == PURGE:
            self.purge(e)
        if e.kind != MARK:
            self.duplicate(e)

    def alloc(self, e):
        for name in ("addr", "size", "align", "vstart", "vend"):
            if getattr(e, name) >= U64:
                self.fail(e, f"{'va_start' if name == 'addr' else name}={getattr(e, name)} does not "
                             "fit in an unsigned long")
        if e.failed not in (0, 1):
            self.fail(e, f"failed={e.failed}: the tracepoint records IS_ERR_VALUE(addr), 0 or 1")
        if e.size == 0 or e.size % PAGE_SIZE:
            self.fail(e, f"size={e.size} is not a positive multiple of PAGE_SIZE ({PAGE_SIZE}): "
                         "alloc_vmap_area() refuses such a request before the tracepoint")
        if e.align & (e.align - 1) or e.align == 0:
            self.fail(e, f"align={e.align} is not a power of two: alloc_vmap_area() refuses such a "
                         "request before the tracepoint")
        if e.vstart < KERNEL_SPACE or e.vend < KERNEL_SPACE:
            self.fail(e, f"window vstart={e.vstart:#x} vend={e.vend:#x} is not in the kernel's "
                         "address space")
        if e.vstart > e.vend:
            self.fail(e, f"empty window: vstart={e.vstart:#x} > vend={e.vend:#x}")
        if e.failed:
            if e.addr < ERR_MIN and e.addr != e.vend:
                self.fail(e, f"failed=1 but va_start={e.addr:#x} is an address, not an error value")
        else:
            if e.addr >= ERR_MIN:
                self.fail(e, f"va_start={e.addr} is an error value but failed=0")
            if e.addr % PAGE_SIZE or e.addr % e.align:
                self.fail(e, f"va_start={e.addr:#x} is not aligned to {max(e.align, PAGE_SIZE)}: "
                             "the kernel hands out page-aligned areas aligned to align")
            if e.addr < e.vstart or e.addr + e.size > e.vend:
                self.fail(e, f"area {e.addr:#x}-{e.addr + e.size:#x} is outside the requested window "
                             f"{e.vstart:#x}-{e.vend:#x}")
        w = (e.vstart, e.vend)
        if w not in KNOWN_WINDOWS:
            self.windows.setdefault(w, []).append(e.line)

    def free(self, e):
        if e.addr >= U64 or e.nr_lazy >= U64 or e.nr_lazy_max >= U64:
            self.fail(e, "a field does not fit in an unsigned long")
        if e.addr % PAGE_SIZE or e.addr < KERNEL_SPACE:
            self.fail(e, f"va_start={e.addr:#x} is not a page-aligned kernel address")
        if e.nr_lazy == 0:
            self.fail(e, "nr_lazy=0: it counts the lazy pages after adding this area's (>= 1)")
        q, r = divmod(e.nr_lazy_max, LAZY_UNIT)
        if r or not 1 <= q <= self.max_fls:
            self.fail(e, f"nr_lazy_max={e.nr_lazy_max} is not lazy_max_pages() for any online CPU "
                         f"count up to possible_cpus={self.possible} (fls(cpus) * {LAZY_UNIT})")
        if self.lazy_max is None:
            self.lazy_max = (e.nr_lazy_max, e.line)
        elif e.nr_lazy_max != self.lazy_max[0]:
            self.warn("lazy_max", e.line,
                      f"nr_lazy_max={e.nr_lazy_max} differs from {self.lazy_max[0]} at line "
                      f"{self.lazy_max[1]} (CPUs went on- or offline?)",
                      "the model keeps one lazy_max_pages(): its purge thresholds differ after "
                      "such a change")

    def purge(self, e):
        if e.npurged >= 1 << 32:
            self.fail(e, f"num_purged={e.npurged} does not fit in the tracepoint's 32-bit field")
        if e.npurged and not (KERNEL_SPACE <= e.addr < e.vend < U64):
            self.fail(e, f"purge of {e.npurged} area(s) with flush range start={e.addr:#x} "
                         f"end={e.vend:#x}: purged areas make start < end, both kernel addresses")

    def duplicate(self, e):
        key = (e.kind, e.pid, e.comm, e.addr, e.size, e.align, e.vstart, e.vend, e.failed,
               e.nr_lazy, e.nr_lazy_max, e.npurged)
        ts, seen = self.recent.get(e.cpu, (None, None))
        if ts != e.ts:
            seen = {}
            self.recent[e.cpu] = (e.ts, seen)
        first = seen.get(key)
        if first is None:
            seen[key] = e.line
            return
        if e.kind == PURGE and not e.npurged:
            self.warn("dup-empty-purge", e.line,
                      f"repeats line {first} exactly (an empty purge, same CPU and timestamp)",
                      "the replay decays the pools once more, which moves later pool predictions")
            return
        self.fail(e, f"repeats line {first} exactly (same CPU, timestamp, task and fields): the "
                     "kernel logs such an event once (a duplicated line?)")

    # ------------------------------------------------------------------ markers
    def markers(self, events):
        known = {text: name for name, text in MARKERS.items()}
        where: dict[str, object] = {}
        for e in events:
            if e.kind != MARK:
                continue
            name = known.get(e.text)
            if name is None:
                if e.text.lower().startswith("vmapsim"):
                    self.warn("marker", e.line, f"trace_marker text {e.text[:60]!r} is not one the "
                              "capture writes",
                              "the replay looks for the exact texts: a snapshot window it does not "
                              "find changes which events are compared with the snapshots")
                continue
            if name in where:
                self.fail(e, f"marker {e.text!r} again (first at line {where[name].line}): the "
                             "capture writes it once")
            where[name] = e
        prev = None
        for name in _ORDER:
            e = where.get(name)
            if e is None:
                continue
            if prev is not None and (e.ts, e.line) < (prev.ts, prev.line):
                self.fail(e, f"marker {e.text!r} comes before {prev.text!r} (line {prev.line}): "
                             "the capture writes them in the opposite order")
            prev = e
        for (vs, ve), lines in self.windows.items():
            self.warn("window", lines[0],
                      f"{len(lines)} allocation(s) ask for the window {vs:#x}-{ve:#x}, which is "
                      "neither the vmalloc nor the module window of the model",
                      "the model searches them as a plain range, without node pools")

    # ------------------------------------------------------------------ state
    def state(self, events, before, after=None):
        def index(text):
            for i, e in enumerate(events):
                if e.kind == MARK and e.text == text:
                    return i
            return None
        ib0, ib1 = index(MARKERS["before_begin"]), index(MARKERS["before_end"])
        ia0 = index(MARKERS["after_begin"])
        ia1 = index(MARKERS["after_end"]) if ia0 is not None else None
        if ib0 is None or ib1 is None:
            # which events the snapshot already shows is unknown: the state checks would only
            # repeat that (an allocation "again", a purge of areas the snapshot did not list)
            self.warn("no-window", 0, "no snapshot markers: the events are checked one by one, "
                      "not against the state (duplicated, deleted or edited lines that the kernel "
                      "could have written are not caught)", "")
            return
        if ia1 is None:
            ia0 = ia1 = len(events)
        busy0 = {(s, e) for s, e, _ in before.busy}
        lazy0 = {s for s, e, _ in before.lazy}
        starts: list[int] = sorted(s for s, _, _ in before.busy)
        busy: dict[int, tuple[int, int]] = {s: (e, 0) for s, e, _ in before.busy}
        lazy: dict[int, tuple[int, int]] = {s: (e, 0) for s, e, _ in before.lazy}
        fifo = deque((s, (e - s) >> PAGE_SHIFT) for s, e, _ in before.lazy)
        pages = sum(p for _, p in fifo)          # pages of the lazy areas the trace accounts for
        base = None                              # nr_lazy - pages when last consistent
        streak = None                            # (first line, difference, frees)
        last_nr = None
        freed_at: dict[int, int] = {}            # start -> line of its last free (not re-allocated)
        in_window: set = set()                   # starts with an event while the last snapshot ran

        def origin(line):
            return f"line {line}" if line else "vmallocinfo.before"

        for i in range(ib0, ia1):
            e = events[i]
            if ib0 <= i < ib1 and ((e.kind == ALLOC and (e.addr, e.addr + e.size) in busy0) or
                                   (e.kind == FREE and e.addr in lazy0)):
                continue                         # the snapshot shows it already (as replay does)
            if i >= ia0 and e.kind in (ALLOC, FREE):
                in_window.add(e.addr)
            if e.kind == ALLOC and not e.failed:
                end = e.addr + e.size
                k = bisect.bisect_right(starts, e.addr) - 1
                hits = []
                if k >= 0 and busy[starts[k]][0] > e.addr:
                    hits.append(starts[k])
                j = k + 1
                while j < len(starts) and starts[j] < end:
                    hits.append(starts[j])
                    j += 1
                if hits:
                    s = hits[0]
                    self.warn("overlap", e.line,
                              f"allocation {e.addr:#x}-{end:#x} overlaps the busy area "
                              f"{s:#x}-{busy[s][0]:#x} ({origin(busy[s][1])})",
                              "the kernel never hands out a busy range: a free without trace event "
                              "(free_vmap_area() on an error path), or an edited or duplicated "
                              "line; the replay drops the old area and counts this allocation "
                              "as a miss (model-state-wrong)")
                    for s in hits:
                        del busy[s]
                        starts.remove(s)
                for s in [s for s, (t, _) in lazy.items() if s < end and e.addr < t]:
                    del lazy[s]                  # pushed to a pool by a purge not logged yet
                bisect.insort(starts, e.addr)
                busy[e.addr] = (end, e.line)
                freed_at.pop(e.addr, None)
            elif e.kind == FREE:
                freed_at[e.addr] = e.line
                got = busy.pop(e.addr, None)
                size_pages = None
                if got is not None:
                    starts.remove(e.addr)
                    size_pages = (got[0] - e.addr) >> PAGE_SHIFT
                    lazy[e.addr] = (got[0], e.line)
                elif e.addr in lazy:
                    if not self.lost:
                        self.fail(e, f"free of {e.addr:#x}, which is lazy already (freed at "
                                     f"{origin(lazy[e.addr][1])}, not purged since)")
                else:
                    k = bisect.bisect_right(starts, e.addr) - 1
                    inside = k >= 0 and busy[starts[k]][0] > e.addr
                    self.warn("unknown-free", e.line,
                              f"free of {e.addr:#x}, which is " +
                              (f"inside the busy area {starts[k]:#x}-{busy[starts[k]][0]:#x}"
                               if inside else "no busy area of the trace or of vmallocinfo.before"),
                              "an allocation without trace event, or a lost, deleted or edited "
                              "line; the replay makes the range lazy with the size nr_lazy "
                              "implies, and predictions near it may miss")
                    # lazy in the kernel all the same: its size is what nr_lazy rose by
                    rise = e.nr_lazy - (last_nr if last_nr is not None else pages + (base or 0))
                    size_pages = max(0, rise)
                    if size_pages:
                        lazy[e.addr] = (e.addr + (size_pages << PAGE_SHIFT), e.line)
                if size_pages is not None:
                    fifo.append((e.addr, size_pages))
                    pages += size_pages
                diff = e.nr_lazy - pages
                if base is None:
                    base = diff
                if diff == base:
                    if streak is not None:
                        self.excursions.append((e.ts - streak[2], streak[3]))
                    streak = None
                elif streak is None:
                    streak = (e.line, diff, e.ts, 1)
                else:
                    streak = (streak[0], diff, streak[2], streak[3] + 1)
                    if e.ts - streak[2] > LAG_SECONDS and streak[3] > LAG_FREES:
                        d = diff - base
                        self.warn("nr_lazy", streak[0],
                                  f"from here nr_lazy is {abs(d)} page(s) {'above' if d > 0 else 'below'}"
                                  " the pages of the lazy areas the trace shows (for "
                                  f"{(e.ts - streak[2]) * 1e3:.1f} ms, {streak[3]} frees)",
                                  "a free or purge event missing or doubled, or an allocation's "
                                  "size edited: the model's lazy areas differ from the kernel's, "
                                  "and its purges and pool reuse after this line may mispredict")
                        base, streak = diff, None
                last_nr = e.nr_lazy
            elif e.kind == PURGE:
                if e.npurged > len(fifo):
                    self.warn("purge-count", e.line,
                              f"purge of {e.npurged} area(s), but only {len(fifo)} are lazy here",
                              "a duplicated or edited purge line, or frees the trace lacks: the "
                              "replay purges what it has and reports a purge count mismatch")
                for _ in range(min(e.npurged, len(fifo))):
                    s, p = fifo.popleft()
                    pages -= p
                    lazy.pop(s, None)
                last_nr = None
                streak = None                    # a purge moves nr_lazy while it runs
        if after is not None:
            self.final(after, busy, freed_at, in_window)

    def final(self, after, busy, freed_at, in_window):
        """An area ``vmallocinfo.after`` lists busy that the trace freed and never allocated
        again: an allocation without trace event, or a deleted line.  (The replay may infer such
        an allocation from the kernel's refusals and hold the range, so its own final-state
        comparison need not show it.)  Areas with an event while the snapshot was read, and
        ``pcpu_get_vm_areas`` areas (no tracepoint), are left out."""
        for s, e, caller in after.busy:
            if s in busy or s in in_window or caller.startswith("pcpu_get_vm_areas"):
                continue
            if s in freed_at:
                self.warn("after-busy", freed_at[s],
                          f"{s:#x}-{e:#x} is freed here and never allocated again in the trace, "
                          "yet vmallocinfo.after lists it busy",
                          "an allocation without trace event, or a deleted line: the replay "
                          "holds such a range only if it infers it, and its numbers around it "
                          "may differ")
