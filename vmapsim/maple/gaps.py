"""Gap tracking and empty-area searches of the maple tree (part of :mod:`vmapsim.maple.tree`).

Ports of ``lib/maple_tree.c``:

* gap maintenance for ``MT_FLAGS_ALLOC_RANGE`` trees: ``mas_leaf_max_gap``, ``ma_max_gap``,
  ``mas_max_gap``, ``mas_parent_gap``, ``mas_update_gap`` (parent gaps are stored in place
  through the access layer, in both RCU and non-RCU mode, as the kernel does);
* ``mas_empty_area`` (``mas_awalk``, ``mas_anode_descend``, ``mas_skip_node``) and
  ``mas_empty_area_rev`` (``mas_rev_awalk``, ``mas_rewind_node``), ``mas_sparse_area``.

Accounting: a search adds to ``tree.stats.visited`` one per node it reads, as a walk does: the
root when ``mas_start`` finds a node there, and each child ``mas_anode_descend`` /
``mas_rev_awalk`` descends into.  ``mas_skip_node`` / ``mas_rewind_node`` only climb back to
ancestors the search has already read on its way down (the scan then resumes in the parent at
the next slot), so a node is counted once per search however often it is rescanned.  An empty
tree or a lone root entry (``mas_sparse_area``) reads no node.

The searches are writer-side operations in this model (``mtree_alloc_range`` runs them
under the tree lock), so their loads are plain reads, not access-layer scheduling points.
Sizes are computed in ``unsigned long`` arithmetic as in the kernel (a NULL range covering
all 2**64 indices has size 0 there, which makes the reverse search fail on a single-slot
NULL leaf).  Semantics (v6.5+): ``max`` is inclusive; a window smaller than ``size``, ``size == 0`` or
``min > max`` is ``-EINVAL``; no fit is ``-EBUSY``; the reverse search returns the start of
the highest fit, whose end is ``min(gap_end, max)``.
"""
from __future__ import annotations

from .node import (
    MAPLE_ARANGE_64,
    MAPLE_NODE_SLOTS,
    MT_FLAGS_ALLOC_RANGE,
    MT_PIVOTS,
    ULONG_MAX,
)
from .state import (
    MA_ACTIVE,
    MA_ERROR,
    MA_NONE,
    MA_ROOT,
    MA_START,
    is_root_node,
    mas_ascend,
    mas_safe_min,
    mas_safe_pivot,
    mas_start,
)

EINVAL = -22
EBUSY = -16


# ---------------------------------------------------------------- gap maintenance
def leaf_max_gap(node, mn, mx):
    """``mas_leaf_max_gap`` for a leaf covering ``[mn, mx]`` (NULL runs are never adjacent)."""
    slots = node.slots
    pivots = node.pivots
    end = node.end
    if end == 0:                      # single-slot leaf: only the root, which has no parent gap
        return mx - mn + 1 if slots[0] is None else 0
    max_gap = 0
    if slots[0] is None:
        max_gap = pivots[0] - mn + 1
        i = 2
    else:
        i = 1
    max_piv = end - 1
    if mx == ULONG_MAX and slots[end] is None:
        gap = ULONG_MAX - pivots[max_piv]
        if gap > max_gap:
            max_gap = gap
        if max_gap > pivots[max_piv] - mn:
            return max_gap
    while i <= max_piv:
        if slots[i] is not None:
            i += 1
            continue
        gap = pivots[i] - pivots[i - 1]
        if gap > max_gap:
            max_gap = gap
        i += 2
    return max_gap


def mas_leaf_max_gap(mas):
    return leaf_max_gap(mas.node, mas.min, mas.max)


def ma_max_gap(node):
    """``ma_max_gap``: (largest gap, its offset), scanning backwards from the data end."""
    gaps = node.gaps
    i = offset = node.end
    max_gap = 0
    while i >= 0:
        if gaps[i] > max_gap:
            max_gap = gaps[i]
            offset = i
        i -= 1
    return max_gap, offset


def mas_max_gap(mas):
    node = mas.node
    if node.leaf:
        return mas_leaf_max_gap(mas)
    return node.gaps[node.gapoff]


