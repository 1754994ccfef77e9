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
whether it needed nodes (``mas_prealloc_calc`` as the port computes it).  The fallback rates
follow from those shares and the failure probabilities (:func:`expected_rates`); the failure
probabilities themselves were not measured on any system, so they stay parameters.
:func:`fallback_sweep` (a synthetic churn of one tree, starting empty) is kept only as a unit
check of the recipe code.

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
from .figures import finished

__all__ = ["Approach", "APPROACHES", "posted_race", "approach_verdicts", "VerdictLine", "FallbackRun",
           "FallbackSweep", "fallback_sweep", "plot_fallbacks", "wilson", "STORE_KINDS",
           "StoreCensus", "store_census", "expected_rates", "RATE_HEADER", "per_pair", "plot_expected"]


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
    ("free_vmap_area_lock", "erase"): ("occupied-tree erase (purge)", "purge", "atomic"),
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

    def q(self, key) -> float:
        k = self.kinds.get(key)
        return k["need"] / k["n"] if k and k["n"] else 0.0

    def ci(self, key) -> tuple[float, float]:
        k = self.kinds.get(key, {"need": 0, "n": 0})
        return wilson(k["need"], k["n"])

    def rows(self):
        """``(store, made by, count, needing nodes, share [95 % CI], mean nodes when needed,
        largest request)``."""
        out = []
        for key, (label, per, _) in STORE_KINDS.items():
            k = self.kinds.get(key)
            if not k or not k["n"]:
                continue
            lo, hi = self.ci(key)
            out.append((label, per, k["n"], k["need"],
                        f"{100 * self.q(key):.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]",
                        round(k["nodes"] / k["need"], 2) if k["need"] else 0, k["max_nodes"]))
        return out

    HEADER = ("store", "per", "count", "need nodes", "share [95% CI]", "nodes when needed",
              "largest")


@functools.lru_cache(maxsize=16)
def _census(trace: str, rcu: bool, params: tuple) -> StoreCensus:
    from collections import Counter

    from ..designs import node_alloc
    from ..traces.captures import trace_dir
    from ..traces.replay import replay

    kinds: dict = {}
    orig = node_alloc.NodeAlloc.run

    def run(self, acct, lock, tree, search, entry, kind="store", **kw):
        before = dict(self.counts)
        res = orig(self, acct, lock, tree, search, entry, kind=kind, **kw)
        key = ("busy" if lock and "busy" in str(lock) else str(lock), kind)
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
    return StoreCensus(trace, rcu, dict(params), r.allocs, frees, r.agreement, kinds)


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
    Rezki (as read here): lock drops)``; each is ``1000 * q * ...`` by the recipe:
    ``prealloc`` stores try ``GFP_ATOMIC`` at ``q p`` and park at ``q p a``; the ``atomic``
    erase helpers try ``GFP_ATOMIC`` on every erase needing nodes (``q``, whatever ``p``) and
    their failure, not modelled here, leaves the range reserved; patch 09's ``mas_erase``
    falls back to ``mas_nomem(GFP_KERNEL)`` under ``vn->busy.lock`` at ``q p``; Wilcox's
    ``mas_nomem`` drops the tree lock at ``q p``; Rezki's preallocation outside the lock, as
    this project reads M19, drops the lock at ``q``."""
    rows = []
    for key, (label, per, recipe) in STORE_KINDS.items():
        k = census.kinds.get(key)
        if not k or not k["n"]:
            continue
        q = census.q(key)
        atomic = q if recipe == "atomic" else (q * p if recipe == "prealloc" else 0.0)
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
    ``atomic`` (posted: ``GFP_ATOMIC`` tries), ``parked_max`` (posted: ranges parked on the
    retry list if every ``GFP_ATOMIC`` retry failed too; the lower bound is 0), ``kernel``
    (posted: ``GFP_KERNEL`` allocations under ``vn->busy.lock``, patch 09), ``wilcox``
    (tree-lock drops) and ``rezki`` (lock drops, as read here), and ``need`` (stores needing
    nodes).  Formulas as in :func:`expected_rates`."""
    n = max(1, census.allocs)
    out = dict.fromkeys(("atomic", "parked_max", "kernel", "wilcox", "rezki", "need"), 0.0)
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
            out["parked_max"] += 1000 * q * w * p
        elif recipe == "atomic":
            out["atomic"] += 1000 * q * w
        elif recipe == "erase":
            out["kernel"] += 1000 * q * w * p
    return out


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


# --------------------------------------------------------------------------- fallback rates
# A synthetic churn of one tree (the allocator's, starting empty): a unit check of the recipe
# code, not evidence about the kernel -- its share of stores needing nodes is that of a small
# tree built from nothing (the real-trace shares are store_census's); it models one tree, so
# the busy tree and patch 09's mas_erase are not in it.

