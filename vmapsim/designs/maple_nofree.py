"""``maple-nofree``: one maple tree for everything -- no free tree, no busy shards.

A design this project built to bound one end of the design space; **nobody on the list proposed
it**.  It takes three things said in the thread to their extreme: no separate free tree (Wilcox
asked why one is kept, M14; Pranjal agreed to drop it, M20/M25), readers under RCU (M18), and
the tree's own spinlock, which "can drop the lock to allocate memory" and may also "protect other
things" (Wilcox, M26) -- and uses that one lock for unlink, lookup and allocation alike, which no
message says.  Busy areas are ``vmap_area`` entries of a single tree ``vmap_area_mt``
(``MT_FLAGS_ALLOC_RANGE``), free space is its gaps (found with ``mas_empty_area()``).  Why this is
one of *two* designs, and what the other keeps, is explained in
:mod:`vmapsim.designs.maple_nofree_sharded`.

What happens to each kind of range:

* allocation from free space: gap search and the store of the new ``vmap_area`` in one
  critical section (``mtree_alloc_range()``-like; a first ``GFP_NOWAIT`` attempt, then
  ``mas_nomem()`` drops the tree lock, allocates and repeats the search);
* ``find_vmap_area()``: one walk, no node walk (a ``vmap_area`` is found wherever its zone is);
  under the tree lock, or with ``lookup="rcu"`` an RCU walk (tree in RCU mode, objects freed
  with ``call_rcu`` so the layout gains an ``rcu_head``: M23's plan; whether that lookup is
  *safe* is the explorer's question, not this one's);
* ``find_unlink_vmap_area()``: the entry is replaced by ``XA_ZERO_ENTRY`` (an exact-fit store,
  no node allocation in either mode): the range stays reserved -- lazily freed areas must not
  be reused before the TLB flush -- and stops being findable;
* lazy lists per node (a ``list_head``, sorted at purge time), per-node pools: 6.18's policy; a
  pool entry stays ``XA_ZERO_ENTRY`` in the tree; a pool pop stores the area's ``vmap_area``
  over its range again (exact fit); the purge erases what does not go to a pool.

Per-node sharding of the *index* is gone: every allocation that misses a pool, every busy
insert, every unlink and every lookup takes the same lock (or the RCU read side).  The
per-node pools and lazy lists still shard the pool and lazy traffic.  Rezki's objection (M17)
is about exactly this lock; the performance model prices it.

Model bookkeeping: each node's ``busy`` attribute is a *view* (:class:`BusyShard`) listing the
areas of that node (``addr_to_node(va_start)``) in address order so that 6.18's views and
replay helpers work; it is not an index and does no accounted work.
"""
from __future__ import annotations

from ..maple import XA_ZERO_ENTRY
from ..params import check_choice
from ..vmalloc.layout import LAYOUTS, sizeof_vmap_area
from ..vmalloc.rbtree import RBTree
from ..vmalloc.vmap_area import VmapArea
from .base import Hold
from .busy_mt import MAPLE_PARAMS
from .gap_alloc import ALIGNED_SEARCH, MapleGapMixin
from .linux618 import Linux618
from .mt_index import LazyList, OrderedView
from .node_alloc import MODES, NodeAlloc, tree_work
from .reference import ReferenceReplayMixin

__all__ = ["MapleNoFree", "BusyShard"]

TREE_LOCK = "vmap_area_mt.lock"


class BusyShard(OrderedView):
    """``vn->busy`` of ``maple-nofree``: a view of the single tree's busy areas of one node."""

    __slots__ = ("design", "order")

    def __init__(self, design):
        self.design = design
        self.order = RBTree(False)

    def insert(self, va) -> None:
        """Start state / replay: store *va* in the tree (no node-allocation model)."""
        g = self.design.gap
        g.reserve_raw(va.va_start, va.va_end, va)
        self.order.insert(va)

    def unlink(self, va) -> None:
        """Replay's ``force_range``: forget *va*.  Its range in the tree is then rewritten by the
        caller (reserved for the forced area, the rest erased by ``_give_back_outside``)."""
        self.order.unlink(va)

    def find_exceed(self, addr):
        return self.order.find_exceed(addr)

    def find(self, addr):
        return self.order.find(addr)

    def validate(self) -> None:
        self.order.validate()


