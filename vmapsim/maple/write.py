"""The maple tree's write paths up to the leaf (part of :mod:`vmapsim.maple.tree`).

Ports of ``lib/maple_tree.c`` (v6.12..v6.19 write design, ``enum store_type``):
``mas_wr_walk`` (with the vacant/sufficient heights of the preallocation calculation),
``mas_is_span_wr``, ``mas_wr_end_piv``, ``mas_wr_extend_null``, ``mas_wr_new_end``,
``mas_wr_store_type``, ``mas_prealloc_calc``, ``mas_wr_store_entry`` and the in-node
stores: exact fit, ``mas_wr_append``, ``mas_wr_slot_store``, ``mas_wr_node_store``,
``mas_store_root``/``mas_root_expand``, ``mas_new_root``; ``mas_insert``, ``mas_store``
and ``mas_erase``.  Splits are in :mod:`vmapsim.maple.big_node`; rebalances and spanning stores in
:mod:`vmapsim.maple.rebalance`.

Stores to reachable nodes go through the access layer, one store per pivot/slot/metadata
word, in the kernel's order: in non-RCU mode ``mas_wr_node_store`` builds the node in a stack
copy and ``memcpy``s it over the live node, which is modelled as its changed pivots (in
index order), then its changed slots, then the metadata.  In RCU mode a node store is
copy-on-write: the new node is published with one pointer store, the old one marked dead and
handed to the free hook.
"""
from __future__ import annotations

from bisect import bisect_left

from .gaps import mas_update_gap
from .node import (
    MAPLE_LEAF_64,
    MT_MIN_SLOTS,
    MT_PIVOTS,
    MT_SLOTS,
    ULONG_MAX,
    Node,
    is_internal,
)
from .state import (
    MA_ACTIVE,
    MA_ERROR,
    MA_NONE,
    MA_OVERFLOW,
    MA_PAUSE,
    MA_ROOT,
    MA_START,
    MA_STATE_BULK,
    MA_UNDERFLOW,
    WR_APPEND,
    WR_EXACT_FIT,
    WR_NEW_ROOT,
    WR_NODE_STORE,
    WR_REBALANCE,
    WR_SLOT_STORE,
    WR_SPANNING_STORE,
    WR_SPLIT_STORE,
    WR_STORE_ROOT,
    is_root_node,
    mas_reset,
    mas_start,
    mas_state_walk,
)

EEXIST = -17


class WrState:
    """``struct ma_wr_state``."""

    __slots__ = ("mas", "node", "r_min", "r_max", "type", "offset_end", "pivots", "end_piv",
                 "slots", "entry", "content", "vacant_height", "sufficient_height")

    def __init__(self, mas, entry):
        self.mas = mas
        self.entry = entry
        self.content = None
        self.node = None
        self.r_min = 0
        self.r_max = 0
        self.type = 0
        self.offset_end = 0
        self.pivots = None
        self.end_piv = 0
        self.slots = None
        self.vacant_height = 0
        self.sufficient_height = 0


# ------------------------------------------------------------------ walking
def mas_wr_node_walk(wr):
    mas = wr.mas
    node = mas.node
    wr.node = node
    pivots = wr.pivots = node.pivots
    count = mas.end = node.end
    offset = bisect_left(pivots, mas.index, mas.offset, count) if mas.offset < count else mas.offset
    wr.r_max = pivots[offset] if offset < count else mas.max
    wr.r_min = pivots[offset - 1] + 1 if offset else mas.min
    wr.offset_end = mas.offset = offset


def mas_wr_walk_descend(wr):
    wr.type = wr.mas.node.type
    mas_wr_node_walk(wr)
    wr.slots = wr.node.slots


def mas_wr_walk_traverse(wr):
    mas = wr.mas
    mas.max = wr.r_max
    mas.min = wr.r_min
    mas.node = wr.content
    mas.offset = 0
    mas.depth += 1


def mas_is_span_wr(wr):
    mx = wr.r_max
    last = wr.mas.last
    if last < mx:
        return False
    if wr.type == MAPLE_LEAF_64:
        mx = wr.mas.max
        if last < mx:
            return False
    if last == mx and (wr.entry is not None or last == ULONG_MAX):
        return False
    return True


