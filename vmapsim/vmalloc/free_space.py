"""The free-space operations on the augmented free tree: search, clip, merge (mm/vmalloc.c).

* :func:`find_vmap_lowest_match` descends by ``subtree_max_size`` exactly as the kernel does,
  including the climb back to parents and the ``vstart`` shift; with ``adjust_search_size`` the
  descent looks for ``size + align - 1`` but accepts any block it *tests* that fits exactly, so
  for aligned requests the answer depends on the tree's shape (see :func:`lowest_fit_reference`
  for the shape-independent rule it equals when ``align <= PAGE_SIZE``).
* :func:`va_clip` classifies the fit (FL/LE/RE/NE, ``classify_va_fit_type``) and cuts the range
  out of the block; the NE case inserts the left remainder starting the link search at the
  block's own node (``insert_vmap_area_augment(lva, &va->rb_node, ...)``).
* :func:`merge_or_add_vmap_area` coalesces a released range with its list neighbours
  (next first, then previous) or links it.

``vmap_area`` objects freed here (merged or fully used blocks) are counted in
``acct.free_bytes``; the spare object of an NE split is counted by the caller that preloads it.
"""
from __future__ import annotations

from .rbtree import RBTree
from .vmap_area import PAGE_SIZE, SIZEOF_VMAP_AREA, ULONG_MAX, VmapArea

__all__ = ["NOTHING_FIT", "FL_FIT_TYPE", "LE_FIT_TYPE", "RE_FIT_TYPE", "NE_FIT_TYPE",
           "is_within_this_va", "find_vmap_lowest_match", "classify_va_fit_type", "va_clip",
           "va_alloc", "alloc_vmap_area_range", "merge_or_add_vmap_area", "lowest_fit_reference",
           "adjust_search_size"]

NOTHING_FIT, FL_FIT_TYPE, LE_FIT_TYPE, RE_FIT_TYPE, NE_FIT_TYPE = range(5)


def _align(x: int, a: int) -> int:
    return ((x + a - 1) & ~(a - 1)) & ULONG_MAX


def is_within_this_va(va: VmapArea, size: int, align: int, vstart: int) -> bool:
    """mm/vmalloc.c is_within_this_va(): does an *align*-ed *size* at/after *vstart* fit in *va*?"""
    nva = _align(va.va_start if va.va_start > vstart else vstart, align)
    if nva + size > ULONG_MAX or nva < vstart:
        return False
    return nva + size <= va.va_end


def adjust_search_size(size: int, align: int, vstart: int, vend: int) -> bool:
    """mm/vmalloc.c __alloc_vmap_area(): search for ``size + align - 1`` unless ``align <= PAGE_SIZE``
    or the range is exactly *size* long."""
    return not (align <= PAGE_SIZE or (vend - vstart) == size)


def find_vmap_lowest_match(tree: RBTree, size: int, align: int, vstart: int,
                           adjust: bool) -> VmapArea | None:
    """mm/vmalloc.c find_vmap_lowest_match(): the block the kernel's descent returns."""
    node = tree.root
    length = size + align - 1 if adjust else size
    steps = 0
    mask = ~(align - 1) & ULONG_MAX         # (x & ~(align - 1)) & ULONG_MAX == x & mask
    # is_within_this_va(node, size, align, vstart) is inlined below (twice); every return
    # adds the steps to acct.visited.  Its test nva + size <= ULONG_MAX is implied by
    # nva + size <= node.va_end (no area ends above ULONG_MAX).
    while node is not None:
        steps += 1
        left = node.rb_left
        if left is not None and left.subtree_max_size >= length and vstart < node.va_start:
            node = left
            continue
        a = node.va_start
        nva = ((a if a > vstart else vstart) + align - 1) & mask
        if nva >= vstart and nva + size <= node.va_end:
            tree.acct.visited += steps
            return node
        right = node.rb_right
        if right is not None and right.subtree_max_size >= length:
            node = right
            continue
        while True:
            node = node.rb_parent
            if node is None:
                tree.acct.visited += steps
                return None
            steps += 1
            a = node.va_start
            nva = ((a if a > vstart else vstart) + align - 1) & mask
            if nva >= vstart and nva + size <= node.va_end:
                tree.acct.visited += steps
                return node
            right = node.rb_right
            if right is not None and right.subtree_max_size >= length and vstart <= node.va_start:
                vstart = node.va_start + 1
                node = right
                break
    tree.acct.visited += steps
    return None


def lowest_fit_reference(blocks, size: int, align: int, vstart: int, vend: int,
                         adjust: bool | None = None) -> int | None:
    """Brute-force kernel rule over sorted free ``(start, end)`` blocks (no tree).

    With ``adjust`` false (align <= PAGE_SIZE) the kernel's descent returns the lowest block that
    can hold the aligned request; this returns the resulting address.  With ``adjust`` true the
    rule is only bounded: the result is the lowest block of size >= ``size + align - 1`` unless a
    lower, smaller block that fits lies on the descent path; the reference then returns the
    address in the lowest block of size >= ``size + align - 1`` (the tests check the tree's
    answer lies at or below it and in a block that fits)."""
    if adjust is None:
        adjust = adjust_search_size(size, align, vstart, vend)
    need = size + align - 1 if adjust else size
    for s, e in blocks:
        if e - s < need:
            continue
        nva = _align(max(s, vstart), align)
        if nva < vstart or nva + size > e:
            continue
        return nva if nva + size <= vend else None
    return None


