"""Free space as the gaps of a maple tree, on top of the 6.18 allocator: the part shared by
``rfc-v1`` (``occupied_vmap_area_mt``), ``maple-nofree`` and ``maple-nofree-sharded``.

:class:`MapleGapMixin` replaces 6.18's augmented free rb-tree by a
:class:`~vmapsim.designs.mt_index.GapTree`: every range that is busy, lazily freed (waiting for the
TLB flush), in a per-node pool, or otherwise reserved holds an entry; everything else is free.
The 6.18 policy stays where the design does not force a change:

* pools, lazy lists, purge and decay are 6.18's (inherited from :class:`~vmapsim.designs.linux618.Linux618`);
  a lazily freed area keeps its reservation until the purge has flushed the TLB, then it goes
  to a pool (no tree change: the range stays reserved) or is *erased* from the tree, which
  makes it free -- the maple tree merges adjacent NULL ranges, the analogue of
  ``merge_or_add_vmap_area()``;
* placement (``__alloc_vmap_area()``) is ``mas_empty_area()`` (:meth:`GapTree.search`): lowest
  fit for ``align <= PAGE_SIZE`` (6.18's answer), and for larger alignments the lowest gap that
  holds ``size + align - 1`` (``aligned_search="padded"``, the series' rule) -- 6.18's rb-tree
  descent may instead take a smaller block that fits exactly when it lies on its path, so
  aligned requests can differ (replay names them ``exact-aligned-gap``); or an exact aligned
  search (``aligned_search="exact"``: the lowest aligned fit anywhere).  ``pad_rule``:
  ``"kernel"`` pads only where 6.18 adjusts the search length (not for ``align <= PAGE_SIZE``
  nor for a range exactly ``size`` long), ``"series"`` pads whenever ``align > PAGE_SIZE``
  (``occupied_mt_find_hole_window_locked()``, patch 07), which makes a request whose range is
  exactly its size fail;
* there are no free ``vmap_area`` objects: a purged area's object goes back to the slab outside
  the lock (patch 07's ``release_drained_vmap_area_locked``), and a fresh allocation stores
  its range instead of clipping a free block (no "no edge" split object to preload).

Hooks a design fills: ``gap_lock`` (lock name), ``_gap_store_failed`` / ``_erase_failed``
(what happens when a store cannot get nodes: the series queues on its retry list, the others
fail the allocation or leak the range), ``_excluded`` (retry-list scan), ``_extra_spans``
(other reserved ranges for :meth:`validate`).
"""
from __future__ import annotations

from ..maple import XA_ZERO_ENTRY
from ..vmalloc.free_space import adjust_search_size
from ..vmalloc.vmap_area import PAGE_SIZE, SIZEOF_VMAP_AREA
from .base import IndexMemory
from .mt_index import GapTree
from .node_alloc import ENOMEM

__all__ = ["MapleGapMixin", "ALIGNED_SEARCH"]

ALIGNED_SEARCH = ("padded", "exact")