def mas_wr_walk(wr):
    """``mas_wr_walk``: walk to the leaf; False when the write spans nodes.

    ``mas_wr_walk_descend``, ``mas_wr_node_walk`` and ``mas_is_span_wr`` inlined (hot path).
    """
    mas = wr.mas
    stats = mas.tree.stats
    index = mas.index
    last = mas.last
    while True:
        node = mas.node
        ntype = node.type
        wr.type = ntype
        wr.node = node
        pivots = wr.pivots = node.pivots
        count = mas.end = node.end
        off = mas.offset
        if off < count:
            off = bisect_left(pivots, index, off, count)
        r_max = wr.r_max = pivots[off] if off < count else mas.max
        r_min = wr.r_min = pivots[off - 1] + 1 if off else mas.min
        wr.offset_end = mas.offset = off
        slots = wr.slots = node.slots
        stats.visited += 1
        leaf = node.leaf
        if last >= r_max:                                   # mas_is_span_wr
            mx = mas.max if leaf else r_max
            if last > mx or (last == mx and wr.entry is None and last != ULONG_MAX):
                return False
        content = wr.content = slots[off]
        if leaf:
            return True
        if count < MT_SLOTS[ntype] - 1:
            wr.vacant_height = mas.depth + 1
        if node.parent.__class__ is not Node:
            if count > 2:
                wr.sufficient_height = 1
        elif count > MT_MIN_SLOTS[ntype] + 1:
            wr.sufficient_height = mas.depth + 1
        mas.max = r_max
        mas.min = r_min
        mas.node = content
        mas.offset = 0
        mas.depth += 1


def mas_wr_walk_index(wr):
    mas = wr.mas
    stats = mas.tree.stats
    while True:
        mas_wr_walk_descend(wr)
        stats.visited += 1
        wr.content = wr.slots[mas.offset]
        if wr.type == MAPLE_LEAF_64:
            return
        mas_wr_walk_traverse(wr)


def mas_extend_spanning_null(l_wr, r_wr):
    """``mas_extend_spanning_null``: widen a spanning NULL store over neighbouring NULLs."""
    r_mas = r_wr.mas
    l_mas = l_wr.mas
    l_slot = l_mas.offset
    if l_wr.content is None:
        l_mas.index = l_wr.r_min
    if l_mas.index == l_wr.r_min and l_slot and l_wr.slots[l_slot - 1] is None:
        if l_slot > 1:
            l_mas.index = l_wr.pivots[l_slot - 2] + 1
        else:
            l_mas.index = l_mas.min
        l_mas.offset = l_slot - 1
    if r_wr.content is None:
        if r_mas.last < r_wr.r_max:
            r_mas.last = r_wr.r_max
        r_mas.offset += 1
    elif (r_mas.last == r_wr.r_max and r_mas.last < r_mas.max
          and r_wr.slots[r_mas.offset + 1] is None):
        # Unreachable from the spanning store (r_mas.last < r_max there); kept for fidelity.
        off = r_mas.offset + 1
        r_mas.last = r_wr.pivots[off] if off < MT_PIVOTS[r_wr.type] else r_mas.max
        r_mas.offset += 1


def mas_wr_end_piv(wr):
    mas = wr.mas
    end = mas.end
    pivots = wr.pivots
    oe = wr.offset_end
    last = mas.last
    while oe < end and last > pivots[oe]:
        oe += 1
    wr.offset_end = oe
    wr.end_piv = pivots[oe] if oe < end else mas.max


def mas_wr_extend_null(wr):
    mas = wr.mas
    slots = wr.slots
    if slots[wr.offset_end] is None:
        mas.last = wr.end_piv
    elif (mas.last == wr.end_piv and mas.end != wr.offset_end
          and slots[wr.offset_end + 1] is None):
        wr.offset_end += 1
        if wr.offset_end == mas.end:
            mas.last = mas.max
        else:
            mas.last = wr.pivots[wr.offset_end]
        wr.end_piv = mas.last
    if wr.content is None:
        mas.index = wr.r_min
    elif mas.index == wr.r_min and mas.offset and slots[mas.offset - 1] is None:
        mas.offset -= 1
        off = mas.offset
        wr.r_min = mas.index = wr.pivots[off - 1] + 1 if off else mas.min
        wr.r_max = wr.pivots[off]


def mas_wr_new_end(wr):
    mas = wr.mas
    new_end = mas.end + 2
    new_end -= wr.offset_end - mas.offset
    if wr.r_min == mas.index:
        new_end -= 1
    if wr.end_piv == mas.last:
        new_end -= 1
    return new_end


