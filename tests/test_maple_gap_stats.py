"""``stats.visited`` of the empty-area searches (``mas_empty_area`` / ``mas_empty_area_rev``).

The count is one per node the search reads: the root, and each child it descends into; the
climb back of ``mas_skip_node`` reaches only nodes already read.  The tree below is built so
that its shape is asserted first and every expected count is derived by hand from it.
"""
import pytest

from vmapsim.designs.base import Accounting
from vmapsim.designs.mt_index import GapTree
from vmapsim.designs.node_alloc import tree_work
from vmapsim.maple import ULONG_MAX, MapleBusy, MapleTree


def _known_tree():
    """40 entries ``[100 + 20i, 109 + 20i]``: 10-index gaps between them, 100 free below."""
    mt = MapleTree(alloc_range=True)
    for i in range(40):
        mt.store_range(100 + 20 * i, 109 + 20 * i, f"e{i}")
    root = mt._root
    # the shape every count below relies on: a root over six leaves
    assert mt.height() == 2 and mt.node_count() == 7
    assert list(root.pivots[:root.end]) == [249, 409, 569, 729, 829]
    # largest gap per leaf: [0, 99] in the first, 10s in the middle, everything above 889 last
    assert list(root.gaps[:5]) == [100, 10, 10, 10, 10] and root.gaps[5] > 1 << 60
    return mt


def _search(mt, fn, *args):
    before = mt.stats.visited
    try:
        out = fn(*args)
    except MapleBusy:
        out = "busy"
    return out, mt.stats.visited - before


@pytest.mark.parametrize("rev,args,want", [
    # fits in the first leaf the root's gaps point to: root + leaf 0
    (False, (0, ULONG_MAX, 10), (0, 2)),
    (False, (110, ULONG_MAX, 10), (110, 2)),
    # the root's gap for leaf 0 (100, below the window) admits size 11, leaf 0 has no fit at or
    # above 110, mas_skip_node climbs back to the root (already read), the root's gaps skip
    # leaves 1-4 (10 < 11) and the search descends into leaf 5: root + leaf 0 + leaf 5
    (False, (110, ULONG_MAX, 11), (890, 3)),
    # same start, but the window ends inside leaf 4: -EBUSY after root + leaf 0
    (False, (110, 700, 11), ("busy", 2)),
    # reverse: the highest fit below 880 is in the last leaf: root + leaf 5
    (True, (0, 880, 10), (870, 2)),
    # reverse, window ending at 835 (leaf 5 starts at 830: too short): root + leaf 4
    (True, (0, 835, 10), (810, 2)),
    # reverse, size 11 only fits above 889, outside the window: root + leaf 5, then -EBUSY
    (True, (300, 880, 11), ("busy", 2)),
])
def test_empty_area_counts_each_node_read_once(rev, args, want):
    mt = _known_tree()
    assert _search(mt, mt.empty_area_rev if rev else mt.empty_area, *args) == want


def test_empty_area_on_small_trees():
    mt = MapleTree(alloc_range=True)
    assert _search(mt, mt.empty_area, 0, 100, 5) == (0, 0)       # empty: no node read
    mt.store_range(10, 19, "a")
    assert mt.height() == 1
    assert _search(mt, mt.empty_area, 0, 100, 5) == (0, 1)       # the lone leaf
    assert _search(mt, mt.empty_area_rev, 0, 100, 5) == (96, 1)


def test_gap_tree_search_charges_exactly_the_nodes_read():
    """GapTree.search adds nothing of its own: the hold gets the tree's count, which for this
    search is root + leaf 0 + leaf 5 (the skip case above)."""
    acct = Accounting()
    gap = GapTree(acct)
    for i in range(40):
        gap.mt.store_range(100 + 20 * i, 109 + 20 * i, f"e{i}")
    assert gap.mt.height() == 2
    before = acct.visited
    out, _, _ = tree_work(acct, gap.mt, gap.search, 11, 1, 110, 1 << 20, False)
    assert out == 890 and acct.visited - before == 3
    # the exact search's look-up of the gap's end is a model view and counts nothing
    before = acct.visited
    assert gap.search(11, 1, 110, 1 << 20, pad=False) == 890 and acct.visited == before