@dataclass
class FallbackRun:
    """One churn run under one node-allocation recipe and failure rate.

    ``counts[kind]`` for ``kind`` in ``alloc`` (gap search + store) and ``free`` (erase) are
    the :class:`vmapsim.designs.node_alloc.NodeAlloc` counters those operations moved
    (``nowait_attempts``, ``nowait_fail``, ``atomic_attempts``, ``atomic_fail``,
    ``lock_drops``, ``restarts``, ``revalidations``, ``gfp_kernel_under_spinlock``...) plus
    ``ops``, ``needing_nodes`` (operations whose store needed at least one node),
    ``retry_list`` (operations that got no nodes under the series: it parks them on
    ``vmap_retry_list`` and the allocation goes on) and ``failed`` (allocations that got no nodes
    under the other recipes: with a non-blocking caller, ``alloc_vmap_area`` fails).
    ``gfp``: the allocating caller's class (``kernel``, ``nowait``, ``atomic``).
    """

    mode: str
    nowait_fail: float
    atomic_fail: float
    rcu: bool
    ops: int
    counts: dict
    gfp: str = "kernel"

    def per_k(self, key: str, kind: str = "alloc") -> float:
        """``counts[kind][key]`` per 1000 operations of that kind."""
        c = self.counts[kind]
        return 1000.0 * c.get(key, 0) / max(1, c.get("ops", 0))

    def need_fraction(self, kind: str = "alloc") -> float:
        c = self.counts[kind]
        return c.get("needing_nodes", 0) / max(1, c.get("ops", 0))


def _churn(mode: str, nowait_fail: float, atomic_fail: float, rcu: bool, ops: int, live: int,
           seed: int, gfp: str = "kernel") -> FallbackRun:
    import random
    from collections import Counter

    from ..designs.base import Accounting
    from ..designs.node_alloc import ENOMEM, NodeAlloc
    from ..maple import MapleBusy, MapleTree
    from ..vmalloc.vmap_area import PAGE_SIZE

    rng = random.Random(seed)
    na = NodeAlloc(mode, nowait_fail=nowait_fail, atomic_fail=atomic_fail, seed=seed + 1)
    tree = MapleTree(alloc_range=True, rcu=rcu)
    acct = Accounting()      # enabled: NodeAlloc counts only when a lock record is kept
    lo, hi = 0x100000, 0x100000 + (1 << 34) - 1
    busy: list = []          # (first, last) stored in the tree
    parked: list = []        # ranges on vmap_retry_list (not in the tree)
    internal = mode == "wilcox"
    by_kind = {"alloc": Counter(), "free": Counter()}

    def account(kind, before, res):
        c = by_kind[kind]
        for k, v in na.counts.items():
            d = v - before.get(k, 0)
            if d:
                c[k] += d
        c["ops"] += 1
        c["needing_nodes"] += na.counts["nodes_requested"] > before.get("nodes_requested", 0)
        if res.status == ENOMEM:
            c["retry_list" if mode == "series" else "failed"] += 1

    for _ in range(ops):
        acct.begin("churn", 0)               # a fresh lock record per operation
        before = dict(na.counts)
        if not busy or (len(busy) < live and rng.random() < 0.6) or rng.random() < 0.5:
            size = (rng.randint(1, 16) + 1) * PAGE_SIZE

            def search(size=size):
                try:
                    start = tree.empty_area(lo, hi, size)
                except MapleBusy:
                    return None
                # the series scans vmap_retry_list as an exclusion set
                while any(a < start + size and start < b for a, b in parked):
                    nxt = max(b for a, b in parked if a < start + size and start < b)
                    try:
                        start = tree.empty_area(nxt, hi, size)
                    except MapleBusy:
                        return None
                return start, start + size - 1

            res = na.run(acct, "free_vmap_area_lock", tree, search, "va", kind="store",
                         internal_lock=internal, gfp=gfp)
            account("alloc", before, res)
            if res.status == ENOMEM and mode == "series":
                parked.append((res.first, res.last + 1))
            elif res.ok:
                busy.append((res.first, res.last))
        else:
            first, last = busy.pop(rng.randrange(len(busy)))
            res = na.run(acct, "free_vmap_area_lock", tree, lambda f=first, la=last: (f, la),
                         None, kind="erase", internal_lock=internal)
            account("free", before, res)
            if res.status == ENOMEM:
                busy.append((first, last))       # still in the tree: retried by the purge worker
        if parked and rng.random() < 0.05:       # the purge worker drains the retry list
            parked.clear()
    tree.validate()
    return FallbackRun(mode, nowait_fail, atomic_fail, rcu, ops,
                       {k: dict(v) for k, v in by_kind.items()}, gfp)