# ------------------------------------------------------------------ store type
def mas_wr_prealloc_setup(wr):
    mas = wr.mas
    reset = False
    if mas.status != MA_ACTIVE:
        if mas.status == MA_START:
            wr.content = mas_start(mas)
            return
        if mas.status in (MA_PAUSE, MA_NONE, MA_OVERFLOW, MA_UNDERFLOW):
            reset = True
    if not reset:
        if mas.last > mas.max:
            reset = True
        elif wr.entry is None and (mas.node is None or mas.node.leaf) and mas.last == mas.max:
            reset = True
    if reset:
        mas_reset(mas)
    wr.content = mas_start(mas)


def mas_wr_store_type(wr):
    """``mas_wr_store_type``: walk to the leaf and choose how the write will be done."""
    mas = wr.mas
    if mas.status == MA_NONE or mas.status == MA_ROOT:
        return WR_STORE_ROOT
    if not mas_wr_walk(wr):
        return WR_SPANNING_STORE
    mas_wr_end_piv(wr)
    if wr.entry is None:
        mas_wr_extend_null(wr)
    if wr.r_min == mas.index and wr.r_max == mas.last:
        return WR_EXACT_FIT
    if not mas.index and mas.last == ULONG_MAX:
        return WR_NEW_ROOT
    new_end = mas_wr_new_end(wr)
    ntype = wr.type
    if new_end < MT_MIN_SLOTS[ntype]:
        if not is_root_node(mas.node) and not (mas.flags & MA_STATE_BULK):
            return WR_REBALANCE
        return WR_NODE_STORE
    if new_end >= MT_SLOTS[ntype]:
        return WR_SPLIT_STORE
    in_rcu = mas.tree._in_rcu
    if not in_rcu and mas.offset == mas.end:
        return WR_APPEND
    if new_end == mas.end and (not in_rcu or wr.offset_end - mas.offset == 1):
        return WR_SLOT_STORE
    return WR_NODE_STORE


def mas_prealloc_calc(wr, entry):
    """``mas_prealloc_calc``: worst-case number of nodes this store needs (``node_request``)."""
    mas = wr.mas
    height = mas.tree._height
    st = mas.store_type
    delta = height - wr.vacant_height
    if st in (WR_EXACT_FIT, WR_APPEND, WR_SLOT_STORE):
        return 0
    if st == WR_SPANNING_STORE:
        if wr.sufficient_height < wr.vacant_height:
            return (height - wr.sufficient_height) * 3 + 1
        return delta * 3 + 1
    if st == WR_SPLIT_STORE:
        return delta * 2 + 1
    if st == WR_REBALANCE:
        if wr.sufficient_height < wr.vacant_height:
            return (height - wr.sufficient_height) * 2 + 1
        return delta * 2 + 1
    if st == WR_NODE_STORE:
        return 1 if mas.tree._in_rcu else 0
    if st == WR_NEW_ROOT:
        return 1
    if st == WR_STORE_ROOT:
        if mas.last != 0 or mas.index != 0:
            return 1
        if is_internal(entry):
            return 1
        return 0
    return height * 3 + 1


def mas_wr_preallocate(wr, entry):
    mas = wr.mas
    mas_wr_prealloc_setup(wr)
    mas.store_type = mas_wr_store_type(wr)
    return mas_prealloc_calc(wr, entry)


# ------------------------------------------------------------------ in-node stores
def mas_replace_node(mas, old, new_height):
    """``mas_replace_node``: ``mas_put_in_tree`` then free the old node (RCU-deferred)."""
    from .rebalance import mas_put_in_tree
    mas_put_in_tree(mas, old, new_height)
    mas.tree._free_node(old, True)


def _inplace_rewrite(acc, node, new):
    """memcpy of a stack-built node over the live *node*: changed pivots, changed slots, metadata."""
    piv = node.pivots
    npiv = new.pivots
    for i in range(len(piv)):
        if piv[i] != npiv[i]:
            acc.store_pivot(node, i, npiv[i])
    sl = node.slots
    nsl = new.slots
    for i in range(len(sl)):
        if sl[i] is not nsl[i]:
            acc.store_slot(node, i, nsl[i])
    if node.end != new.end or node.gapoff != new.gapoff:
        acc.store_meta(node, new.end, new.gapoff)


