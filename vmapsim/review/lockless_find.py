"""The proposed lockless ``find_vmap_area()`` examined: its callers and what each protocol costs.

The data and experiments behind notebook ``03-lockless-find`` (the thread's question 3,
Pranjal Arya's plan in M23).

:data:`KERNEL_CALLERS`
    who reaches a ``vmap_area`` by address, whether it owns the area, what it reads
    afterwards, what protects it today and what the explorer says about today's code and about
    M23's plan for it.  Checked against docs/kernel-facts.md F1, F2, F4 (7.3.4 source and the
    6.18.44 disassembly) and a linux-next ``mm/vmalloc.c`` of the 6.15+ era (``remove_vm_area``, ``vfree``, ``find_vm_area``, ``vrealloc_node_align``,
    ``remap_vmalloc_range_partial``, ``vread_iter``, ``vmalloc_dump_obj``,
    ``vmalloc_info_show``, ``vmalloc_to_page``), include/linux/vmalloc.h (the inline
    ``find_vm_area`` users), mm/usercopy.c (``check_heap_object``) and mm/kasan/report.c
    (``print_address_description``: commit 6ee9b3d84775 of July 2025 removed
    ``kasan_find_vm_area()`` for a possible deadlock; Marco Elver's follow-up 6ade153349c6,
    "kasan: use vmalloc_dump_obj() for vmalloc error reports", restored the information
    through ``vmalloc_dump_obj()``; both were backported to stable).  Other
    ``find_vm_area()`` users (arch ``set_memory_*``, DMA remap helpers, ioremap) are listed
    in docs/kernel-vmalloc.md section 8 and were not re-audited here.

:func:`protocol_costs`
    each lookup protocol of :mod:`vmapsim.explore.lookup` run on a real maple tree through a
    counting context: rcu sections, tree nodes visited, atomic read-modify-writes split by
    the cache line they hit (the node-wide ``busy.lock`` that every lookup and every writer
    of that node shares, or the area's own line), and release stores (a native qspinlock
    unlock is ``smp_store_release`` of the locked byte, not an atomic RMW; the paravirt unlock
    is a ``cmpxchg``, so on a paravirt guest each unlock is one more RMW).  These are
    operation counts, not times: turning them into nanoseconds under contention is the
    performance model's job.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from ..explore.lookup import PROTOCOLS, SequentialEnv, make_protocol, vmap_area_fields
from ..params import check_choice, check_int
from .figures import finished

__all__ = ["Caller", "KERNEL_CALLERS", "M23_CLAIMED", "ProtocolCost", "protocol_costs", "CountingEnv",
           "plot_protocol_costs", "WriterCost", "writer_cost"]


@dataclass(frozen=True)
class Caller:
    """One way the kernel reaches a ``vmap_area`` by address.

    ``today`` is what protects it in 6.18 (docs/kernel-facts.md F1, F2, F4); ``today_verdict``
    what the explorer says about 6.18's own code for this caller; ``lockless_verdict`` what it
    says about M23's plan; ``scenario`` the catalogue ids behind both."""

    name: str
    where: str
    lookup: str
    owner: str            # "yes", "no", "writer"
    uses: str
    today: str
    today_verdict: str
    lockless_verdict: str
    scenario: str