@dataclass
class FallbackSweep:
    runs: list

    def run(self, mode: str, rate: float) -> FallbackRun:
        for r in self.runs:
            if r.mode == mode and r.nowait_fail == rate:
                return r
        raise KeyError((mode, rate))

    @property
    def rates(self) -> list:
        return sorted({r.nowait_fail for r in self.runs})

    def rows(self, kind: str = "alloc"):
        out = []
        for r in self.runs:
            out.append((r.mode, r.nowait_fail, f"{100 * r.need_fraction(kind):.0f}%",
                        round(r.per_k("nowait_fail", kind), 1),
                        round(r.per_k("atomic_attempts", kind), 1),
                        round(r.per_k("retry_list", kind), 2),
                        round(r.per_k("failed", kind), 2),
                        round(r.per_k("lock_drops", kind), 1),
                        round(r.per_k("gfp_kernel_under_spinlock", kind), 1)))
        return out

    HEADER = ("recipe", "NOWAIT fail rate", "need nodes", "NOWAIT fails", "ATOMIC tries",
              "retry list", "failed", "lock drops", "GFP_KERNEL under lock")


def fallback_sweep(rates=(0.0, 0.001, 0.01, 0.05, 0.2), atomic_fail: float = 0.1,
                   modes=("series", "rezki", "wilcox"), rcu: bool = False, ops: int = 4000,
                   live: int = 300, seed: int = 0, gfp: str = "kernel") -> FallbackSweep:
    """Churn a maple tree (allocations found with ``mas_empty_area`` and stored, frees erased;
    about ``live`` areas live) under each node-allocation recipe of
    :mod:`vmapsim.designs.node_alloc` (``series`` = the posted scheme, ``rezki`` = preallocate
    outside the lock and revalidate, ``wilcox`` = the tree's own lock and ``mas_nomem``) with
    ``GFP_NOWAIT`` node allocations failing at each of ``rates`` and ``GFP_ATOMIC`` ones at
    ``atomic_fail``.  ``rcu``: the tree in RCU mode (copy-on-write needs more nodes).  ``gfp``:
    the allocating caller's class, ``kernel`` (every caller in 6.18) or ``nowait``/``atomic``
    (non-blocking callers, 6.19 and later)."""
    from ..params import check_float, check_int

    ops = check_int("ops", ops, lo=10, hi=1_000_000)
    live = check_int("live", live, lo=1, hi=100_000)
    atomic_fail = check_float("atomic_fail", atomic_fail, lo=0.0, hi=1.0)
    rates = [check_float("nowait_fail", r, lo=0.0, hi=1.0) for r in rates]
    for m in modes:
        check_choice("recipe", m, ("series", "rezki", "wilcox"))
    from ..designs.node_alloc import GFP_CLASSES
    check_choice("gfp", gfp, GFP_CLASSES)
    return FallbackSweep([_churn_cached(m, r, atomic_fail, bool(rcu), ops, live, seed, gfp)
                          for m in modes for r in rates])


def _churn_cached(*args):
    key = args
    hit = _CACHE.get(key)
    if hit is None:
        hit = _CACHE[key] = _churn(*args)
    return hit


_CACHE: dict = {}


def plot_fallbacks(sweep: FallbackSweep):
    """Per 1000 allocations, as GFP_NOWAIT failures become more frequent: the posted scheme's
    GFP_ATOMIC fallbacks and retry-list parkings, and the lock drops of the other two."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    rates = [r for r in sweep.rates if r > 0]
    series = [
        ("series", "atomic_attempts", "posted: GFP_ATOMIC fallback", "C0", "-"),
        ("series", "retry_list", "posted: parked on vmap_retry_list", "C0", "--"),
        ("rezki", "lock_drops", "Rezki: lock dropped to preallocate", "C1", "-"),
        ("wilcox", "lock_drops", "Wilcox: mas_nomem drops the tree lock", "C2", "-"),
    ]
    for mode, key, label, col, ls in series:
        try:
            ys = [sweep.run(mode, r).per_k(key, "alloc") for r in rates]
        except KeyError:
            continue
        ax.plot(rates, [max(y, 1e-3) for y in ys], ls, color=col, marker="o", ms=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GFP_NOWAIT node-allocation failure rate")
    ax.set_ylabel("per 1000 allocations")
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    ax.minorticks_off()
    tree = "RCU mode" if sweep.runs and sweep.runs[0].rcu else "plain tree"
    ax.set_title(f"{len(rates)} failure rate{'s' if len(rates) != 1 else ''} above 0 "
                 f"({', '.join(f'{r:g}' for r in rates)}), {tree}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return finished(fig)