def classify_va_fit_type(va: VmapArea, nva_start: int, size: int) -> int:
    """mm/vmalloc.c classify_va_fit_type()."""
    if nva_start < va.va_start or nva_start + size > va.va_end:
        return NOTHING_FIT
    if va.va_start == nva_start:
        return FL_FIT_TYPE if va.va_end == nva_start + size else LE_FIT_TYPE
    if va.va_end == nva_start + size:
        return RE_FIT_TYPE
    return NE_FIT_TYPE


def va_clip(tree: RBTree, va: VmapArea, nva_start: int, size: int,
            spare: VmapArea | None = None) -> int:
    """mm/vmalloc.c va_clip(): remove ``[nva_start, nva_start+size)`` from free block *va*.

    Returns the fit type.  NE needs a second object for the left remainder: *spare* (the
    kernel's per-CPU ``ne_fit_preload_node``) or a fresh one (``GFP_NOWAIT`` in the kernel; here
    it never fails).  Raises ValueError for NOTHING_FIT (the kernel returns -EINVAL)."""
    acct = tree.acct
    # classify_va_fit_type(va, nva_start, size), inlined
    vs, ve, nve = va.va_start, va.va_end, nva_start + size
    if nva_start < vs or nve > ve:
        t = NOTHING_FIT
    elif vs == nva_start:
        t = FL_FIT_TYPE if ve == nve else LE_FIT_TYPE
    elif ve == nve:
        t = RE_FIT_TYPE
    else:
        t = NE_FIT_TYPE
    if t == FL_FIT_TYPE:
        tree.unlink(va)
        acct.free_bytes += SIZEOF_VMAP_AREA
        return t
    if t == LE_FIT_TYPE:
        va.va_start += size
    elif t == RE_FIT_TYPE:
        va.va_end = nva_start
    elif t == NE_FIT_TYPE:
        lva = spare if spare is not None else VmapArea()
        if spare is None:
            acct.alloc_bytes += SIZEOF_VMAP_AREA
        lva.va_start, lva.va_end = va.va_start, nva_start
        lva.flags, lva.vm = 0, False
        va.va_start = nva_start + size
        acct.written += 1
        tree.propagate_from(va)
        tree.insert_augment(lva, va)
        return t
    else:
        raise ValueError(f"va_clip: {nva_start:#x}+{size:#x} is not inside {va!r}")
    acct.written += 1
    tree.propagate_from(va)
    return t


def va_alloc(tree: RBTree, va: VmapArea, size: int, align: int, vstart: int, vend: int,
             spare: VmapArea | None = None):
    """mm/vmalloc.c va_alloc(): the aligned start in *va*, clipped out; ``(addr, fit)`` or
    ``(None, NOTHING_FIT)`` when it would pass *vend* (-ERANGE)."""
    nva = _align(va.va_start if va.va_start > vstart else vstart, align)
    if nva + size > vend:
        return None, NOTHING_FIT
    return nva, va_clip(tree, va, nva, size, spare)


def alloc_vmap_area_range(tree: RBTree, size: int, align: int, vstart: int, vend: int,
                          spare: VmapArea | None = None):
    """mm/vmalloc.c __alloc_vmap_area(): search and clip; ``(addr, fit)`` or ``(None, NOTHING_FIT)``."""
    # adjust_search_size() and va_alloc() (with _align()), inlined
    va = find_vmap_lowest_match(tree, size, align, vstart,
                                not (align <= PAGE_SIZE or (vend - vstart) == size))
    if va is None:
        return None, NOTHING_FIT
    a = va.va_start
    nva = (((a if a > vstart else vstart) + align - 1) & ~(align - 1)) & ULONG_MAX
    nve = nva + size
    if nve > vend:
        return None, NOTHING_FIT
    if a == nva and nve < va.va_end:          # va_clip()'s LE_FIT_TYPE case, copied
        va.va_start = nve
        tree.acct.written += 1
        tree.propagate_from(va)
        return nva, LE_FIT_TYPE
    return nva, va_clip(tree, va, nva, size, spare)


def predict_range(tree: RBTree, size: int, align: int, vstart: int, vend: int) -> int | None:
    """The address :func:`alloc_vmap_area_range` would return, without clipping."""
    adjust = adjust_search_size(size, align, vstart, vend)
    va = find_vmap_lowest_match(tree, size, align, vstart, adjust)
    if va is None:
        return None
    nva = _align(va.va_start if va.va_start > vstart else vstart, align)
    return None if nva + size > vend else nva


def merge_or_add_vmap_area(tree: RBTree, va: VmapArea) -> VmapArea:
    """mm/vmalloc.c __merge_or_add_vmap_area() (+ propagate for the augmented tree).

    Returns the area that now covers *va*'s range (a neighbour when merged; *va* is then freed)."""
    acct = tree.acct
    parent, is_left = tree.find_va_links(va)
    if parent is None:
        tree.link(va, None, True)
        if tree.augment:
            tree.propagate_from(va)
        return va
    nxt = parent if is_left else parent.next
    merged = False
    if nxt is not None and nxt.va_start == va.va_end:
        nxt.va_start = va.va_start
        acct.free_bytes += SIZEOF_VMAP_AREA
        acct.written += 1
        va = nxt
        merged = True
    prv = nxt.prev if nxt is not None else tree.last
    acct.visited += 2
    if prv is not None and prv.va_end == va.va_start:
        if merged:
            tree.unlink(va)
        prv.va_end = va.va_end
        acct.free_bytes += SIZEOF_VMAP_AREA
        acct.written += 1
        va = prv
        merged = True
    if not merged:
        tree.link(va, parent, is_left)
    if tree.augment:
        tree.propagate_from(va)
    return va