KERNEL_CALLERS = (
    Caller("vfree / vunmap / vm_unmap_ram", "mm/vmalloc.c:remove_vm_area",
           "find_unlink_vmap_area (find + erase)", "writer",
           "unlinks the area, then frees pages, vm->pages and vm",
           "busy.lock for find + erase", "a locked writer",
           "not a lookup: stays a locked writer", "-"),
    Caller("find_vm_area by the allocation's owner", "mm/vmalloc.c:find_vm_area; "
           "vrealloc_node_align, remap_vmalloc_range_partial, set_vm_flush_reset_perms, "
           "is_vm_area_hugepages", "find_vmap_area -> va->vm", "yes",
           "vm fields (size, flags, requested_size, pages)",
           "busy.lock during the walk only; the kernel-doc makes the caller keep it valid",
           "safe: ownership keeps the area",
           "busy-tree walk: safe without any object lock or call_rcu (maple nodes are "
           "RCU-freed); the series' bump-chunk fast path is not (C5-fast)",
           "C2, C2-kfree, C5-fast"),
    Caller("hardened usercopy", "mm/usercopy.c:check_heap_object", "find_vmap_area", "no",
           "va_end (va_start on abort) after the lookup returned",
           "busy.lock during the walk only; va_end is read after the unlock (F2)",
           "if the buffer is freed and purged meanwhile: use-after-free when the area merges "
           "into the free tree; a wrong bound when it becomes a free-range descriptor; the "
           "same bounds when a pool recycles it",
           "the same window as today; call_rcu only adds a grace period the reader does not "
           "hold, and does not cover the descriptor exit", "C0, C0-freetree, C0-pool, C1, "
           "C1-freetree"),
    Caller("KASAN report (6ade153349c6), mem_dump_obj", "mm/kasan/report.c:print_address_description "
           "-> mm/vmalloc.c:vmalloc_dump_obj", "spin_trylock(busy.lock) + __find_vmap_area",
           "no", "vm->addr, caller, nr_pages copied under the lock", "trylock, copy-out (F4)",
           "safe (copies under the lock)",
           "not affected: it does not call find_vmap_area", "-"),
    Caller("/proc/vmallocinfo", "mm/vmalloc.c:vmalloc_info_show", "busy list walk", "no",
           "vm->caller, nr_pages, pages[] (NUMA counts)", "busy.lock per node while printing (F4)",
           "safe (use under the lock)",
           "if made lockless as M22 proposes: vm_struct is kfree()d at once, UAF even inside "
           "RCU", "C3"),
    Caller("/proc/kcore", "mm/vmalloc.c:vread_iter", "find_vmap_area_exceed_addr_lock",
           "no", "the mapping itself (page by page), vm->flags",
           "busy.lock held while copying (F4)", "safe (use under the lock)",
           "if made lockless as M22 proposes: mapping and pages freed under the reader", "H"),
    Caller("vmalloc_to_page / vmalloc_to_pfn", "mm/vmalloc.c:vmalloc_to_page",
           "kernel page-table walk", "n/a", "the PTE", "none (no vmap_area lookup)",
           "not a lookup", "not affected: never calls find_vmap_area", "-"),
)

#: M23: "find_vmap_area() which is called on every vfree(), vmalloc_to_page(), vmalloc_to_pfn()"
M23_CLAIMED = ("vfree", "vmalloc_to_page", "vmalloc_to_pfn")


class CountingEnv(SequentialEnv):
    """:class:`~vmapsim.explore.lookup.SequentialEnv` that also counts unlocks and attributes every
    atomic read-modify-write to the object it hits (``rmw:<kind>``: ``vmap_node`` for the
    busy lock and sequence count, ``vmap_area`` for the area's lock or refcount).  An unlock
    is a release store on the lock's line (``rel:<kind>``): x86-64's native qspinlock unlock
    (``queued_spin_unlock``: ``smp_store_release`` of the locked byte) is no RMW; the paravirt
    unlock is a ``cmpxchg`` (config-dependent, not counted as one here)."""

    def _rmw(self, obj):
        self.counts[f"rmw:{getattr(obj, 'kind', '') or 'other'}"] += 1

    def spin_lock(self, obj, field="lock"):
        self._rmw(obj)
        return super().spin_lock(obj, field)

    def spin_unlock(self, obj, field="lock"):
        self.counts[f"rel:{getattr(obj, 'kind', '') or 'other'}"] += 1
        self.counts["spin_unlock"] += 1
        return super().spin_unlock(obj, field)

    def spin_trylock(self, obj, field="lock"):
        self._rmw(obj)
        return super().spin_trylock(obj, field)

    def refcount_inc_not_zero(self, obj, field="refcnt"):
        self._rmw(obj)
        return super().refcount_inc_not_zero(obj, field)

    def refcount_dec_and_test(self, obj, field="refcnt"):
        self._rmw(obj)
        return super().refcount_dec_and_test(obj, field)


