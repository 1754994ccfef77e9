"""A faithful Python maple tree (``lib/maple_tree.c``), gap tracking and RCU mode included.

API (other code relies on it)::

    from vmapsim.maple.tree import MapleTree, MapleBusy, MapleExists, XA_ZERO_ENTRY
    mt = MapleTree(alloc_range=False, rcu=False)
    mt.store_range(first, last, entry)    # mtree_store_range; inclusive last; None erases
    mt.insert_range(first, last, entry)   # mtree_insert_range; MapleExists (a MapleBusy) if occupied
    mt.load(index)                        # mtree_load; XA_ZERO_ENTRY loads as None
    mt.erase(index)                       # mtree_erase: NULLs the whole range; returns the raw entry
    mt.empty_area(min, max, size)         # mas_empty_area: lowest fitting start, max inclusive
    mt.empty_area_rev(min, max, size)     # mas_empty_area_rev: start of the highest fit
    mt.alloc_range(size, entry, min, max) # mtree_alloc_range (note: C order is entry, size, ...)
    mt.alloc_rrange(size, entry, min, max)
    mt.set_rcu(enabled); mt.validate(); mt.height(); mt.node_count()

Readers usable under RCU: :meth:`MapleTree.walk` (``mas_walk``: entry and the range it
covers), :meth:`MapleTree.find` (``mt_find``: next entry at or above an index),
iteration over ``(first, last, entry)`` (:meth:`MapleTree.items`, ``iter(mt)``), and
:class:`vmapsim.maple.iterate.MapleState` for ``mas_next``/``mas_prev``/``mas_find`` with a
cached position that survives concurrent writes (it re-walks when it meets a dead node).

Structure: the modules ``maple_node`` (nodes, constants, stats), ``maple_state`` (``ma_state``
and walks), ``maple_write`` (store types, in-node stores), ``maple_bnode`` (big nodes,
split), ``maple_rebalance`` (rebalance, spanning store, subtree replacement), ``maple_gaps`` (gap tracking, empty-area
searches), ``maple_iter`` (next/prev/find) and ``maple_validate``.  Kernel version: the
write design of v6.12 to v6.19 (``enum store_type``, vacant/sufficient heights in
``mas_prealloc_calc``), read from linux-next (6.19-rc) and checked node for node against the
Linux 6.12 userspace build of ``lib/maple_tree.c`` (see ``tests/test_maple_oracle.py``).

Contracts with the rest of the project
--------------------------------------
*Access layer* (:mod:`vmapsim.maple.access`): ``MapleTree(access=...)`` / :meth:`set_access`.
Every reader load and every publishing store goes through it; the interleaving explorer
substitutes a :class:`~vmapsim.maple.access.HookedAccess` to make each access a scheduling point.

*RCU mode*: ``MapleTree(rcu=True)`` or :meth:`set_rcu`.  Writes that would modify a node
readers can reach are copy-on-write (exceptions, as in the kernel: the exact-fit single
slot publish and the two-slot ``mas_wr_slot_store``); the new node is published with one
pointer store, the old one marked dead (parent = itself) and passed to the free hook.  A
reader that meets a dead node re-walks from the root.  In non-RCU mode node stores rewrite
the live node in place, one access-layer store per changed word.

*Free hook*: ``MapleTree(free_node=callable)`` is called as ``free_node(node, deferred)``
for every node the tree retires, at the point where the kernel calls ``kfree_rcu`` /
``call_rcu(mt_free_walk)`` (``deferred=True``: the memory may be reused only after a grace
period) or frees at once (``deferred=False``: ``mt_destroy_walk`` of a detached subtree in
non-RCU mode).  Default: nothing is done beyond counting (``stats.freed``); Python keeps a
retired node alive for as long as a reader holds it, i.e. an ideal grace period.  The RCU
model of the explorer plugs ``call_rcu`` in here.

*Accounting* (for the designs and the performance model): ``mt.stats`` (:class:`~vmapsim.maple.node.MapleStats`:
``visited`` (walks and empty-area searches), ``written``, ``allocated``, ``freed``, ``ops``;
``snapshot()``/``since()``),
:meth:`nodes_needed` (``mas_preallocate``'s ``mas_prealloc_calc`` for a store, without doing
it), ``mt.last_store_type`` / ``mt.last_request`` (store type name and node request of the
last write), :meth:`node_count` and :meth:`memory_bytes` (256 B per node).

Bad input (negative or > 2**64-1 or non-integer indices, ``first > last``) raises
:class:`~vmapsim.maple.node.MapleInvalid` (a ``ValueError``) naming the value; so do the cases
where the kernel returns ``-EINVAL``.
"""
from __future__ import annotations

