"""A synthetic churn of one maple tree under each node-allocation recipe (notebook 06's old
fallback sweep).

A unit check of the recipe code in :mod:`vmapsim.designs.node_alloc`, not evidence about the
kernel: the tree starts empty and holds a few hundred areas, so its share of stores needing
nodes is that of a small tree built from nothing (the real-trace shares are
:func:`vmapsim.review.allocation_under_lock.store_census`'s); it models one tree, so the busy
tree and patch 09's ``mas_erase`` are not in it.  Re-exported by
:mod:`vmapsim.review.allocation_under_lock`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..params import check_choice
from .figures import finished

__all__ = ["FallbackRun", "FallbackSweep", "fallback_sweep", "plot_fallbacks"]

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
