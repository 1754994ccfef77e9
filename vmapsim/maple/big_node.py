"""Big nodes and node splitting of the maple tree (part of :mod:`vmapsim.maple.tree`).

Ports of ``lib/maple_tree.c``'s "big node" machinery, which decides the tree's shape and so
its height and node count: ``struct maple_big_node``, ``mas_store_b_node``,
``mas_mab_cp``/``mab_mas_cp``, ``mab_calc_split`` (half split, never ending a node on NULL,
3-way split), ``mast_set_split_parents``/``mast_cp_to_nodes``, and the upward split:
``mas_push_data`` (push left, then right, before splitting), ``mast_split_data``,
``mast_fill_bnode``, ``mas_split_final_node``, ``mas_split``.  Rebalancing, spanning stores
and the replacement of subtrees are in :mod:`vmapsim.maple.rebalance`.

All nodes built here are private until the top one is published, so they are filled with
plain stores.  The kernel's bulk-insert mode (``MA_STATE_BULK``, fork's
``mas_expected_entries``) is not modelled.
"""
from __future__ import annotations

from .gaps import mas_max_gap
from .node import (
    MAPLE_ARANGE_64,
    MAPLE_LEAF_64,
    MAPLE_RANGE_64,
    MT_FLAGS_ALLOC_RANGE,
    MT_MIN_SLOTS,
    MT_PIVOTS,
    MT_SLOTS,
    ULONG_MAX,
)
from .state import (
    MA_ACTIVE,
    MA_NONE,
    WR_REBALANCE,
    MaState,
    is_root_node,
    mas_ascend,
    mas_next_sibling,
    mas_prev_sibling,
    mtree_range_walk,
)

BIG_SLOTS = 2 * 16 + 2 + 2       # MAPLE_BIG_NODE_SLOTS, plus room for the shifts


class BigNode:
    """``struct maple_big_node`` (gaps kept in their own array, not overlaid on the slots)."""

    __slots__ = ("pivot", "slot", "gap", "b_end", "type")

    def __init__(self):
        self.pivot = [0] * BIG_SLOTS
        self.slot = [None] * BIG_SLOTS
        self.gap = [0] * BIG_SLOTS
        self.b_end = 0
        self.type = 0

    def clear(self):
        """``memset(b_node, 0, ...)``."""
        self.__init__()


class Mast:
    """``struct maple_subtree_state``."""

    __slots__ = ("orig_l", "orig_r", "l", "m", "r", "bn")

    def __init__(self, orig_l=None, orig_r=None, bn=None):
        self.orig_l = orig_l
        self.orig_r = orig_r
        self.l = self.m = self.r = None
        self.bn = bn


def mas_pop_node(mas, ntype):
    return mas.tree._alloc_node(ntype)


def _is_alloc(mas):
    return bool(mas.tree._flags & MT_FLAGS_ALLOC_RANGE)


def mas_is_root_limits(mas):
    return not mas.min and mas.max == ULONG_MAX


def mas_set_parent(child, parent, slot):
    """``mas_set_parent`` on a node that is not yet reachable (plain store)."""
    child.parent = parent
    child.pslot = slot


# ------------------------------------------------------------------ big node copies
def mas_mab_cp(mas, mas_start, mas_end, b, mab_start):
    node = mas.node
    pivots = node.pivots
    npiv = MT_PIVOTS[node.type]
    bp = b.pivot
    i = mas_start
    j = mab_start
    done = False
    if not i:
        bp[j] = pivots[0]
        i = 1
        if i > mas_end:
            done = True
        else:
            j += 1
    if not done:
        piv_end = min(mas_end, npiv)
        mx = mas.max
        while i < piv_end:
            v = bp[j] = pivots[i]
            if not v or v == mx:
                done = True
                break
            i += 1
            j += 1
        if not done:
            bp[j] = pivots[i] if i < npiv else mx
    j += 1
    b.b_end = j
    cnt = j - mab_start
    b.slot[mab_start:j] = node.slots[mas_start:mas_start + cnt]
    if not node.leaf and _is_alloc(mas):
        b.gap[mab_start:j] = node.gaps[mas_start:mas_start + cnt]