import numbers
from bisect import bisect_left

from .access import DEAD, FAST, Access
from .gaps import EBUSY, EINVAL, mas_empty_area, mas_empty_area_rev
from .node import (
    MT_FLAGS_ALLOC_RANGE,
    MT_FLAGS_USE_RCU,
    NODE_BYTES,
    ULONG_MAX,
    XA_ZERO_ENTRY,
    MapleBusy,
    MapleExists,
    MapleInvalid,
    MapleStats,
    Node,
)
from .state import STORE_TYPE_NAMES, MaState, mas_walk
from .validate import count_nodes, validate_tree
from .write import WrState, mas_erase, mas_insert, mas_store, mas_wr_preallocate

__all__ = ["MapleTree", "MapleBusy", "MapleExists", "XA_ZERO_ENTRY", "ULONG_MAX", "NODE_BYTES",
           "MapleStats", "MapleInvalid"]


def _index(name, value):
    if value.__class__ is not int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise MapleInvalid(f"{name} must be an integer index in 0..2**64-1, got {value!r}")
        value = int(value)
    if value < 0 or value > ULONG_MAX:
        raise MapleInvalid(f"{name} {value} is outside the index space 0..2**64-1")
    return value


def _range(first, last):
    first = _index("first", first)
    last = _index("last", last)
    if first > last:
        raise MapleInvalid(f"first {first} > last {last}")
    return first, last


