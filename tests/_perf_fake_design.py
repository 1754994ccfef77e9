"""A tiny allocator obeying the Design interface, for testing the performance model's core
without depending on the real designs.  Not a model of any kernel: one global
lock around a sorted free list, one busy lock, lazy frees purged under a mutex."""
import bisect

from vmapsim.designs.base import Design
from vmapsim.vmalloc.vmap_area import PAGE_SIZE


class FakeGlobal(Design):
    name = "fake-global"

    def __init__(self, **params):
        super().__init__(**params)
        self.next = self.vmalloc_start
        self.free = []            # sorted (start, end) ranges returned by purges
        self.busy = {}
        self.lazy = []
        self.lazy_pages = 0

    def alloc_vmap_area(self, size, align=PAGE_SIZE, vstart=None, vend=None, cpu=0, va_flags=0):
        a = self.acct
        a.begin("alloc_vmap_area", cpu)
        h = a.lock("free_vmap_area_lock")
        a.visited += max(1, len(self.free).bit_length())
        addr = None
        for i, (s, e) in enumerate(self.free):
            st = -(-s // align) * align
            if st + size <= e:
                del self.free[i]
                if st > s:
                    self.free.insert(i, (s, st))
                if st + size < e:
                    bisect.insort(self.free, (st + size, e))
                addr = st
                break
        if addr is None:
            st = -(-self.next // align) * align
            if st + size > self.vmalloc_end:
                a.unlock(h)
                return None
            addr, self.next = st, st + size
        a.written += 2
        a.unlock(h)
        h = a.lock("vmap_area_lock")
        a.visited += max(1, len(self.busy).bit_length())
        a.written += 1
        self.busy[addr] = size
        a.unlock(h)
        return addr

    def find_vmap_area(self, addr, cpu=0):
        a = self.acct
        a.begin("find_vmap_area", cpu)
        h = a.lock("vmap_area_lock")
        a.visited += max(1, len(self.busy).bit_length())
        a.unlock(h)
        for s, size in self.busy.items():
            if s <= addr < s + size:
                return (s, s + size)
        return None

    def find_unlink_vmap_area(self, addr, cpu=0):
        a = self.acct
        a.begin("find_unlink_vmap_area", cpu)
        h = a.lock("vmap_area_lock")
        a.visited += max(1, len(self.busy).bit_length())
        a.written += 2
        size = self.busy.pop(addr, None)
        a.unlock(h)
        return None if size is None else (addr, size)

    def free_vmap_area_noflush(self, va, cpu=0):
        a = self.acct
        a.begin("free_vmap_area_noflush", cpu)
        h = a.lock("purge_vmap_area_lock")
        a.visited += 1
        a.written += 1
        self.lazy.append(va)
        self.lazy_pages += va[1] // PAGE_SIZE
        a.unlock(h)
        return self.lazy_pages > self.lazy_max_pages()

    def purge_vmap_area_lazy(self, full_pool_decay=False, cpu=0):
        a = self.acct
        a.begin("purge_vmap_area_lazy", cpu)
        m = a.lock("vmap_purge_lock", "mutex")
        h = a.lock("purge_vmap_area_lock")
        batch, self.lazy, self.lazy_pages = self.lazy, [], 0
        a.visited += 1
        a.unlock(h)
        a.event("tlb_flush", sum(s for _, s in batch) // PAGE_SIZE)
        h = a.lock("free_vmap_area_lock")
        for s, size in batch:
            bisect.insort(self.free, (s, s + size))
            a.visited += max(1, len(self.free).bit_length())
            a.written += 1
            a.free_bytes += 72
        a.unlock(h)
        a.unlock(m)
        return len(batch)

    def busy_areas(self):
        return sorted((s, s + z) for s, z in self.busy.items())

    def lazy_nr(self):
        return self.lazy_pages

    def validate(self):
        spans = sorted([(s, s + z) for s, z in self.busy.items()] + list(self.free)
                       + [(s, s + z) for s, z in self.lazy])
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            assert e1 <= s2, "overlap"
