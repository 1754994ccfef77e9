"""``maple-nofree-sharded``: no free tree, per-node busy maple trees kept, one global tree whose
gaps are the free space: close to Pranjal's plan 2 (M22).

Why two ``maple-nofree`` designs.  Wilcox (M14) asks why a separate free tree is kept; Rezki
(M17) answers that splitting "allocated data" from the "free-space manager" keeps readers and
allocators on different locks.  Removing the free tree can mean two different things, and the
difference *is* Rezki's objection:

* ``maple-nofree`` (:mod:`vmapsim.designs.maple_nofree`): **one tree for everything**.  Busy areas are
  entries, free space is its gaps, and the tree's lock guards both; the per-node busy shards and
  their node walk disappear.  Nobody proposed this: it is this project's extreme case, built
  from M14 (why a separate free tree?), M18 (RCU readers), M26 (the tree's internal lock may
  "protect other things") and Pranjal's plan 3 (M22: no separate free index), none of which
  asks for one lock over unlink, lookup and allocation.
* ``maple-nofree-sharded`` (this module): **keep the split of locks, drop the free index**.
  Busy areas stay sharded over ``vmap_node``s (``vn->busy.mt`` under ``vn->busy.lock``, placed
  by ``addr_to_node()`` as in 6.18), and the allocator index is one global tree of in-use
  ranges (``XA_ZERO_ENTRY`` over busy, lazy and pooled areas) whose gaps are the free space,
  under its own lock -- Pranjal's plan 2 (M22: "a global allocator lock serialises only gap-find
  + range-publish on the occupied tree; the per-node busy lock ... held only for the busy
  insert") and what his "next version" (M20, M25: the occupied tree's gaps as the only
  free-space index) amounts to once the hybrids (free tree on slow paths, bump chunks, retry
  list) are gone.  Readers of allocated data never take the allocator's lock, exactly as with
  today's free tree: Rezki's split is kept; the price is two index updates per allocation and
  per release (busy shard + global tree), i.e. the "twice the maple operations" patch 07
  complained about, and two trees' worth of nodes.

Both keep 6.18's policy where nothing forces a change: per-node pools, lazy lists purged in
address order, ``lazy_max_pages()``, and placement by lowest fit (see :mod:`vmapsim.designs.gap_alloc`
for the one forced difference, aligned requests).  The lazy queue is a list (patch 08), sorted
by address at purge time so the pools are filled as 6.18 fills them.

Default node allocation: the ``wilcox`` recipe (M26: the trees' own locks, dropped to
allocate); ``series`` and ``rezki`` are available for comparison.  ``struct vmap_area``: 48 B
(``va_layout``, see :mod:`vmapsim.designs.va_layout`).
"""
from __future__ import annotations

from ..params import check_choice
from ..vmalloc.layout import sizeof_vmap_area
from .busy_mt import MAPLE_PARAMS, MapleBusyMixin
from .gap_alloc import ALIGNED_SEARCH, MapleGapMixin
from .linux618 import Linux618
from .mt_index import LazyList
from .reference import ReferenceReplayMixin

__all__ = ["MapleNoFreeSharded"]


class MapleNoFreeSharded(ReferenceReplayMixin, MapleGapMixin, MapleBusyMixin, Linux618):
    """Sharded busy maple trees + a global gap tree, no free tree (see the module docstring)."""

    name = "maple-nofree-sharded"
    gap_lock = "occupied_mt.lock"
    PARAMS = dict(Linux618.PARAMS, **dict(MAPLE_PARAMS, nodealloc="wilcox"),
                  aligned_search="padded", va_layout="maple-48")

    def __init__(self, **params):
        super().__init__(**params)
        p = self.params
        self.aligned_search = check_choice("aligned_search", p["aligned_search"], ALIGNED_SEARCH)
        self.sizeof_vmap_area = sizeof_vmap_area(p["va_layout"])
        self._setup_maple()
        self._setup_gap()
        for vn in self.nodes:
            vn.lazy = LazyList(self.acct)
        self.acct.begin("init", -1)

    def index_memory(self):
        m = self._gap_index_memory("occupied_mt")
        busy = self.busy_index_bytes()
        m.index_node_bytes += busy
        m.extra["busy.mt"] = busy
        return m