@dataclass
class ProtocolCost:
    """Per-lookup operation counts of one protocol (``find`` + ``put``, no contention)."""

    protocol: str
    lookups: int
    rcu_sections: float
    tree_nodes: float
    node_rmw: float       # atomic RMWs on vn's line (busy.lock): shared by every lookup and writer
    area_rmw: float       # atomic RMWs on the area's own line
    reader_stores: float  # plain stores by the reader (none in any protocol here)
    reads: float
    busy_lock_held: bool  # does the caller's use run under busy.lock?
    pin: str
    node_release: float = 0.0   # release stores (unlocks) on vn's line
    area_release: float = 0.0   # release stores (unlocks) on the area's line

    def cells(self):
        return (self.protocol, f"{self.rcu_sections:g}", f"{self.tree_nodes:g}",
                f"{self.node_rmw:g}+{self.node_release:g}",
                f"{self.area_rmw:g}+{self.area_release:g}", f"{self.reads:g}", self.pin)

    HEADER = ("protocol", "rcu", "nodes", "busy.lock RMW+rel", "area RMW+rel", "reads", "pin")


def _tree(areas: int):
    from ..explore.rcu import Obj
    from ..maple import MapleTree

    tree = MapleTree(rcu=True)
    objs = []
    for k in range(areas):
        s = 0x100000 + k * 0x10000
        va = Obj(f"V{k}", vmap_area_fields(s, s + 0x1000, None), kind="vmap_area")
        tree.store_range(s, s + 0xfff, va)
        objs.append(va)
    return tree, objs


def protocol_costs(areas: int = 1000, lookups: int = 200, seed: int = 0,
                   protocols=PROTOCOLS) -> list[ProtocolCost]:
    """Average per-lookup counts of each protocol's ``find`` + ``put`` over ``lookups``
    lookups of random live areas in a maple tree of ``areas`` areas (no writer running)."""
    import random

    from ..explore.rcu import Obj

    areas = check_int("areas", areas, lo=1, hi=200_000)
    lookups = check_int("lookups", lookups, lo=1, hi=1_000_000)
    for p in protocols:
        check_choice("protocol", p, PROTOCOLS)
    tree, objs = _tree(areas)
    vn = Obj("vn", {"busy_lock": None, "seq": 0}, kind="vmap_node")
    rng = random.Random(seed)
    picks = [rng.randrange(areas) for _ in range(lookups)]
    out = []
    for name in protocols:
        proto = make_protocol(name)
        env = CountingEnv()
        pins = set()
        for i in picks:
            va = objs[i]
            found = proto.find(env, vn, tree, va.fields["va_start"] + 0x10)
            if found is None or (found.va is not None and found.va is not va):
                raise RuntimeError(f"{name}: lookup of a live area failed")
            pins.add(found.pin)
            proto.put(env, vn, found)
        c = env.counts
        n = float(lookups)
        pin = "/".join(sorted(pins))
        out.append(ProtocolCost(name, lookups, c["rcu_sections"] / n, c["tree_nodes"] / n,
                                c["rmw:vmap_node"] / n, c["rmw:vmap_area"] / n,
                                c["writes"] / n, c["reads"] / n, pin == "busy_lock", pin,
                                c["rel:vmap_node"] / n, c["rel:vmap_area"] / n))
    return out


