"""Shared-memory access layer of the maple tree (contract with the interleaving explorer).

Every load of tree memory that a concurrent RCU reader could see, and every store that
publishes to it, goes through an *access object*:

* reader loads: the tree's root pointer (``ma_root``), a node's data end and pivots (to
  find the slot for an index), slots, gaps, gap metadata and the parent pointer / dead mark;
* writer stores: root and slot pointer publication (``rcu_assign_pointer``), pivots, gaps,
  metadata (``end``/``gapoff``), parent pointers, and the dead mark
  (``mte_set_node_dead``).  In non-RCU mode an in-place rewrite of a node
  (``mas_wr_node_store``'s ``memcpy`` over the live node, ``mas_wr_append``,
  ``mas_wr_slot_store``) is issued as its individual pivot/slot/metadata stores, in the
  kernel's order, so a torn in-place update is observable by a concurrent reader.

Loads done by the writer on memory only writers change (the writer holds the tree lock) and
everything done on a node that is not yet published (copy-on-write, split and rebalance
results) are plain attribute accesses: no reader can race with them.

Two implementations:

:class:`Access` (the default, :data:`FAST`)
    plain attribute access and ``bisect`` on pivot arrays.  A normal run pays one method
    call per primitive; ``bench/bench_maple.py`` measures the cost against hooks.

:class:`HookedAccess`
    the hook point for the explorer.  Each primitive is split into its individual memory
    accesses, and :meth:`HookedAccess.on_access` is called *before* each of them with
    ``(kind, node, field, index, value)`` where ``kind`` is ``"load"`` or ``"store"``.  The
    explorer subclasses it and switches to its scheduler (e.g. ``greenlet.switch``) inside
    ``on_access``, making every access one scheduling point.  Granularity: a reader's
    "find the slot for this index" is one access to ``"pivots"`` (the reader reads the
    node's end and pivot array and picks the offset), then ``"slot"``, then ``"parent"``
    (the dead check after the read barrier).

Writers are not serialised by the tree: the caller (the explorer, a design) holds the
lock that the kernel's ``ma_lock`` or an external lock would be.  Readers need no lock.

Attach one with ``MapleTree(access=...)`` or ``tree.set_access(...)``.  The object must not
change the values it loads or stores; it may record, count, delay or switch threads.

The walk protocol (the kernel's ``mtree_lookup_walk`` / ``mtree_range_walk``): read the node's
pivots to find the offset, read the slot, then check the node is not dead; only if it is
alive is the slot's value used, otherwise the walk restarts from the root.
"""
from __future__ import annotations

from bisect import bisect_left

__all__ = ["Access", "HookedAccess", "CountingAccess", "FAST", "DEAD"]


class _Dead:
    __slots__ = ()

    def __repr__(self):
        return "DEAD"


DEAD = _Dead()
"""Returned by :meth:`Access.lookup_step` when the node read turned out to be dead."""


class Access:
    """Fast default: every primitive is a plain attribute access."""

    hooked = False

    # ---- reader loads -------------------------------------------------------------
    def load_root(self, tree):
        """``rcu_dereference(mt->ma_root)``: None, a lone entry at index 0, or the root node."""
        return tree._root

    def walk_step(self, node, index, mn, mx):
        """One level of a reader walk towards *index* in *node* covering ``[mn, mx]``.

        Returns ``(offset, end, value, min, max)`` where ``value`` is the slot's content and
        ``[min, max]`` the range that slot covers, or ``None`` when the node turned out
        to be dead (the caller restarts).
        """
        end = node.end
        piv = node.pivots
        off = bisect_left(piv, index, 0, end)
        if off:
            mn = piv[off - 1] + 1
        if off < end:
            mx = piv[off]
        value = node.slots[off]
        if node.parent is node:
            return None
        return off, end, value, mn, mx

    def lookup_step(self, node, index):
        """One level of ``mtree_lookup_walk``: the slot's value for *index*, or :data:`DEAD`."""
        value = node.slots[bisect_left(node.pivots, index, 0, node.end)]
        if node.parent is node:
            return DEAD
        return value

    def load_end(self, node):
        """The node's data end (``ma_data_end``)."""
        return node.end

    def load_pivot(self, node, i):
        return node.pivots[i]

    def load_slot(self, node, i):
        return node.slots[i]

    def load_gap(self, node, i):
        return node.gaps[i]

    def load_gapoff(self, node):
        return node.gapoff

    def load_parent(self, node):
        """The parent pointer: ``(parent, slot)``; parent is the tree for the root, the node itself when dead."""
        return node.parent, node.pslot

    def is_dead(self, node):
        """``ma_dead_node``: the read barrier, then the parent pointer compared with the node."""
        return node.parent is node

    # ---- writer stores ------------------------------------------------------------
    def store_root(self, tree, value):
        """``rcu_assign_pointer(mt->ma_root, value)``."""
        tree._root = value

    def store_slot(self, node, i, value):
        """A slot store (``rcu_assign_pointer`` when it publishes a node or an entry)."""
        node.slots[i] = value

    def store_pivot(self, node, i, value):
        node.pivots[i] = value

    def store_gap(self, node, i, value):
        node.gaps[i] = value

    def store_meta(self, node, end, gapoff):
        """``ma_set_meta``: the data end and largest-gap offset bytes."""
        node.end = end
        node.gapoff = gapoff

    def store_parent(self, node, parent, pslot):
        node.parent = parent
        node.pslot = pslot

    def mark_dead(self, node):
        """``mte_set_node_dead``: parent = self, then ``smp_wmb``."""
        node.parent = node
        node.pslot = 0


