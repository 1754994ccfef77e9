"""The maple-tree indexes the RFC designs build from :class:`vmapsim.maple.MapleTree`.

* :class:`MapleAreaTree` -- a busy index (``vn->busy.mt``): each busy ``vmap_area`` stored over
  ``[va_start, va_end - 1]``; offers the rb_list-like interface the 6.18 code uses
  (``insert``, ``unlink``, ``find``, ``find_exceed``, iteration in address order, ``count``).
* :class:`LazyList` -- a lazy queue kept as a ``list_head`` (patch 08): O(1) insert, the purge
  splices it and walks it once for the flush range.
* :class:`GapTree` -- an allocator index whose *gaps* are the free space
  (``occupied_vmap_area_mt`` of the series, the single tree of ``maple-nofree``): in-use ranges
  hold an entry (``XA_ZERO_ENTRY`` or a ``vmap_area``); a request is placed with
  ``mas_empty_area()``.

Model bookkeeping (not kernel behaviour): ``MapleAreaTree`` and ``LazyList`` also link their
areas into an unaccounted :class:`vmapsim.vmalloc.rbtree.RBTree` (``.order``).  It gives the address
order and the ``va.next`` links that replay's helpers (``locate``/``force_range``) walk, and
``validate()`` checks that it holds exactly what the maple tree holds.  Its work is never
added to the lock record; every lookup a design makes goes to the maple tree.

Work accounting: operations through these classes add the maple nodes they visit and write to
the design's :class:`~vmapsim.designs.base.Accounting` counters, and node bytes allocated / freed to
``alloc_bytes`` / ``free_bytes``.  Hot-path stores of the designs go through
:class:`vmapsim.designs.node_alloc.NodeAlloc` instead, which decides where the node allocations
happen; the ``*_raw`` methods here are for start-up, replay bookkeeping and tests.
"""
from __future__ import annotations

from ..maple import ULONG_MAX, XA_ZERO_ENTRY, MapleBusy, MapleInvalid, MapleTree
from ..maple.node import NODE_BYTES
from ..vmalloc.rbtree import RBTree
from ..vmalloc.vmap_area import PAGE_SIZE
from .node_alloc import tree_work

__all__ = ["OrderedView", "MapleAreaTree", "LazyList", "GapTree", "align_up"]


class OrderedView:
    """Count, length and address-order iteration of a view whose areas sit in ``self.order``
    (an :class:`RBTree` kept for the model's address order; ``va.next`` links)."""

    __slots__ = ()

    @property
    def count(self) -> int:
        return self.order.count

    def __len__(self) -> int:
        return self.order.count

    def __iter__(self):
        return iter(self.order)


def align_up(x: int, a: int) -> int:
    """``ALIGN(x, a)`` for a power-of-two *a*."""
    return (x + a - 1) & ~(a - 1)


def _raw(acct, tree, fn, *args):
    out, allocated, freed = tree_work(acct, tree, fn, *args)
    acct.alloc_bytes += allocated * NODE_BYTES
    acct.free_bytes += freed * NODE_BYTES
    return out


class MapleAreaTree(OrderedView):
    """``vn->busy.mt``: busy areas as ``vmap_area`` entries over ``[va_start, va_end - 1]``."""

    __slots__ = ("mt", "order", "acct")

    def __init__(self, acct, rcu: bool = False):
        self.mt = MapleTree(rcu=rcu)
        self.order = RBTree(False)
        self.acct = acct

    # ---------------------------------------------------------------- model bookkeeping
    def link(self, va) -> None:
        """Record *va* in the address order (after the maple store put it in the tree)."""
        self.order.insert(va)

    def store_linked(self, va) -> None:
        """The store a hot-path insert performs (used as ``apply`` of NodeAlloc.run)."""
        self.mt.store_range(va.va_start, va.va_end - 1, va)
        self.order.insert(va)

    def erase_linked(self, va) -> None:
        """``mas_erase()`` of *va*'s range and its removal from the order."""
        self.mt.erase(va.va_start)
        self.order.unlink(va)

    # ---------------------------------------------------------------- rb_list-like interface

    def insert(self, va) -> None:
        """Insert without the node-allocation model (start state, replay bookkeeping)."""
        _raw(self.acct, self.mt, self.mt.store_range, va.va_start, va.va_end - 1, va)
        self.order.insert(va)

    def unlink(self, va) -> None:
        """Erase without the node-allocation model (replay bookkeeping)."""
        _raw(self.acct, self.mt, self.mt.store_range, va.va_start, va.va_end - 1, None)
        self.order.unlink(va)

    def find(self, addr: int):
        """``mas_walk`` / ``mtree_load``: the area containing *addr*, or None."""
        if not 0 <= addr <= ULONG_MAX:
            return None
        st = self.mt.stats
        v = st.visited
        va = self.mt.load(addr)
        self.acct.visited += st.visited - v
        return va

    def find_exceed(self, addr: int):
        """The lowest area ending above *addr* (``mas_find``); counted as one walk."""
        self.acct.visited += max(1, self.mt.height())
        return self.order.find_exceed(addr)

    def peek(self, addr: int):
        """Model-only lookup of the area containing *addr* (no work counted)."""
        return self.order.find(addr)

    def memory_bytes(self) -> int:
        return self.mt.memory_bytes()

    def node_count(self) -> int:
        return self.mt.node_count()

    def validate(self) -> None:
        self.mt.validate()
        self.order.validate()
        got = [(f, l, e) for f, l, e in self.mt.items()]
        want = [(va.va_start, va.va_end - 1, va) for va in self.order]
        assert len(got) == len(want) and all(a[0] == b[0] and a[1] == b[1] and a[2] is b[2]
                                             for a, b in zip(got, want)), \
            "busy maple tree and its address order disagree"