class MapleTree:
    """A maple tree mapping every index of ``[0, 2**64-1]`` to an entry or None."""

    def __init__(self, alloc_range: bool = False, rcu: bool = False, access: Access | None = None,
                 free_node=None):
        self._root = None
        self._flags = (MT_FLAGS_ALLOC_RANGE if alloc_range else 0) | (MT_FLAGS_USE_RCU if rcu else 0)
        self._in_rcu = bool(rcu)
        self._height = 0
        self._acc = access if access is not None else FAST
        self._free_hook = free_node
        self.stats = MapleStats()
        self.last_store_type = None
        self.last_request = 0

    # ------------------------------------------------------------------ configuration
    @property
    def alloc_range_flag(self) -> bool:
        """``MT_FLAGS_ALLOC_RANGE``: gaps are tracked and ``alloc_range`` is allowed."""
        return bool(self._flags & MT_FLAGS_ALLOC_RANGE)

    @property
    def in_rcu(self) -> bool:
        return self._in_rcu

    def set_rcu(self, enabled: bool) -> None:
        """``mt_set_in_rcu`` / ``mt_clear_in_rcu``: changes how writes are done, never their result."""
        self._in_rcu = bool(enabled)
        if enabled:
            self._flags |= MT_FLAGS_USE_RCU
        else:
            self._flags &= ~MT_FLAGS_USE_RCU

    def set_access(self, access: Access | None) -> None:
        """Attach an access object (None restores the fast default)."""
        self._acc = access if access is not None else FAST

    @property
    def access(self) -> Access:
        return self._acc

    def set_free_hook(self, free_node) -> None:
        self._free_hook = free_node

    # ------------------------------------------------------------------ node memory
    def _alloc_node(self, ntype):
        st = self.stats
        st.allocated += 1
        st.written += 1
        return Node(ntype)

    def _free_node(self, node, deferred):
        self.stats.freed += 1
        if self._free_hook is not None:
            self._free_hook(node, deferred)

    # ------------------------------------------------------------------ writes
    def _finish(self, mas, request):
        self.last_store_type = STORE_TYPE_NAMES[mas.store_type]
        self.last_request = request

    def store_range(self, first, last, entry) -> None:
        """``mtree_store_range``: map ``[first, last]`` to *entry* (None erases)."""
        first, last = _range(first, last)
        mas = MaState(self, first, last)
        self._finish(mas, mas_store(mas, entry))

    def store(self, index, entry) -> None:
        """``mtree_store``."""
        self.store_range(index, index, entry)

    def insert_range(self, first, last, entry) -> None:
        """``mtree_insert_range``: like :meth:`store_range` but :class:`MapleExists` if any index is occupied."""
        first, last = _range(first, last)
        mas = MaState(self, first, last)
        if mas_insert(mas, entry):
            raise MapleExists(f"[{first}, {last}] is not empty")
        self._finish(mas, 0)

    def insert(self, index, entry) -> None:
        """``mtree_insert``."""
        self.insert_range(index, index, entry)

    def erase(self, index):
        """``mtree_erase``: NULL the whole range containing *index*; returns the raw old entry."""
        index = _index("index", index)
        mas = MaState(self, index, index)
        entry = mas_erase(mas)
        if entry is not None:
            self.last_store_type = STORE_TYPE_NAMES[mas.store_type]
        return entry

    def destroy(self) -> None:
        """``mtree_destroy``: free every node; the tree keeps its flags."""
        from .rebalance import mte_destroy_walk
        root = self._root
        self._acc.store_root(self, None)
        if root.__class__ is Node:
            mte_destroy_walk(self, root)
        self._height = 0

    # ------------------------------------------------------------------ reads
    def load(self, index):
        """``mtree_load``: the entry at *index*, None if empty (``XA_ZERO_ENTRY`` reads as None).

        With the default access object the walk is inlined (plain reads, no dead checks: with
        no hook nothing can run in the middle of it, so every node it reaches is alive).  With
        any other access object it is ``mtree_lookup_walk`` step by step through the access
        layer, restarting from the root when it reaches a dead node.
        """
        if index.__class__ is not int or index < 0 or index > ULONG_MAX:
            index = _index("index", index)
        acc = self._acc
        if acc is FAST:
            node = self._root
            if node.__class__ is not Node:
                if node is None or index or node is XA_ZERO_ENTRY:
                    return None
                return node
            self.stats.visited += self._height
            while True:
                value = node.slots[bisect_left(node.pivots, index, 0, node.end)]
                if node.leaf:
                    return None if value is XA_ZERO_ENTRY else value
                node = value
        step = acc.lookup_step
        while True:
            node = acc.load_root(self)
            if node.__class__ is not Node:
                if node is None or index or node is XA_ZERO_ENTRY:
                    return None
                return node
            depth = 0
            while True:
                value = step(node, index)
                depth += 1
                if value is DEAD:
                    break
                if node.leaf:
                    self.stats.visited += depth
                    return None if value is XA_ZERO_ENTRY else value
                node = value
            self.stats.visited += depth

    def walk(self, index):
        """``mas_walk``: ``(entry, first, last)``, the raw entry at *index* and the range it covers."""
        index = _index("index", index)
        mas = MaState(self, index, index)
        entry = mas_walk(mas)
        return entry, mas.index, mas.last

    def find(self, index, max=ULONG_MAX):
        """``mt_find``: the first entry at or after *index* up to *max*, as ``(first, last, entry)``.

        Skips NULL and ``XA_ZERO_ENTRY`` ranges; returns None if there is none.  (The kernel
        returns the entry and advances ``*index`` to ``last + 1``.)
        """
        from .iterate import mt_find
        index = _index("index", index)
        max = _index("max", max)
        return mt_find(self, index, max)

    def items(self, first=0, last=ULONG_MAX):
        """Iterate ``(first, last, entry)`` over the non-NULL ranges meeting ``[first, last]``.

        Like ``mas_for_each``: raw entries (``XA_ZERO_ENTRY`` included), each range reported
        whole; safe against concurrent writers (re-walks after a dead node).
        """
        from .iterate import MapleState
        first, last = _range(first, last)
        mas = MapleState(self, first)
        while True:
            entry = mas.find(last)
            if entry is None:
                return
            yield mas.index, mas.last, entry

    __iter__ = items

    def ranges(self):
        """Every range of the index space in order, NULL ranges included: ``(first, last, entry)``."""
        from .iterate import MapleState
        mas = MapleState(self, 0)
        entry = mas.walk()
        yield mas.index, mas.last, entry
        while mas.last < ULONG_MAX:
            entry = mas.next_range(ULONG_MAX)
            yield mas.index, mas.last, entry

    def state(self, index=0, last=None):
        """A :class:`~vmapsim.maple.iterate.MapleState` (``MA_STATE``) for advanced reads."""
        from .iterate import MapleState
        index = _index("index", index)
        return MapleState(self, index, index if last is None else _index("last", last))

    # ------------------------------------------------------------------ gaps
    def _area(self, fn, mn, mx, size):
        mn = _index("min", mn)
        mx = _index("max", mx)
        if size.__class__ is not int:
            size = _index("size", size)
        if mn > mx:
            raise MapleInvalid(f"min {mn} > max {mx}")
        if size <= 0:
            raise MapleInvalid(f"size must be positive, got {size}")
        if mx - mn < size - 1:
            raise MapleInvalid(f"window [{mn}, {mx}] is smaller than size {size}")
        mas = MaState(self, 0, 0)
        ret = fn(mas, mn, mx, size)
        if ret == EBUSY:
            raise MapleBusy(f"no free area of size {size} in [{mn}, {mx}]")
        if ret == EINVAL:  # pragma: no cover - arguments were checked above
            raise MapleInvalid(f"invalid empty-area request [{mn}, {mx}] size {size}")
        return mas

    def empty_area(self, min, max, size) -> int:
        """``mas_empty_area``: lowest start of a free ``size``-long area inside ``[min, max]``.

        Adds the nodes the search reads to ``stats.visited`` (the root and every child it
        descends into, each once; see :mod:`vmapsim.maple.gaps`), also when it fails."""
        return self._area(mas_empty_area, min, max, size).index

    def empty_area_rev(self, min, max, size) -> int:
        """``mas_empty_area_rev``: start of the highest fit (its end is as high as possible).

        Counts ``stats.visited`` like :meth:`empty_area`."""
        return self._area(mas_empty_area_rev, min, max, size).index

    def _alloc(self, fn, size, entry, mn, mx):
        if not (self._flags & MT_FLAGS_ALLOC_RANGE):
            raise MapleInvalid("alloc_range on a tree created without alloc_range=True (-EINVAL)")
        if entry is XA_ZERO_ENTRY:
            raise MapleInvalid("XA_ZERO_ENTRY is a reserved entry and cannot be allocated (-EINVAL)")
        mas = self._area(fn, mn, mx, size)
        if mas_insert(mas, entry):  # pragma: no cover - the area was just found empty
            raise MapleExists(f"[{mas.index}, {mas.last}] is not empty")
        self._finish(mas, 0)
        return mas.index

    def alloc_range(self, size, entry, min, max) -> int:
        """``mtree_alloc_range``: insert *entry* at the lowest fit in ``[min, max]``; returns the start."""
        return self._alloc(mas_empty_area, size, entry, min, max)

    def alloc_rrange(self, size, entry, min, max) -> int:
        """``mtree_alloc_rrange``: insert *entry* at the highest fit in ``[min, max]``; returns the start."""
        return self._alloc(mas_empty_area_rev, size, entry, min, max)

    # ------------------------------------------------------------------ accounting
    def nodes_needed(self, first, last, entry) -> int:
        """Worst-case nodes the store of *entry* over ``[first, last]`` needs (``mas_preallocate``).

        Walks the tree like the kernel's ``mas_preallocate`` (``mas_wr_store_type`` then
        ``mas_prealloc_calc``) without writing anything.
        """
        first, last = _range(first, last)
        return self.preallocate(first, last, entry)[1]

    def nodes_needed_erase(self, index) -> int:
        """Worst-case nodes ``erase(index)`` needs: ``mas_erase`` preallocates for a NULL store
        over the whole range containing *index* (0 when that range is already empty)."""
        entry, first, last = self.walk(index)
        if entry is None:
            return 0
        return self.preallocate(first, last, None)[1]

    def preallocate(self, first, last, entry):
        """``(store_type, nodes)`` that ``mas_preallocate`` computes for this store."""
        first, last = _range(first, last)
        mas = MaState(self, first, last)
        wr = WrState(mas, entry)
        visited = self.stats.visited
        request = mas_wr_preallocate(wr, entry)
        self.stats.visited = visited
        return STORE_TYPE_NAMES[mas.store_type], request

    def height(self) -> int:
        """``mt_height``: 0 for an empty tree or a lone root entry, 1 for a single leaf, ..."""
        return self._height

    def node_count(self) -> int:
        """Nodes reachable from the root."""
        return count_nodes(self)

    def memory_bytes(self) -> int:
        """Bytes of reachable nodes (256 per node; retired nodes awaiting a grace period excluded)."""
        return NODE_BYTES * count_nodes(self)

    def validate(self) -> None:
        """``mt_validate``: AssertionError naming the first broken invariant."""
        validate_tree(self)

    def empty(self) -> bool:
        """``mtree_empty``."""
        return self._root is None

    def __repr__(self):
        kind = "alloc" if self._flags & MT_FLAGS_ALLOC_RANGE else "plain"
        return f"<MapleTree {kind}{' rcu' if self._in_rcu else ''} height={self._height}>"
