"""``struct ma_state`` and the basic walks of the maple tree (part of :mod:`vmapsim.maple.tree`).

Ports of ``lib/maple_tree.c``: ``mas_start``, ``mas_reset``, ``mas_descend``,
``mas_ascend``, ``mtree_range_walk``, ``mas_state_walk``, ``mas_walk``,
``mas_prev_sibling``/``mas_next_sibling`` and ``mas_rewalk``.

Reader-side loads (everything an RCU reader does: ``mas_start``, ``mtree_range_walk``,
``mas_ascend``) go through the tree's access object (:mod:`vmapsim.maple.access`); a reader that
meets a dead node resets its state to ``ma_start`` and the caller re-walks from the root,
as the kernel does.  ``mas_descend`` is the kernel's writer-only descent and reads the
node directly.
"""
from __future__ import annotations

from .node import MAPLE_NODE_SLOTS, MT_PIVOTS, ULONG_MAX, Node

# enum maple_status
MA_ACTIVE, MA_START, MA_ROOT, MA_NONE, MA_PAUSE, MA_OVERFLOW, MA_UNDERFLOW, MA_ERROR = range(8)
STATUS_NAMES = ("active", "start", "root", "none", "pause", "overflow", "underflow", "error")

# enum store_type
(WR_INVALID, WR_NEW_ROOT, WR_STORE_ROOT, WR_EXACT_FIT, WR_SPANNING_STORE, WR_SPLIT_STORE,
 WR_REBALANCE, WR_APPEND, WR_NODE_STORE, WR_SLOT_STORE) = range(10)
STORE_TYPE_NAMES = ("invalid", "new_root", "store_root", "exact_fit", "spanning_store",
                    "split_store", "rebalance", "append", "node_store", "slot_store")

# mas_flags
MA_STATE_BULK = 1
MA_STATE_REBALANCE = 2
MA_STATE_PREALLOC = 4


class MaState:
    """The kernel's ``struct ma_state``: a position in the tree plus the walk's bookkeeping.

    ``node`` is the current node, ``[min, max]`` its range, ``offset`` the slot, ``end`` the
    node's data end, ``[index, last]`` the range of interest (set to the found range by
    walks).  ``status`` is one of the ``MA_*`` values; ``err`` holds the errno of ``ma_error``.
    """

    __slots__ = ("tree", "index", "last", "node", "min", "max", "offset", "end", "depth",
                 "status", "store_type", "err", "flags")

    def __init__(self, tree, index=0, last=None):
        self.tree = tree
        self.index = index
        self.last = index if last is None else last
        self.node = None
        self.min = 0
        self.max = ULONG_MAX
        self.offset = 0
        self.end = 0
        self.depth = 0
        self.status = MA_START
        self.store_type = WR_INVALID
        self.err = 0
        self.flags = 0

    def copy(self) -> "MaState":
        new = MaState.__new__(MaState)
        new.assign(self)
        return new

    def assign(self, o: "MaState") -> None:
        """``*self = *o``."""
        self.tree = o.tree
        self.index = o.index
        self.last = o.last
        self.node = o.node
        self.min = o.min
        self.max = o.max
        self.offset = o.offset
        self.end = o.end
        self.depth = o.depth
        self.status = o.status
        self.store_type = o.store_type
        self.err = o.err
        self.flags = o.flags

    def set_range(self, index, last):
        """``mas_set_range``: new range, walk again from the root next time."""
        self.index = index
        self.last = last
        self.status = MA_START
        self.node = None

    def set(self, index):
        """``mas_set``."""
        self.set_range(index, index)

    def reset(self):
        """``mas_reset``."""
        self.status = MA_START
        self.node = None

    def pause(self):
        """``mas_pause``: the next find/next re-walks from the root (used before dropping a lock)."""
        self.status = MA_PAUSE
        self.node = None

    def set_err(self, err):
        self.err = err
        self.status = MA_ERROR

    @property
    def is_active(self):
        return self.status == MA_ACTIVE

    def __repr__(self):
        return (f"MaState({STATUS_NAMES[self.status]} [{self.index}, {self.last}] node={self.node!r} "
                f"min={self.min} max={self.max} off={self.offset} end={self.end})")


def is_root_node(node) -> bool:
    """``ma_is_root`` (writer side, direct read)."""
    return node.parent.__class__ is not Node


def mas_reset(mas):
    mas.status = MA_START
    mas.node = None


def mas_start(mas):
    """``mas_start``: returns the root entry for a lone entry at index 0, else None."""
    if mas.status != MA_START:
        return None
    tree = mas.tree
    acc = tree._acc
    mas.min = 0
    mas.max = ULONG_MAX
    while True:
        mas.depth = 0
        root = acc.load_root(tree)
        if root.__class__ is Node:
            mas.status = MA_ACTIVE
            mas.node = root
            mas.offset = 0
            if acc.is_dead(root):
                continue
            return None
        mas.node = None
        if root is None:
            mas.status = MA_NONE
            mas.offset = MAPLE_NODE_SLOTS
            return None
        mas.status = MA_ROOT
        mas.offset = MAPLE_NODE_SLOTS
        if mas.index > 0:
            return None
        return root


