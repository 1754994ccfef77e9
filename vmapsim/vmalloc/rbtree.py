"""A red-black tree of :class:`~vmapsim.vmalloc.vmap_area.VmapArea` with an address-ordered list, optionally
augmented with ``subtree_max_size`` -- the kernel's ``rb_list`` / free tree, rebalanced the way
lib/rbtree.c does it.

Why the exact algorithm matters: ``find_vmap_lowest_match()`` (see :mod:`vmapsim.vmalloc.free_space`)
descends the free tree by ``subtree_max_size``; for aligned requests its result depends on the
shape of the tree, so insertions, erasures, rotations and the augmented callbacks follow
lib/rbtree.c ``__rb_insert``, ``__rb_erase_augmented`` and ``____rb_erase_color`` case by case,
with the callbacks ``RB_DECLARE_CALLBACKS_MAX`` generates for ``free_vmap_area_rb_augment_cb``
(include/linux/rbtree_augmented.h): *propagate* recomputes ``max(size, children)`` upwards and
stops at the first node whose value did not change, *copy* copies it, *rotate* gives the new
subtree root the old root's value and recomputes the old root.

The list (``va.prev``/``va.next``, ``first``/``last``) is the kernel's ``va->list`` kept in
address order next to the tree (``__link_va``: ``list_add`` after the parent when linked as its
right child, before it otherwise).

Work is counted into an :class:`~vmapsim.designs.base.Accounting` (``acct.visited``: nodes read while
walking; ``acct.written``: nodes whose links, colour or augmented value changed) so lock holds can
be costed.  Model differences: nodes are Python objects (no pointer/colour packing), and
``validate()`` checks what ``DEBUG_AUGMENT_PROPAGATE_CHECK`` and an rb-tree verifier would.
"""
from __future__ import annotations

from .vmap_area import VmapArea

__all__ = ["RBTree", "OverlapError"]


class OverlapError(ValueError):
    """``find_va_links()`` met an overlapping area (the kernel WARNs and refuses the insert)."""


class _NoAcct:
    __slots__ = ("visited", "written", "alloc_bytes", "free_bytes")

    def __init__(self):
        self.visited = self.written = self.alloc_bytes = self.free_bytes = 0


def _compute_max(n: VmapArea) -> int:
    m = n.va_end - n.va_start
    c = n.rb_left
    if c is not None and c.subtree_max_size > m:
        m = c.subtree_max_size
    c = n.rb_right
    if c is not None and c.subtree_max_size > m:
        m = c.subtree_max_size
    return m


