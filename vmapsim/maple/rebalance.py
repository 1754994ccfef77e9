"""Rebalancing, spanning stores and subtree replacement of the maple tree (part of :mod:`vmapsim.maple.tree`).

Ports of ``lib/maple_tree.c``: the ``mast_*`` helpers of ``struct maple_subtree_state``,
``mas_spanning_rebalance`` (pull in the nearest right, else left, relative at each level),
``mas_rebalance``, ``mas_wr_spanning_store``, and the replacement of a subtree:
``mas_put_in_tree`` (publish with one pointer store through the access layer, then mark the
old node dead), ``mas_topiary_replace`` (fix the parent pointers of reused children, mark the
old nodes dead and free them through the tree's free hook) and the destroy walks.
"""
from __future__ import annotations

from .big_node import (
    BigNode,
    Mast,
    mab_mas_cp,
    mab_set_b_end,
    mab_shift_right,
    mas_is_root_limits,
    mas_mab_cp,
    mas_mab_to_node,
    mas_pop_node,
    mas_set_parent,
    mas_store_b_node,
    mast_cp_to_nodes,
    mast_set_split_parents,
)
from .gaps import mas_update_gap
from .node import MT_MIN_SLOTS, MT_PIVOTS, MT_SLOTS, ULONG_MAX
from .state import (
    MA_NONE,
    MaState,
    is_root_node,
    mas_ascend,
    mas_descend,
    mas_next_sibling,
    mas_prev_sibling,
    mtree_range_walk,
)


# ------------------------------------------------------------------ subtree state helpers
def mast_combine_cp_left(mast):
    l_slot = mast.orig_l.offset
    if not l_slot:
        return
    mas_mab_cp(mast.orig_l, 0, l_slot - 1, mast.bn, 0)


def mast_combine_cp_right(mast):
    bn = mast.bn
    if bn.pivot[bn.b_end - 1] >= mast.orig_r.max:
        return
    mas_mab_cp(mast.orig_r, mast.orig_r.offset + 1, MT_SLOTS[mast.orig_r.node.type], bn, bn.b_end)
    mast.orig_r.last = mast.orig_r.max


def mast_sufficient(mast):
    return mast.bn.b_end > MT_MIN_SLOTS[mast.orig_l.node.type]


def mast_overflow(mast):
    return mast.bn.b_end > MT_SLOTS[mast.orig_l.node.type]


def mast_rebalance_next(mast):
    b_end = mast.bn.b_end
    mas_mab_cp(mast.orig_r, 0, MT_SLOTS[mast.orig_r.node.type], mast.bn, b_end)
    mast.orig_r.last = mast.orig_r.max


def mast_rebalance_prev(mast):
    end = mast.orig_l.node.end + 1
    b_end = mast.bn.b_end
    mab_shift_right(mast.bn, end)
    mas_mab_cp(mast.orig_l, 0, end - 1, mast.bn, 0)
    mast.l.min = mast.orig_l.min
    mast.orig_l.index = mast.orig_l.min
    mast.bn.b_end = end + b_end
    mast.l.offset += end


def mast_spanning_rebalance(mast):
    """Pull in the nearest right relative (else left) at the lowest level that has one."""
    r_tmp = mast.orig_r.copy()
    l_tmp = mast.orig_l.copy()
    depth = 0
    while True:
        mas_ascend(mast.orig_r)
        mas_ascend(mast.orig_l)
        depth += 1
        if mast.orig_r.offset < mast.orig_r.node.end:
            mast.orig_r.offset += 1
            while True:
                mas_descend(mast.orig_r)
                mast.orig_r.offset = 0
                depth -= 1
                if not depth:
                    break
            mast_rebalance_next(mast)
            mast.orig_l.assign(l_tmp)
            return True
        elif mast.orig_l.offset != 0:
            mast.orig_l.offset -= 1
            while True:
                mas_descend(mast.orig_l)
                mast.orig_l.offset = mast.orig_l.node.end
                depth -= 1
                if not depth:
                    break
            mast_rebalance_prev(mast)
            mast.orig_r.assign(r_tmp)
            return True
        if is_root_node(mast.orig_r.node):
            break
    mast.orig_r.assign(r_tmp)
    mast.orig_l.assign(l_tmp)
    return False


def _node_walk(mas):
    """``mas_wr_node_walk`` on a bare state (used by ``mast_ascend``)."""
    from .write import WrState, mas_wr_node_walk
    wr = WrState(mas, None)
    wr.type = mas.node.type
    mas_wr_node_walk(wr)
    return wr.type


def mast_ascend(mast):
    mas_ascend(mast.orig_l)
    mas_ascend(mast.orig_r)
    r = mast.orig_r
    r.offset = 0
    r.index = mast.r.max
    if r.last < r.index:
        r.last = r.index
    _node_walk(r)
    l = mast.orig_l
    l.offset = 0
    l.index = mast.l.min
    mast.bn.type = _node_walk(l)