def mas_parent_gap(mas, offset, new):
    """``mas_parent_gap``: store *new* as the parent's gap for this child and propagate up."""
    acc = mas.tree._acc
    pnode = mas.node.parent
    while True:
        pgaps = pnode.gaps
        meta_offset = pnode.gapoff
        meta_gap = pgaps[meta_offset]
        acc.store_gap(pnode, offset, new)
        mas.tree.stats.written += 1
        if meta_gap == new:
            return
        if offset != meta_offset:
            if meta_gap > new:
                return
            acc.store_meta(pnode, pnode.end, offset)
        elif new < meta_gap:
            new, meta_offset = ma_max_gap(pnode)
            acc.store_meta(pnode, pnode.end, meta_offset)
        if is_root_node(pnode):
            return
        offset = pnode.pslot
        pnode = pnode.parent


def mas_update_gap(mas):
    """``mas_update_gap``: recompute this node's largest gap and propagate it if it changed."""
    tree = mas.tree
    if not (tree._flags & MT_FLAGS_ALLOC_RANGE):
        return
    node = mas.node
    if is_root_node(node):
        return
    max_gap = mas_max_gap(mas)
    pslot = node.pslot
    if node.parent.gaps[pslot] != max_gap:
        mas_parent_gap(mas, pslot, max_gap)


# ---------------------------------------------------------------- forward search
def _start(mas):
    """``mas_start`` for a search; the root node, when there is one, is the first node read."""
    mas_start(mas)
    if mas.status == MA_ACTIVE:
        mas.tree.stats.visited += 1


def mas_skip_node(mas):
    if mas.status == MA_ERROR:
        return False
    while True:
        if is_root_node(mas.node):
            if mas.offset >= mas.node.end:
                mas.set_err(EBUSY)
                return False
        else:
            mas_ascend(mas)
        if mas.offset < mas.node.end:
            break
    mas.offset += 1
    return True


def mas_anode_descend(mas, size):
    node = mas.node
    ntype = node.type
    pivots = node.pivots
    slots = node.slots
    gaps = node.gaps
    offset = mas.offset
    data_end = node.end
    if offset > data_end:
        # The kernel computes a (garbage) minimum from one past the pivots and then loops
        # zero times; the walk then skips the node.
        mas.offset = offset
        return False
    mn = mas_safe_min(mas, pivots, offset)
    npiv = MT_PIVOTS[ntype]
    found = False
    index = mas.index
    last = mas.last
    while offset <= data_end:
        pivot = pivots[offset] if offset < npiv else mas.max
        if index > pivot:
            pass
        else:
            if gaps is not None:
                gap = gaps[offset]
            elif slots[offset] is None:
                # unsigned long arithmetic: a NULL over all 2**64 indices wraps to 0
                gap = (min(pivot, last) - max(index, mn) + 1) & ULONG_MAX
            else:
                gap = -1
            if gap >= 0 and gap >= size:
                if node.leaf:
                    found = True
                    break
                mas.node = slots[offset]
                mas.tree.stats.visited += 1
                mas.min = mn
                mas.max = pivot
                offset = 0
                break
        mn = pivot + 1
        if last <= pivot:
            mas.set_err(EBUSY)
            return True
        offset += 1
    mas.offset = offset
    return found


def mas_awalk(mas, size):
    last = None
    while mas.status != MA_ERROR and not mas_anode_descend(mas, size):
        if last is mas.node:
            mas_skip_node(mas)
        else:
            last = mas.node


def mas_sparse_area(mas, mn, mx, size, fwd):
    """Empty tree or lone root entry: the answer is the window's start (or end)."""
    if mas.status != MA_NONE and mn == 0:
        mn += 1
        if mn > mx or mx - mn + 1 < size:
            return EBUSY
    if fwd:
        mas.index = mn
        mas.last = mn + size - 1
    else:
        mas.last = mx
        mas.index = mx - size + 1
    return 0