def mas_wr_node_store(wr, new_end):
    mas = wr.mas
    tree = mas.tree
    offset_end = wr.offset_end
    node_pivots = MT_PIVOTS[wr.type]
    in_rcu = tree._in_rcu
    if mas.last == wr.end_piv:
        offset_end += 1
    if in_rcu:
        newnode = tree._alloc_node(wr.type)
    else:
        newnode = Node(wr.type)
    node = wr.node
    newnode.parent = node.parent
    newnode.pslot = node.pslot
    dst_pivots = newnode.pivots
    dst_slots = newnode.slots
    off = mas.offset
    dst_pivots[:off] = wr.pivots[:off]
    dst_slots[:off] = wr.slots[:off]
    if wr.r_min < mas.index:
        dst_slots[off] = wr.content
        dst_pivots[off] = mas.index - 1
        off += 1
        mas.offset = off
    if off < node_pivots:
        dst_pivots[off] = mas.last
    dst_slots[off] = wr.entry
    if offset_end <= mas.end:
        dst_offset = off + 1
        copy_size = mas.end - offset_end + 1
        dst_slots[dst_offset:dst_offset + copy_size] = wr.slots[offset_end:offset_end + copy_size]
        n = copy_size - 1
        if n > 0:
            dst_pivots[dst_offset:dst_offset + n] = wr.pivots[offset_end:offset_end + n]
        if new_end < node_pivots:
            dst_pivots[new_end] = mas.max
    newnode.end = new_end
    if in_rcu:
        old = mas.node
        mas.node = newnode
        mas_replace_node(mas, old, tree._height)
    else:
        tree.stats.written += 1
        _inplace_rewrite(tree._acc, node, newnode)
    mas_update_gap(mas)
    mas.end = new_end


def mas_wr_slot_store(wr):
    mas = wr.mas
    acc = mas.tree._acc
    offset = mas.offset
    slots = wr.slots
    node = wr.node
    gap = slots[offset] is None or slots[offset + 1] is None
    if wr.offset_end - offset == 1:
        if mas.index == wr.r_min:
            acc.store_slot(node, offset, wr.entry)
            acc.store_pivot(node, offset, mas.last)
        else:
            acc.store_slot(node, offset + 1, wr.entry)
            acc.store_pivot(node, offset, mas.index - 1)
            mas.offset += 1
    else:
        gap = gap or slots[offset + 2] is None
        acc.store_slot(node, offset + 1, wr.entry)
        acc.store_pivot(node, offset, mas.index - 1)
        acc.store_pivot(node, offset + 1, mas.last)
        mas.offset += 1
    mas.tree.stats.written += 1
    if wr.entry is None or gap:
        mas_update_gap(mas)


def mas_wr_append(wr, new_end):
    mas = wr.mas
    acc = mas.tree._acc
    node = wr.node
    end = mas.end
    pivots = wr.pivots
    # A node that becomes full has no metadata: its end is implied by pivots[end] != max,
    # i.e. it changes when pivots[end] is stored (modelled by storing the end right after).
    full = new_end >= MT_PIVOTS[wr.type]
    if not full:
        acc.store_pivot(node, new_end, pivots[end])
        acc.store_meta(node, new_end, 0)
    if new_end == end + 1:
        if mas.last == wr.r_max:
            acc.store_slot(node, new_end, wr.entry)
            acc.store_pivot(node, end, mas.index - 1)
            if full:
                acc.store_meta(node, new_end, 0)
            mas.offset = new_end
        else:
            acc.store_slot(node, new_end, wr.content)
            acc.store_pivot(node, end, mas.last)
            if full:
                acc.store_meta(node, new_end, 0)
            acc.store_slot(node, end, wr.entry)
    else:
        acc.store_slot(node, new_end, wr.content)
        if end + 1 < MT_PIVOTS[wr.type]:
            acc.store_pivot(node, end + 1, mas.last)
        acc.store_slot(node, end + 1, wr.entry)
        acc.store_pivot(node, end, mas.index - 1)
        if full:
            acc.store_meta(node, new_end, 0)
        mas.offset = end + 1
    mas.tree.stats.written += 1
    if wr.content is None or wr.entry is None:
        mas_update_gap(mas)
    mas.end = new_end


def mas_root_expand(mas, entry):
    tree = mas.tree
    acc = tree._acc
    contents = tree._root
    node = tree._alloc_node(MAPLE_LEAF_64)
    pivots = node.pivots
    slots = node.slots
    node.parent = tree
    node.pslot = 0
    mas.node = node
    mas.status = MA_ACTIVE
    slot = 0
    if mas.index:
        if contents is not None:
            slots[slot] = contents
            if mas.index > 1:
                slot += 1
        pivots[slot] = mas.index - 1
        slot += 1
    slots[slot] = entry
    mas.offset = slot
    pivots[slot] = mas.last
    if mas.last != ULONG_MAX:
        slot += 1
        pivots[slot] = ULONG_MAX
    tree._height = 1
    node.end = slot
    acc.store_root(tree, node)


