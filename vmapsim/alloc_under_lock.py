"""Allocating maple nodes for stores made under a spinlock: the thread's open questions 6 and 7.

The experiments behind notebook ``06-allocation-under-lock``.  Three answers from the thread:

``posted`` (Pranjal Arya, M24; patches 04-05)
    gap-find and publish under one external spinlock (``free_vmap_area_lock``); nodes from
    ``mas_preallocate(GFP_NOWAIT | __GFP_NOWARN)``, then ``mas_store_gfp(GFP_ATOMIC |
    __GFP_NOWARN)``, and if both fail the range goes on ``vmap_retry_list``, "scanned by the
    allocator as an exclusion set, drained by the purge worker" (thread INDEX 1.1).
``revalidate`` (Uladzislau Rezki, M19)
    preallocate outside the lock (may sleep), retake it, re-check that the range found before
    is still free, store without allocating; start over if it was taken.
``mas-nomem`` (Matthew Wilcox, M26)
    the tree's own spinlock, the normal API: ``mtree_alloc_range``'s shape, where
    ``mas_nomem()`` drops the lock to allocate with ``GFP_KERNEL`` and the operation -- gap
    search included -- restarts (lib/maple_tree.c: ``mas_nomem`` drops the lock only when the
    gfp may block and the lock is the tree's own, not ``MT_FLAGS_LOCK_EXTERN``).

The interleaving side uses the explorer's I1 family (:mod:`vmapsim.scenarios_alloc`:
``I1`` = preallocate outside the lock *without* the re-check, ``I1-revalidate``,
``I1-mas-nomem``, ``I1-store-gfp``) plus :func:`posted_race`, the posted scheme with an
injected double allocation failure, written here: with the retry list scanned as an
exclusion set it is safe; without the scan the second allocator takes the same range.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from .params import check_choice

__all__ = ["Approach", "APPROACHES", "posted_race", "approach_verdicts", "VerdictLine"]


@dataclass(frozen=True)
class Approach:
    name: str
    who: str
    lock: str
    nodes: str
    sleeps: str
    on_failure: str
    scenarios: tuple   # (scenario, what it shows)


APPROACHES = (
    Approach("preallocate NOWAIT, then ATOMIC, then retry list", "Pranjal Arya, M24",
             "external spinlock held from gap-find to publish",
             "mas_preallocate(GFP_NOWAIT) under the lock; mas_store_gfp(GFP_ATOMIC)",
             "never", "range parked on vmap_retry_list, excluded from later searches",
             (("posted", "posted scheme, both allocations fail, retry list scanned"),
              ("posted-noscan", "same, a search that does not scan the retry list"))),
    Approach("preallocate outside the lock, revalidate", "Uladzislau Rezki, M19",
             "external spinlock, dropped to allocate",
             "mas_preallocate(GFP_KERNEL) outside the lock",
             "outside the lock", "allocation sleeps; the range is re-checked after",
             (("I1", "without the re-check: the stale range is stored"),
              ("I1-revalidate", "with the re-check"))),
    Approach("the tree's own lock, dropped inside the store", "Matthew Wilcox, M26",
             "the tree's internal spinlock (also protecting the caller's state)",
             "mas_nomem(): GFP_KERNEL with the tree lock dropped",
             "with the tree lock dropped", "the operation restarts from the root",
             (("I1-mas-nomem", "mtree_alloc_range: the gap search restarts"),
              ("I1-store-gfp", "mas_empty_area + mas_store_gfp: only the store restarts"))),
)


def posted_race(scan_retry_list: bool = True, fail: str = "T1"):
    """Two allocators ``T1``/``T2`` want ``SIZE`` bytes from the same window of the real maple
    tree (``alloc_range=True``, :mod:`vmapsim.scenarios_alloc`'s layout), each holding the
    external lock from ``mas_empty_area`` to the publish, as the posted series does.  For
    thread ``fail`` both ``GFP_NOWAIT`` and ``GFP_ATOMIC`` node allocations fail: its range
    is not stored in the tree but parked on ``vmap_retry_list`` and the allocation proceeds
    (patch 05).  ``scan_retry_list``: the other allocator's search skips ranges on the list
    (the exclusion set); without it, it finds the same gap.  Property: no two live areas
    overlap when mapped."""
    from .maple import MapleBusy
    from .rcu import Violation
    from .scenarios import Scenario, Thread, builder_source
    from .scenarios_alloc import HI, LO, SIZE
    from .scenarios_tree import make_tree

    check_choice("fail", fail, ("T1", "T2", "none"))
    knobs = dict(scan_retry_list=scan_retry_list, fail=fail)

    def setup(w):
        tree = make_tree(w, "occupied", [(LO, 0x3FFF, w.obj("V0", kind="vmap_area")),
                                         (0x6000, 0x7FFF, w.obj("V1", kind="vmap_area"))],
                         "inplace", alloc_range=True)
        lock = w.obj("free_vmap_area_lock", kind="spinlock", lock=None)
        pt = w.obj("pgtable", kind="page_table")
        w.ghost["mapped"] = []
        w.ghost["retry"] = []
        return SimpleNamespace(tree=tree, lock=lock, pt=pt)

    def search(ctx, s):
        def fn(w):
            lo = LO
            while True:
                try:
                    start = s.tree.empty_area(lo, HI, SIZE)
                except MapleBusy:
                    return None
                clash = [r for r in w.ghost["retry"] if r[0] < start + SIZE and start < r[1]]
                if not scan_retry_list or not clash:
                    return start
                lo = max(r[1] for r in clash)
        what = "mas_empty_area" + (" excluding vmap_retry_list" if scan_retry_list else "")
        return ctx.atomic(s.tree, fn, text=f"{what}([{LO:#x}, {HI:#x}], {SIZE:#x})")

    def publish(ctx, s, start, va, fails):
        def fn(w):
            if fails:
                w.ghost["retry"].append((start, start + SIZE, ctx.name))
                return "retry"
            s.tree.store_range(start, start + SIZE - 1, va)
            return "stored"
        text = (f"NOWAIT and ATOMIC fail: [{start:#x}, {start + SIZE:#x}) -> vmap_retry_list"
                if fails else f"mas_store_prealloc [{start:#x}, {start + SIZE - 1:#x}] = {va.name}")
        return ctx.atomic(s.tree, fn, text=text)

    def vmap(ctx, s, start):
        def fn(w):
            for (a, b, who) in w.ghost["mapped"]:
                if a < start + SIZE and start < b:
                    raise Violation("overlap", f"{ctx.name} maps [{start:#x}, {start + SIZE:#x}) "
                                    f"already mapped by {who}: WARN 'remapping already mapped "
                                    "page' in vmap_pages_pte_range", events=(w.step,))
            w.ghost["mapped"].append((start, start + SIZE, ctx.name))
        return ctx.atomic(s.pt, fn, text=f"vmap_pages_range [{start:#x}, {start + SIZE:#x})")

    def allocator(ctx, s):
        va = yield ctx.alloc("vmap_area", name=f"va_{ctx.name}")
        yield ctx.spin_lock(s.lock)
        start = yield search(ctx, s)
        ctx.check(start is not None, "no gap left")
        yield publish(ctx, s, start, va, fails=ctx.name == fail)
        yield ctx.spin_unlock(s.lock)
        yield vmap(ctx, s, start)

    desc = (f"T1 and T2 allocate {SIZE:#x} bytes under one external lock (posted scheme); "
            f"{fail}'s node allocations fail and its range goes to vmap_retry_list; the search "
            + ("skips" if scan_retry_list else "does not skip") + " ranges on the list.")
    return Scenario(id="posted" if scan_retry_list else "posted-noscan",
                    title="gap-find and publish under one lock, retry list", description=desc,
                    threads=[Thread("T1", allocator), Thread("T2", allocator)], setup=setup,
                    source=f"alloc_under_lock.posted_race(scan_retry_list={scan_retry_list!r}, "
                           f"fail={fail!r})", knobs=knobs,
                    kernel="thread M24, patches 04-05 (vmap_retry_list)")


@dataclass
class VerdictLine:
    scenario: str
    approach: str
    shows: str
    verdict: str
    exhaustive: bool
    executions: int
    preemptions: int | None
    violation: str | None

    def cells(self):
        return (self.approach, self.scenario, self.shows, self.verdict,
                "yes" if self.exhaustive else "no", self.executions)

    HEADER = ("approach", "scenario", "what it runs", "verdict", "exhaustive", "executions")


def _scenario(sid: str):
    if sid == "posted":
        return posted_race(scan_retry_list=True)
    if sid == "posted-noscan":
        return posted_race(scan_retry_list=False)
    return sid


def approach_verdicts() -> list[VerdictLine]:
    """Explore every scenario of :data:`APPROACHES` exhaustively (the I1 family from the
    catalogue, the posted scheme from :func:`posted_race`)."""
    from .review_explore import _explore_id
    from .explore import explore

    out = []
    for a in APPROACHES:
        for sid, shows in a.scenarios:
            r = explore(_scenario(sid)) if sid.startswith("posted") else _explore_id(sid, "exhaustive", None)
            out.append(VerdictLine(sid, a.who.split(",")[0], shows, r.verdict, r.exhaustive,
                                   r.executions, r.preemptions, r.violation))
    return out