class LazyList(OrderedView):
    """``vn->lazy_list`` (patch 08): a ``list_head`` queue of lazily freed areas.

    ``insert`` is ``list_add_tail`` (one node written); ``detach_all`` is the purge's
    ``list_splice_tail_init`` plus the walk that computes the flush range (one node visited per
    area); it returns the areas in address order (the model's order; :attr:`by_free_order`
    says whether the design walks them in free order instead, see ``_push_order``)."""

    __slots__ = ("order", "acct")

    def __init__(self, acct):
        self.order = RBTree(False)
        self.acct = acct

    def insert(self, va) -> None:
        self.order.insert(va)
        self.acct.written += 1

    def unlink(self, va) -> None:
        self.order.unlink(va)
        self.acct.written += 1

    def detach_all(self):
        out = self.order.detach_all()
        self.acct.visited += len(out)
        self.acct.written += 1
        return out

    def find_exceed(self, addr: int):
        return self.order.find_exceed(addr)

    def find(self, addr: int):
        return self.order.find(addr)

    def validate(self) -> None:
        self.order.validate()


class GapTree:
    """An allocator index whose gaps are the free space (``MT_FLAGS_ALLOC_RANGE``).

    Every in-use range holds an entry; NULL ranges are free.  :meth:`search` places a request
    with ``mas_empty_area()``.  ``lo``/``hi``: the part of the index space the views report
    (``[1, ULONG_MAX)``, like ``vmap_init_free_space()``)."""

    __slots__ = ("mt", "acct")
    lo, hi = 1, ULONG_MAX

    def __init__(self, acct, rcu: bool = False):
        self.mt = MapleTree(alloc_range=True, rcu=rcu)
        self.acct = acct

    # ---------------------------------------------------------------- search
    def search(self, size: int, align: int, vstart: int, vend: int, pad: bool = True,
               excluded=None) -> int | None:
        """The start the allocator takes for ``size`` bytes aligned to ``align`` in
        ``[vstart, vend)``, or None.

        ``pad=True`` is ``occupied_mt_find_hole_window_locked()`` of the series (patches 04-07):
        ``mas_empty_area()`` for ``size + align - 1`` when ``align > PAGE_SIZE`` (else ``size``),
        then ``ALIGN(index, align)``: the lowest gap that holds the padded length.  ``pad=False``
        is an exact aligned search: gaps of at least ``size`` in address order until one holds
        the aligned request (``O(gaps skipped)``).  ``excluded(start, end) -> blocked_end or
        None`` is the series' retry-list scan: a candidate meeting an excluded range moves past
        it.

        Work: the nodes every ``mas_empty_area()`` call reads go to ``mt.stats.visited`` (the
        caller runs the search under :func:`~vmapsim.designs.node_alloc.tree_work`, which charges
        them to the hold).  The exact search's look-up of the gap's end is a model view: an
        implementation reads it from the leaf slot the search stopped in (``mas.node`` /
        ``mas.offset``), so it counts no node."""
        mt = self.mt
        mx = vend - 1
        if size <= 0 or vstart > mx or size > vend - vstart:
            return None
        length = size + align - 1 if pad and align > PAGE_SIZE else size
        search = vstart
        while search <= mx:
            try:
                idx = mt.empty_area(search, mx, length)
            except (MapleBusy, MapleInvalid):
                return None
            if pad:
                hole_end = min(idx + length - 1, mx)
            else:
                _, _, hole_end = self.entry_at(idx)
                hole_end = min(hole_end, mx)
            cand = align_up(idx, align)
            while cand >= search and cand + size - 1 <= hole_end:
                if excluded is None:
                    return cand
                blocked = excluded(cand, cand + size)
                if blocked is None:
                    return cand
                if blocked - 1 >= hole_end:
                    break
                cand = align_up(blocked, align)
            if hole_end >= mx:
                return None
            search = hole_end + 1
        return None

    # ---------------------------------------------------------------- raw stores
    def reserve_raw(self, start: int, end: int, entry=XA_ZERO_ENTRY) -> None:
        _raw(self.acct, self.mt, self.mt.store_range, start, end - 1, entry)

    def release_raw(self, start: int, end: int) -> None:
        _raw(self.acct, self.mt, self.mt.store_range, start, end - 1, None)

    # ---------------------------------------------------------------- views
    def entry_at(self, addr: int):
        """Raw entry at *addr* and the range it covers (model view, no work counted)."""
        st = self.mt.stats
        v = st.visited
        out = self.mt.walk(addr)
        st.visited = v
        return out

    def is_free(self, start: int, end: int) -> bool:
        e, _, last = self.entry_at(start)
        return e is None and last >= end - 1

    def free_ranges(self, lo: int | None = None, hi: int | None = None):
        """Maximal free ranges ``(start, end)`` inside ``[lo, hi)`` in address order."""
        lo = self.lo if lo is None else lo
        hi = self.hi if hi is None else hi
        st = self.mt.stats
        v = st.visited
        out = []
        for first, last, entry in self.mt.ranges():
            if entry is not None:
                continue
            s, e = max(first, lo), min(last + 1, hi)
            if s < e:
                out.append((s, e))
        st.visited = v
        return out

    def gap_count(self) -> int:
        return len(self.free_ranges())

    def overlaps_free(self, start: int, end: int) -> bool:
        """Does a free range meet ``[start, end)``?  (Model view, no work counted.)"""
        addr = start
        while addr < end:
            e, _, last = self.entry_at(addr)
            if e is None:
                return True
            if last >= ULONG_MAX:
                return False
            addr = last + 1
        return False

    def memory_bytes(self) -> int:
        return self.mt.memory_bytes()

    def node_count(self) -> int:
        return self.mt.node_count()

    def validate(self) -> None:
        self.mt.validate()
