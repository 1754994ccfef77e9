"""Bulk operations of :class:`~vmapsim.vmalloc.rbtree.RBTree`: an O(n) build from a sorted list
and pickling without recursion (the tree's methods ``from_sorted``, ``__getstate__`` and
``__setstate__`` call these), and the invariant check of ``validate``."""
from __future__ import annotations

__all__ = ["build_sorted", "tree_state", "set_tree_state", "validate_tree"]


def build_sorted(t, areas):
    """Fill the empty tree *t* with *areas* (address order, not overlapping, linked nowhere) as
    a size-balanced tree: every level black except an incomplete last one, which is red.  The
    set of areas equals that of inserting them one by one; the shape may differ (it is what
    ``validate`` accepts, and lookups depend only on the set, except
    ``find_vmap_lowest_match`` for alignments above a page on the free tree)."""
    n = len(areas)
    if not n:
        return t
    full = 1                                   # levels 0 .. full-1 are complete
    while (1 << (full + 1)) - 1 <= n:
        full += 1
    prev = None
    for va in areas:
        va.prev = prev
        va.next = None
        if prev is not None:
            prev.next = va
        prev = va
    t.first, t.last, t.count = areas[0], areas[-1], n
    stack = [(0, n, None, True, 0)]            # (lo, hi, parent, is_left, depth)
    while stack:
        lo, hi, parent, is_left, depth = stack.pop()
        mid = (lo + hi) // 2
        va = areas[mid]
        va.rb_parent = parent
        va.rb_left = va.rb_right = None
        va.rb_red = depth >= full
        if parent is None:
            t.root = va
        elif is_left:
            parent.rb_left = va
        else:
            parent.rb_right = va
        if mid + 1 < hi:
            stack.append((mid + 1, hi, va, False, depth + 1))
        if lo < mid:
            stack.append((lo, mid, va, True, depth + 1))
    if t.augment:
        _recompute_max(t)
    return t


def _recompute_max(t) -> None:
    """``subtree_max_size`` of every node, bottom up (post-order, no recursion)."""
    order, stack = [], [t.root]
    while stack:
        n = stack.pop()
        order.append(n)
        if n.rb_left is not None:
            stack.append(n.rb_left)
        if n.rb_right is not None:
            stack.append(n.rb_right)
    for n in reversed(order):                  # max(own size, children's subtree_max_size)
        m = n.va_end - n.va_start
        c = n.rb_left
        if c is not None and c.subtree_max_size > m:
            m = c.subtree_max_size
        c = n.rb_right
        if c is not None and c.subtree_max_size > m:
            m = c.subtree_max_size
        n.subtree_max_size = m


def tree_state(t):
    """Pickle state without recursion: the areas in address order plus each one's children as
    positions (following the links would make the pickler recurse along the list)."""
    areas = list(t)
    pos = {id(va): i for i, va in enumerate(areas)}
    shape = [(-1 if va.rb_left is None else pos[id(va.rb_left)],
              -1 if va.rb_right is None else pos[id(va.rb_right)]) for va in areas]
    root = -1 if t.root is None else pos[id(t.root)]
    return (t.augment, t.acct, areas, shape, root)


def set_tree_state(t, state) -> None:
    augment, acct, areas, shape, root = state
    t.augment, t.acct = augment, acct
    t.count = len(areas)
    t.root = areas[root] if root >= 0 else None
    t.first = areas[0] if areas else None
    t.last = areas[-1] if areas else None
    prev = None
    for va, (left, right) in zip(areas, shape):
        va.prev = prev
        va.next = None
        if prev is not None:
            prev.next = va
        prev = va
        va.rb_left = None if left < 0 else areas[left]
        va.rb_right = None if right < 0 else areas[right]
        if left >= 0:
            areas[left].rb_parent = va
        if right >= 0:
            areas[right].rb_parent = va
    if t.root is not None:
        t.root.rb_parent = None


def _subtree_max(n) -> int:
    """``max(size, children's subtree_max_size)`` of *n*, recomputed for the check."""
    m = n.va_end - n.va_start
    for c in (n.rb_left, n.rb_right):
        if c is not None and c.subtree_max_size > m:
            m = c.subtree_max_size
    return m


def validate_tree(self) -> None:
    """Assert the red-black, ordering, parent-link, list and ``subtree_max_size`` invariants of
    the tree *self* (:meth:`vmapsim.vmalloc.rbtree.RBTree.validate`)."""
    root = self.root
    assert root is None or (root.rb_parent is None and not root.rb_red), "root must be black, parentless"
    inorder = []

    def walk(n, lo, hi):
        """Return the black height of the subtree at *n*."""
        if n is None:
            return 1
        assert n.va_start < n.va_end, f"empty area {n!r}"
        assert lo is None or n.va_start >= lo, f"{n!r} out of order"
        assert hi is None or n.va_end <= hi, f"{n!r} out of order"
        for c in (n.rb_left, n.rb_right):
            if c is not None:
                assert c.rb_parent is n, f"bad parent link of {c!r}"
                assert not (n.rb_red and c.rb_red), f"red {n!r} has red child {c!r}"
        bl = walk(n.rb_left, lo, n.va_start)
        inorder.append(n)
        br = walk(n.rb_right, n.va_end, hi)
        assert bl == br, f"black heights differ below {n!r}"
        if self.augment:
            assert n.subtree_max_size == _subtree_max(n), \
                f"subtree_max_size of {n!r} is {n.subtree_max_size}, should be {_subtree_max(n)}"
        return bl + (0 if n.rb_red else 1)

    walk(root, None, None)
    assert len(inorder) == self.count, f"count {self.count} but {len(inorder)} nodes"
    listed = []
    prev = None
    n = self.first
    while n is not None:
        assert n.prev is prev, f"bad list prev link at {n!r}"
        listed.append(n)
        prev = n
        n = n.next
    assert prev is self.last, "list tail mismatch"
    assert listed == inorder, "list order differs from tree order"