def plot_protocol_costs(rows: list[ProtocolCost]):
    """Grouped bars: tree nodes visited and writes to a shared line per lookup (atomic RMWs
    plus release stores), by the line they hit."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    x = np.arange(len(rows))
    w = 0.25
    ax.bar(x - w, [r.tree_nodes for r in rows], w, label="maple nodes visited")
    ax.bar(x, [r.node_rmw + r.node_release for r in rows], w,
           label="RMWs + release stores on vn->busy.lock (node-wide)")
    ax.bar(x + w, [r.area_rmw + r.area_release for r in rows], w,
           label="RMWs + release stores on the area's line")
    ax.set_xticks(x, [r.protocol for r in rows], fontsize=8)
    ax.set_ylabel("per lookup")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return finished(fig)


# --------------------------------------------------------------------------- writer-side cost

@dataclass
class WriterCost:
    """What vfree() and vmalloc() do to ``vn->busy.mt`` on a real trace, per busy-tree store.

    From a replay of ``trace`` under ``rfc-maple-busy`` (6.18 with per-node busy maple trees,
    addresses 6.18's by construction) with the busy trees in RCU mode or not.  ``ops[kind]``
    for ``kind`` in ``insert`` (alloc_vmap_area's busy insert) and ``erase`` (vfree's
    ``find_unlink_vmap_area``, one ``mas_erase``): ``count``, ``replaced`` (nodes the store
    took out of the tree: each goes to ``kfree_rcu`` in 6.18, ``ma_free_rcu``, F5),
    ``allocated`` (new nodes), and ``types`` (store type -> count, the kernel's
    ``mas_wr_store_type`` names).  ``tree`` describes the busy trees the stores ran on (per
    ``vmap_node``, sampled at every store): ``height`` (min, max), ``nodes`` (mean, max)
    and ``trees`` (how many busy trees the design kept).

    What it is not: the series at its last patch, where bump-chunk areas never enter
    ``busy.mt`` (patch 11), so the busy-tree stores there are those of the non-bump
    allocations only; and the counts come from this project's maple-tree port (node layouts
    and heights checked against the kernel's build, store types per operation not)."""

    trace: str
    rcu: bool
    allocs: int
    agreement: float
    ops: dict
    tree: dict = None

    def per_op(self, kind: str, key: str = "replaced") -> float:
        o = self.ops[kind]
        return o[key] / o["count"] if o["count"] else 0.0

    def rows(self):
        """``(store, count, replaced/op, allocated/op, store types)`` per kind."""
        out = []
        for kind in ("insert", "erase"):
            o = self.ops[kind]
            types = ", ".join(f"{t} {100 * n / o['count']:.0f}%" for t, n in
                              sorted(o["types"].items(), key=lambda kv: -kv[1]) if o["count"])
            out.append((kind, o["count"], round(self.per_op(kind), 3),
                        round(self.per_op(kind, "allocated"), 3), types))
        return out

    HEADER = ("busy-tree store", "count", "nodes replaced / op", "nodes allocated / op",
              "store types")


@functools.lru_cache(maxsize=16)
def writer_cost(trace: str = "mixed-s61", rcu: bool = True) -> WriterCost:
    """Replay ``trace`` (a shipped capture name) under ``rfc-maple-busy`` with ``rcu`` busy
    trees and count, for every busy insert and every busy erase the hot path makes, the maple
    nodes it replaces and allocates and its store type (see :class:`WriterCost`).  Stores the
    replay makes for its own bookkeeping (areas of unknown origin) are not counted."""
    from collections import Counter

    from ..designs import mt_index
    from ..traces.captures import trace_dir, trace_names
    from ..traces.replay import replay

    check_choice("trace", trace, trace_names())
    ops = {k: {"count": 0, "replaced": 0, "allocated": 0, "types": Counter()}
           for k in ("insert", "erase")}
    cls = mt_index.MapleAreaTree
    orig = cls.store_linked, cls.erase_linked
    shape = {"hmin": 99, "hmax": 0, "nodes": 0, "nmax": 0, "n": 0, "trees": set()}

    def counted(kind, fn):
        def wrapper(self, va):
            st = self.mt.stats
            a, f = st.allocated, st.freed
            fn(self, va)
            o = ops[kind]
            o["count"] += 1
            o["replaced"] += st.freed - f
            o["allocated"] += st.allocated - a
            o["types"][self.mt.last_store_type] += 1
            h, n = self.mt.height(), self.mt.node_count()
            shape["hmin"], shape["hmax"] = min(shape["hmin"], h), max(shape["hmax"], h)
            shape["nodes"] += n
            shape["nmax"] = max(shape["nmax"], n)
            shape["n"] += 1
            shape["trees"].add(id(self))
        return wrapper

    cls.store_linked = counted("insert", orig[0])
    cls.erase_linked = counted("erase", orig[1])
    try:
        r = replay(trace_dir(trace), "rfc-maple-busy", rcu=bool(rcu))
    finally:
        cls.store_linked, cls.erase_linked = orig
    for o in ops.values():
        o["types"] = dict(o["types"])
    tree = {"height": (shape["hmin"], shape["hmax"]),
            "nodes": (round(shape["nodes"] / max(1, shape["n"]), 1), shape["nmax"]),
            "trees": len(shape["trees"])}
    return WriterCost(trace, bool(rcu), r.allocs, r.agreement, ops, tree)