def mab_mas_cp(b, mab_start, mab_end, mas, new_max):
    node = mas.node
    mt = node.type
    pivots = node.pivots
    npiv = MT_PIVOTS[mt]
    if mab_end - mab_start > npiv:
        mab_end -= 1
    bp = b.pivot
    i = mab_start
    j = 0
    while True:
        if j < npiv:
            pivots[j] = bp[i]
        j += 1
        i += 1
        if not (i <= mab_end and bp[i]):
            break
    node.slots[0:i - mab_start] = b.slot[mab_start:i]
    if new_max:
        mas.max = bp[i - 1]
    end = j - 1
    if not node.leaf and _is_alloc(mas):
        gaps = node.gaps
        max_gap = 0
        offset = 0
        while j:
            j -= 1
            i -= 1
            g = gaps[j] = b.gap[i]
            if g > max_gap:
                offset = j
                max_gap = g
        node.end = end
        node.gapoff = offset
    else:
        node.end = end
        node.gapoff = 0


def mas_store_b_node(wr, b, offset_end):
    mas = wr.mas
    b.type = wr.type
    b_end = 0
    slot = mas.offset
    if slot:
        mas_mab_cp(mas, 0, slot - 1, b, 0)
        b_end = b.b_end
        piv = b.pivot[b_end - 1]
    else:
        piv = mas.min - 1
    if piv + 1 < mas.index:
        b.slot[b_end] = wr.content
        if wr.content is None:
            b.gap[b_end] = mas.index - 1 - piv
        b.pivot[b_end] = mas.index - 1
        b_end += 1
    mas.offset = b_end
    b.slot[b_end] = wr.entry
    b.pivot[b_end] = mas.last
    if mas.last >= mas.max:
        b.b_end = b_end
        return
    piv = wr.pivots[offset_end] if offset_end < MT_PIVOTS[wr.type] else mas.max
    if piv > mas.last:
        if offset_end != slot:
            wr.content = wr.slots[offset_end]
        b_end += 1
        b.slot[b_end] = wr.content
        if wr.content is None:
            b.gap[b_end] = piv - mas.last + 1
        b.pivot[b_end] = piv
    slot = offset_end + 1
    if slot > mas.end:
        b.b_end = b_end
        return
    b_end += 1
    mas_mab_cp(mas, slot, mas.end + 1, b, b_end)
    b.b_end -= 1


def mab_shift_right(b, shift):
    size = b.b_end
    b.pivot[shift:shift + size] = b.pivot[0:size]
    b.slot[shift:shift + size] = b.slot[0:size]
    if b.type == MAPLE_ARANGE_64:
        b.gap[shift:shift + size] = b.gap[0:size]


# ------------------------------------------------------------------ split points
def mab_middle_node(b, split, slot_count):
    size = b.b_end
    if size >= 2 * slot_count:
        return True
    if b.slot[split] is None and size >= 2 * slot_count - 1:
        return True
    return False


def mab_no_null_split(b, split, slot_count):
    if b.slot[split] is None:
        if split < slot_count - 1 and (b.b_end - split) > MT_MIN_SLOTS[b.type]:
            split += 1
        else:
            split -= 1
    return split


def mab_calc_split(mas, b):
    """``mab_calc_split``: returns ``(split, mid_split)``."""
    b_end = b.b_end
    split = b_end // 2
    slot_count = MT_SLOTS[b.type]
    if mab_middle_node(b, split, slot_count):
        split = b_end // 3
        mid_split = split * 2
    else:
        mid_split = 0
    split = mab_no_null_split(b, split, slot_count)
    if mid_split:
        mid_split = mab_no_null_split(b, mid_split, slot_count)
    return split, mid_split


def mas_mab_to_node(mas, b):
    """``mas_mab_to_node``: returns ``(split, left, right, middle, mid_split)``."""
    slot_count = MT_SLOTS[b.type]
    left = mas_pop_node(mas, b.type)
    right = middle = None
    mid_split = 0
    if b.b_end < slot_count:
        split = b.b_end
    else:
        split, mid_split = mab_calc_split(mas, b)
        right = mas_pop_node(mas, b.type)
    if mid_split:
        middle = mas_pop_node(mas, b.type)
    return split, left, right, middle, mid_split