def mas_data_end(mas):
    """``mas_data_end`` (the node's data end)."""
    return mas.tree._acc.load_end(mas.node)


def mas_safe_pivot(mas, pivots, piv, ntype):
    if piv >= MT_PIVOTS[ntype]:
        return mas.max
    return pivots[piv]


def mas_safe_min(mas, pivots, offset):
    if offset:
        return pivots[offset - 1] + 1
    return mas.min


def mas_descend(mas):
    """``mas_descend``: writer-side descent into ``mas.offset`` (not RCU safe, as in the kernel)."""
    node = mas.node
    pivots = node.pivots
    off = mas.offset
    if off:
        mas.min = pivots[off - 1] + 1
    if off < MT_PIVOTS[node.type]:
        mas.max = pivots[off]
    mas.node = node.slots[off]


def mas_ascend(mas):
    """``mas_ascend``: move to the parent, recomputing ``[min, max]``; returns 1 on a dead node."""
    acc = mas.tree._acc
    a_node = mas.node
    p_node, pslot = acc.load_parent(a_node)
    if p_node.__class__ is not Node:
        mas.offset = 0
        return 0
    if p_node is a_node:
        return 1
    mas.offset = pslot
    mas.node = p_node
    pp, a_slot = acc.load_parent(p_node)
    if pp.__class__ is not Node:
        mas.max = ULONG_MAX
        mas.min = 0
        return 0
    mn = 0
    mx = ULONG_MAX
    set_min = set_max = False
    if not mas.offset:
        mn = mas.min
        set_min = True
    if mas.max == ULONG_MAX:
        set_max = True
    p = p_node
    while True:
        a_node, a_slot = acc.load_parent(p)
        if a_node is p:
            return 1
        if a_node.__class__ is not Node:        # p became the root under us: walk again
            return 1
        if not set_min and a_slot:
            set_min = True
            mn = acc.load_pivot(a_node, a_slot - 1) + 1
        if not set_max and a_slot < MT_PIVOTS[a_node.type]:
            set_max = True
            mx = acc.load_pivot(a_node, a_slot)
        gp, _ = acc.load_parent(a_node)
        if gp is a_node:
            return 1
        if gp.__class__ is not Node:
            break
        if set_min and set_max:
            break
        p = a_node
    mas.max = mx
    mas.min = mn
    return 0


def mtree_range_walk(mas):
    """``mtree_range_walk``: walk from ``mas.node`` to the leaf slot holding ``mas.index``.

    Sets ``index``/``last`` to the slot's range and ``min``/``max`` to the leaf's; on a dead
    node resets the state (status ``ma_start``) and returns None.
    """
    acc = mas.tree._acc
    index = mas.index
    nxt = mas.node
    mn = mas.min
    mx = mas.max
    steps = 0
    while True:
        last = nxt
        prev_min = mn
        prev_max = mx
        r = acc.walk_step(nxt, index, mn, mx)
        steps += 1
        if r is None:
            mas.tree.stats.visited += steps
            mas_reset(mas)
            return None
        off, end, nxt, mn, mx = r
        if last.leaf:
            break
    mas.tree.stats.visited += steps
    mas.end = end
    mas.offset = off
    mas.index = mn
    mas.last = mx
    mas.min = prev_min
    mas.max = prev_max
    mas.node = last
    return nxt


def mas_state_walk(mas):
    entry = mas_start(mas)
    if mas.status == MA_NONE:
        return None
    if mas.status == MA_ROOT:
        return entry
    return mtree_range_walk(mas)


def mas_walk(mas):
    """``mas_walk``: the entry at ``mas.index``; ``index``/``last`` become the range it covers.

    Retries from the root when it meets a dead node.  Returns the raw entry
    (``XA_ZERO_ENTRY`` is not converted).
    """
    if mas.status != MA_ACTIVE and mas.status != MA_START:
        mas.status = MA_START
    while True:
        entry = mas_state_walk(mas)
        if mas.status == MA_START:
            continue
        break
    if mas.status == MA_NONE:
        mas.index = 0
        mas.last = ULONG_MAX
    elif mas.status == MA_ROOT:
        if not mas.index:
            mas.last = 0
            return entry
        mas.index = 1
        mas.last = ULONG_MAX
        mas.status = MA_NONE
        return None
    return entry


def mas_rewalk(mas, index):
    while True:
        mas.set(index)
        mas_state_walk(mas)
        if mas.status != MA_START:
            return


def mas_prev_sibling(mas):
    node = mas.node
    if not is_root_node(node):
        p_slot = node.pslot
    else:
        p_slot = 0
    if not p_slot:
        return False
    mas_ascend(mas)
    mas.offset = p_slot - 1
    mas_descend(mas)
    return True


def mas_next_sibling(mas):
    if is_root_node(mas.node):
        return False
    parent = mas.copy()
    mas_ascend(parent)
    parent.offset = mas.node.pslot + 1
    if parent.offset > parent.node.end:
        return False
    mas.assign(parent)
    mas_descend(mas)
    return True
