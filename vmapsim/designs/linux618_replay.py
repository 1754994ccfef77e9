"""Replay support of :class:`~vmapsim.designs.linux618.Linux618`: start state, applying the kernel's real
choices, and putting the model back in line when the trace shows something it did not expect.

Everything here is model bookkeeping, not kernel behaviour, except where a method says it
performs a kernel side effect (the misaligned pool head rotation of ``node_pool_del_va()``).
"""
from __future__ import annotations

from ..vmalloc.free_space import va_clip
from ..vmalloc.vmap_area import (
    MAX_VA_SIZE_PAGES,
    PAGE_SHIFT,
    PAGE_SIZE,
    SIZEOF_VMAP_AREA,
    VmapArea,
    encode_vn_id,
)
from .base import VN_UNKNOWN

__all__ = ["ReplayMixin"]


def _pool_idx(size: int) -> int:
    """mm/vmalloc.c size_to_va_pool() index, -1 without a pool (same rule as linux618)."""
    idx = (size - 1) // PAGE_SIZE
    return idx if idx < MAX_VA_SIZE_PAGES else -1


class ReplayMixin:
    """``load_state``, ``apply_alloc``, ``apply_free`` and the forced-state helpers."""

    # ------------------------------------------------------------------ copies of unknown-node areas
    # (Linux618.purge_push keeps a copy of a pre-trace area in every node's pool until an
    # allocation shows which node had it; these keep the copies consistent.)
    @staticmethod
    def _pool_push_sorted(lst, va) -> None:
        """Push *va*, keeping this purge's pushes in address order when a copy of an unknown-node
        area (pushed out of turn, with its owner's batch) is on top: the kernel pushes each node's
        batch in address order, so the highest address of the batch is the head."""
        gen = va.seq
        i = len(lst)
        while i > 0 and lst[i - 1].seq == gen and lst[i - 1].va_start > va.va_start \
                and (lst[i - 1].dual is not None or va.dual is not None):
            i -= 1
        lst.insert(i, va)

    def _resolve_dual(self, va: VmapArea) -> None:
        """*va* (a copy of an unknown-node area) was taken: drop its copies from the other pools."""
        idx = _pool_idx(va.va_end - va.va_start)
        self._ncopies -= len(va.dual)
        for c in va.dual:
            if c is va:
                continue
            for vn in self.nodes:
                lst = vn.pool.get(idx)
                if lst and c in lst:
                    lst.remove(c)
                    if not lst:
                        del vn.pool[idx]
                    break
            c.dual = None
        va.dual = None

    def _drop_copy(self, va: VmapArea) -> bool:
        """Remove copy *va* from its group; True if other copies remain (so nothing is freed)."""
        group = va.dual
        group.remove(va)
        va.dual = None
        self._ncopies -= 1
        if len(group) == 1:
            group[0].dual = None
            self._ncopies -= 1
        return bool(group)

    # ------------------------------------------------------------------ start state
    def load_state(self, busy, lazy):
        """Start state from a snapshot: busy areas (flags as given), lazy areas on their listed node,
        free = the complement over ``[1, ULONG_MAX)`` (``vmap_init_free_space()``), pools empty."""
        self.acct.begin("load_state", -1)
        taken = []
        for s, e, flags in busy:
            va = VmapArea(s, e, flags, True)
            self.nodes[self.addr_to_node_id(s)].busy.insert(va)
            taken.append((s, e))
        for s, e, node in lazy:
            eligible = self.vmalloc_start <= s and e <= self.vmalloc_end
            if not 0 <= node < self.nr_nodes:
                node = self.addr_to_node_id(s)
            va = VmapArea(s, e, encode_vn_id(node) if eligible and self.nr_nodes > 1 else 0, True)
            self._lazy_seq += 1
            va.seq = self._lazy_seq
            self.nodes[node].lazy.insert(va)
            self.vmap_lazy_nr += (e - s) >> PAGE_SHIFT
            taken.append((s, e))
        taken.sort()
        self._load_free(taken)
        self.acct.begin("load_state", -1)

    def _load_free(self, taken):
        """Free space = the complement of the sorted *taken* ranges over ``[1, ULONG_MAX)``
        (``vmap_init_free_space()``).  Hook for designs with another free-space index."""
        for va in list(self.free):
            self.free.unlink(va)
        cur = 1
        for s, e in taken + [((1 << 64) - 1, (1 << 64) - 1)]:
            if s > cur:
                self.free.insert_augment(VmapArea(cur, s))
            cur = max(cur, e)

    # ------------------------------------------------------------------ allocation
    def apply_alloc(self, addr, size, align, vstart, vend, cpu, va_flags=0):
        acct = self.acct
        acct.begin("alloc_vmap_area", cpu)
        end = addr + size
        source = None
        vn_id = 0
        if self._eligible(vstart, vend):
            node = cpu % self.nr_nodes
            vn = self.nodes[node]
            vn_id = encode_vn_id(node)
            idx = _pool_idx(size)
            lst = vn.pool.get(idx) if idx >= 0 else None
            if lst:
                head = lst[-1]
                if head.va_start & (align - 1):
                    self._node_pool_del_va(vn, size, align)          # the kernel's rotation
                elif head.va_start == addr:
                    self._node_pool_del_va(vn, size, align)
                    source = "pool"
                else:
                    pos = self._index_in(lst, addr)
                    if pos is not None:
                        # the kernel's pool was longer: what is in front of addr had been decayed
                        # (copies of unknown-node areas in front were simply never in this pool)
                        front = lst[pos + 1:]
                        taken = lst[pos]
                        del lst[pos:]
                        if not lst:
                            del vn.pool[idx]
                        if taken.dual is not None:
                            self._resolve_dual(taken)
                        front = [v for v in front if v.dual is None or not self._drop_copy(v)]
                        front = self._unpush_pending(vn, front)
                        mode = self.params["pool_resync"]
                        if mode == "free":
                            self._reclaim_list_global(sorted(front, key=lambda v: v.va_start))
                        elif mode == "limbo":
                            # not at the kernel's head: most likely taken by an allocation the
                            # trace does not show; held busy until its free (or a clash) says so
                            for v in front:
                                v.flags = VN_UNKNOWN
                                self.nodes[self.addr_to_node_id(v.va_start)].busy.insert(v)
                        elif front:
                            vn.pool.setdefault(idx, []).extend(front)
                        source = "pool-behind-head"
                    else:
                        self._drop_copies_from(vn, idx)
        if source is None:
            source = self._take_free(addr, end, cpu)
        va = VmapArea(addr, end, va_flags | vn_id, True)
        self._insert_busy(va)
        return source

    def watch_free(self, callback) -> None:
        """Replay only: from now on call ``callback(start, end)`` for every range given back to
        the free space (``_reclaim_list_global()``: purge, decay, a forced range's leftovers)."""
        inner = self._reclaim_list_global

        def reclaim(vas, *args, **kw):
            vas = list(vas)
            for va in vas:
                callback(va.va_start, va.va_end)
            return inner(vas, *args, **kw)
        self._reclaim_list_global = reclaim

    def _unpush_pending(self, vn, front):
        """Entries in front of the kernel's pool head that a purge still being pushed put there:
        the kernel had not pushed them yet (its purge_vmap_node() for this node runs later than
        the replay's estimate).  They go back to that purge's list, and the node's pushes wait
        for the end of the purge (or for the kernel to use one of them).  Returns the rest."""
        if not self._open_batches or not front:
            return front
        rest = []
        back: dict[int, list] = {}
        for v in front:
            batch = self._open_batches.get(-v.seq) if v.seq < 0 else None
            if batch is None:
                rest.append(v)
            else:
                back.setdefault(batch.gen, []).append(v)
        for gen, vas in back.items():
            batch = self._open_batches[gen]
            lst = batch.lists.setdefault(vn.id, [])
            lst.extend(vas)
            lst.sort(key=lambda v: v.va_start)
            batch.held.add(vn.id)
            batch.npurged -= len(vas)
            for v in vas:
                self.vmap_lazy_nr += (v.va_end - v.va_start) >> PAGE_SHIFT
                self.unpushed.append((v.va_start, vn.id, gen))
        return rest

    def _take_free(self, addr: int, end: int, cpu: int) -> str:
        """The kernel took ``[addr, end)`` from the free space: clip it (``"free"``), or force it
        if the model does not have it free (:meth:`force_range`).  Hook for other free indexes."""
        acct = self.acct
        block = self.free.find(addr)
        if block is not None and block.va_end >= end:
            if not self._preloaded[cpu]:
                self._slab(alloc=SIZEOF_VMAP_AREA)
                self._preloaded[cpu] = True
            self._slab(alloc=SIZEOF_VMAP_AREA)
            h = acct.lock("free_vmap_area_lock")
            fit = va_clip(self.free, block, addr, end - addr, VmapArea())
            if fit == 4:
                self._preloaded[cpu] = False
            acct.unlock(h)
            return "free"
        return self.force_range(addr, end)

    def _drop_copies_from(self, vn, idx):
        """The kernel's pool for this class did not give what the model's holds: the copies of
        unknown-node areas in it were not on this node."""
        lst = vn.pool.get(idx)
        if not lst:
            return
        keep = [v for v in lst if v.dual is None or not self._drop_copy(v)]
        if keep:
            lst[:] = keep
        else:
            del vn.pool[idx]

    @staticmethod
    def _index_in(lst, addr):
        for i in range(len(lst) - 1, -1, -1):
            if lst[i].va_start == addr:
                return i
        return None

    def locate(self, addr: int, end: int | None = None) -> str:
        """Where the model has *addr* (or the range): ``free``, ``busy``, ``lazy``, ``pool``, ``mixed``."""
        end = addr + 1 if end is None else end
        kinds = set()
        if self._free_overlaps(addr, end):
            kinds.add("free")
        for vn in self.nodes:
            for tree, kind in ((vn.busy, "busy"), (vn.lazy, "lazy")):
                va = tree.find_exceed(addr)
                while va is not None and va.va_start < end:
                    kinds.add(kind)
                    va = va.next
            for lst in vn.pool.values():
                for va in lst:
                    if va.va_start < end and addr < va.va_end:
                        kinds.add("pool")
        if not kinds:
            return "none"
        return kinds.pop() if len(kinds) == 1 else "mixed"

    def _free_overlaps(self, addr: int, end: int) -> bool:
        """Does any free range meet ``[addr, end)``?  (Hook for other free-space indexes.)"""
        blk = self.free.find_exceed(addr)
        return blk is not None and blk.va_start < end

    def _force_free(self, addr: int, end: int) -> None:
        """Remove every free piece inside ``[addr, end)``.  (Hook for other free-space indexes.)"""
        blk = self.free.find_exceed(addr)
        while blk is not None and blk.va_start < end:
            nxt = blk.next
            s, e = max(blk.va_start, addr), min(blk.va_end, end)
            va_clip(self.free, blk, s, e - s, VmapArea())
            blk = nxt

    def force_range(self, addr: int, end: int) -> str:
        """Remove ``[addr, end)`` from wherever the model has it (free tree, pools, lazy, busy) so
        the kernel's allocation can be applied.  Returns ``"not-free:<where>"``."""
        where = self.locate(addr, end)
        acct = self.acct
        self._force_free(addr, end)
        for vn in self.nodes:
            for idx in list(vn.pool):
                lst = vn.pool[idx]
                keep = [va for va in lst if not (va.va_start < end and addr < va.va_end)]
                if len(keep) != len(lst):
                    gone = [va for va in lst if va.va_start < end and addr < va.va_end]
                    lst[:] = keep
                    if not lst:
                        del vn.pool[idx]
                    for va in gone:
                        if va.dual is not None:
                            self._resolve_dual(va)
                    self._give_back_outside(gone, addr, end)
            for tree, lazy in ((vn.busy, False), (vn.lazy, True)):
                va = tree.find_exceed(addr)
                while va is not None and va.va_start < end:
                    nxt = va.next
                    tree.unlink(va)
                    if lazy:
                        self.vmap_lazy_nr -= (va.va_end - va.va_start) >> PAGE_SHIFT
                    self._give_back_outside([va], addr, end)
                    va = nxt
        acct.written += 1
        return "not-free:" + where

    def _give_back_outside(self, vas, addr, end):
        """The parts of removed areas outside ``[addr, end)`` become free."""
        out = []
        for va in vas:
            if va.va_start < addr:
                out.append(VmapArea(va.va_start, addr))
            if va.va_end > end:
                out.append(VmapArea(end, va.va_end))
        self._reclaim_list_global(sorted(out, key=lambda v: v.va_start))

    def reserve_range(self, addr: int, end: int) -> None:
        """Hold ``[addr, end)`` busy with an unknown node: the replay believes an allocation the
        trace has not (yet) shown took it."""
        self.force_range(addr, end)
        self.nodes[self.addr_to_node_id(addr)].busy.insert(VmapArea(addr, end, VN_UNKNOWN, True))

    def release_range(self, addr: int) -> bool:
        """Undo :meth:`reserve_range` (the busy area starting at *addr* goes back to free space)."""
        vn = self.nodes[self.addr_to_node_id(addr)]
        va = vn.busy.find(addr)
        if va is None or va.va_start != addr:
            return False
        vn.busy.unlink(va)
        self._reclaim_list_global([VmapArea(va.va_start, va.va_end)])
        return True

    # ------------------------------------------------------------------ free
    def apply_free(self, addr: int, cpu: int, size_hint: int | None = None) -> str:
        """The kernel lazily freed the area starting at *addr*: ``"ok"``; ``"unknown"`` when the model
        has no busy area there (then, if *size_hint* is given, the range is forced into a lazy
        tree with no vn_id); ``"ok-resized"`` is never used by 6.18 (sizes are exact)."""
        va = self.find_unlink_vmap_area(addr, cpu)
        if va is not None and va.va_start == addr:
            self.free_vmap_area_noflush(va, cpu)
            return "ok"
        if va is not None:
            # addr inside, not at the start of, a busy area: put it back and report
            self._insert_busy(va)
            return "unknown"
        if size_hint:
            end = addr + size_hint
            flags = VN_UNKNOWN
            for vn in self.nodes:                 # an untraced pool pop: its node is known
                lst = vn.pool.get(_pool_idx(size_hint))
                if lst and any(v.va_start == addr and v.dual is None for v in lst):
                    flags = encode_vn_id(vn.id)
                    break
            if self.locate(addr, end) != "none":
                self.force_range(addr, end)
            self.free_vmap_area_noflush(VmapArea(addr, end, flags, True), cpu)
        return "unknown"
