"""``struct vmap_area`` field by field: the one table of its layouts and their C sizes (64-bit).

Today's struct (``include/linux/vmalloc.h``) is ``va_start``, ``va_end`` (8 + 8), ``rb_node``
(24), ``list`` (16), ``union { subtree_max_size; vm; }`` (8), ``flags`` (8): 72 bytes.  The
RFC's patch 04 removes ``rb_node`` and the ``subtree_max_size`` union member (48 bytes, the
series' pahole figure).  What a lockless lookup would add (an ``rcu_head`` for ``call_rcu``
freeing, a lock or refcount for the reader to stabilise the area) is laid out here with the C
rules (each field at a multiple of its alignment, the struct padded to its largest alignment),
so every size the project prints comes from the same arithmetic (docs/rcu-review.md section 3.3).

Objects per 4 KiB slab page are ``4096 // size`` (SLUB without debug metadata).  A
``SLAB_TYPESAFE_BY_RCU`` cache keeps its free pointer inside the object only when it is
created with ``freeptr_offset`` (placed over a field no reader uses while the object is free,
e.g. ``list``); without it SLUB stores the pointer after the object, 8 more bytes
(``mm/slub.c:calculate_sizes``).  In 6.18 a constructor also forces the pointer after the object
whatever ``freeptr_offset`` says (``s->ctor`` is one of ``calculate_sizes``' conditions).  The
``typesafe-refcount-56`` layout assumes ``freeptr_offset`` and no constructor, and says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["C_TYPES", "Field", "Layout", "LAYOUTS", "sizeof_vmap_area", "objects_per_slab_page"]

#: (bytes, alignment) of the C types involved, 64-bit, no lock debugging
C_TYPES = {
    "unsigned long": (8, 8),
    "pointer": (8, 8),
    "struct rb_node": (24, 8),          # __rb_parent_color, rb_right, rb_left
    "struct list_head": (16, 8),        # next, prev
    "struct rcu_head": (16, 8),         # callback_head: next, func
    "refcount_t": (4, 4),               # atomic_t refs
    "spinlock_t": (4, 4),               # raw_spinlock -> arch_spinlock_t (qspinlock)
    "spinlock_t (DEBUG_SPINLOCK)": (24, 8),  # + magic, owner_cpu (2 x 4) + owner pointer
    # PREEMPT_RT: spinlock_t is a struct rt_mutex_base (include/linux/spinlock_types.h):
    # raw_spinlock_t wait_lock (4, padded to 8), rb_root_cached waiters (16), owner pointer (8)
    "spinlock_t (PREEMPT_RT)": (32, 8),
    "seqcount_t": (4, 4),
}


@dataclass(frozen=True)
class Field:
    name: str
    ctype: str

    @property
    def size(self) -> int:
        return C_TYPES[self.ctype][0]

    @property
    def align(self) -> int:
        return C_TYPES[self.ctype][1]


@dataclass
class Layout:
    """One candidate ``struct vmap_area``: its fields, C size and padding, and what it is for."""

    name: str
    fields: tuple
    note: str = ""
    title: str = ""
    size: int = 0
    padding: int = 0
    offsets: dict = field(default_factory=dict)

    def __post_init__(self):
        off, maxal = 0, 1
        for f in self.fields:
            off = -(-off // f.align) * f.align
            self.offsets[f.name] = off
            off += f.size
            maxal = max(maxal, f.align)
        self.size = -(-off // maxal) * maxal
        self.padding = self.size - sum(f.size for f in self.fields)
        self.title = self.title or self.name

    @property
    def per_4k(self) -> int:
        return 4096 // self.size

    def bytes_for(self, areas: int) -> int:
        return areas * self.size


_UL, _P = "unsigned long", "pointer"
_TODAY = (Field("va_start", _UL), Field("va_end", _UL), Field("rb_node", "struct rb_node"),
          Field("list", "struct list_head"), Field("subtree_max_size|vm", _UL), Field("flags", _UL))
_RFC = (Field("va_start", _UL), Field("va_end", _UL), Field("list", "struct list_head"),
        Field("vm", _P), Field("flags", _UL))
_RCU = Field("rcu", "struct rcu_head")
_LOCK = Field("lock", "spinlock_t")
_REF = Field("refcnt", "refcount_t")


def _layouts(*rows) -> dict:
    return {r.name: r for r in rows}


#: every layout the project sizes, by the name a design's ``va_layout`` parameter takes
LAYOUTS: dict[str, Layout] = _layouts(
    Layout("rb-72", _TODAY, "include/linux/vmalloc.h", title="today (6.18)"),
    Layout("maple-48", _RFC, "RFC patch 04: rb_node and subtree_max_size removed",
           title="RFC patch 04"),
    Layout("rcu-head-64", _RFC + (_RCU,), "+ rcu_head for call_rcu freeing (the M23 plan)",
           title="+ rcu_head (M23: call_rcu)"),
    Layout("rcu-head-spinlock-72", _RFC + (_RCU, _LOCK),
           "+ rcu_head + spinlock_t: trylock-retry (M18 rule 2), DEAD as a bit in flags",
           title="+ rcu_head + spinlock_t"),
    Layout("rcu-head-refcount-72", _RFC + (_RCU, _REF),
           "+ rcu_head + refcount_t: the found area is pinned (VMA style)",
           title="+ rcu_head + refcount_t"),
    Layout("rcu-head-debug-spinlock-88", _RFC + (_RCU, Field("lock", "spinlock_t (DEBUG_SPINLOCK)")),
           "debug kernels (no lockdep)", title="+ rcu_head + spinlock_t, DEBUG_SPINLOCK"),
    Layout("rcu-head-rt-spinlock-96", _RFC + (_RCU, Field("lock", "spinlock_t (PREEMPT_RT)")),
           "PREEMPT_RT kernels (spinlock_t is an rt_mutex_base; no lock debugging)",
           title="+ rcu_head + spinlock_t, PREEMPT_RT"),
    Layout("union-refcount-56", _RFC + (_REF,),
           "rcu_head in a union with list (unused once the area goes to the slab) + refcount_t",
           title="rcu_head in union with list + refcount_t"),
    Layout("typesafe-refcount-56", _RFC + (_REF,),
           "SLAB_TYPESAFE_BY_RCU + refcount_t, no rcu_head; 56 B only with freeptr_offset over "
           "a field readers do not use (e.g. list) and, in 6.18, no constructor (else SLUB "
           "stores the free pointer after the object: 64 B)",
           title="SLAB_TYPESAFE_BY_RCU + refcount_t, freeptr_offset"),
    Layout("seqcount-48", _RFC, "per-node seqcount (copy-out): 0 B per area, the count lives in "
           "vmap_node", title="per-node seqcount (copy-out)"),
)


def sizeof_vmap_area(layout: str) -> int:
    """Bytes of one ``struct vmap_area`` in *layout* (a key of :data:`LAYOUTS`)."""
    from ..params import check_choice
    return LAYOUTS[check_choice("va_layout", layout, LAYOUTS)].size


def objects_per_slab_page(layout: str, page: int = 4096) -> int:
    """``vmap_area`` objects in one slab page of *page* bytes."""
    return page // sizeof_vmap_area(layout)
