"""The kernel's readers of the busy areas, as design operations that record their lock holds.

Three readers look at ``vmap_area`` objects while allocators run (docs/kernel-facts.md F1, F2,
F4; mm/vmalloc.c as of 6.18):

* ``vread_iter()`` (reads of ``/proc/kcore``): for each area it copies, ``find_vmap_area_exceed_
  addr_lock()`` takes and drops every node's ``busy.lock`` to find the lowest area ending above
  the address, re-takes the owner node's lock, and **copies the area while holding it**; then
  it goes on from ``va_end``.  Holes before an area are zero-filled under that area's lock.
  6.8 (one busy tree) took ``vmap_area_lock`` once for the whole read.
* ``vmalloc_info_show()`` (``/proc/vmallocinfo``): every node's busy list under its
  ``busy.lock`` (one hold per node, every line printed under it; with CONFIG_NUMA also a loop
  over each area's pages), then every node's lazy list under its ``lazy.lock``.
* ``vmalloc_dump_obj()``: ``spin_trylock`` of the address's node's ``busy.lock``, a lookup in
  that node only; gives up when the trylock fails.  (Hardened usercopy's
  ``check_heap_object()`` is ``find_vmap_area()``, which every design already has: its cost
  under each lookup protocol is :mod:`vmapsim.perf.lookup_cost`'s.)

The methods change nothing.  Besides the holds they record what the performance model prices
under each hold (:mod:`vmapsim.perf.readers`) as ``acct.events``: ``("copy_pages", (hold,
pages))``, ``("zero_bytes", (hold, bytes))``, ``("print_lines", (hold, lines))`` and
``("numa_pages", (hold, pages))``, where *hold* is the index of the hold in ``acct.holds``.
A trylock is a hold of kind ``"trylock"``: whether it succeeds is decided where time is known
(the performance model's event core), not here.

With ``rcu=True`` a reader walks under ``rcu_read_lock()`` instead of the locks (holds of kind
``"rcu"``): the plan of M22 for the maple-tree designs (``MT_FLAGS_USE_RCU`` on the busy trees,
``call_rcu``-deferred frees; "callers such as vread_iter and vmalloc_info_show" traverse the
tree without ``vn->busy.lock``).  Only designs whose busy index is a maple tree accept it
(``_reader_rcu_ok``); whether the copy of an area that may be freed meanwhile is safe is not
this module's question.  ``rfc-v1``'s bump-chunk areas are in no busy tree (patch 11), so these
readers do not see them.

Designs say where their busy areas are through three hooks: :meth:`_reader_shards` (the
lock-guarded indexes a walk visits, in order), :meth:`_reader_shard_of` (the one owning an
address) and :meth:`_reader_lazy_shards`; ``_reader_one_hold`` (6.8) keeps one lock for the
whole read.  Every design's ``busy`` index must offer ``find_exceed``, ``find`` and iteration
in address order (they do: see ``Linux618.new_busy_index``).
"""
from __future__ import annotations

from ..vmalloc.vmap_area import PAGE_SIZE

__all__ = ["ReaderMixin"]


