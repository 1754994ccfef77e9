"""Allocating maple nodes for stores made under a spinlock: the thread's open questions 6 and 7.

The experiments behind notebook ``06-allocation-under-lock``.  Three answers from the thread:

``posted`` (Pranjal Arya, M24; patches 04-05)
    gap-find and publish under one external spinlock (``free_vmap_area_lock``); nodes from
    ``mas_preallocate(GFP_NOWAIT | __GFP_NOWARN)``, then ``mas_store_gfp(GFP_ATOMIC |
    __GFP_NOWARN)``, and if both fail the range goes on ``vmap_retry_list``, "scanned by the
    allocator as an exclusion set, drained by the purge worker" (docs/rcu-review.md section 1.1).
``revalidate`` (Uladzislau Rezki, M19)
    preallocate outside the lock (may sleep), retake it, re-check that the range found before
    is still free, store without allocating; start over if it was taken.
``mas-nomem`` (Matthew Wilcox, M26: the tree's internal spinlock, dropped to allocate)
    the tree's own spinlock, the normal API; M26 names no function, and the safe shape is
    ``mtree_alloc_range``'s (this project's reading), where
    ``mas_nomem()`` drops the lock to allocate with ``GFP_KERNEL`` and the operation -- gap
    search included -- restarts (lib/maple_tree.c: ``mas_nomem`` drops the lock only when the
    gfp may block and the lock is the tree's own, not ``MT_FLAGS_LOCK_EXTERN``).

How often each recipe's fallback fires is measured on a real trace (:func:`store_census`):
the capture is replayed under ``rfc-v1`` without the bump overlay and with 6.18's pool order
(``bump=False, lazy_list=False``: every store goes through the trees, addresses 6.18's), and
every maple store the series makes is classified by tree and kind -- the occupied-tree store
of an allocation's range, the occupied-tree erase at the purge, the busy insert, and the
busy unlink of ``vfree()`` (patch 09's ``mas_erase()`` under ``vn->busy.lock``) -- with
whether it needed nodes (``mas_prealloc_calc`` as the port computes it).  That share is a
model inference: the trace gives the addresses, the port's classification of each store is not
checked against the kernel (store types per operation, docs/kernel-facts.md F5), so it carries
no sampling interval (:func:`wilson` stays for the unit tests; its interval would ignore the
port's systematic error and the serial dependence of one trace's stores).  Without the bump
overlay the replay describes the series up to patch 09; at patch 12 a bump-eligible
allocation (:func:`bump_eligible` counts them on the trace) makes none of these per-allocation
stores while the bump path succeeds.  The fallback rates follow from those shares and the
failure probabilities (:func:`expected_rates`); the failure probabilities themselves were not
measured on any system, so they stay parameters.
:func:`fallback_sweep` (a synthetic churn of one tree, starting empty; in
:mod:`vmapsim.review.allocation_churn`, re-exported here) is kept only as a unit check of the
recipe code.

The interleaving side uses the explorer's I1 family (:mod:`vmapsim.explore.scenarios.alloc`:
``I1`` = preallocate outside the lock *without* the re-check, ``I1-revalidate``,
``I1-mas-nomem``, ``I1-store-gfp``) plus :func:`posted_race`, the posted scheme with an
injected double allocation failure, written here: with the retry list scanned as an
exclusion set it is safe; without the scan the second allocator takes the same range.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace

from ..params import check_choice
from .allocation_churn import FallbackRun, FallbackSweep, fallback_sweep, plot_fallbacks
from .figures import finished

__all__ = ["Approach", "APPROACHES", "posted_race", "approach_verdicts", "VerdictLine", "FallbackRun",
           "FallbackSweep", "fallback_sweep", "plot_fallbacks", "wilson", "STORE_KINDS",
           "StoreCensus", "store_census", "expected_rates", "RATE_HEADER", "per_pair", "plot_expected",
           "bump_eligible"]


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
    Approach("preallocate outside the lock, revalidate (this project's reading of M19)",
             "Uladzislau Rezki, M19",
             "external spinlock, dropped to allocate",
             "mas_preallocate(GFP_KERNEL) outside the lock (the caller's flags if it cannot sleep)",
             "outside the lock (blocking callers)",
             "blocking caller: sleeps, cannot fail; non-blocking caller (6.19+): the "
             "allocation fails (-ENOMEM)",
             (("I1", "without the re-check: the stale range is stored"),
              ("I1-revalidate", "with the re-check"))),
    Approach("the tree's own lock, dropped inside the store", "Matthew Wilcox, M26",
             "the tree's internal spinlock (also protecting the caller's state)",
             "mas_nomem(): GFP_KERNEL with the tree lock dropped (blocking callers)",
             "with the tree lock dropped (blocking callers)",
             "blocking caller: the operation restarts from the root; non-blocking caller "
             "(6.19+): mas_nomem allocates under the lock with its flags, may fail (-ENOMEM)",
             (("I1-mas-nomem", "mtree_alloc_range: the gap search restarts"),
              ("I1-store-gfp", "mas_empty_area + mas_store_gfp: only the store restarts"))),
)


def posted_race(scan_retry_list: bool = True, fail: str = "T1"):
    """Two allocators ``T1``/``T2`` want ``SIZE`` bytes from the same window of the real maple
    tree (``alloc_range=True``, :mod:`vmapsim.explore.scenarios.alloc`'s layout), each holding the
    external lock from ``mas_empty_area`` to the publish, as the posted series does.  For
    thread ``fail`` both ``GFP_NOWAIT`` and ``GFP_ATOMIC`` node allocations fail: its range
    is not stored in the tree but parked on ``vmap_retry_list`` and the allocation proceeds
    (patch 05).  ``scan_retry_list``: the other allocator's search skips ranges on the list
    (the exclusion set); without it, it finds the same gap.  Property: no two live areas
    overlap when mapped."""
    from ..explore.rcu import Violation
    from ..explore.scenarios import Scenario, Thread
    from ..explore.scenarios.alloc import HI, LO, SIZE
    from ..explore.scenarios.tree import make_tree
    from ..maple import MapleBusy

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
                                    f"already mapped by {who}: WARN_ON(!pte_none()) in "
                                    "vmap_pages_pte_range, -EBUSY; __vmalloc_area_node: "
                                    f"'vmalloc error: size {SIZE}, failed to map pages'",
                                    events=(w.step,))
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
    from ..explore import explore
    from .explore_tables import explore_id

    out = []
    for a in APPROACHES:
        for sid, shows in a.scenarios:
            r = explore(_scenario(sid)) if sid.startswith("posted") else explore_id(sid, "exhaustive", None)
            out.append(VerdictLine(sid, a.who.split(",")[0], shows, r.verdict, r.exhaustive,
                                   r.executions, r.preemptions, r.violation))
    return out


# --------------------------------------------------------------------------- real-trace census

#: the series' maple stores, as ``(tree lock, NodeAlloc kind) -> (label, per, series recipe)``:
#: ``per`` says which operation makes the store (``alloc``: a vmalloc, ``free``: a vfree,
#: ``purge``: an area a purge gives back to the occupied tree)
STORE_KINDS = {
    ("free_vmap_area_lock", "store"): ("occupied-tree store (alloc, gap publish)", "alloc",
                                       "prealloc"),
    ("busy", "store"): ("busy insert (alloc)", "alloc", "prealloc"),
    ("busy", "unlink"): ("busy unlink (vfree; patch 09 mas_erase)", "free", "erase"),
    ("free_vmap_area_lock", "erase"): ("occupied-tree erase (purge)", "purge", "store_gfp"),
}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion ``k / n`` (``(0, 1)`` when n = 0)."""
    if n <= 0:
        return 0.0, 1.0
    ph = k / n
    den = 1 + z * z / n
    mid = (ph + z * z / (2 * n)) / den
    half = z * ((ph * (1 - ph) / n + z * z / (4 * n * n)) ** 0.5) / den
    return max(0.0, mid - half), min(1.0, mid + half)


@dataclass
class StoreCensus:
    """The series' maple stores on a real trace, by kind (:data:`STORE_KINDS`).

    ``kinds[key]``: ``n`` stores, ``need`` of them needing nodes, ``nodes`` requested in total,
    ``max_nodes`` the largest request, and ``counts`` the :class:`~vmapsim.designs.node_alloc.
    NodeAlloc` counters those stores moved (``nowait_fail``, ``atomic_attempts``,
    ``atomic_fail``, ``gfp_kernel_under_spinlock``, ``lock_drops``...).  ``allocs`` /
    ``agreement``: the replay's allocations and the share whose address the design predicted
    as the kernel chose it."""

    trace: str
    rcu: bool
    params: dict
    allocs: int
    frees: int
    agreement: float
    kinds: dict
    #: the largest tree seen by a store, per tree: ``{"occupied"|"busy": (height, nodes)}``
    trees: dict = None

    def q(self, key) -> float:
        k = self.kinds.get(key)
        return k["need"] / k["n"] if k and k["n"] else 0.0

    def ci(self, key) -> tuple[float, float]:
        k = self.kinds.get(key, {"need": 0, "n": 0})
        return wilson(k["need"], k["n"])

    def rows(self):
        """``(store, made by, count, needing nodes, share, mean nodes when needed, largest
        request)``; the share is the port's classification (a model inference), shown to the
        percent and with no interval."""
        out = []
        for key, (label, per, _) in STORE_KINDS.items():
            k = self.kinds.get(key)
            if not k or not k["n"]:
                continue
            out.append((label, per, k["n"], k["need"], f"{100 * self.q(key):.0f}%",
                        round(k["nodes"] / k["need"], 1) if k["need"] else 0, k["max_nodes"]))
        return out

    HEADER = ("store", "per", "count", "need nodes (port)", "share (port)", "nodes when needed",
              "largest")


@functools.lru_cache(maxsize=16)
def _census(trace: str, rcu: bool, params: tuple) -> StoreCensus:
    from collections import Counter

    from ..designs import node_alloc
    from ..traces.captures import trace_dir
    from ..traces.replay import replay

    kinds: dict = {}
    trees: dict = {}
    orig = node_alloc.NodeAlloc.run

    def run(self, acct, lock, tree, search, entry, kind="store", **kw):
        before = dict(self.counts)
        res = orig(self, acct, lock, tree, search, entry, kind=kind, **kw)
        key = ("busy" if lock and "busy" in str(lock) else str(lock), kind)
        which = "busy" if key[0] == "busy" else "occupied"
        if hasattr(tree, "node_count"):
            h, n = trees.get(which, (0, 0))
            trees[which] = (max(h, tree.height()), max(n, tree.node_count()))
        k = kinds.setdefault(key, {"n": 0, "need": 0, "nodes": 0, "max_nodes": 0,
                                   "counts": Counter()})
        delta = {c: v - before.get(c, 0) for c, v in self.counts.items() if v != before.get(c, 0)}
        if delta.get("stores"):
            k["n"] += 1
            req = delta.get("nodes_requested", 0)
            k["need"] += req > 0
            k["nodes"] += req
            k["max_nodes"] = max(k["max_nodes"], req)
            k["counts"].update(delta)
        return res

    node_alloc.NodeAlloc.run = run
    try:
        r = replay(trace_dir(trace), "rfc-v1", account=True, bump=False, lazy_list=False,
                   rcu=rcu, **dict(params))
    finally:
        node_alloc.NodeAlloc.run = orig
    for k in kinds.values():
        k["counts"] = dict(k["counts"])
    frees = kinds.get(("busy", "unlink"), {}).get("n", 0)
    return StoreCensus(trace, rcu, dict(params), r.allocs, frees, r.agreement, kinds, trees)


def store_census(trace: str = "mixed-s61", rcu: bool = False, **params) -> StoreCensus:
    """Replay ``trace`` (a shipped capture) under ``rfc-v1`` with ``bump=False,
    lazy_list=False`` and classify every maple store of the series (see the module docstring).
    ``params`` go to the design (``nodealloc``, ``nowait_fail``, ``atomic_fail``, ``seed``):
    with failure rates the counters show what the design's code does with them (patch 09's
    ``mas_erase`` allocating with ``GFP_KERNEL`` under ``vn->busy.lock``, for one).
    Memoised."""
    from ..traces.captures import trace_names

    check_choice("trace", trace, trace_names())
    return _census(trace, bool(rcu), tuple(sorted(params.items())))


def expected_rates(census: StoreCensus, p: float, a: tuple = (0.0, 1.0)):
    """Per 1000 stores of each kind, what each recipe does when a ``GFP_NOWAIT`` request for
    nodes fails with probability ``p``; ``a`` is the range assumed for the probability that
    the posted scheme's ``GFP_ATOMIC`` retry also fails *given* that ``GFP_NOWAIT`` failed
    (unknown: ``GFP_ATOMIC`` may dip into reserves ``GFP_NOWAIT`` may not, and under real
    pressure the two failures are correlated; nothing here measured it).

    Rows ``(store, share needing nodes q, posted: GFP_ATOMIC tries, posted: parked on
    vmap_retry_list (range over a), posted: GFP_KERNEL under a spinlock, Wilcox: lock drops,
    Rezki (as read here): lock drops)``; each is ``1000 * q * ...`` by the recipe.  Every
    posted store needing nodes first allocates with ``GFP_NOWAIT`` under its spinlock (``q``,
    whatever ``p``: the ``q`` column).  ``prealloc`` stores fall back to
    ``mas_store_gfp(GFP_ATOMIC)`` at ``q p`` (an upper bound on their ``GFP_ATOMIC``
    allocations: ``mas_store_gfp`` tries ``GFP_NOWAIT`` once more first) and park at
    ``q p a``; the ``store_gfp`` erase helpers (``mas_store_gfp(NULL, GFP_ATOMIC)``, no
    preallocation) reach ``GFP_ATOMIC`` only when their ``GFP_NOWAIT`` attempt fails, at
    ``q p``, and their failure, not modelled here, leaves the range reserved; patch 09's
    ``mas_erase`` falls back to ``mas_nomem(GFP_KERNEL)`` under ``vn->busy.lock`` at ``q p``;
    Wilcox's ``mas_nomem`` drops the tree lock at ``q p``; Rezki's preallocation outside the
    lock, as this project reads M19, drops the lock at ``q``."""
    rows = []
    for key, (label, per, recipe) in STORE_KINDS.items():
        k = census.kinds.get(key)
        if not k or not k["n"]:
            continue
        q = census.q(key)
        atomic = q * p if recipe in ("prealloc", "store_gfp") else 0.0
        parked = (f"{1000 * q * p * a[0]:.1f}-{1000 * q * p * a[1]:.1f}"
                  if recipe == "prealloc" else "-")
        kernel = q * p if recipe == "erase" else 0.0
        rows.append((label, f"{100 * q:.1f}%", round(1000 * atomic, 1), parked,
                     round(1000 * kernel, 1), round(1000 * q * p, 1), round(1000 * q, 1)))
    return rows


RATE_HEADER = ("store", "q", "posted: GFP_ATOMIC", "posted: parked", "posted: GFP_KERNEL "
               "under spinlock", "Wilcox: lock drops", "Rezki: lock drops")


def per_pair(census: StoreCensus, p: float) -> dict:
    """Per 1000 vmalloc + vfree pairs of the trace (each store kind weighted by how many the
    replay made per allocation), at ``GFP_NOWAIT`` failure probability ``p``:
    ``atomic`` (posted: ``GFP_ATOMIC`` tries, the sum of ``atomic_store``, the stores' retries
    at ``q p``, an upper bound, and ``atomic_erase``, the occupied-tree erase helpers'
    ``GFP_ATOMIC`` fallbacks, also at ``q p``), ``nowait_erase`` (posted: the erase helpers'
    ``GFP_NOWAIT`` allocations under ``free_vmap_area_lock``, at ``q`` whatever ``p``; every
    posted store needing nodes, patch 09's ``mas_erase`` included, starts with such a
    ``GFP_NOWAIT`` allocation under its spinlock, so their total is ``need``), ``parked_max`` (posted: ranges parked on the
    retry list if every ``GFP_ATOMIC`` retry failed too; the lower bound is 0), ``kernel``
    (posted: ``GFP_KERNEL`` allocations under ``vn->busy.lock``, patch 09), ``wilcox``
    (tree-lock drops) and ``rezki`` (lock drops, as read here), and ``need`` (stores needing
    nodes).  Formulas as in :func:`expected_rates`."""
    n = max(1, census.allocs)
    out = dict.fromkeys(("atomic", "atomic_store", "atomic_erase", "nowait_erase", "parked_max",
                         "kernel", "wilcox", "rezki", "need"), 0.0)
    for key, (_, _, recipe) in STORE_KINDS.items():
        k = census.kinds.get(key)
        if not k or not k["n"]:
            continue
        w = k["n"] / n
        q = census.q(key)
        out["need"] += 1000 * q * w
        out["rezki"] += 1000 * q * w
        out["wilcox"] += 1000 * q * w * p
        if recipe == "prealloc":
            out["atomic"] += 1000 * q * w * p
            out["atomic_store"] += 1000 * q * w * p
            out["parked_max"] += 1000 * q * w * p
        elif recipe == "store_gfp":
            out["atomic"] += 1000 * q * w * p
            out["atomic_erase"] += 1000 * q * w * p
            out["nowait_erase"] += 1000 * q * w
        elif recipe == "erase":
            out["kernel"] += 1000 * q * w * p
    return out


def bump_eligible(trace: str = "mixed-s61") -> dict:
    """How many of ``trace``'s allocations patch 12's ``vmap_bump_eligible()`` would send to the
    bump path (standard range ``[VMALLOC_START, VMALLOC_END]``, page-aligned size up to 32 MB,
    ``0 < align <= 32 MB``), read from the trace's ``alloc_vmap_area`` events (a real-trace
    count; whether the bump path then succeeds is not in the trace).  Returns ``{"allocs",
    "eligible", "other": {(vstart, vend): count}}``."""
    from collections import Counter

    from ..designs.rfc_v1_bump import CHUNK_SIZE
    from ..traces.captures import trace_dir, trace_names
    from ..traces.read import find_file, read_trace
    from ..vmalloc.vmap_area import PAGE_SIZE, VMALLOC_END, VMALLOC_START

    check_choice("trace", trace, trace_names())
    half = CHUNK_SIZE // 2
    allocs = [e for e in read_trace(find_file(trace_dir(trace), "trace.txt")).events
              if e.kind == "alloc"]
    def eligible(e):
        return (e.vstart == VMALLOC_START and e.vend == VMALLOC_END and 0 < e.size <= half
                and e.size % PAGE_SIZE == 0 and 0 < e.align <= half)

    other = Counter((hex(e.vstart), hex(e.vend)) for e in allocs if not eligible(e))
    return {"allocs": len(allocs), "eligible": len(allocs) - sum(other.values()),
            "other": dict(other)}


def plot_expected(censuses, ps=None):
    """Per 1000 vmalloc+vfree pairs against the ``GFP_NOWAIT`` failure probability, for each
    census given (plain tree solid, RCU mode dashed): the posted scheme's ``GFP_ATOMIC`` tries
    and ``GFP_KERNEL``-under-spinlock allocations, Wilcox's and Rezki's lock drops."""
    import matplotlib.pyplot as plt
    import numpy as np

    ps = np.logspace(-4, 0, 40) if ps is None else np.asarray(ps)
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    lines = (("atomic", "posted: GFP_ATOMIC", "C0"),
             ("kernel", "posted: GFP_KERNEL under vn->busy.lock (patch 09)", "C3"),
             ("wilcox", "Wilcox: mas_nomem drops the tree lock", "C2"),
             ("rezki", "Rezki (as read here): lock dropped to preallocate", "C1"))
    for c in censuses:
        ls = "--" if c.rcu else "-"
        for key, label, col in lines:
            ys = [max(per_pair(c, p)[key], 1e-3) for p in ps]
            ax.plot(ps, ys, ls, color=col,
                    label=f"{label} ({'RCU mode' if c.rcu else 'plain'})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GFP_NOWAIT node-allocation failure probability p (not measured)")
    ax.set_ylabel("per 1000 vmalloc+vfree pairs")
    ax.set_title(", ".join(f"{c.trace} ({'RCU mode' if c.rcu else 'plain'}, {c.allocs} "
                           "allocations)" for c in censuses), fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return finished(fig)