# ------------------------------------------------------------------ rebalance
def mas_spanning_rebalance(mas, mast, count):
    tree = mas.tree
    new_height = 0
    slot = 0
    left = middle = right = None
    l_mas = MaState(tree, mas.index, mas.index)
    r_mas = MaState(tree, mas.index, mas.last)
    m_mas = MaState(tree, mas.index, mas.index)
    mast.l, mast.m, mast.r = l_mas, m_mas, r_mas
    l_mas.status = r_mas.status = m_mas.status = MA_NONE
    bn = mast.bn
    if ((mast.orig_l.min != 0 or mast.orig_r.max != ULONG_MAX)
            and bn.b_end <= MT_MIN_SLOTS[bn.type]):
        mast_spanning_rebalance(mast)
    new_root = False
    while count:
        count -= 1
        bn.b_end -= 1
        bn.type = mast.orig_l.node.type
        split, left, right, middle, mid_split = mas_mab_to_node(mas, bn)
        mast_set_split_parents(mast, left, middle, right, split, mid_split)
        mast_cp_to_nodes(mast, left, middle, right, split, mid_split)
        new_height += 1
        bn.clear()
        bn.type = left.type
        if mas_is_root_limits(mast.l):
            new_root = True
            break
        mast_ascend(mast)
        mast_combine_cp_left(mast)
        l_mas.offset = bn.b_end
        mab_set_b_end(bn, l_mas, left)
        mab_set_b_end(bn, m_mas, middle)
        mab_set_b_end(bn, r_mas, right)
        mast_combine_cp_right(mast)
        mast.orig_l.last = mast.orig_l.max
        if mast_sufficient(mast):
            if mast_overflow(mast):
                continue
            if mast.orig_l.node is mast.orig_r.node:
                slot = mast.l.offset
                break
            continue
        if mas_is_root_limits(mast.orig_l):
            break
        mast_spanning_rebalance(mast)
        if not count:
            count += 1
    if not new_root:
        l_mas.node = mas_pop_node(mas, mast.orig_l.node.type)
        mab_mas_cp(bn, 0, MT_SLOTS[bn.type] - 1, l_mas, True)
        new_height += 1
        mas_set_parent(left, l_mas.node, slot)
        if middle is not None:
            slot += 1
            mas_set_parent(middle, l_mas.node, slot)
        if right is not None:
            slot += 1
            mas_set_parent(right, l_mas.node, slot)
    if new_root or mas_is_root_limits(mast.l):
        mast.l.node.parent = tree
        mast.l.node.pslot = 0
        while not is_root_node(mast.orig_l.node):
            mast_ascend(mast)
    else:
        op = mast.orig_l.node
        l_mas.node.parent = op.parent
        l_mas.node.pslot = op.pslot
    old = mast.orig_l.node
    mas.depth = l_mas.depth
    mas.node = l_mas.node
    mas.min = l_mas.min
    mas.max = l_mas.max
    mas.offset = l_mas.offset
    mas_wmb_replace(mas, old, new_height)
    mtree_range_walk(mas)


def mas_rebalance(mas, b):
    """``mas_rebalance``: combine an under-full node with its right (else left) sibling."""
    empty_count = mas.tree._height
    b_end = b.b_end = b.b_end + 1
    l_mas = mas.copy()
    r_mas = mas.copy()
    mast = Mast(l_mas, r_mas, b)
    b.type = mas.node.type
    if mas_next_sibling(r_mas):
        mas_mab_cp(r_mas, 0, MT_SLOTS[r_mas.node.type], b, b_end)
        r_mas.last = r_mas.index = r_mas.max
    else:
        mas_prev_sibling(l_mas)
        shift = l_mas.node.end + 1
        mab_shift_right(b, shift)
        mas.offset += shift
        mas_mab_cp(l_mas, 0, shift - 1, b, 0)
        b.b_end = shift + b_end
        l_mas.index = l_mas.last = l_mas.min
    mas_spanning_rebalance(mas, mast, empty_count)