def mab_set_b_end(b, mas, entry):
    if entry is None:
        return
    e = b.b_end
    b.slot[e] = entry
    if _is_alloc(mas):
        b.gap[e] = mas_max_gap(mas)
    b.pivot[e] = mas.max
    b.b_end = e + 1


def mas_set_split_parent(mas, left, right, slot, split):
    if mas.status == MA_NONE:
        return slot
    if slot <= split:
        mas_set_parent(mas.node, left, slot)
    elif right is not None:
        mas_set_parent(mas.node, right, slot - split - 1)
    return slot + 1


def _mid_split_check(l, r, right, slot, split, mid_split):
    if r is right or slot < mid_split:
        return l, r, split
    return r, right, mid_split


def mast_set_split_parents(mast, left, middle, right, split, mid_split):
    if mast.l.status == MA_NONE:
        return
    l = left
    r = right
    if middle is not None:
        r = middle
    slot = mast.l.offset
    l, r, split = _mid_split_check(l, r, right, slot, split, mid_split)
    slot = mas_set_split_parent(mast.l, l, r, slot, split)
    l, r, split = _mid_split_check(l, r, right, slot, split, mid_split)
    slot = mas_set_split_parent(mast.m, l, r, slot, split)
    l, r, split = _mid_split_check(l, r, right, slot, split, mid_split)
    mas_set_split_parent(mast.r, l, r, slot, split)


def _node_or_none(mas, node):
    if node is not None:
        mas.node = node
        mas.status = MA_ACTIVE
    else:
        mas.node = None
        mas.status = MA_NONE


def mast_cp_to_nodes(mast, left, middle, right, split, mid_split):
    bn = mast.bn
    new_lmax = True
    _node_or_none(mast.l, left)
    _node_or_none(mast.m, middle)
    _node_or_none(mast.r, right)
    mast.l.min = mast.orig_l.min
    if split == bn.b_end:
        mast.l.max = mast.orig_r.max
        new_lmax = False
    mab_mas_cp(bn, 0, split, mast.l, new_lmax)
    if middle is not None:
        mab_mas_cp(bn, 1 + split, mid_split, mast.m, True)
        mast.m.min = bn.pivot[split] + 1
        split = mid_split
    mast.r.max = mast.orig_r.max
    if right is not None:
        mab_mas_cp(bn, 1 + split, bn.b_end, mast.r, False)
        mast.r.min = bn.pivot[split] + 1


# ------------------------------------------------------------------ split
def mas_split_final_node(mast, mas):
    if is_root_node(mas.node):
        mast.bn.type = MAPLE_ARANGE_64 if _is_alloc(mas) else MAPLE_RANGE_64
    ancestor = mas_pop_node(mas, mast.bn.type)
    mas_set_parent(mast.l.node, ancestor, mast.l.offset)
    mas_set_parent(mast.r.node, ancestor, mast.r.offset)
    ancestor.parent = mas.node.parent
    ancestor.pslot = mas.node.pslot
    mast.l.node = ancestor
    mab_mas_cp(mast.bn, 0, MT_SLOTS[mast.bn.type] - 1, mast.l, True)
    mas.offset = mast.bn.b_end - 1


def mast_fill_bnode(mast, mas, skip):
    cp = True
    bn = mast.bn
    bn.clear()
    if is_root_node(mas.node):
        cp = False
    else:
        mas_ascend(mas)
        mas.offset = 0 if is_root_node(mas.node) else mas.node.pslot
    if cp and mast.l.offset:
        mas_mab_cp(mas, 0, mast.l.offset - 1, bn, 0)
    split = bn.b_end
    mab_set_b_end(bn, mast.l, mast.l.node)
    mast.r.offset = bn.b_end
    mab_set_b_end(bn, mast.r, mast.r.node)
    if bn.pivot[bn.b_end - 1] == mas.max:
        cp = False
    if cp:
        mas_mab_cp(mas, split + skip, MT_SLOTS[mas.node.type] - 1, bn, bn.b_end)
    bn.b_end -= 1
    bn.type = mas.node.type