def mas_empty_area(mas, mn, mx, size):
    """``mas_empty_area``: returns 0 (``mas.index`` = lowest fitting start) or a negative errno."""
    if mn > mx:
        return EINVAL
    if size == 0 or mx - mn < size - 1:
        return EINVAL
    if mas.status == MA_START:
        _start(mas)
    elif mas.offset >= 2:
        mas.offset -= 2
    elif not mas_skip_node(mas):
        return EBUSY
    if mas.status == MA_NONE or mas.status == MA_ROOT:
        return mas_sparse_area(mas, mn, mx, size, True)
    mas.index = mn
    mas.last = mx
    mas_awalk(mas, size)
    if mas.status == MA_ERROR:
        return mas.err
    node = mas.node
    offset = mas.offset
    lo = mas_safe_min(mas, node.pivots, offset)
    if mas.index < lo:
        mas.index = lo
    mas.last = mas.index + size - 1
    mas.end = node.end
    return 0


# ---------------------------------------------------------------- reverse search
def mas_rev_awalk(mas, size, bounds):
    """``mas_rev_awalk``; *bounds* is a 2-list receiving ``[gap_min, gap_max]`` on a leaf hit."""
    if mas.status == MA_ERROR:
        return True
    node = mas.node
    ntype = node.type
    pivots = node.pivots
    slots = node.slots
    gaps = node.gaps
    offset = mas.offset
    mn = mas_safe_min(mas, pivots, offset)
    while mas.last < mn:
        offset -= 1
        mn = mas_safe_min(mas, pivots, offset)
    mx = mas_safe_pivot(mas, pivots, offset, ntype)
    gap = 0
    ascend = False
    while mas.index <= mx:
        gap = 0
        if gaps is not None:
            gap = gaps[offset]
        elif slots[offset] is None:
            gap = (mx - mn + 1) & ULONG_MAX          # unsigned long: 2**64 wraps to 0
        if gap:
            if size <= gap and size <= ((mas.last - mn + 1) & ULONG_MAX):
                break
            if gaps is None:
                if offset < 2:
                    ascend = True
                    break
                offset -= 2
                mx = pivots[offset]
                mn = mas_safe_min(mas, pivots, offset)
                continue
        if not offset:
            ascend = True
            break
        offset -= 1
        mx = mn - 1
        mn = mas_safe_min(mas, pivots, offset)
    if ascend:
        if not is_root_node(node):
            return False
        mas.set_err(EBUSY)
        return False
    if mas.index > mx or size - 1 > mx - mas.index:
        mas.set_err(EBUSY)
        return False
    if node.leaf:
        mas.offset = offset
        bounds[0] = mn
        bounds[1] = mn + gap - 1
        return True
    mas.node = slots[offset]
    mas.tree.stats.visited += 1
    mas.min = mn
    mas.max = mx
    mas.offset = mas.node.end
    return False


def mas_rewind_node(mas):
    while True:
        if is_root_node(mas.node):
            slot = mas.offset
            if not slot:
                return False
        else:
            mas_ascend(mas)
            slot = mas.offset
        if slot:
            break
    mas.offset = slot - 1
    return True


def mas_empty_area_rev(mas, mn, mx, size):
    """``mas_empty_area_rev``: 0 with ``[mas.index, mas.last]`` the highest fit, or a negative errno."""
    last = mas.node
    if mn > mx:
        return EINVAL
    if size == 0 or mx - mn < size - 1:
        return EINVAL
    if mas.status == MA_START:
        _start(mas)
    elif mas.offset < 2 and not mas_rewind_node(mas):
        return EBUSY
    if mas.status == MA_NONE or mas.status == MA_ROOT:
        return mas_sparse_area(mas, mn, mx, size, False)
    elif mas.offset >= 2:
        mas.offset -= 2
    else:
        mas.offset = mas.node.end
    mas.index = mn
    mas.last = mx
    bounds = [mn, mx]
    while not mas_rev_awalk(mas, size, bounds):
        if last is mas.node:
            if not mas_rewind_node(mas):
                return EBUSY
        else:
            last = mas.node
    if mas.status == MA_ERROR:
        return mas.err
    if mas.offset == MAPLE_NODE_SLOTS:
        return EBUSY
    if bounds[1] < mas.last:
        mas.last = bounds[1]
    mas.index = mas.last - size + 1
    mas.end = mas.node.end
    return 0


__all__ = ["mas_empty_area", "mas_empty_area_rev", "mas_update_gap", "mas_parent_gap",
           "leaf_max_gap", "ma_max_gap", "EINVAL", "EBUSY", "MAPLE_ARANGE_64"]
