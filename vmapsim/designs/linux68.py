"""``linux-6.8``: the allocator before the vmap-node series (v6.8, the historical baseline).

mm/vmalloc.c of v6.8, as far as address choice and locking go:

* one busy rb-tree + list (``vmap_area_root``) under ``vmap_area_lock``;
* the augmented free tree under ``free_vmap_area_lock`` -- the same search
  (``find_vmap_lowest_match``) and clip (``va_clip``) as 6.18 (:mod:`vmapsim.vmalloc.free_space`);
* lazily freed areas are *merged* into one purge rb-tree + list (``purge_vmap_area_root``) under
  ``purge_vmap_area_lock``; ``vmap_lazy_nr`` above ``lazy_max_pages()`` schedules the drain;
* ``__purge_vmap_area_lazy()``: detach the whole purge list, one TLB flush over its span, then
  merge every entry into the free tree under ``free_vmap_area_lock`` (``num_purged`` counts the
  merged lazy entries);
* no per-CPU nodes, no pools: every allocation searches the free tree.

Replay under this design applies each purge at its event (it has no staged purge), and its
``npurged`` and lazy list differ from a 6.18 trace's because lazy areas coalesce.
"""
from __future__ import annotations

from ..errors import ParameterError
from ..vmalloc.free_space import (
    alloc_vmap_area_range,
    merge_or_add_vmap_area,
    predict_range,
    va_clip,
)
from ..vmalloc.rbtree import RBTree
from ..vmalloc.vmap_area import PAGE_SHIFT, PAGE_SIZE, SIZEOF_VMAP_AREA, VmapArea
from .base import Choice, Design, IndexMemory
from .readers import ReaderMixin

__all__ = ["Linux68"]