def mast_split_data(mast, mas, split):
    bn = mast.bn
    mab_mas_cp(bn, 0, split, mast.l, True)
    mast.r.node.pivots[0] = mast.r.max
    mab_mas_cp(bn, split + 1, bn.b_end, mast.r, False)
    mast.l.offset = 0 if is_root_node(mas.node) else mas.node.pslot
    mast.l.max = bn.pivot[split]
    mast.r.min = mast.l.max + 1
    if mas.node.leaf:
        return
    p_slot = mast.orig_l.offset
    p_slot = mas_set_split_parent(mast.orig_l, mast.l.node, mast.r.node, p_slot, split)
    mas_set_split_parent(mast.orig_r, mast.l.node, mast.r.node, p_slot, split)


def mas_push_data(mas, mast, left):
    bn = mast.bn
    slot_total = bn.b_end
    tmp = mas.copy()
    tmp.depth = mast.l.depth
    if left:
        if not mas_prev_sibling(tmp):
            return False
    elif not mas_next_sibling(tmp):
        return False
    end = tmp.node.end
    slot_total += end
    space = 2 * MT_SLOTS[mas.node.type] - 2
    if bn.type == MAPLE_LEAF_64:
        space -= 1
    if mas.max == ULONG_MAX:
        space -= 1
    if slot_total >= space:
        return False
    bn.b_end += 1
    if left:
        mab_shift_right(bn, end + 1)
        mas_mab_cp(tmp, 0, end, bn, 0)
        bn.b_end = slot_total + 1
    else:
        mas_mab_cp(tmp, 0, end, bn, bn.b_end)
    split = MT_SLOTS[bn.type] - 2
    if left:
        mas.assign(tmp)
        tmp.node = mast.l.node
        mast.l.assign(tmp)
    else:
        tmp.node = mast.r.node
        mast.r.assign(tmp)
        split = slot_total - split
    split = mab_no_null_split(bn, split, MT_SLOTS[bn.type])
    if left:
        mast.orig_l.offset += end + 1
    mast_split_data(mast, mas, split)
    mast_fill_bnode(mast, mas, 2)
    mas_split_final_node(mast, mas)
    return True


def mas_split(mas, b):
    """``mas_split``: split upwards, pushing into a sibling when one has room."""
    tree = mas.tree
    height = 0
    orig_height = tree._height
    l_mas = MaState(tree, mas.index, mas.last)
    r_mas = MaState(tree, mas.index, mas.last)
    prev_l = MaState(tree, mas.index, mas.last)
    prev_r = MaState(tree, mas.index, mas.last)
    mast = Mast(prev_l, prev_r, b)
    mast.l = l_mas
    mast.r = r_mas
    while True:
        cond = height <= orig_height
        height += 1
        if not cond:
            break
        if MT_SLOTS[b.type] > b.b_end:
            mas_split_final_node(mast, mas)
            break
        l_mas.assign(mas)
        r_mas.assign(mas)
        l_mas.node = mas_pop_node(mas, b.type)
        r_mas.node = mas_pop_node(mas, b.type)
        if mas_push_data(mas, mast, True):
            height += 1
            break
        if mas_push_data(mas, mast, False):
            height += 1
            break
        split, _mid = mab_calc_split(mas, b)
        mast_split_data(mast, mas, split)
        mast.r.max = mas.max
        mast_fill_bnode(mast, mas, 1)
        prev_l.assign(mast.l)
        prev_r.assign(mast.r)
    from .rebalance import mas_wmb_replace
    old = mas.node
    mas.node = l_mas.node
    mas_wmb_replace(mas, old, height)
    mtree_range_walk(mas)


def mas_wr_bnode(wr):
    """``mas_wr_bnode``: rebuild the leaf's data with the write in a big node, then rebalance or split."""
    from .rebalance import mas_rebalance
    b = BigNode()
    mas_store_b_node(wr, b, wr.offset_end)
    if wr.mas.store_type == WR_REBALANCE:
        mas_rebalance(wr.mas, b)
    else:
        mas_split(wr.mas, b)


