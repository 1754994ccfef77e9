"""``mt_validate`` for the Python maple tree (part of :mod:`vmapsim.maple.tree`).

Asserts every invariant the kernel's ``mt_validate`` checks (``mas_validate_limits``,
``mas_validate_parent_slot``, ``mas_validate_child_slot``, ``mas_validate_gaps``,
``mt_validate_nulls``, minimum occupancy) plus the structural facts the Python model relies
on (node types, the stored data end, uniform leaf depth equal to the recorded height).
Failures raise ``AssertionError`` whose message names the broken invariant and the node.
"""
from __future__ import annotations

from .gaps import leaf_max_gap
from .node import (
    MAPLE_ARANGE_64,
    MAPLE_LEAF_64,
    MAPLE_RANGE_64,
    MT_FLAGS_ALLOC_RANGE,
    MT_MIN_SLOTS,
    MT_PIVOTS,
    MT_SLOTS,
    ULONG_MAX,
    Node,
    is_internal,
)


def _fail(what, node, mn, mx):
    raise AssertionError(f"maple validate: {what} (node {node!r} covering [{mn}, {mx}])")


def validate_tree(tree) -> None:
    root = tree._root
    if root.__class__ is not Node:
        if tree._height != 0:
            raise AssertionError(f"maple validate: height {tree._height} recorded for a tree without nodes")
        if root is not None and is_internal(root):
            raise AssertionError("maple validate: internal entry stored directly in ma_root")
        return
    if root.parent is not tree:
        _fail("root's parent is not the tree", root, 0, ULONG_MAX)
    alloc = bool(tree._flags & MT_FLAGS_ALLOC_RANGE)
    inner_type = MAPLE_ARANGE_64 if alloc else MAPLE_RANGE_64
    leaf_depths = set()
    prev_null = [False]
    first = [True]

    def check(node, mn, mx, depth, is_root):
        if node.parent is node:
            _fail("reachable node is dead", node, mn, mx)
        ntype = node.type
        if node.leaf != (ntype == MAPLE_LEAF_64):
            _fail("leaf flag does not match the type", node, mn, mx)
        if not node.leaf and ntype != inner_type:
            _fail(f"internal node of type {ntype}, expected {inner_type}", node, mn, mx)
        end = node.end
        nslots = MT_SLOTS[ntype]
        npiv = MT_PIVOTS[ntype]
        if not 0 <= end < nslots:
            _fail(f"data end {end} outside 0..{nslots - 1}", node, mn, mx)
        if not is_root and end < MT_MIN_SLOTS[ntype]:
            _fail(f"occupancy: data end {end} < mt_min_slots {MT_MIN_SLOTS[ntype]}", node, mn, mx)
        piv = node.pivots
        slots = node.slots
        prev = mn
        for i in range(end + 1):
            p = piv[i] if i < end else mx
            if i < end and i < npiv and i > 0 and p == 0:
                _fail(f"pivot {i} is 0 inside the data", node, mn, mx)
            if i < end and (p < prev or p > mx or (i > 0 and p <= piv[i - 1])):
                _fail(f"pivot {i} = {p} not strictly increasing inside [{mn}, {mx}]", node, mn, mx)
            if i < end and p == mx:
                _fail(f"data end {end} but pivot {i} already equals the node max", node, mn, mx)
            prev = p + 1
        if end < npiv and piv[end] != mx:
            _fail(f"pivot at the data end ({piv[end]}) is not the node max", node, mn, mx)
        for i in range(end + 1, nslots):
            if slots[i] is not None:
                _fail(f"slot {i} beyond the data end is set", node, mn, mx)
            if i < npiv and piv[i] != 0:
                _fail(f"pivot {i} beyond the data end is {piv[i]}", node, mn, mx)
        if node.leaf:
            leaf_depths.add(depth)
            lo = mn
            for i in range(end + 1):
                hi = piv[i] if i < end else mx
                e = slots[i]
                if e.__class__ is Node:
                    _fail(f"leaf slot {i} holds a node", node, mn, mx)
                if e is None:
                    if prev_null[0] and not first[0]:
                        _fail(f"two consecutive NULL ranges end at [{lo}, {hi}]", node, mn, mx)
                    prev_null[0] = True
                else:
                    prev_null[0] = False
                first[0] = False
                lo = hi + 1
            return leaf_max_gap(node, mn, mx)
        # internal node
        gaps = node.gaps
        lo = mn
        max_gap = 0
        for i in range(end + 1):
            hi = piv[i] if i < end else mx
            child = slots[i]
            if child.__class__ is not Node:
                _fail(f"internal slot {i} is not a node", node, mn, mx)
            if child.parent is not node or child.pslot != i:
                _fail(f"child {i}'s parent pointer does not point back (slot {child.pslot})", node, mn, mx)
            for j in range(end + 1):
                if j != i and slots[j] is child:
                    _fail(f"child appears in slots {i} and {j}", node, mn, mx)
            cgap = check(child, lo, hi, depth + 1, False)
            if alloc:
                if gaps[i] != cgap:
                    _fail(f"gap[{i}] = {gaps[i]} but the child's largest gap is {cgap}", node, mn, mx)
                if cgap > hi - lo + 1:
                    _fail(f"gap[{i}] = {cgap} exceeds the child's span", node, mn, mx)
            if cgap > max_gap:
                max_gap = cgap
            lo = hi + 1
        if alloc:
            for i in range(end + 1, MT_SLOTS[ntype]):
                if gaps[i] != 0:
                    _fail(f"gap[{i}] beyond the data end is {gaps[i]}", node, mn, mx)
            if node.gapoff > end or gaps[node.gapoff] != max_gap:
                _fail(f"meta gap offset {node.gapoff} does not point at the largest gap {max_gap}", node, mn, mx)
        return max_gap

    check(root, 0, ULONG_MAX, 1, True)
    if len(leaf_depths) != 1:
        raise AssertionError(f"maple validate: leaves at different depths {sorted(leaf_depths)}")
    depth = leaf_depths.pop()
    if depth != tree._height:
        raise AssertionError(f"maple validate: recorded height {tree._height} != leaf depth {depth}")


def count_nodes(tree) -> int:
    root = tree._root
    if root.__class__ is not Node:
        return 0
    n = 0
    stack = [root]
    while stack:
        node = stack.pop()
        n += 1
        if not node.leaf:
            stack.extend(node.slots[:node.end + 1])
    return n