def mas_store_root(mas, entry):
    tree = mas.tree
    if entry is None:
        if not mas.index:
            tree._acc.store_root(tree, None)
    elif mas.last != 0 or mas.index != 0:
        mas_root_expand(mas, entry)
    elif is_internal(entry):
        mas_root_expand(mas, entry)
    else:
        tree._acc.store_root(tree, entry)
        mas.status = MA_START


def mas_new_root(mas, entry):
    from .rebalance import mte_destroy_walk
    tree = mas.tree
    acc = tree._acc
    root = tree._root
    if entry is None:
        tree._height = 0
        acc.store_root(tree, None)
        mas.status = MA_START
    else:
        node = tree._alloc_node(MAPLE_LEAF_64)
        node.parent = tree
        node.pslot = 0
        mas.node = node
        mas.status = MA_ACTIVE
        node.slots[0] = entry
        node.pivots[0] = mas.last
        node.end = 0
        tree._height = 1
        acc.store_root(tree, node)
    if root.__class__ is Node:
        mte_destroy_walk(tree, root)


def mas_wr_store_entry(wr):
    """``mas_wr_store_entry``: carry out the write chosen by :func:`mas_wr_store_type`."""
    from . import big_node, rebalance
    mas = wr.mas
    new_end = mas_wr_new_end(wr)
    st = mas.store_type
    mas.tree.stats.ops += 1
    if st == WR_EXACT_FIT:
        mas.tree._acc.store_slot(wr.node, mas.offset, wr.entry)
        mas.tree.stats.written += 1
        if (wr.entry is None) != (wr.content is None):
            mas_update_gap(mas)
    elif st == WR_APPEND:
        mas_wr_append(wr, new_end)
    elif st == WR_SLOT_STORE:
        mas_wr_slot_store(wr)
    elif st == WR_NODE_STORE:
        mas_wr_node_store(wr, new_end)
    elif st == WR_SPANNING_STORE:
        rebalance.mas_wr_spanning_store(wr)
    elif st == WR_SPLIT_STORE or st == WR_REBALANCE:
        big_node.mas_wr_bnode(wr)
    elif st == WR_NEW_ROOT:
        mas_new_root(mas, wr.entry)
    elif st == WR_STORE_ROOT:
        mas_store_root(mas, wr.entry)
    else:  # pragma: no cover - wr_invalid
        raise AssertionError("maple: invalid store type")


# ------------------------------------------------------------------ operations
def mas_store(mas, entry):
    """``mas_store_gfp`` without allocation failure: returns the node request it computed."""
    wr = WrState(mas, entry)
    request = mas_wr_preallocate(wr, entry)
    mas_wr_store_entry(wr)
    return request


def mas_insert(mas, entry):
    """``mas_insert``: store only if ``[index, last]`` is empty; returns 0 or ``-EEXIST``."""
    wr = WrState(mas, entry)
    wr.content = mas_start(mas)
    if wr.content is not None:
        mas.set_err(EEXIST)
        return EEXIST
    mas_wr_preallocate(wr, entry)
    st = mas.store_type
    if st == WR_SPANNING_STORE:
        mas.set_err(EEXIST)
        return EEXIST
    if st != WR_NEW_ROOT and st != WR_STORE_ROOT:
        wr.offset_end = mas.offset
        wr.end_piv = wr.r_max
        if wr.content is not None or mas.last > wr.r_max:
            mas.set_err(EEXIST)
            return EEXIST
    mas_wr_store_entry(wr)
    return 0


def mas_erase(mas):
    """``mas_erase``: NULL the whole range containing ``mas.index``; returns the raw old entry."""
    if mas.status != MA_ACTIVE or mas.status != MA_START:
        mas.status = MA_START
    entry = mas_state_walk(mas)
    if entry is None:
        return None
    mas_reset(mas)
    wr = WrState(mas, None)
    mas_wr_preallocate(wr, None)
    mas_wr_store_entry(wr)
    return entry


__all__ = ["WrState", "mas_store", "mas_insert", "mas_erase", "mas_wr_preallocate",
           "mas_wr_store_entry", "mas_prealloc_calc", "EEXIST", "MA_ERROR"]
