"""The rules by which a replay reads the evidence of a trace: where a purge started
(:func:`plan_purges`), what a miss is blamed on (:data:`MISS_CAUSES`, :func:`miss_cause`,
:func:`reclassify`, :func:`explained_by_taking`), and when the final state equals
``vmallocinfo.after`` (:func:`compare_final`, :func:`final_state`).  Used by :mod:`vmapsim.traces.replay`.
"""
from __future__ import annotations

from collections import deque

from ..vmalloc.free_space import lowest_fit_reference
from ..vmalloc.vmap_area import PAGE_SIZE
from .read import FREE, MARK, PURGE

__all__ = ["MISS_CAUSES", "PURGE_BASE", "PURGE_PER_AREA", "compare_final", "explained_by_taking",
           "final_state", "miss_cause", "plan_purges", "reclassify"]

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
    "hidden-pool-order": "the prediction was a candidate entry of a pool the start snapshot could not "
                         "show (pools not drained) and the kernel took another one",
    "kernel-pool-reuse": "the kernel reused a purged area of this size from a per-node pool; the design "
                         "has no pool entry for it (designs without pools, or a different pool policy)",
}


def plan_purges(events, i0, i1, initial_lazy, skip):
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


def compare_final(moments, after) -> set:
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


def reclassify(records, misses, idx, cause):
    r = records[idx]
    if r[7] and r[7] != cause:
        misses[r[7]] -= 1
        if not misses[r[7]]:
            del misses[r[7]]
        misses[cause] += 1
        records[idx] = r[:7] + (cause,)


def explained_by_taking(free, p, e) -> bool:
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


def miss_cause(choice, src, e, pushed_now, pool_reuse, free_before=None) -> str:
    if pool_reuse:
        return "kernel-pool-reuse"
    if pushed_now:
        return "purge-timing"
    if choice.source == "hidden-pool":
        return "hidden-pool-order"
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


def final_state(rp, after, warnings) -> bool:
    """Compare the model of replayer *rp* with ``vmallocinfo.after``; True if equal (races of the
    read excused, each named in *warnings*)."""
    d, moments, window_ranges = rp.d, rp.moments, rp.window_ranges
    if rp.hidden is not None:
        rp.hidden.stop()
    moments.append((frozenset(d.busy_areas()), frozenset(d.lazy_areas())))
    real = compare_final(moments, after)
    # an area is in no list between find_unlink_vmap_area() and the lazy insert (its free event),
    # and between the alloc event and the busy insert: if the read hit that window it is absent
    listed = {(s, e) for s, e, _ in after.busy} | {(s, e) for s, e, _ in after.lazy}
    in_flight = {x for x in real if x in window_ranges and x not in listed}
    if in_flight:
        warnings.append(f"{len(in_flight)} area(s) were between the busy and the lazy list while the "
                        "final snapshot was read (absent from both; not compared)")
        real -= in_flight
    # areas the model holds busy by inference only (with pool_resync="limbo" an entry the kernel
    # skipped at a pool head is held busy until an event says where it was): never allocated, a
    # snapshot that does not list them busy shows them pooled or free, which it cannot tell apart
    traced = {(s, s + z) for s, z in rp.sizes.items()}
    after_busy = {(s, e) for s, e, _ in after.busy}
    inferred = {x for x in real if x in moments[-1][0] and x not in traced and x not in after_busy
                and x not in {(s, e) for s, e, _ in after.lazy}}
    if inferred:
        warnings.append(f"{len(inferred)} area(s) held busy by inference (entries the kernel skipped at "
                        "a pool head, never allocated in the trace) are not listed in vmallocinfo.after: "
                        "pooled or free there, which a snapshot cannot tell apart (not compared)")
        real -= inferred
    late_frees = {x for x in real if x in moments[-1][0] and x in {(s, e) for s, e, _ in after.lazy}}
    if late_frees:
        warnings.append(f"{len(late_frees)} late free(s): busy in the model, lazy in vmallocinfo.after "
                        "(freed after tracing stopped, before the snapshot was read)")
        real -= late_frees
    if len(moments) > 1:
        warnings.append(f"{len(moments) - 1} event(s) happened while the final snapshot was read: the "
                        "busy list is compared with the model at one moment, the lazy list at the "
                        "same or a later one")
    if real:
        sample = ", ".join(f"{s:#x}-{e:#x}" for s, e in sorted(real)[:3])
        warnings.append(f"final state differs from vmallocinfo.after in {len(real)} area(s): {sample}")
    return not real