class Linux68(ReaderMixin, Design):
    """The v6.8 allocator: one busy tree, one free tree, one merged lazy tree (see module docstring)."""

    name = "linux-6.8"
    sizeof_vmap_area = SIZEOF_VMAP_AREA
    fusable_record = True

    def __init__(self, **params):
        super().__init__(**params)
        acct = self.acct
        self.free = RBTree(True, acct)
        self.busy = RBTree(False, acct)
        self.purge = RBTree(False, acct)
        self.vmap_lazy_nr = 0
        self._preloaded = [False] * self.possible_cpus
        merge_or_add_vmap_area(self.free, VmapArea(1, (1 << 64) - 1))
        acct.begin("init", -1)

    def _slab(self, alloc=0, free=0):
        self.acct.outside(alloc, free)

    def _alloc_free_tree(self, size, align, vstart, vend, cpu):
        acct = self.acct
        if not self._preloaded[cpu]:
            self._slab(alloc=SIZEOF_VMAP_AREA)
            self._preloaded[cpu] = True
        h = acct.lock("free_vmap_area_lock")
        addr, fit = alloc_vmap_area_range(self.free, size, align, vstart, vend, VmapArea())
        if fit == 4:
            self._preloaded[cpu] = False
        acct.unlock(h)
        acct.events.append(("cond_resched", None))
        return addr

    def _insert_busy(self, va):
        h = self.acct.lock("vmap_area_lock")
        self.busy.insert(va)
        self.acct.unlock(h)

    def alloc_vmap_area(self, size, align=PAGE_SIZE, vstart=None, vend=None, cpu=0, va_flags=0):
        acct = self.acct
        acct.begin("alloc_vmap_area", cpu)
        vstart = self.vmalloc_start if vstart is None else vstart
        vend = self.vmalloc_end if vend is None else vend
        if size <= 0 or size % PAGE_SIZE or align <= 0 or align & (align - 1):
            raise ParameterError(f"alloc_vmap_area: size must be a positive multiple of {PAGE_SIZE} "
                                 f"and align a power of two, got size={size} align={align}")
        self._slab(alloc=SIZEOF_VMAP_AREA)
        addr = self._alloc_free_tree(size, align, vstart, vend, cpu)
        if addr is None:
            self._purge(cpu)
            addr = self._alloc_free_tree(size, align, vstart, vend, cpu)
            if addr is None:
                self._slab(free=SIZEOF_VMAP_AREA)
                return None
        self._insert_busy(VmapArea(addr, addr + size, va_flags, True))
        return addr

    # readers (vmapsim.designs.readers): one busy tree under vmap_area_lock, held for a whole
    # vread_iter(); the lazy areas are the purge tree under purge_vmap_area_lock
    _reader_one_hold = True

    def _reader_shards(self):
        return [("vmap_area_lock", self.busy)]

    def _reader_shard_of(self, addr):
        return 0

    def _reader_lazy_shards(self):
        return [("purge_vmap_area_lock", self.purge)]

    def find_vmap_area(self, addr, cpu=0):
        acct = self.acct
        acct.begin("find_vmap_area", cpu)
        h = acct.lock("vmap_area_lock")
        va = self.busy.find(addr)
        acct.unlock(h)
        return None if va is None else (va.va_start, va.va_end)

    def find_unlink_vmap_area(self, addr, cpu=0):
        acct = self.acct
        acct.begin("find_unlink_vmap_area", cpu)
        h = acct.lock("vmap_area_lock")
        va = self.busy.find(addr)
        if va is not None:
            self.busy.unlink(va)
        acct.unlock(h)
        return va

    def free_vmap_area_noflush(self, va, cpu=0):
        acct = self.acct
        acct.begin("free_vmap_area_noflush", cpu)
        self.vmap_lazy_nr += (va.va_end - va.va_start) >> PAGE_SHIFT
        h = acct.lock("purge_vmap_area_lock")
        merge_or_add_vmap_area(self.purge, va)
        acct.unlock(h)
        if self.vmap_lazy_nr > self.lazy_max_pages():
            acct.events.append(("schedule_work", "drain_vmap_work"))
            return True
        return False

    def _purge(self, cpu) -> int:
        acct = self.acct
        hm = acct.lock("vmap_purge_lock", "mutex")
        h = acct.lock("purge_vmap_area_lock")
        vas = self.purge.detach_all()
        acct.written += 1
        acct.unlock(h)
        n = 0
        if vas:
            acct.events.append(("tlb_flush", (vas[-1].va_end - vas[0].va_start) >> PAGE_SHIFT))
            h = acct.lock("free_vmap_area_lock")
            for va in vas:
                self.vmap_lazy_nr -= (va.va_end - va.va_start) >> PAGE_SHIFT
                merge_or_add_vmap_area(self.free, va)
                n += 1
            acct.unlock(h)
        acct.unlock(hm)
        return n

    def purge_vmap_area_lazy(self, full_pool_decay=False, cpu=0):
        self.acct.begin("purge_vmap_area_lazy", cpu)
        return self._purge(cpu)

    # ---------------------------------------------------------------- replay
    def load_state(self, busy, lazy):
        self.acct.begin("load_state", -1)
        for va in list(self.free):
            self.free.unlink(va)
        taken = []
        for s, e, flags in busy:
            self.busy.insert(VmapArea(s, e, flags & 0xFF, True))
            taken.append((s, e))
        for s, e, _node in lazy:
            merge_or_add_vmap_area(self.purge, VmapArea(s, e))
            self.vmap_lazy_nr += (e - s) >> PAGE_SHIFT
            taken.append((s, e))
        taken.sort()
        cur = 1
        for s, e in taken + [((1 << 64) - 1, (1 << 64) - 1)]:
            if s > cur:
                self.free.insert_augment(VmapArea(cur, s))
            cur = max(cur, e)
        self.acct.begin("load_state", -1)

    def predict_alloc(self, size, align, vstart, vend, cpu):
        addr = predict_range(self.free, size, align, vstart, vend)
        return Choice(addr, "free" if addr is not None else "fail", -1)

    def apply_alloc(self, addr, size, align, vstart, vend, cpu, va_flags=0):
        acct = self.acct
        acct.begin("alloc_vmap_area", cpu)
        end = addr + size
        block = self.free.find(addr)
        self._slab(alloc=SIZEOF_VMAP_AREA)
        if block is not None and block.va_end >= end:
            h = acct.lock("free_vmap_area_lock")
            va_clip(self.free, block, addr, size, VmapArea())
            acct.unlock(h)
            source = "free"
        else:
            source = "not-free:" + self._force(addr, end)
        self._insert_busy(VmapArea(addr, end, va_flags, True))
        return source

    def _force(self, addr, end) -> str:
        kinds = set()
        blk = self.free.find_exceed(addr)
        while blk is not None and blk.va_start < end:
            nxt = blk.next
            kinds.add("free")
            s, e = max(blk.va_start, addr), min(blk.va_end, end)
            va_clip(self.free, blk, s, e - s, VmapArea())
            blk = nxt
        for tree, kind in ((self.busy, "busy"), (self.purge, "lazy")):
            va = tree.find_exceed(addr)
            while va is not None and va.va_start < end:
                nxt = va.next
                kinds.add(kind)
                tree.unlink(va)
                if kind == "lazy":
                    self.vmap_lazy_nr -= (va.va_end - va.va_start) >> PAGE_SHIFT
                for s, e in ((va.va_start, addr), (end, va.va_end)):
                    if s < e:
                        if kind == "lazy":
                            merge_or_add_vmap_area(self.purge, VmapArea(s, e))
                            self.vmap_lazy_nr += (e - s) >> PAGE_SHIFT
                        else:
                            merge_or_add_vmap_area(self.free, VmapArea(s, e))
                va = nxt
        if not kinds:
            return "none"
        return kinds.pop() if len(kinds) == 1 else "mixed"

    def apply_free(self, addr, cpu, size_hint=None):
        va = self.find_unlink_vmap_area(addr, cpu)
        if va is not None and va.va_start == addr:
            self.free_vmap_area_noflush(va, cpu)
            return "ok"
        if va is not None:
            self._insert_busy(va)
            return "unknown"
        if size_hint:
            self._force(addr, addr + size_hint)
            self.free_vmap_area_noflush(VmapArea(addr, addr + size_hint), cpu)
        return "unknown"

    # ---------------------------------------------------------------- views
    def busy_areas(self):
        return [(va.va_start, va.va_end) for va in self.busy]

    def lazy_areas(self):
        return [(va.va_start, va.va_end) for va in self.purge]

    def free_ranges(self):
        return [(va.va_start, va.va_end) for va in self.free]

    def lazy_nr(self):
        return self.vmap_lazy_nr

    def index_memory(self):
        b, lz, f = self.busy.count, self.purge.count, self.free.count
        return IndexMemory(self.sizeof_vmap_area, b, lz, f, 0, (b + lz + f) * self.sizeof_vmap_area, 0)

    def validate(self):
        self.free.validate()
        self.busy.validate()
        self.purge.validate()
        spans = sorted([(va.va_start, va.va_end) for t in (self.free, self.busy, self.purge) for va in t])
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            assert e1 <= s2, f"{s1:#x}-{e1:#x} overlaps {s2:#x}-{e2:#x}"
        assert sum(e - s for s, e in spans) == (1 << 64) - 2, "address space not fully accounted for"
        lazy = sum((va.va_end - va.va_start) >> PAGE_SHIFT for va in self.purge)
        assert lazy == self.vmap_lazy_nr, f"vmap_lazy_nr {self.vmap_lazy_nr} != {lazy}"