class RBTree:
    """``struct rb_list`` (root + address-sorted list) of vmap areas; ``augment=True`` for the free tree.

    Areas must not overlap.  ``count`` is the number of linked areas.
    """

    __slots__ = ("root", "first", "last", "count", "augment", "acct")

    def __init__(self, augment: bool = False, acct=None):
        self.root = self.first = self.last = None
        self.count = 0
        self.augment = augment
        self.acct = acct if acct is not None else _NoAcct()

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        n = self.first
        while n is not None:
            yield n
            n = n.next

    # ------------------------------------------------------------------ links
    def find_va_links(self, va: VmapArea, start: VmapArea | None = None):
        """mm/vmalloc.c find_va_links(): ``(parent, is_left)`` where *va* would be linked.

        Descends from the root, or from *start* (``insert_vmap_area_augment(va, from)``).
        Raises :class:`OverlapError` if *va* overlaps a node on the way."""
        n = self.root if start is None else start
        if n is None:
            return None, True
        s, e = va.va_start, va.va_end
        steps = 0
        while True:
            steps += 1
            if e <= n.va_start:
                c = n.rb_left
                if c is None:
                    self.acct.visited += steps
                    return n, True
            elif s >= n.va_end:
                c = n.rb_right
                if c is None:
                    self.acct.visited += steps
                    return n, False
            else:
                self.acct.visited += steps
                raise OverlapError(f"{s:#x}-{e:#x} overlaps {n.va_start:#x}-{n.va_end:#x}")
            n = c

    def link(self, va: VmapArea, parent, is_left: bool) -> None:
        """mm/vmalloc.c __link_va(): link *va* below *parent*, rebalance, add to the list.

        For an augmented tree ``subtree_max_size`` is left at 0; call :meth:`propagate_from`."""
        va.rb_parent = parent
        va.rb_left = va.rb_right = None
        va.rb_red = True
        if parent is None:
            self.root = va
            va.prev = va.next = None
            self.first = self.last = va
        else:
            if is_left:
                parent.rb_left = va
                nxt = parent
                prv = parent.prev
            else:
                parent.rb_right = va
                prv = parent
                nxt = parent.next
            va.prev, va.next = prv, nxt
            if prv is None:
                self.first = va
            else:
                prv.next = va
            if nxt is None:
                self.last = va
            else:
                nxt.prev = va
        self.count += 1
        self._insert_color(va)
        if self.augment:
            va.subtree_max_size = 0

    def insert(self, va: VmapArea) -> None:
        """mm/vmalloc.c insert_vmap_area() (busy and lazy trees: no augmentation).

        The descent of :meth:`find_va_links` is inlined here (the hot path of the performance
        model) with one comparison per level: right when ``va_start >= n.va_end``, else left.
        Where the two differ -- *va* overlaps a node -- the slot it ends at has that overlap
        with its successor (the first area ending above ``va_start``), so one test there finds
        it, and :meth:`find_va_links` then raises its :class:`OverlapError` with the same
        visits counted.  An area after the last one (a lazy tree's usual insert) goes right at
        every level: that descent follows the right links without comparing."""
        n = self.root
        if n is None:
            self.link(va, None, True)
            return
        s, e = va.va_start, va.va_end
        if s >= self.last.va_end:          # after the last area: right at every level
            steps = 1                      # (the loop below, without its comparisons)
            c = n.rb_right
            while c is not None:
                n = c
                c = n.rb_right
                steps += 1
            prv = n
            nxt = None
            n.rb_right = va
        else:
            steps = 0
            while True:
                steps += 1
                if s >= n.va_end:
                    c = n.rb_right
                    if c is None:
                        prv = n
                        nxt = n.next
                        if nxt is not None and nxt.va_start < e:
                            self.find_va_links(va)                 # raises OverlapError
                        n.rb_right = va
                        break
                else:
                    c = n.rb_left
                    if c is None:
                        if n.va_start < e:
                            self.find_va_links(va)                 # raises OverlapError
                        nxt = n
                        prv = n.prev
                        n.rb_left = va
                        break
                n = c
        self.acct.visited += steps
        # self.link(va, n, is_left), inlined for a non-empty tree
        va.rb_parent = n
        va.rb_left = va.rb_right = None
        va.rb_red = True
        va.prev, va.next = prv, nxt
        if prv is None:
            self.first = va
        else:
            prv.next = va
        if nxt is None:
            self.last = va
        else:
            nxt.prev = va
        self.count += 1
        if n.rb_red:
            self._insert_color(va)
        else:                              # a black parent: no rebalancing, the node is written
            self.acct.written += 1
        if self.augment:
            va.subtree_max_size = 0

    def insert_augment(self, va: VmapArea, start: VmapArea | None = None) -> None:
        """mm/vmalloc.c insert_vmap_area_augment(): link, then propagate ``subtree_max_size``."""
        parent, is_left = self.find_va_links(va, start)
        self.link(va, parent, is_left)
        self.propagate_from(va)

    def propagate_from(self, va: VmapArea) -> None:
        """mm/vmalloc.c augment_tree_propagate_from(): RB_DECLARE_CALLBACKS_MAX propagate to the root,
        stopping at the first node whose ``subtree_max_size`` is already right."""
        n = va
        w = 0
        while n is not None:
            m = n.va_end - n.va_start                # _compute_max(n), inlined
            c = n.rb_left
            if c is not None and c.subtree_max_size > m:
                m = c.subtree_max_size
            c = n.rb_right
            if c is not None and c.subtree_max_size > m:
                m = c.subtree_max_size
            if n.subtree_max_size == m:
                break
            n.subtree_max_size = m
            w += 1
            n = n.rb_parent
        self.acct.written += w
        self.acct.visited += w + 1

    def detach_all(self) -> list[VmapArea]:
        """Empty the tree and return its areas in address order (``list_replace_init`` of a purge)."""
        out = list(self)
        for va in out:
            va.prev = va.next = va.rb_parent = va.rb_left = va.rb_right = None
        self.root = self.first = self.last = None
        self.count = 0
        return out

    # ------------------------------------------------------------------ bulk build and copies
    @classmethod
    def from_sorted(cls, areas, augment: bool = False, acct=None) -> "RBTree":
        """A tree holding *areas* (address order, not overlapping, linked nowhere), built in
        O(n) (:func:`vmapsim.vmalloc.rbtree_bulk.build_sorted`)."""
        from .rbtree_bulk import build_sorted
        return build_sorted(cls(augment, acct), areas)

    def __getstate__(self):
        from .rbtree_bulk import tree_state
        return tree_state(self)

    def __setstate__(self, state):
        from .rbtree_bulk import set_tree_state
        set_tree_state(self, state)

    # ------------------------------------------------------------------ lookups
    def find(self, addr: int) -> VmapArea | None:
        """mm/vmalloc.c __find_vmap_area(): the area with ``va_start <= addr < va_end``."""
        n = self.root
        steps = 0
        while n is not None:
            steps += 1
            if addr < n.va_start:
                n = n.rb_left
            elif addr >= n.va_end:
                n = n.rb_right
            else:
                break
        self.acct.visited += steps
        return n

    def find_exceed(self, addr: int) -> VmapArea | None:
        """mm/vmalloc.c __find_vmap_area_exceed_addr(): the lowest area with ``addr < va_end``."""
        n, best, steps = self.root, None, 0
        while n is not None:
            steps += 1
            if n.va_end > addr:
                best = n
                if n.va_start <= addr:
                    break
                n = n.rb_left
            else:
                n = n.rb_right
        self.acct.visited += steps
        return best

    def height(self) -> int:
        def h(n):
            return 0 if n is None else 1 + max(h(n.rb_left), h(n.rb_right))
        return h(self.root)

    # ------------------------------------------------------------------ lib/rbtree.c
    def _change_child(self, old, new, parent) -> None:
        if parent is None:
            self.root = new
        elif parent.rb_left is old:
            parent.rb_left = new
        else:
            parent.rb_right = new

    def _rotate_set_parents(self, old, new, red: bool) -> None:
        """__rb_rotate_set_parents(): *new* takes *old*'s parent and colour; *old* goes below it."""
        parent = old.rb_parent
        new.rb_parent, new.rb_red = parent, old.rb_red
        old.rb_parent, old.rb_red = new, red
        self._change_child(old, new, parent)

    def _insert_color(self, node: VmapArea) -> None:
        """lib/rbtree.c __rb_insert() with the augmented rotate callback when ``augment``."""
        aug = self.augment
        w = 1
        parent = node.rb_parent
        while True:
            if parent is None:
                node.rb_red = False
                break
            if not parent.rb_red:
                break
            gparent = parent.rb_parent
            tmp = gparent.rb_right
            if parent is not tmp:                     # parent == gparent.rb_left
                if tmp is not None and tmp.rb_red:    # case 1: recolour
                    tmp.rb_red = False
                    parent.rb_red = False
                    node = gparent
                    parent = node.rb_parent
                    node.rb_red = True
                    w += 3
                    continue
                tmp = parent.rb_right
                if node is tmp:                       # case 2: left rotate at parent
                    tmp = node.rb_left
                    parent.rb_right = tmp
                    node.rb_left = parent
                    if tmp is not None:
                        tmp.rb_parent, tmp.rb_red = parent, False
                    parent.rb_parent, parent.rb_red = node, True
                    if aug:
                        node.subtree_max_size = parent.subtree_max_size
                        parent.subtree_max_size = _compute_max(parent)
                    parent = node
                    tmp = node.rb_right
                    w += 3
                # case 3: right rotate at gparent
                gparent.rb_left = tmp
                parent.rb_right = gparent
                if tmp is not None:
                    tmp.rb_parent, tmp.rb_red = gparent, False
                # __rb_rotate_set_parents(gparent, parent, RB_RED), inlined
                ggp = gparent.rb_parent
                parent.rb_parent, parent.rb_red = ggp, gparent.rb_red
                gparent.rb_parent, gparent.rb_red = parent, True
                if ggp is None:
                    self.root = parent
                elif ggp.rb_left is gparent:
                    ggp.rb_left = parent
                else:
                    ggp.rb_right = parent
                if aug:
                    parent.subtree_max_size = gparent.subtree_max_size
                    gparent.subtree_max_size = _compute_max(gparent)
                w += 4
                break
            else:
                tmp = gparent.rb_left
                if tmp is not None and tmp.rb_red:    # case 1: recolour
                    tmp.rb_red = False
                    parent.rb_red = False
                    node = gparent
                    parent = node.rb_parent
                    node.rb_red = True
                    w += 3
                    continue
                tmp = parent.rb_left
                if node is tmp:                       # case 2: right rotate at parent
                    tmp = node.rb_right
                    parent.rb_left = tmp
                    node.rb_right = parent
                    if tmp is not None:
                        tmp.rb_parent, tmp.rb_red = parent, False
                    parent.rb_parent, parent.rb_red = node, True
                    if aug:
                        node.subtree_max_size = parent.subtree_max_size
                        parent.subtree_max_size = _compute_max(parent)
                    parent = node
                    tmp = node.rb_left
                    w += 3
                # case 3: left rotate at gparent
                gparent.rb_right = tmp
                parent.rb_left = gparent
                if tmp is not None:
                    tmp.rb_parent, tmp.rb_red = gparent, False
                # __rb_rotate_set_parents(gparent, parent, RB_RED), inlined
                ggp = gparent.rb_parent
                parent.rb_parent, parent.rb_red = ggp, gparent.rb_red
                gparent.rb_parent, gparent.rb_red = parent, True
                if ggp is None:
                    self.root = parent
                elif ggp.rb_left is gparent:
                    ggp.rb_left = parent
                else:
                    ggp.rb_right = parent
                if aug:
                    parent.subtree_max_size = gparent.subtree_max_size
                    gparent.subtree_max_size = _compute_max(gparent)
                w += 4
                break
        self.acct.written += w

    def _propagate(self, n, stop) -> None:
        w = 0
        while n is not stop:
            m = _compute_max(n)
            if n.subtree_max_size == m:
                break
            n.subtree_max_size = m
            w += 1
            n = n.rb_parent
        self.acct.written += w

    def unlink(self, node: VmapArea) -> None:
        """mm/vmalloc.c __unlink_va(): erase from the tree (augmented if the tree is) and the list.

        The tree part is lib/rbtree.c __rb_erase_augmented() + ____rb_erase_color(), with
        :meth:`_change_child` inlined (copies marked)."""
        aug = self.augment
        child = node.rb_right
        tmp = node.rb_left
        w = 1
        if tmp is None:
            # case 1: at most one child (the right one)
            parent = node.rb_parent
            if parent is None:                          # _change_child(node, child, parent)
                self.root = child
            elif parent.rb_left is node:
                parent.rb_left = child
            else:
                parent.rb_right = child
            if child is not None:
                child.rb_parent, child.rb_red = parent, node.rb_red
                rebalance = None
            else:
                rebalance = parent if not node.rb_red else None
            tmp = parent
        elif child is None:
            # still case 1, the child is the left one
            parent = node.rb_parent
            tmp.rb_parent, tmp.rb_red = parent, node.rb_red
            if parent is None:                          # _change_child(node, tmp, parent)
                self.root = tmp
            elif parent.rb_left is node:
                parent.rb_left = tmp
            else:
                parent.rb_right = tmp
            rebalance = None
            tmp = parent
        else:
            successor = child
            tmp = child.rb_left
            if tmp is None:
                # case 2: the successor is the right child
                parent = successor
                child2 = successor.rb_right
                if aug:
                    successor.subtree_max_size = node.subtree_max_size
            else:
                # case 3: the successor is the leftmost node of the right subtree
                while True:
                    parent = successor
                    successor = tmp
                    tmp = tmp.rb_left
                    w += 1
                    if tmp is None:
                        break
                child2 = successor.rb_right
                parent.rb_left = child2
                successor.rb_right = child
                child.rb_parent = successor
                if aug:
                    successor.subtree_max_size = node.subtree_max_size
                    self._propagate(parent, successor)
                w += 3
            tmp = node.rb_left
            successor.rb_left = tmp
            tmp.rb_parent = successor
            pparent = node.rb_parent
            if pparent is None:                         # _change_child(node, successor, pparent)
                self.root = successor
            elif pparent.rb_left is node:
                pparent.rb_left = successor
            else:
                pparent.rb_right = successor
            if child2 is not None:
                child2.rb_parent, child2.rb_red = parent, False
                rebalance = None
            else:
                rebalance = parent if not successor.rb_red else None
            successor.rb_parent, successor.rb_red = pparent, node.rb_red
            tmp = successor
            w += 3
        self.acct.written += w
        if aug:
            self._propagate(tmp, None)
        if rebalance is not None:
            self._erase_color(rebalance)
        prv, nxt = node.prev, node.next                 # the list (list_del_init)
        if prv is None:
            self.first = nxt
        else:
            prv.next = nxt
        if nxt is None:
            self.last = prv
        else:
            nxt.prev = prv
        node.prev = node.next = node.rb_parent = node.rb_left = node.rb_right = None
        self.count -= 1

    def _erase_color(self, parent: VmapArea) -> None:
        aug = self.augment
        node = None
        w = 0
        while True:
            sibling = parent.rb_right
            if node is not sibling:                   # node == parent.rb_left
                if sibling.rb_red:                    # case 1: left rotate at parent
                    tmp1 = sibling.rb_left
                    parent.rb_right = tmp1
                    sibling.rb_left = parent
                    tmp1.rb_parent, tmp1.rb_red = parent, False
                    self._rotate_set_parents(parent, sibling, True)
                    if aug:
                        sibling.subtree_max_size = parent.subtree_max_size
                        parent.subtree_max_size = _compute_max(parent)
                    sibling = tmp1
                    w += 3
                tmp1 = sibling.rb_right
                if tmp1 is None or not tmp1.rb_red:
                    tmp2 = sibling.rb_left
                    if tmp2 is None or not tmp2.rb_red:
                        # case 2: sibling colour flip
                        sibling.rb_red = True
                        w += 1
                        if parent.rb_red:
                            parent.rb_red = False
                        else:
                            node = parent
                            parent = node.rb_parent
                            if parent is not None:
                                continue
                        break
                    # case 3: right rotate at sibling
                    tmp1 = tmp2.rb_right
                    sibling.rb_left = tmp1
                    tmp2.rb_right = sibling
                    parent.rb_right = tmp2
                    if tmp1 is not None:
                        tmp1.rb_parent, tmp1.rb_red = sibling, False
                    if aug:
                        tmp2.subtree_max_size = sibling.subtree_max_size
                        sibling.subtree_max_size = _compute_max(sibling)
                    tmp1 = sibling
                    sibling = tmp2
                    w += 3
                # case 4: left rotate at parent + colour flips
                tmp2 = sibling.rb_left
                parent.rb_right = tmp2
                sibling.rb_left = parent
                tmp1.rb_parent, tmp1.rb_red = sibling, False
                if tmp2 is not None:
                    tmp2.rb_parent = parent
                self._rotate_set_parents(parent, sibling, False)
                if aug:
                    sibling.subtree_max_size = parent.subtree_max_size
                    parent.subtree_max_size = _compute_max(parent)
                w += 4
                break
            else:
                sibling = parent.rb_left
                if sibling.rb_red:                    # case 1: right rotate at parent
                    tmp1 = sibling.rb_right
                    parent.rb_left = tmp1
                    sibling.rb_right = parent
                    tmp1.rb_parent, tmp1.rb_red = parent, False
                    self._rotate_set_parents(parent, sibling, True)
                    if aug:
                        sibling.subtree_max_size = parent.subtree_max_size
                        parent.subtree_max_size = _compute_max(parent)
                    sibling = tmp1
                    w += 3
                tmp1 = sibling.rb_left
                if tmp1 is None or not tmp1.rb_red:
                    tmp2 = sibling.rb_right
                    if tmp2 is None or not tmp2.rb_red:
                        # case 2: sibling colour flip
                        sibling.rb_red = True
                        w += 1
                        if parent.rb_red:
                            parent.rb_red = False
                        else:
                            node = parent
                            parent = node.rb_parent
                            if parent is not None:
                                continue
                        break
                    # case 3: left rotate at sibling
                    tmp1 = tmp2.rb_left
                    sibling.rb_right = tmp1
                    tmp2.rb_left = sibling
                    parent.rb_left = tmp2
                    if tmp1 is not None:
                        tmp1.rb_parent, tmp1.rb_red = sibling, False
                    if aug:
                        tmp2.subtree_max_size = sibling.subtree_max_size
                        sibling.subtree_max_size = _compute_max(sibling)
                    tmp1 = sibling
                    sibling = tmp2
                    w += 3
                # case 4: right rotate at parent + colour flips
                tmp2 = sibling.rb_right
                parent.rb_left = tmp2
                sibling.rb_right = parent
                tmp1.rb_parent, tmp1.rb_red = sibling, False
                if tmp2 is not None:
                    tmp2.rb_parent = parent
                self._rotate_set_parents(parent, sibling, False)
                if aug:
                    sibling.subtree_max_size = parent.subtree_max_size
                    parent.subtree_max_size = _compute_max(parent)
                w += 4
                break
        self.acct.written += w

    # ------------------------------------------------------------------ invariants
    def validate(self) -> None:
        """Assert the red-black, ordering, parent-link, list and ``subtree_max_size`` invariants
        (:func:`vmapsim.vmalloc.rbtree_bulk.validate_tree`)."""
        from .rbtree_bulk import validate_tree
        validate_tree(self)