class ReaderMixin:
    """``vread_iter``, ``vmalloc_info_show`` and ``vmalloc_dump_obj`` (see the module docstring)."""

    #: hold one lock for the whole vread_iter (6.8's vmap_area_lock)
    _reader_one_hold = False
    #: the busy index is a maple tree: readers may walk it under RCU (M22)
    _reader_rcu_ok = False

    def _reader_kind(self, rcu: bool, kind: str = "spin") -> str:
        if not rcu:
            return kind
        if not self._reader_rcu_ok:
            from ..errors import ParameterError
            raise ParameterError(f"design {self.name!r} indexes busy areas in rb-trees, which "
                                 "readers cannot walk under RCU; rcu=True needs a maple-tree design")
        return "rcu"

    # ---------------------------------------------------------------- hooks (6.18 layout)
    def _reader_shards(self):
        """``[(lock name, busy index)]`` in the order a walk visits them."""
        return [(vn.busy_lock, vn.busy) for vn in self.nodes]

    def _reader_shard_of(self, addr: int) -> int:
        """Position in :meth:`_reader_shards` of the index owning *addr* (``addr_to_node``)."""
        return (addr // self.zone) % self.nr_nodes

    def _reader_lazy_shards(self):
        """``[(lock name, lazy areas)]`` that ``show_purge_info()`` prints."""
        return [(vn.lazy_lock, vn.lazy) for vn in self.nodes]

    # ---------------------------------------------------------------- the readers
    def vread_iter(self, addr: int, count: int, cpu: int = 0, rcu: bool = False) -> int:
        """mm/vmalloc.c vread_iter(): read *count* bytes from *addr*; returns the bytes copied
        from areas (the rest is zero-filled)."""
        acct = self.acct
        kind = self._reader_kind(rcu)
        acct.begin("vread_iter", cpu)
        shards = self._reader_shards()
        end = addr + count
        copied = 0
        whole = None
        if self._reader_one_hold:
            whole = acct.lock(shards[0][0], kind)
        while addr < end:
            if whole is None:
                best = None
                for lock, index in shards:              # find_vmap_area_exceed_addr_lock()
                    h = acct.lock(lock, kind)
                    va = index.find_exceed(addr)
                    acct.unlock(h)
                    if va is not None and (best is None or va.va_start < best.va_start):
                        best = va
                if best is None:
                    break
                lock, index = shards[self._reader_shard_of(best.va_start)]
                h = acct.lock(lock, kind)
                va = index.find(best.va_start)
            else:
                h = whole
                va = shards[0][1].find_exceed(addr)
                if va is None:
                    break
            k = len(acct.holds) - 1 if whole is None else 0
            if end <= va.va_start:                       # finished_zero
                if whole is None:
                    acct.unlock(h)
                break
            data_end = va.va_end - PAGE_SIZE            # get_vm_area_size(): no guard page
            if addr < va.va_start:
                acct.events.append(("zero_bytes", (k, va.va_start - addr)))
                addr = va.va_start
            if addr < data_end:
                n = min(data_end, end) - addr
                acct.events.append(("copy_pages", (k, -(-n // PAGE_SIZE))))
                copied += n
            acct.visited += 1                            # va and its vm_struct are read
            if whole is None:
                acct.unlock(h)
            addr = va.va_end                             # next_va
        if whole is not None:
            acct.unlock(whole)
        return copied

    def vmalloc_info_show(self, cpu: int = 0, numa: bool = True, rcu: bool = False) -> int:
        """mm/vmalloc.c vmalloc_info_show(): every busy list under its lock, then every lazy
        list under its lock; returns the lines printed.  *numa*: CONFIG_NUMA's per-page loop
        of ``show_numa_info()`` under the busy lock."""
        acct = self.acct
        acct.begin("vmalloc_info_show", cpu)
        kind = self._reader_kind(rcu)
        lines = 0
        for lock, index in self._reader_shards():
            h = acct.lock(lock, kind)
            n = pages = 0
            for va in index:
                n += 1
                pages += (va.va_end - va.va_start) // PAGE_SIZE - 1
            acct.visited += n
            k = len(acct.holds) - 1
            acct.events.append(("print_lines", (k, n)))
            if numa:
                acct.events.append(("numa_pages", (k, pages)))
            acct.unlock(h)
            lines += n
        for lock, lazy in self._reader_lazy_shards():    # show_purge_info()
            h = acct.lock(lock)
            n = sum(1 for _ in lazy)
            acct.visited += n
            acct.events.append(("print_lines", (len(acct.holds) - 1, n)))
            acct.unlock(h)
            lines += n
        return lines

    def vmalloc_dump_obj(self, addr: int, cpu: int = 0, rcu: bool = False) -> bool:
        """mm/vmalloc.c vmalloc_dump_obj(): trylock the owner's lock, look *addr* up there
        only; True if an area holds it.  The hold is of kind ``"trylock"``."""
        acct = self.acct
        acct.begin("vmalloc_dump_obj", cpu)
        addr = (addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)  # PAGE_ALIGN(object)
        lock, index = self._reader_shards()[self._reader_shard_of(addr)]
        h = acct.lock(lock, self._reader_kind(rcu, "trylock"))
        va = index.find(addr)
        if va is not None:
            acct.visited += 1                            # vm->addr, caller, nr_pages
        acct.unlock(h)
        return va is not None
