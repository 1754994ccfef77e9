"""How a maple-tree store gets its nodes when the caller holds a spinlock: the four recipes of
the thread, with seeded allocation failures and the lock record each one leaves.

A maple store may need new nodes (``lib/maple_tree.c:mas_prealloc_calc``, exposed by
:meth:`vmapsim.maple.MapleTree.nodes_needed`): a split, a rebalance, a new root, or, in RCU
mode, a copy of every node it changes.  Under a spinlock no allocation may sleep, so where the
nodes come from is a design decision.  The thread has four answers; each is a *recipe* here:

``prealloc`` -- the series (patches 04-05, M24): under the caller's (external) lock,
    ``mas_preallocate(GFP_NOWAIT | __GFP_NOWARN)`` + ``mas_store_prealloc()``; if that fails,
    ``mas_store_gfp(GFP_ATOMIC | __GFP_NOWARN)``; if that fails too the store is not done and
    the caller gets :data:`ENOMEM` (the series then uses ``vmap_retry_list``, see
    :mod:`vmapsim.designs.rfc_v1`).  ``mas_store_gfp()`` itself first tries ``GFP_NOWAIT``
    again (``mas_wr_preallocate``) and uses ``GFP_ATOMIC`` only in ``mas_nomem()``; that second
    ``GFP_NOWAIT`` attempt is not drawn here (it is taken to fail with the first: the two are
    moments apart), so the model's ``GFP_ATOMIC`` count for stores is an upper bound.
``store_gfp`` -- the series' erase helpers (``*_erase_*_locked``, e.g. patch 08's
    ``unlink_vmap_area_lazy_locked``: ``mas_store_gfp(NULL, GFP_ATOMIC | __GFP_NOWARN)`` with no
    preallocation).  ``lib/maple_tree.c:mas_store_gfp`` allocates first in
    ``mas_wr_preallocate`` with ``GFP_NOWAIT`` (``mas_node_count`` in v6.12,
    ``mas_alloc_nodes(mas, GFP_NOWAIT)`` in the sheaf version); only if that fails does
    ``mas_nomem(mas, GFP_ATOMIC)`` allocate with the caller's flags, under the lock (they may
    not block), and the store restarts.  So an erase that needs nodes makes a ``GFP_NOWAIT``
    allocation under the lock whatever the memory pressure, and a ``GFP_ATOMIC`` one only when
    that fails; if both fail the erase is not done (:data:`ENOMEM`).
``erase`` -- ``mas_erase()`` under an external spinlock (patch 09's ``find_unlink_vmap_area``):
    ``lib/maple_tree.c:mas_erase`` preallocates with ``GFP_NOWAIT`` and on failure calls
    ``mas_nomem(mas, GFP_KERNEL)``.  ``mas_nomem`` drops the lock only when the gfp may block
    **and** the tree's lock is its own (``!mt_external_lock()``); with the external
    ``vn->busy.lock`` it allocates with ``GFP_KERNEL`` *under the spinlock* (may sleep in atomic
    context).  The model never fails that allocation and records the event
    ``("gfp_kernel_under_spinlock", nodes)``.
``kernel`` -- Wilcox (M26): the tree is protected by its *internal* spinlock, which may also
    protect the caller's other state; stores use the normal API (``mas_store_gfp`` /
    ``mtree_alloc_range`` with ``GFP_KERNEL``): a first ``GFP_NOWAIT`` attempt under the lock
    (``mas_wr_preallocate``); on failure ``mas_nomem()`` drops the lock, allocates with
    ``GFP_KERNEL`` (never fails here), retakes the lock and the operation restarts from the
    root (``mas->status = ma_start``; ``mtree_alloc_range`` repeats the whole gap search,
    because the area may have been taken meanwhile).  Verified against ``lib/maple_tree.c``
    (``mas_store_gfp``, ``mas_erase``, ``mas_nomem``, ``mas_wr_preallocate``) of v6.12 and of
    the sheaf version (v6.18/linux-next): both use ``GFP_NOWAIT`` first and the same
    ``mas_nomem`` rule.
``outside`` -- Rezki (M19): "pre-allocate outside the lock and store the range without any
    allocation", and re-check the range after retaking the lock.  Reading used here: under the
    lock the search picks the range and computes the node count; if it is 0 the store is done at
    once; otherwise the lock is dropped, the nodes are allocated with ``GFP_KERNEL`` outside
    any lock (never fails here), the lock is retaken, the range is re-validated (one walk) and
    the count recomputed, and the store consumes only preallocated nodes.  In this sequential
    model the re-validation always succeeds; the interleaving explorer / performance model are
    where a concurrent writer could invalidate it (the search then repeats, counted as a
    restart).

Non-blocking callers (``gfp=`` of :meth:`NodeAlloc.run`).  Since 6.19 (Rezki's "__vmalloc()/
kvmalloc() and no-block support", docs/kernel-facts.md F3; not in 6.18, where
``alloc_vmap_area`` calls ``might_sleep()`` unconditionally) a caller may pass ``GFP_NOWAIT`` or
``GFP_ATOMIC`` and must then handle failure (a non-blocking ``alloc_vmap_area`` returns
``-EBUSY`` without purging when there is no space, ``-ENOMEM`` when its slab allocation fails).
Such a caller cannot sleep, so ``kernel`` and ``outside`` cannot fall back to ``GFP_KERNEL``:
``kernel``'s ``mas_nomem()`` keeps the lock and allocates with the caller's flags (it drops the
lock only for a gfp that may block); ``outside`` preallocates with the caller's flags.  Either
can fail, and the store returns :data:`ENOMEM`.  ``prealloc``/``store_gfp`` use their own
non-blocking flags whatever the caller passes, so they are unchanged.  ``gfp`` is ``kernel``
(the default: every caller in 6.18), ``nowait`` or ``atomic``; failures are drawn with
``nowait_fail`` / ``atomic_fail`` as for the other attempts (independent draws: under real memory
pressure consecutive failures are correlated).

Lock record (:class:`vmapsim.designs.base.Accounting`): the recipe takes and releases the lock itself
(``kernel``/``outside`` may hold it twice); allocations done under the lock are ``alloc_bytes``
of that hold, allocations outside are a ``Hold(None, ...)``; nodes a store replaces or frees
(``stats.freed``; copy-on-write copies in RCU mode) are ``free_bytes`` of the hold that stored,
and preallocated nodes the store did not use are returned by ``mas_destroy`` in the same place
they were allocated.  The nodes the search reads (a ``mas_empty_area`` gap search included)
are the tree's own ``stats.visited`` delta (:func:`tree_work`).

Failures are drawn from ``random.Random(seed)`` only for requests of one node or more and only
when a rate is non-zero, so with the default rates (0) every recipe produces the same tree and
the same addresses; only the lock records differ.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from ..errors import ParameterError
from ..maple.node import NODE_BYTES
from ..params import check_choice, check_float
from .base import Hold

__all__ = ["NodeAlloc", "RECIPES", "MODES", "ENOMEM", "GFP_CLASSES", "StoreResult", "tree_work"]

RECIPES = ("prealloc", "store_gfp", "erase", "kernel", "outside")
#: design-level modes: which recipe each kind of store uses
MODES = {
    # the posted series: stores preallocate NOWAIT then ATOMIC; erase helpers mas_store_gfp(
    # GFP_ATOMIC), i.e. NOWAIT then ATOMIC; the busy unlink is mas_erase() under the external
    # vn->busy.lock (patch 09)
    "series": {"store": "prealloc", "erase": "store_gfp", "unlink": "erase"},
    # Wilcox: every tree uses its internal lock and the normal GFP_KERNEL API
    "wilcox": {"store": "kernel", "erase": "kernel", "unlink": "kernel"},
    # Rezki: allocate outside the lock, re-validate, store without allocating
    "rezki": {"store": "outside", "erase": "outside", "unlink": "outside"},
}
#: status of a store that could not get its nodes
ENOMEM = "enomem"
#: the caller's allocation class (``gfp=`` of :meth:`NodeAlloc.run`)
GFP_CLASSES = ("kernel", "nowait", "atomic")


@dataclass
class StoreResult:
    """Outcome of :meth:`NodeAlloc.run`: ``status`` is ``"ok"``, ``"nospace"`` (the search found
    nothing) or :data:`ENOMEM`; ``first``/``last`` the range searched for or stored."""
    status: str
    first: int = -1
    last: int = -1
    #: the caller's lock hold when it passed one in (a new Hold if the lock was dropped and
    #: retaken), else None
    hold: object = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def tree_work(acct, tree, fn, *args):
    """Run ``fn(*args)`` on a maple *tree*, adding the nodes it visited and wrote to *acct*.

    Returns ``(result, allocated, freed)``: the nodes the operation took from and gave back to
    the node cache (the caller decides whose bytes they are)."""
    st = tree.stats
    v, w, a, f = st.visited, st.written, st.allocated, st.freed
    out = fn(*args)
    acct.visited += st.visited - v
    acct.written += st.written - w
    return out, st.allocated - a, st.freed - f


class NodeAlloc:
    """The node-allocation model of one design (see the module docstring).

    ``mode``: ``series`` | ``wilcox`` | ``rezki`` (the recipe for stores, erases and the busy
    unlink, :data:`MODES`); ``nowait_fail`` / ``atomic_fail``: probability that a
    ``GFP_NOWAIT`` / ``GFP_ATOMIC`` request for at least one node fails; ``seed`` for the draws.
    ``counts`` totals what happened (attempts, failures, lock drops, restarts, nodes).
    """

    def __init__(self, mode: str = "series", nowait_fail: float = 0.0, atomic_fail: float = 0.0,
                 seed: int = 0):
        self.mode = check_choice("nodealloc", mode, MODES)
        self.recipes = MODES[mode]
        self.nowait_fail = check_float("nowait_fail", nowait_fail, lo=0.0, hi=1.0)
        self.atomic_fail = check_float("atomic_fail", atomic_fail, lo=0.0, hi=1.0)
        self.rng = random.Random(seed)
        self.counts: Counter = Counter()

    def recipe(self, kind: str) -> str:
        """The recipe this mode uses for *kind* (``store``, ``erase`` or ``unlink``)."""
        try:
            return self.recipes[kind]
        except KeyError:
            raise ParameterError(f"unknown store kind {kind!r}; valid: store, erase, unlink") from None

    def _fails(self, rate: float) -> bool:
        return rate > 0.0 and self.rng.random() < rate

    # ------------------------------------------------------------------ the driver
    def run(self, acct, lock: str | None, tree, search, entry, kind: str = "store",
            apply=None, internal_lock: bool = False, hold=None,
            gfp: str = "kernel") -> StoreResult:
        """Take *lock*, find the range with ``search()`` and store *entry* over it.

        ``search()`` runs under the lock and returns ``(first, last)`` or None (no space: the
        lock is released and ``"nospace"`` returned); it is called again after a restart.
        ``apply(first, last)`` performs the store (default ``tree.store_range(first, last,
        entry)``) and may do model bookkeeping.  ``internal_lock``: *lock* is the tree's own
        lock (``mas_nomem`` may drop it); the nodes ``search()`` and the store read on *tree*
        are counted from ``tree.stats`` (:func:`tree_work`).  *lock* None: the caller holds
        what it needs already (no hold is recorded).  *hold*: the caller already holds *lock*
        as this open :class:`~vmapsim.designs.base.Hold` (a batch under one lock); the lock is then
        left held and the current hold is returned in the result.  *gfp*: the caller's
        allocation class, ``kernel`` (may block), ``nowait`` or ``atomic`` (see the module
        docstring, "Non-blocking callers").
        """
        recipe = self.recipe(kind)
        check_choice("gfp", gfp, GFP_CLASSES)
        nonblock_rate = {"kernel": None, "nowait": self.nowait_fail,
                         "atomic": self.atomic_fail}[gfp]
        if apply is None:
            def apply(first, last):
                tree.store_range(first, last, entry)
        counts = self.counts
        counts["stores"] += 1
        if gfp != "kernel":
            counts["nonblock_stores"] += 1
        if not acct.enabled and not self.nowait_fail and not self.atomic_fail:
            # no lock record is kept and no allocation can fail (replay): only the result
            # matters, and every recipe gives the same one
            rng_ = search()
            if rng_ is None:
                return StoreResult("nospace")
            apply(*rng_)
            return StoreResult("ok", rng_[0], rng_[1], hold)
        self._acct, self._lock, self._tree = acct, lock, tree
        owns = hold is None
        self._h = hold if not owns else (acct.lock(lock) if lock is not None else None)

        def done(status, first=-1, last=-1):
            if owns:
                self._release()
            return StoreResult(status, first, last, None if owns else self._h)

        def find():
            return tree_work(acct, tree, search)[0]

        rng_ = find()
        if rng_ is None:
            return done("nospace")
        first, last = rng_
        n = tree.nodes_needed(first, last, entry)
        counts["nodes_requested"] += n
        have, outside = n, False
        if n and recipe in ("prealloc", "store_gfp"):
            # GFP_NOWAIT under the lock (mas_preallocate, or mas_store_gfp's mas_wr_preallocate);
            # GFP_ATOMIC only when that fails (mas_store_gfp's mas_nomem, lock kept)
            counts["nowait_attempts"] += 1
            ok = not self._fails(self.nowait_fail)
            counts["nowait_fail"] += not ok
            if not ok:
                counts["atomic_attempts"] += 1
                if self._fails(self.atomic_fail):
                    counts["atomic_fail"] += 1
                    counts["enomem"] += 1
                    return done(ENOMEM, first, last)
            acct.alloc_bytes += n * NODE_BYTES
        elif n and recipe in ("erase", "kernel"):
            counts["nowait_attempts"] += 1
            if not self._fails(self.nowait_fail):
                acct.alloc_bytes += n * NODE_BYTES           # GFP_NOWAIT under the lock
            else:
                counts["nowait_fail"] += 1
                if nonblock_rate is not None and recipe == "kernel":
                    # mas_nomem() with a non-blocking gfp: allocate under the lock, may fail
                    counts["nonblock_attempts"] += 1
                    if self._fails(nonblock_rate):
                        counts["nonblock_fail"] += 1
                        counts["enomem"] += 1
                        return done(ENOMEM, first, last)
                    acct.alloc_bytes += n * NODE_BYTES
                elif internal_lock and self._h is not None:    # mas_nomem drops the tree's own lock
                    got = self._drop_allocate_retake(find, entry, n, (first, last), revalidate=False)
                    if got is None:
                        return done("nospace")
                    first, last, have = got
                    outside = True
                else:                                        # external lock: GFP_KERNEL under it
                    counts["gfp_kernel_under_spinlock"] += 1
                    acct.events.append(("gfp_kernel_under_spinlock", n))
                    acct.alloc_bytes += n * NODE_BYTES
        elif n and recipe == "outside":
            if nonblock_rate is not None:
                # the preallocation outside the lock uses the caller's flags: it may fail
                counts["nonblock_attempts"] += 1
                if self._fails(nonblock_rate):
                    counts["lock_drops"] += 1
                    counts["nonblock_fail"] += 1
                    counts["enomem"] += 1
                    return done(ENOMEM, first, last)
            got = self._drop_allocate_retake(find, entry, n, (first, last), revalidate=True)
            if got is None:
                return done("nospace")
            first, last, have = got
            outside = True
        # the store itself consumes the preallocated nodes
        _, used, freed = tree_work(acct, tree, apply, first, last)
        counts["nodes_used"] += used
        acct.free_bytes += freed * NODE_BYTES
        if used > have:                          # the estimate was short: take the rest here
            counts["underestimate"] += 1
            acct.alloc_bytes += (used - have) * NODE_BYTES
        spare = max(0, have - used)
        counts["nodes_returned"] += spare
        if spare and not (outside and owns):     # mas_destroy() under the lock
            acct.free_bytes += spare * NODE_BYTES
        result = done("ok", first, last)
        if spare and outside and owns:           # the unused preallocation goes back outside
            self._outside(0, spare * NODE_BYTES)
        return result

    def _release(self):
        if self._h is not None:
            self._acct.unlock(self._h)
            self._h = None

    def _outside(self, alloc: int, free: int) -> None:
        """Slab work outside any lock (a ``Hold(None, ...)``, like ``Linux618._slab``)."""
        acct = self._acct
        acct.alloc_bytes += alloc
        acct.free_bytes += free
        acct.holds.append(Hold(None, "none", 0, 0, alloc, free))

    def _drop_allocate_retake(self, find, entry, n, rng_, revalidate: bool):
        """Drop the lock, allocate *n* nodes with GFP_KERNEL outside it, retake it, then either
        re-validate the chosen range (Rezki: one walk; the search repeats only if the range
        changed) or restart the operation (``mas_nomem``: ``mtree_alloc_range`` repeats its
        search).  Returns ``(first, last, nodes held)`` or None when no space is left."""
        counts, acct, tree = self.counts, self._acct, self._tree
        have = 0
        first, last = rng_
        before = tree.walk(first)
        while True:
            self._release()
            counts["lock_drops"] += 1
            self._outside((n - have) * NODE_BYTES, 0)
            have = n
            self._h = acct.lock(self._lock) if self._lock is not None else None
            if revalidate:
                counts["revalidations"] += 1
                acct.visited += max(1, tree.height())
                if tree.walk(first) == before:
                    got = (first, last)
                else:                            # cannot happen sequentially; kept for the explorer
                    counts["revalidation_failed"] += 1
                    got = find()
            else:
                counts["restarts"] += 1
                acct.visited += max(1, tree.height())
                got = find()
            if got is None:
                acct.free_bytes += have * NODE_BYTES      # mas_destroy() of the unused nodes
                return None
            first, last = got
            n = tree.nodes_needed(first, last, entry)
            if n <= have:
                return first, last, have
            before = tree.walk(first)


def check_rates(nowait_fail, atomic_fail):
    """Validate the two failure rates (used by design constructors)."""
    return (check_float("nowait_fail", nowait_fail, lo=0.0, hi=1.0),
            check_float("atomic_fail", atomic_fail, lo=0.0, hi=1.0))