class MapleGapMixin:
    """Free space = gaps of ``self.gap`` (see the module docstring)."""

    gap_lock = "free_vmap_area_lock"
    pad_rule = "kernel"
    aligned_search = "padded"

    def _setup_gap(self) -> None:
        self.gap = GapTree(self.acct, rcu=self.rcu)
        self.free = None                  # no augmented free rb-tree in this design
        self._reclaim_bytes = 0
        self._fresh = None
        self.leaked: list[tuple[int, int]] = []

    # ------------------------------------------------------------------ placement
    def _pad(self, size, align, vstart, vend) -> bool:
        if self.aligned_search == "exact":
            return False
        if self.pad_rule == "series":
            return align > PAGE_SIZE
        return adjust_search_size(size, align, vstart, vend)

    def _excluded(self):
        """Ranges the search must skip (the series' retry list); None when there are none."""
        return None

    def _gap_search(self, size, align, vstart, vend):
        return self.gap.search(size, align, vstart, vend,
                               pad=self._pad(size, align, vstart, vend), excluded=self._excluded())

    def _predict_free(self, size, align, vstart, vend):
        acct = self.acct
        v = acct.visited
        addr = self._gap_search(size, align, vstart, vend)
        acct.visited = v
        return addr

    def _gap_entry(self):
        return XA_ZERO_ENTRY

    def _alloc_free_tree(self, size, align, vstart, vend, cpu):
        """``__alloc_vmap_area()``: gap search + store of the range under ``gap_lock``."""
        acct = self.acct

        def search():
            a = self._gap_search(size, align, vstart, vend)
            return None if a is None else (a, a + size - 1)

        r = self.na.run(acct, self.gap_lock, self.gap.mt, search, self._gap_entry(), "store",
                        internal_lock=self.internal_lock)
        acct.events.append(("cond_resched", None))
        if r.status == ENOMEM:
            self._gap_store_failed(r.first, r.last + 1)
            return None
        if not r.ok:
            return None
        self._fresh = (r.first, r.last + 1)
        return r.first

    def _gap_store_failed(self, start: int, end: int) -> None:
        """The gap store could not get nodes: ``__alloc_vmap_area()`` returns ``-ENOMEM`` (the
        caller's overflow path purges and retries once)."""
        self.acct.events.append(("enomem", "gap store"))

    # ------------------------------------------------------------------ release
    def _erase_ranges(self, ranges) -> None:
        """Erase plain ranges (objects with ``va_start``/``va_end`` that are not ``vmap_area``
        objects of the design: nothing goes back to the slab)."""
        self._reclaim_list_global(ranges, objects=False)

    def _reclaim_list_global(self, vas, objects: bool = True) -> None:
        """``reclaim_list_global()``: erase every area's range under ``gap_lock`` (one hold for
        the list), then free the objects to the slab outside the lock."""
        if not vas:
            return
        acct = self.acct
        f0 = acct.free_bytes
        h = acct.lock(self.gap_lock)
        failed = []
        for va in vas:
            r = self.na.run(acct, self.gap_lock, self.gap.mt,
                            lambda va=va: (va.va_start, va.va_end - 1), None, "erase",
                            internal_lock=self.internal_lock, hold=h)
            h = r.hold
            if r.status == ENOMEM:
                failed.append(va)
            else:
                self._released(va)
        if h is not None:
            acct.unlock(h)
        freed = len(vas) - len(failed)
        if freed and objects:
            self._free_objects(freed)
        if failed:
            self._erase_failed(failed)
        self._reclaim_bytes += acct.free_bytes - f0

    def _free_objects(self, n: int) -> None:
        """``kmem_cache_free()`` of *n* ``vmap_area`` objects outside the lock (hook: designs that
        RCU-free them record ``call_rcu`` instead)."""
        self._slab(free=n * self.sizeof_vmap_area)

    def _released(self, va) -> None:
        """Hook: *va*'s range has just become free."""

    def _erase_failed(self, vas) -> None:
        """The erase could not get nodes (series: ``GFP_NOWAIT`` and then ``GFP_ATOMIC`` failed
        in ``mas_store_gfp``) and the design has no retry list: the range stays reserved for
        ever (a leak, counted)."""
        for va in vas:
            self.leaked.append((va.va_start, va.va_end))
            self.acct.events.append(("leak", va.va_end - va.va_start))

    def _decay_va_pool_node(self, vn, full):
        # 6.18 merges decayed entries into a local list before reclaiming them; the objects it
        # frees there are counted at 6.18's size by vmap_tree: correct them to this design's
        acct = self.acct
        f0, r0 = acct.free_bytes, self._reclaim_bytes
        super()._decay_va_pool_node(vn, full)
        merged = (acct.free_bytes - f0) - (self._reclaim_bytes - r0)
        if merged > 0 and self.sizeof_vmap_area != SIZEOF_VMAP_AREA:
            acct.free_bytes -= (merged // SIZEOF_VMAP_AREA) * (SIZEOF_VMAP_AREA - self.sizeof_vmap_area)

    # ------------------------------------------------------------------ replay hooks
    def _load_free(self, taken) -> None:
        for s, e in taken:
            self.gap.reserve_raw(s, e)

    def _take_free(self, addr, end, cpu) -> str:
        if not self.gap.is_free(addr, end):
            return self.force_range(addr, end)
        self._slab(alloc=self.sizeof_vmap_area)
        r = self.na.run(self.acct, self.gap_lock, self.gap.mt, lambda: (addr, end - 1),
                        self._gap_entry(), "store", internal_lock=self.internal_lock)
        self._fresh = (addr, end)
        return "free" if r.ok else "not-free:enomem"

    def _free_overlaps(self, addr, end) -> bool:
        return self.gap.overlaps_free(addr, end)

    def _force_free(self, addr, end) -> None:
        # reserve the whole range; force_range then unlinks what else the model had there and
        # gives the parts of those areas outside [addr, end) back (erasing them)
        self.gap.reserve_raw(addr, end)

    # ------------------------------------------------------------------ views
    def free_ranges(self):
        return self.gap.free_ranges()

    def _extra_spans(self):
        """Other reserved ranges as ``(start, end, kind)`` (retry list, bump chunks, leaks)."""
        return [(s, e, "leaked") for s, e in self.leaked]

    def _free_spans(self):
        self.gap.validate()
        return [(s, e, "free") for s, e in self.gap.free_ranges()] + self._extra_spans()

    def gap_index_bytes(self) -> int:
        return self.gap.memory_bytes()

    def _gap_index_memory(self, gap_name: str):
        """:class:`~vmapsim.designs.base.IndexMemory` of the pools, lazy lists, busy areas and the gap
        tree (``free_ranges`` = number of gaps, which cost no ``vmap_area`` objects)."""
        busy = len(self.busy_areas())
        lazy = sum(vn.lazy.count for vn in self.nodes)
        pool = sum(len(lst) for vn in self.nodes for lst in vn.pool.values())
        gap = self.gap_index_bytes()
        return IndexMemory(self.sizeof_vmap_area, busy, lazy, self.gap.gap_count(), pool,
                           (busy + lazy + pool) * self.sizeof_vmap_area, gap, {gap_name: gap})