class MapleNoFree(ReferenceReplayMixin, MapleGapMixin, Linux618):
    """One maple tree: busy entries + reserved ranges, gaps are free (see module docstring)."""

    _reader_rcu_ok = True             # readers may walk the maple tree under RCU (M22)

    name = "maple-nofree"
    gap_lock = TREE_LOCK
    PARAMS = dict(Linux618.PARAMS, **dict(MAPLE_PARAMS, nodealloc="wilcox"),
                  aligned_search="padded", lookup="lock", va_layout=None)

    def __init__(self, **params):
        super().__init__(**params)
        p = self.params
        self.aligned_search = check_choice("aligned_search", p["aligned_search"], ALIGNED_SEARCH)
        self.lookup = check_choice("lookup", p["lookup"], ("lock", "rcu"))
        layout = p["va_layout"] or ("rcu-head-64" if self.lookup == "rcu" else "maple-48")
        self.va_layout = check_choice("va_layout", layout, LAYOUTS)
        self.sizeof_vmap_area = sizeof_vmap_area(layout)
        check_choice("nodealloc", p["nodealloc"], MODES)
        self.na = NodeAlloc(p["nodealloc"], p["nowait_fail"], p["atomic_fail"], p["seed"])
        self.internal_lock = p["nodealloc"] == "wilcox"
        self.rcu = bool(p["rcu"]) or self.lookup == "rcu"
        self._setup_gap()
        for vn in self.nodes:
            vn.lazy = LazyList(self.acct)
        self.acct.begin("init", -1)

    def new_busy_index(self, node: int):
        """Each node's ``busy`` is a view of the one tree (``Linux618.new_busy_index`` hook)."""
        return BusyShard(self)

    def _node_of(self, va):
        return self.nodes[(va.va_start // self.zone) % self.nr_nodes]

    # ------------------------------------------------------------------ busy insert
    def _insert_busy(self, va: VmapArea) -> bool:
        acct = self.acct
        tree = self.gap.mt
        s, e = va.va_start, va.va_end
        if self._fresh == (s, e) and acct.holds and acct.holds[-1].lock == self.gap_lock:
            # the range was found and reserved in this operation's critical section: a single
            # tree stores the vmap_area itself there (mtree_alloc_range(..., va, ...)); the
            # model reserved it and now writes the entry: its work belongs to that same hold
            h = acct.holds[-1]
            v, w = acct.visited, acct.written
            _, a, f = tree_work(acct, tree, tree.store_range, s, e - 1, va)
            h.visited += acct.visited - v
            h.written += acct.written - w
            h.alloc_bytes += a * 256
            h.free_bytes += f * 256
            acct.alloc_bytes += a * 256
            acct.free_bytes += f * 256
        else:                                   # pool pop or replay: the entry is XA_ZERO_ENTRY
            self.na.run(acct, self.gap_lock, tree, lambda: (s, e - 1), va, "store",
                        internal_lock=self.internal_lock)
        self._fresh = None
        self._node_of(va).busy.order.insert(va)
        return True

    # ------------------------------------------------------------------ readers
    def _reader_shards(self):
        """One index: the tree, under its lock (vmapsim.designs.readers)."""
        return [(self.gap_lock, _WholeTree(self))]

    def _reader_shard_of(self, addr):
        return 0

    # ------------------------------------------------------------------ lookups
    def _node_walk(self, addr: int, unlink: bool):
        acct = self.acct
        tree = self.gap.mt
        if not unlink:
            h = acct.lock(self.gap_lock, "rcu" if self.lookup == "rcu" else "spin")
            st = tree.stats
            v = st.visited
            va = tree.load(addr) if 0 <= addr < (1 << 64) else None
            acct.visited += st.visited - v
            acct.unlock(h)
            return va if isinstance(va, VmapArea) else None
        found = []

        def search():
            va, _, _ = self.gap.entry_at(addr)
            if not isinstance(va, VmapArea):
                acct.visited += max(1, tree.height())
                return None
            found.append(va)
            return va.va_start, va.va_end - 1

        def apply(first, last):
            tree.store_range(first, last, XA_ZERO_ENTRY)
            self._node_of(found[-1]).busy.order.unlink(found[-1])

        r = self.na.run(acct, self.gap_lock, tree, search, XA_ZERO_ENTRY, "store", apply=apply,
                        internal_lock=self.internal_lock)
        return found[-1] if r.ok else None

    # ------------------------------------------------------------------ object lifetime
    def _free_objects(self, n: int) -> None:
        if self.va_layout.startswith("rcu-head"):
            self.acct.events.append(("call_rcu", n * self.sizeof_vmap_area))
            self.acct.holds.append(Hold(None, "none", 0, 0, 0, 0))
        else:
            super()._free_objects(n)

    # ------------------------------------------------------------------ replay / views
    def _load_free(self, taken) -> None:
        for s, e in taken:
            entry, _, last = self.gap.entry_at(s)
            if entry is None:                   # lazy ranges; busy ones already hold their area
                self.gap.reserve_raw(s, e)

    def _free_spans(self):
        spans = super()._free_spans()
        in_tree = [e for _, _, e in self.gap.mt.items() if isinstance(e, VmapArea)]
        listed = [va for vn in self.nodes for va in vn.busy]
        assert len(in_tree) == len(listed) and {id(v) for v in in_tree} == {id(v) for v in listed}, \
            "busy entries of the tree and the per-node views disagree"
        return spans

    def index_memory(self):
        return self._gap_index_memory("vmap_area_mt")


class _WholeTree:
    """The busy areas of the one tree as a reader walks them: a ``mas_find`` / ``mas_walk``
    costs a descent (counted), iteration follows the per-node views merged in address order."""

    __slots__ = ("design",)

    def __init__(self, design):
        self.design = design

    def find_exceed(self, addr):
        d = self.design
        d.acct.visited += max(1, d.gap.mt.height())
        best = None
        for vn in d.nodes:
            va = vn.busy.order.find_exceed(addr)
            if va is not None and (best is None or va.va_start < best.va_start):
                best = va
        return best

    def find(self, addr):
        d = self.design
        st = d.gap.mt.stats
        v = st.visited
        va = d.gap.mt.load(addr) if 0 <= addr < (1 << 64) else None
        d.acct.visited += st.visited - v
        return va if isinstance(va, VmapArea) else None

    def __iter__(self):
        import heapq
        return heapq.merge(*(iter(vn.busy.order) for vn in self.design.nodes),
                           key=lambda va: va.va_start)
