"""`struct vmap_area` and the x86-64 constants every allocator design shares.

A :class:`VmapArea` is one kernel ``struct vmap_area`` (include/linux/vmalloc.h): an address
range ``[va_start, va_end)`` (the end is exclusive and includes the guard page) plus ``flags``.
In the kernel the same object is, at any time, in exactly one place: the global free tree, a
node's busy tree, a node's lazy tree, a node's pool, or a purge list.  The rb-tree fields
(``rb_left``, ``rb_right``, ``rb_parent``, ``rb_red``), the address-ordered list links
(``prev``, ``next``: the kernel's ``va->list``) and ``subtree_max_size`` are used only
while the object is linked in an :class:`vmapsim.vmalloc.rbtree.RBTree`; like the kernel (where
``subtree_max_size`` shares a union with ``vm``) the object is reused across those places.

Constants are those of the traced machine (x86-64, 4-level page tables, 6.18.44, see
``data/traces/README.md``).  Sources: arch/x86/include/asm/pgtable_64_types.h (VMALLOC_START,
VMALLOC_END), mm/vmalloc.c (MAX_VA_SIZE_PAGES, vn_id encoding, lazy_max_pages).
"""
from __future__ import annotations

from .layout import C_TYPES, LAYOUTS

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
#: x86-64, 4-level paging, non-randomised vmalloc base (as seen in every trace's ``vstart``).
VMALLOC_START = 0xFFFFC90000000000
#: ``vend`` of every trace: VMALLOC_START + 32 TiB - 1 (the kernel compares ``addr + size > vend``).
VMALLOC_END = 0xFFFFE8FFFFFFFFFF
#: start of the module / execmem area (bpf_prog_pack, ftrace trampolines); never pool-eligible.
MODULES_VADDR = 0xFFFFFFFFC0000000
ULONG_MAX = (1 << 64) - 1

#: mm/vmalloc.c: pools exist for VAs of 1..MAX_VA_SIZE_PAGES pages (index ``(size-1)/PAGE_SIZE``).
MAX_VA_SIZE_PAGES = 256
#: mm/vmalloc.c vmap_init_nodes(): with more than one node an address zone is 16 pages.
VMAP_ZONE_PAGES = 16
#: mm/vmalloc.c vmap_init_nodes(): nr_vmap_nodes = clamp(num_possible_cpus(), 1, 128).
MAX_VMAP_NODES = 128

#: va->flags bits (mm/vmalloc.c).
VMAP_RAM = 0x1
VMAP_BLOCK = 0x2
VMAP_FLAGS_MASK = 0x3

#: sizeof(struct vmap_area) on 64-bit today (72: see :mod:`vmapsim.vmalloc.layout`).
SIZEOF_VMAP_AREA = LAYOUTS["rb-72"].size
#: sizeof(struct rb_node) and sizeof(struct list_head): the index part of a vmap_area.
SIZEOF_RB_NODE = C_TYPES["struct rb_node"][0]
SIZEOF_LIST_HEAD = C_TYPES["struct list_head"][0]


def encode_vn_id(node: int) -> int:
    """mm/vmalloc.c encode_vn_id(): node id stored in ``va->flags`` as ``(node + 1) << 8``."""
    return (node + 1) << 8


def decode_vn_id(flags: int) -> int:
    """mm/vmalloc.c decode_vn_id(): the node id in *flags*, or -1 when none is encoded."""
    return (flags >> 8) - 1


def fls(x: int) -> int:
    """include/asm-generic/bitops/fls.h: position of the most significant set bit (fls(0) == 0)."""
    return x.bit_length()


def lazy_max_pages(online_cpus: int) -> int:
    """mm/vmalloc.c lazy_max_pages(): ``fls(num_online_cpus()) * (32 MiB / PAGE_SIZE)`` pages."""
    return fls(online_cpus) * ((32 << 20) // PAGE_SIZE)


def nr_vmap_nodes_for(possible_cpus: int) -> int:
    """mm/vmalloc.c vmap_init_nodes(): ``clamp(num_possible_cpus(), 1, 128)`` (64-bit)."""
    return max(1, min(MAX_VMAP_NODES, possible_cpus))


class VmapArea:
    """One ``struct vmap_area``; also the node type of :class:`vmapsim.vmalloc.rbtree.RBTree`.

    ``seq`` and ``dual`` are model-only fields: ``seq`` is the order in which areas entered a lazy
    tree (replay uses it to decide which lazy areas a purge had already detached); ``dual`` links
    the copies of an area whose node is unknown and that therefore sits in every node's pool
    until the trace shows which node had it (see ``Linux618.purge_push``).
    """

    __slots__ = ("va_start", "va_end", "flags", "vm", "subtree_max_size",
                 "rb_left", "rb_right", "rb_parent", "rb_red", "prev", "next", "seq", "dual")

    def __init__(self, va_start: int = 0, va_end: int = 0, flags: int = 0, vm: bool = False):
        self.va_start = va_start
        self.va_end = va_end
        self.flags = flags
        self.vm = vm
        self.subtree_max_size = 0
        self.rb_left = self.rb_right = self.rb_parent = None
        self.rb_red = False
        self.prev = self.next = None
        self.seq = 0
        self.dual = None

    @property
    def size(self) -> int:
        return self.va_end - self.va_start

    def __reduce__(self):
        """Pickled without its tree and list links (a tree restores them, see
        :meth:`vmapsim.vmalloc.rbtree.RBTree.__getstate__`): following ``next`` would make the
        pickler recurse once per area."""
        return (VmapArea, (self.va_start, self.va_end, self.flags, self.vm),
                (self.subtree_max_size, self.rb_red, self.seq, self.dual))

    def __setstate__(self, state):
        self.subtree_max_size, self.rb_red, self.seq, self.dual = state

    def __repr__(self) -> str:
        return f"VmapArea({self.va_start:#x}-{self.va_end:#x}, flags={self.flags:#x})"
