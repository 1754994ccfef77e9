"""Per-node busy maple trees (``vn->busy.mt``) on top of the 6.18 allocator: the part every
sharded RFC design shares (``rfc-maple-busy``, ``rfc-v1``, ``maple-nofree-sharded``).

:class:`MapleBusyMixin` replaces each ``vmap_node``'s busy rb-tree by a
:class:`~vmapsim.designs.mt_index.MapleAreaTree` and routes its stores through the design's
:class:`~vmapsim.designs.node_alloc.NodeAlloc`:

* busy insert (``alloc_vmap_area()`` step 8): a store of the area over ``[va_start, va_end-1]``
  under ``vn->busy.lock`` with the ``store`` recipe of the node-allocation mode;
* ``find_vmap_area()``: the 6.18 node walk, a maple walk (``mas_walk``) under each visited node's
  ``busy.lock``;
* ``find_unlink_vmap_area()``: the same walk with one ``mas_erase()`` (patch 09) under the lock
  (the ``unlink`` recipe: under the external lock of the series, a failed ``GFP_NOWAIT``
  falls back to ``GFP_KERNEL`` *under the spinlock*, see :mod:`vmapsim.designs.node_alloc`).

When the busy insert cannot get its nodes (only with a non-zero failure rate), the series rolls
the allocation back (``rollback_busy_insert_failed_alloc_locked``: the range goes back to the
free index) and ``alloc_vmap_area()`` fails with ``-ENOMEM``; 6.18's overflow path then purges
(full pool decay) and retries once.  :meth:`_busy_insert_failed` is the hook a design overrides
(``rfc-v1`` queues the area on its retry list instead).  Replay is meant for the default rates
(0): a replay never fails a store.

Parameters added to the design's ``PARAMS``: ``nodealloc`` (``series`` | ``wilcox`` |
``rezki``), ``nowait_fail``, ``atomic_fail`` (failure rates, seeded by ``seed``), ``rcu``
(maple trees in RCU mode: copy-on-write stores, replaced nodes in ``free_bytes``).
"""
from __future__ import annotations

from ..params import check_choice
from ..vmalloc.vmap_area import PAGE_SIZE, VmapArea
from .mt_index import MapleAreaTree
from .node_alloc import MODES, NodeAlloc

__all__ = ["MapleBusyMixin", "MAPLE_PARAMS"]

#: parameters every maple design adds (defaults: the series, no failures, no RCU)
MAPLE_PARAMS = {"nodealloc": "series", "nowait_fail": 0.0, "atomic_fail": 0.0, "rcu": False}


class MapleBusyMixin:
    """Busy maple trees per node, stores through the node-allocation model (see module doc)."""

    _reader_rcu_ok = True             # readers may walk the maple tree under RCU (M22)

    def _setup_maple(self) -> None:
        p = self.params
        check_choice("nodealloc", p["nodealloc"], MODES)
        self.na = NodeAlloc(p["nodealloc"], p["nowait_fail"], p["atomic_fail"], p["seed"])
        #: Wilcox's model: the lock around a tree is the tree's own (mas_nomem may drop it)
        self.internal_lock = p["nodealloc"] == "wilcox"
        self.rcu = bool(p["rcu"])
        self._insert_failed = False

    def new_busy_index(self, node: int):
        """``vn->busy.mt`` (``Linux618.new_busy_index`` hook)."""
        return MapleAreaTree(self.acct, rcu=bool(self.params["rcu"]))

    # ------------------------------------------------------------------ busy insert
    def _insert_busy(self, va: VmapArea) -> bool:
        vn = self.nodes[(va.va_start // self.zone) % self.nr_nodes]
        tree = vn.busy
        r = self.na.run(self.acct, vn.busy_lock, tree.mt, lambda: (va.va_start, va.va_end - 1), va,
                        "store", apply=lambda f, l: tree.store_linked(va),
                        internal_lock=self.internal_lock)
        if not r.ok:
            self._insert_failed = True
            self._busy_insert_failed(va)
            return False
        return True

    def _busy_insert_failed(self, va: VmapArea) -> None:
        """``rollback_busy_insert_failed_alloc_locked()``: the range goes back to free space."""
        self._reclaim_list_global([VmapArea(va.va_start, va.va_end)])

    def alloc_vmap_area(self, size, align=PAGE_SIZE, vstart=None, vend=None, cpu=0, va_flags=0):
        """6.18's ``alloc_vmap_area()``; a busy insert that fails (``-ENOMEM``) takes the
        overflow path: full purge, one more attempt, then failure."""
        self._insert_failed = False
        addr = super().alloc_vmap_area(size, align, vstart, vend, cpu, va_flags)
        if addr is None or not self._insert_failed:
            return addr
        acct = self.acct
        holds = acct.holds
        acct.events.append(("enomem", "busy insert"))
        self._purge(True, cpu)
        self._insert_failed = False
        events = acct.events
        addr = super().alloc_vmap_area(size, align, vstart, vend, cpu, va_flags)
        acct.holds = holds + acct.holds
        acct.events = events + acct.events
        if self._insert_failed:
            acct.events.append(("enomem", "busy insert"))
            return None
        return addr

    # ------------------------------------------------------------------ lookups
    def _node_lookup(self, vn, addr: int, unlink: bool):
        if unlink:
            return self._busy_erase(vn, addr)
        return super()._node_lookup(vn, addr, False)

    def _busy_erase(self, vn, addr: int):
        """``mas_erase()`` of the area containing *addr* under ``vn->busy.lock`` (one descent:
        the walk is counted once, by the erase)."""
        tree = vn.busy
        acct = self.acct
        found = []

        def search():
            va = tree.peek(addr)
            if va is None:
                acct.visited += max(1, tree.mt.height())     # the walk that found nothing
                return None
            found.append(va)
            return va.va_start, va.va_end - 1

        r = self.na.run(acct, vn.busy_lock, tree.mt, search, None, "unlink",
                        apply=lambda f, l: tree.erase_linked(found[-1]),
                        internal_lock=self.internal_lock)
        return found[-1] if r.ok else None

    # ------------------------------------------------------------------ memory
    def busy_index_bytes(self) -> int:
        return sum(vn.busy.memory_bytes() for vn in self.nodes)