FAST = Access()


class HookedAccess(Access):
    """Calls :meth:`on_access` before each individual memory access (the explorer's hook point)."""

    hooked = True

    def on_access(self, kind, node, field, index=None, value=None):
        """Called before each access; *kind* is ``"load"`` or ``"store"``.  Override it."""

    def load_root(self, tree):
        self.on_access("load", tree, "root")
        return tree._root

    def walk_step(self, node, index, mn, mx):
        self.on_access("load", node, "pivots", index)
        end = node.end
        piv = node.pivots
        off = bisect_left(piv, index, 0, end)
        if off:
            mn = piv[off - 1] + 1
        if off < end:
            mx = piv[off]
        self.on_access("load", node, "slot", off)
        value = node.slots[off]
        self.on_access("load", node, "parent")
        if node.parent is node:
            return None
        return off, end, value, mn, mx

    def lookup_step(self, node, index):
        self.on_access("load", node, "pivots", index)
        off = bisect_left(node.pivots, index, 0, node.end)
        self.on_access("load", node, "slot", off)
        value = node.slots[off]
        self.on_access("load", node, "parent")
        if node.parent is node:
            return DEAD
        return value

    def load_end(self, node):
        self.on_access("load", node, "end")
        return node.end

    def load_pivot(self, node, i):
        self.on_access("load", node, "pivot", i)
        return node.pivots[i]

    def load_slot(self, node, i):
        self.on_access("load", node, "slot", i)
        return node.slots[i]

    def load_gap(self, node, i):
        self.on_access("load", node, "gap", i)
        return node.gaps[i]

    def load_gapoff(self, node):
        self.on_access("load", node, "gapoff")
        return node.gapoff

    def load_parent(self, node):
        self.on_access("load", node, "parent")
        return node.parent, node.pslot

    def is_dead(self, node):
        self.on_access("load", node, "parent")
        return node.parent is node

    def store_root(self, tree, value):
        self.on_access("store", tree, "root", None, value)
        tree._root = value

    def store_slot(self, node, i, value):
        self.on_access("store", node, "slot", i, value)
        node.slots[i] = value

    def store_pivot(self, node, i, value):
        self.on_access("store", node, "pivot", i, value)
        node.pivots[i] = value

    def store_gap(self, node, i, value):
        self.on_access("store", node, "gap", i, value)
        node.gaps[i] = value

    def store_meta(self, node, end, gapoff):
        self.on_access("store", node, "meta", None, (end, gapoff))
        node.end = end
        node.gapoff = gapoff

    def store_parent(self, node, parent, pslot):
        self.on_access("store", node, "parent", pslot, parent)
        node.parent = parent
        node.pslot = pslot

    def mark_dead(self, node):
        self.on_access("store", node, "dead")
        node.parent = node
        node.pslot = 0


class CountingAccess(HookedAccess):
    """A :class:`HookedAccess` that only counts accesses by ``(kind, field)`` (tests, bench)."""

    def __init__(self):
        self.counts = {}
        self.log = None

    def on_access(self, kind, node, field, index=None, value=None):
        key = (kind, field)
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.log is not None:
            self.log.append((kind, field, index, node))
