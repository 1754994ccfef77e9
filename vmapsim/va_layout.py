"""``sizeof(struct vmap_area)`` on 64-bit for each layout the designs imply.

The arithmetic of ``/work/shared/design/rcu.md`` section 3.3, field by field (8-byte words):

* ``rb-72`` -- today (include/linux/vmalloc.h): ``va_start``, ``va_end`` (16) + ``rb_node`` (24)
  + ``list_head`` (16) + ``union { subtree_max_size; vm; }`` (8) + ``flags`` (8) = 72 B.
* ``maple-48`` -- RFC patch 04: the ``rb_node`` and the ``subtree_max_size`` union member are
  gone: ``va_start``, ``va_end``, ``list``, ``vm``, ``flags`` = 48 B (pahole figure of the series).
* ``rcu-head-64`` -- Pranjal's RCU plan (M23): every ``vmap_area`` freed with
  ``call_rcu(&va->rcu, ...)`` needs a ``struct rcu_head`` (16): 64 B.
* ``rcu-head-refcount-72`` -- plus a refcount for Wilcox's "trylock the object" (4, padded to
  8): 72 B, the whole saving of patch 04 is gone.
* ``union-refcount-56`` -- ``rcu_head`` in a union with ``list`` (the list linkage is unused
  once the object goes back to the slab) plus the refcount: 56 B.
* ``typesafe-refcount-56`` -- ``SLAB_TYPESAFE_BY_RCU`` (no ``rcu_head``) plus the refcount
  (``freeptr_offset`` keeps the slab's free pointer off the checked fields): 56 B.

Objects per 4 KiB slab page are ``4096 // size`` (SLUB, no debug metadata).
"""
from __future__ import annotations

from .params import check_choice

__all__ = ["VA_LAYOUTS", "sizeof_vmap_area", "objects_per_slab_page"]

#: layout -> (bytes, what it is)
VA_LAYOUTS = {
    "rb-72": (72, "today: va_start, va_end, rb_node, list, {subtree_max_size|vm}, flags"),
    "maple-48": (48, "RFC patch 04: rb_node and subtree_max_size removed"),
    "rcu-head-64": (64, "+ rcu_head for call_rcu freeing (M23 plan)"),
    "rcu-head-refcount-72": (72, "+ rcu_head + refcount (trylock of the found object, M18)"),
    "union-refcount-56": (56, "rcu_head in a union with list, + refcount"),
    "typesafe-refcount-56": (56, "SLAB_TYPESAFE_BY_RCU + refcount, no rcu_head"),
}


def sizeof_vmap_area(layout: str) -> int:
    """Bytes of one ``struct vmap_area`` in *layout* (see :data:`VA_LAYOUTS`)."""
    return VA_LAYOUTS[check_choice("va_layout", layout, VA_LAYOUTS)][0]


def objects_per_slab_page(layout: str, page: int = 4096) -> int:
    """``vmap_area`` objects in one slab page of *page* bytes."""
    return page // sizeof_vmap_area(layout)