# ------------------------------------------------------------------ spanning store
def mas_wr_spanning_store(wr):
    from .write import (
        WrState,
        mas_extend_spanning_null,
        mas_new_root,
        mas_wr_walk_index,
    )
    mas = wr.mas
    if not mas.index and mas.last == ULONG_MAX:
        mas_new_root(mas, wr.entry)
        return
    height = mas.tree._height
    r_mas = mas.copy()
    if r_mas.last != ULONG_MAX:
        r_mas.last += 1
    r_mas.index = r_mas.last
    r_wr = WrState(r_mas, wr.entry)
    mas_wr_walk_index(r_wr)
    r_mas.last = r_mas.index = mas.last
    l_mas = mas.copy()
    l_wr = WrState(l_mas, wr.entry)
    mas_wr_walk_index(l_wr)
    if wr.entry is None:
        mas_extend_spanning_null(l_wr, r_wr)
        mas.offset = l_mas.offset
        mas.index = l_mas.index
        mas.last = l_mas.last = r_mas.last
    if not l_mas.index and r_mas.last == ULONG_MAX:
        mas.set_range(0, ULONG_MAX)
        mas_new_root(mas, wr.entry)
        return
    b = BigNode()
    mas_store_b_node(l_wr, b, l_mas.end)
    if r_mas.max > r_mas.last:
        mas_mab_cp(r_mas, r_mas.offset, r_mas.end, b, b.b_end + 1)
    else:
        b.b_end += 1
    l_mas.index = l_mas.last = mas.index
    mast = Mast(l_mas, r_mas, b)
    mas_spanning_rebalance(mas, mast, height + 1)


# ------------------------------------------------------------------ replacing subtrees
def mas_put_in_tree(mas, old, new_height):
    """Publish ``mas.node`` in place of *old* with one pointer store, then mark *old* dead."""
    tree = mas.tree
    acc = tree._acc
    node = mas.node
    if is_root_node(node):
        node.parent = tree
        node.pslot = 0
        tree._height = new_height
        acc.store_root(tree, node)
    else:
        acc.store_slot(node.parent, node.pslot, node)
    acc.mark_dead(old)


def mas_adopt_children(mas, parent):
    acc = mas.tree._acc
    stats = mas.tree.stats
    slots = parent.slots
    for offset in range(parent.end, -1, -1):
        child = slots[offset]
        if child.parent is not parent or child.pslot != offset:
            acc.store_parent(child, parent, offset)
            stats.written += 1


def mas_topiary_replace(mas, old, new_height):
    """``mas_topiary_replace``: publish the new subtree, fix the parent pointers of the children
    it reuses, then mark dead and free the old nodes it replaced.

    The kernel walks up to three ``ma_state``s per level with ``mas_find_child``; this keeps
    ``(node, min, max)`` triples instead, visiting and storing in the same order.
    """
    tree = mas.tree
    acc = tree._acc
    mas_put_in_tree(mas, old, new_height)
    level = [mas.node]
    while not level[0].leaf:
        nxt = []
        for node in level:
            slots = node.slots
            for off in range(node.end + 1):
                if len(nxt) == 3:
                    break
                if slots[off].parent is node:
                    nxt.append(slots[off])
            mas_adopt_children(mas, node)
        if not nxt:
            break
        level = nxt
    if old.leaf:
        tree._free_node(old, True)
        return
    index, last = mas.index, mas.last
    in_rcu = tree._in_rcu
    subtrees = []
    level = [(old, mas.min, mas.max)]
    while True:
        nxt = []
        for node, mn, mx in level:
            slots = node.slots
            pivots = node.pivots
            npiv = MT_PIVOTS[node.type]
            for off in range(node.end + 1):
                if len(nxt) == 3:
                    break
                child = slots[off]
                if child.parent is not node:
                    continue
                cmn = pivots[off - 1] + 1 if off else mn
                cmx = pivots[off] if off < npiv else mx
                if cmn >= index and cmx <= last:
                    acc.mark_dead(child)
                    subtrees.append(child)
                else:
                    nxt.append((child, cmn, cmx))
        if not nxt:
            break
        for node, _, _ in level:
            _retire(tree, node)
        level = nxt
        if level[0][0].leaf:
            break
    for node, _, _ in level:
        _retire(tree, node)
    for sub in subtrees:
        _destroy(tree, sub, in_rcu)


def _retire(tree, node):
    """``mas_topiary_node``: mark one replaced node dead and RCU-free it."""
    tree._acc.mark_dead(node)
    tree._free_node(node, True)


def mas_wmb_replace(mas, old, new_height):
    mas_topiary_replace(mas, old, new_height)
    if mas.node.leaf:
        return
    mas_update_gap(mas)


def _destroy(tree, node, rcu):
    """``mt_destroy_walk``: mark every node of a detached subtree dead and free it."""
    acc = tree._acc
    stack = [node]
    while stack:
        n = stack.pop()
        if not n.leaf:
            for off in range(n.end, -1, -1):
                stack.append(n.slots[off])
        if n.parent is not n:
            acc.mark_dead(n)
        tree._free_node(n, rcu)


def mte_destroy_walk(tree, root):
    """``mte_destroy_walk``: RCU-deferred free in RCU mode, immediate free otherwise."""
    _destroy(tree, root, tree._in_rcu)


__all__ = ["mas_rebalance", "mas_spanning_rebalance", "mas_wr_spanning_store", "mas_put_in_tree",
           "mas_topiary_replace", "mte_destroy_walk"]
