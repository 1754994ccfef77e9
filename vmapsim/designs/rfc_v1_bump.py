"""The per-CPU bump-chunk overlay of the RFC (patches 10-12), as the posted code does it.

Read from patches 11 and 12 (``vmap_bump_alloc``, ``vmap_bump_refill``, ``vmap_bump_unlink``,
``vmap_chunk_lookup``, ``vmap_bump_eligible`` and the changes to ``alloc_vmap_area``,
``find_vmap_area``, ``find_unlink_vmap_area`` and ``reclaim_list_global``):

* eligibility (``vmap_bump_eligible``): the standard range ``[VMALLOC_START, VMALLOC_END]``,
  page-aligned size up to half a chunk (32 MB), ``0 < align <= 32 MB``.  It is tried **before**
  the per-node pools: an eligible request reaches the pools only when the bump path fails.
* fast path (``preempt_disable()``, no lock): ``ALIGN(chunk->bump, align)``; if it fits, bump
  forward, write the area into ``page_va[]`` (one pointer per page) and add the pages to
  ``alloced``.  The area gets ``VA_FROM_BUMP_CHUNK`` (0x4) and the vn_id of
  ``addr_to_node_id(addr)`` (not of the CPU), and is **not** inserted into a busy tree.
* refill: ``kvzalloc()`` of the descriptor (``struct vmap_bump_chunk`` with ``page_va[16384]``:
  131 136 B; kmalloc serves that as an order-6 page allocation, 256 KiB, and kvmalloc falls back
  to ``vmalloc()`` when it fails), then ``__alloc_vmap_area(64 MB, PAGE_SIZE)`` under
  ``free_vmap_area_lock`` (an ``XA_ZERO_ENTRY`` over the whole chunk in the occupied tree), list
  insert under ``vmap_bump_chunks_lock``, the chunk becomes this CPU's current one.  The old chunk
  stays on the list until its last area is unlinked.
* lookup (``vmap_chunk_lookup``): a global ``[lo, hi)`` fast reject, this CPU's current chunk,
  then an RCU walk of the chunk list; ``page_va[]`` gives the area.
* unlink (at ``find_unlink_vmap_area()``, i.e. at ``vfree()``, before the lazy free): clear
  ``page_va[]``, subtract the pages; if ``alloced`` reaches 0 and the chunk is not its owner's
  current chunk, remove it from the list and **erase its whole range from the occupied tree at
  once**, then ``kvfree_rcu()`` the descriptor.
* purge: the areas go through the lazy list like any other; ``purge_vmap_node()`` pushes them
  into pools when their vn_id is valid (it is) and they have a pool size; ``reclaim_list_global()``
  skips the occupied erase for ``VA_FROM_BUMP_CHUNK`` areas.

Three consequences the model counts (``counts``):

* ``leaked_chunks``: a refill that replaces a chunk whose areas are all unlinked already
  (``alloced == 0``) leaves it on the list for ever -- only an unlink releases a chunk, and no
  area of it is left to unlink.  With alloc/free pairs (``fix_size_alloc_test``) that is every
  chunk: 64 MB of address space and a 256 KiB descriptor per 8192 allocations per CPU.
* ``release_exposed_pages``: a chunk is released at the unlink of its last area, while that area
  (and possibly others) still waits on a lazy list for its TLB flush; the series makes the range
  free at once, so it can be handed out again before the flush.  ``release_pooled_pages`` /
  ``release_live_pages``: pool entries / busy areas inside the chunk that the whole-range erase
  would drop from the occupied tree (a later allocation can then take a range that is in use).
  **Model deviation** to stay consistent: the model erases only the parts of the chunk nothing
  else occupies and releases the rest when those areas leave (``split_reclaim``); the counters
  say how much the series would have exposed.
* ``kvzalloc_vmalloc_fallback`` / ``max_depth`` / ``stack_overflow``: with ``kvzalloc_fail`` > 0
  the descriptor's kmalloc fails at that rate and kvmalloc falls back to ``vmalloc()`` of 34
  pages, which is itself bump-eligible and, if the current chunk cannot hold it, refills again:
  the recursion of Rezki's splat (M16).  ``stack_levels`` (an estimate, not a measurement) is
  the nesting depth taken as the end of the 16 KiB stack; the allocation then fails and the
  overflow is counted (the kernel panics).

Knobs for the review of the splats (notebook ``07-splats``; the defaults keep the behaviour
above):

* ``release`` -- ``"consistent"`` (default: the model deviation above) or ``"series"``: the
  drained chunk's whole ``[base, limit)`` is erased from the occupied tree at once, as patch
  11's ``vmap_bump_unlink()`` does (``occupied_mt_erase_range_locked(chunk->base,
  chunk->limit)``), and ``reclaim_list_global()`` skips the occupied erase of every
  ``VA_FROM_BUMP_CHUNK`` area whatever its chunk's state (patch 11's ``goto queue_release``).
  Pool entries, recycled areas and lazy areas inside the chunk then lose their reservation;
  the design no longer validates (that is the point).
* ``fail_mode`` -- how the descriptor's kmalloc attempt fails at rate ``kvzalloc_fail``:
  ``"independent"`` (each attempt draws) or ``"persistent"`` (the outermost refill draws once
  and every nested attempt of the same chain gets the same answer: memory with no free
  order-6 block stays that way for longer than the microseconds a chain takes; kvmalloc's
  kmalloc attempt does not reclaim or compact for sizes above a page, mm/slub.c
  ``kmalloc_gfp_adjust``).
* ``guard`` -- the fix under review for the recursion: ``"none"`` (posted), ``"no-fallback"``
  (the descriptor comes from kmalloc only; if that fails the refill fails and the request
  takes the tree path) or ``"nested-tree"`` (the fallback vmalloc made from inside a refill
  does not take the bump path -- a per-task recursion guard, or a bump-ineligible range for
  that one call; it takes the tree path, so the nesting stops at depth 1).
* :meth:`inject_refill_failure` -- fault injection: the next *n* refills get NULL from
  ``kvzalloc()`` (kmalloc and the vmalloc fallback both failed: memory pressure, or syzkaller's
  fail-nth), so the request takes the tree path and may be served from a per-node pool.
* :meth:`inject_migration` -- a scheduling event, not a failure: after the next successful
  refill the task runs its second ``vmap_bump_alloc()`` on another CPU (patches 11-12 refill
  with preemption enabled and ``vmap_bump_alloc()`` starts with a ``GFP_KERNEL``
  ``kmem_cache_alloc_node()``, so a task can be preempted or migrated between the refill and
  the retry).  If that CPU's current chunk is NULL or too full, the retry returns NULL and the
  request falls through to ``node_alloc()``, whose pool is chosen by the CPU it now runs on
  (:attr:`cpu_after`).  Nothing has failed.
"""
from __future__ import annotations

import random
from bisect import bisect_right, insort
from collections import Counter

from ..params import check_choice, check_float, check_int
from ..vmalloc.vmap_area import PAGE_SHIFT, PAGE_SIZE, VmapArea, encode_vn_id
from .base import Hold
from .mt_index import align_up

__all__ = ["BumpChunks", "CHUNK_SIZE", "VA_FROM_BUMP_CHUNK", "DESC_BYTES", "RELEASE_MODES",
           "FAIL_MODES", "GUARDS"]

#: VMAP_BUMP_CHUNK_SIZE (patch 10/11)
CHUNK_SIZE = 64 << 20
CHUNK_PAGES = CHUNK_SIZE >> PAGE_SHIFT
#: VA_FROM_BUMP_CHUNK (patch 11)
VA_FROM_BUMP_CHUNK = 0x4
#: sizeof(struct vmap_bump_chunk) at patch 12: base, limit, bump (24) + alloced, owner_cpu (8)
#: + link (16) + rcu (16) + page_va[16384] (131072)
DESC_BYTES = 24 + 8 + 16 + 16 + 8 * CHUNK_PAGES
#: kmalloc of DESC_BYTES is an order-6 page allocation (get_order(131136) = 6)
DESC_KMALLOC_BYTES = PAGE_SIZE << 6
#: the vmalloc fallback of kvzalloc: PAGE_ALIGN(DESC_BYTES) + the guard page
DESC_VMALLOC_SIZE = -(-DESC_BYTES // PAGE_SIZE) * PAGE_SIZE + PAGE_SIZE
_CACHE_LINE = 64
#: ``release``: what a drained chunk gives back (module docstring)
RELEASE_MODES = ("consistent", "series")
#: ``fail_mode``: how the descriptor's kmalloc attempt fails
FAIL_MODES = ("independent", "persistent")
#: ``guard``: the recursion fix under review (``none`` = as posted)
GUARDS = ("none", "no-fallback", "nested-tree")


class Chunk:
    """``struct vmap_bump_chunk``; ``vas`` is ``page_va[]`` by start address."""

    __slots__ = ("base", "limit", "bump", "alloced", "owner", "vas", "starts", "released",
                 "leaked", "desc_bytes")

    def __init__(self, base: int, owner: int, desc_bytes: int):
        self.base, self.limit, self.bump = base, base + CHUNK_SIZE, base
        self.alloced = 0
        self.owner = owner
        self.vas: dict[int, VmapArea] = {}
        self.starts: list[int] = []
        self.released = self.leaked = False
        self.desc_bytes = desc_bytes

    def area_at(self, addr: int):
        i = bisect_right(self.starts, addr) - 1
        if i < 0:
            return None
        va = self.vas[self.starts[i]]
        return va if addr < va.va_end else None


class BumpChunks:
    """The bump overlay of one :class:`~vmapsim.designs.rfc_v1.RfcV1` design (see module docstring)."""

    def __init__(self, design, kvzalloc_fail: float = 0.0, stack_levels: int = 12,
                 release: str = "consistent", fail_mode: str = "independent",
                 guard: str = "none"):
        self.d = design
        self.kvzalloc_fail = check_float("kvzalloc_fail", kvzalloc_fail, lo=0.0, hi=1.0)
        self.stack_levels = check_int("stack_levels", stack_levels, lo=1, hi=1000)
        self.release_mode = check_choice("chunk_release", release, RELEASE_MODES)
        self.fail_mode = check_choice("kvzalloc_fail_mode", fail_mode, FAIL_MODES)
        self.guard = check_choice("refill_guard", guard, GUARDS)
        self.inject_fail = 0                   # fault injection: refills left to fail
        self.migrate_to: list[int] = []        # scheduling: CPU of the retry after a refill
        #: the CPU the request ran on when the bump path gave up (pool choice of the fallback)
        self.cpu_after = 0
        self._chain_fails = None               # persistent mode: this chain's kmalloc answer
        self.in_refill = 0                     # nested vmallocs made from a refill (guard)
        self.cur: list[Chunk | None] = [None] * design.possible_cpus
        self.chunks: list[Chunk] = []          # vmap_bump_chunks, newest first (list_add_rcu)
        self.lo, self.hi = (1 << 64) - 1, 0
        self.rng = random.Random(design.params["seed"] * 7919 + 1)
        self.counts: Counter = Counter()
        self.depth = 0
        # bump area (by identity, so a pickled copy keeps the pairs) -> its chunk
        self._chunk_of: dict[VmapArea, Chunk] = {}

    # ------------------------------------------------------------------ allocation
    def eligible(self, size, align, vstart, vend) -> bool:
        """``vmap_bump_eligible()`` (patch 12)."""
        half = CHUNK_SIZE // 2
        if self.in_refill and self.guard == "nested-tree":
            self.counts["guarded_nested_allocs"] += 1
            return False
        return (vstart == self.d.vmalloc_start and vend == self.d.vmalloc_end and 0 < size <= half
                and size % PAGE_SIZE == 0 and 0 < align <= half)

    def _fast(self, size, align, cpu, va_flags):
        d, acct = self.d, self.d.acct
        d._slab(alloc=d.sizeof_vmap_area)      # kmem_cache_alloc_node() before the fast path
        chunk = self.cur[cpu % len(self.cur)]
        aligned = align_up(chunk.bump, align) if chunk is not None else 0
        if chunk is None or aligned + size > chunk.limit:
            d._slab(free=d.sizeof_vmap_area)
            acct.holds.append(Hold(None, "none", 1, 0, 0, 0))
            return None
        n = size >> PAGE_SHIFT
        chunk.bump = aligned + size
        chunk.alloced += n
        node = (aligned // d.zone) % d.nr_nodes
        va = VmapArea(aligned, aligned + size, va_flags | encode_vn_id(node) | VA_FROM_BUMP_CHUNK, True)
        chunk.vas[aligned] = va
        insort(chunk.starts, aligned)
        self._chunk_of[va] = chunk
        lines = -(-n * 8 // _CACHE_LINE)
        acct.visited += 1
        acct.written += 1 + lines
        acct.holds.append(Hold(None, "none", 1, 1 + lines, 0, 0))   # preempt-disabled section
        self.counts["bump_allocs"] += 1
        return va

    def alloc(self, size, align, cpu, va_flags=0):
        """``vmap_bump_alloc()``, and on a miss ``vmap_bump_refill()`` + a second try (on
        another CPU after :meth:`inject_migration`)."""
        self.cpu_after = cpu
        va = self._fast(size, align, cpu, va_flags)
        if va is None:
            ok = self.refill(cpu)
            self.cpu_after = cpu                # a nested refill may have set it
            if ok:
                if self.migrate_to:
                    self.cpu_after = cpu = self.migrate_to.pop(0)
                    self.counts["migrated_after_refill"] += 1
                va = self._fast(size, align, cpu, va_flags)
        return va

    def refill(self, cpu) -> bool:
        """``vmap_bump_refill()``: descriptor, 64 MB reservation, list insert, becomes current."""
        d, acct = self.d, self.d.acct
        counts = self.counts
        counts["refills"] += 1
        if self.depth >= self.stack_levels:
            counts["stack_overflow"] += 1
            acct.events.append(("stack_overflow", self.depth))
            return False
        if self.inject_fail > 0:                # kvzalloc() returned NULL (fault injection)
            self.inject_fail -= 1
            counts["refill_injected_failures"] += 1
            return False
        desc = DESC_KMALLOC_BYTES
        vmalloced = None
        if self._kmalloc_fails():
            if self.guard == "no-fallback":
                counts["refill_no_descriptor"] += 1
                return False
            counts["kvzalloc_vmalloc_fallback"] += 1
            self.depth += 1
            self.in_refill += 1
            counts["max_depth"] = max(counts["max_depth"], self.depth)
            try:
                vmalloced = d.nested_alloc(DESC_VMALLOC_SIZE, PAGE_SIZE, cpu)
            finally:
                self.depth -= 1
                self.in_refill -= 1
            if vmalloced is None:
                return False
            desc = DESC_VMALLOC_SIZE - PAGE_SIZE
        else:
            d._slab(alloc=desc)
        base = d._alloc_free_tree(CHUNK_SIZE, PAGE_SIZE, d.vmalloc_start, d.vmalloc_end, cpu)
        d._fresh = None
        if base is None:
            d._slab(free=desc)
            counts["refill_failed"] += 1
            return False
        chunk = Chunk(base, cpu % len(self.cur), desc)
        h = acct.lock("vmap_bump_chunks_lock")
        self.chunks.insert(0, chunk)
        self.lo, self.hi = min(self.lo, chunk.base), max(self.hi, chunk.limit)
        acct.written += 1
        acct.unlock(h)
        old = self.cur[chunk.owner]
        if old is not None and old.alloced == 0:
            old.leaked = True                   # no unlink will ever release it
            counts["leaked_chunks"] += 1
        self.cur[chunk.owner] = chunk
        return True

    def _kmalloc_fails(self) -> bool:
        """Does the descriptor's kmalloc (an order-6 page allocation) fail this time?"""
        if not self.kvzalloc_fail:
            return False
        if self.fail_mode == "independent":
            return self.rng.random() < self.kvzalloc_fail
        if self.depth == 0:                     # the outermost refill of a chain draws
            self._chain_fails = self.rng.random() < self.kvzalloc_fail
        return bool(self._chain_fails)

    def inject_refill_failure(self, n: int = 1) -> None:
        """Fault injection: the next *n* refills get NULL from ``kvzalloc()``."""
        self.inject_fail += check_int("n", n, lo=0, hi=10**9)

    def inject_migration(self, to_cpu: int, n: int = 1) -> None:
        """Scheduling: after each of the next *n* successful refills, the retry runs on
        *to_cpu* (module docstring)."""
        to_cpu = check_int("to_cpu", to_cpu, lo=0, hi=len(self.cur) - 1)
        self.migrate_to += [to_cpu] * check_int("n", n, lo=0, hi=10**6)

    def predict(self, size, align, cpu):
        """Where the bump path would put this request (a refill's chunk if the current one is
        full), without changing anything."""
        chunk = self.cur[cpu % len(self.cur)]
        if chunk is not None:
            a = align_up(chunk.bump, align)
            if a + size <= chunk.limit:
                return a
        d = self.d
        base = d.gap.search(CHUNK_SIZE, PAGE_SIZE, d.vmalloc_start, d.vmalloc_end, pad=False)
        return None if base is None else align_up(base, align)

    # ------------------------------------------------------------------ lookup and unlink
    def lookup(self, addr, cpu):
        """``vmap_chunk_lookup()``: fast reject, current chunk, RCU walk of the list."""
        acct = self.d.acct
        acct.visited += 1
        if addr < self.lo or addr >= self.hi:
            return None
        c = self.cur[cpu % len(self.cur)]
        if c is not None and c.base <= addr < c.limit:
            return c
        h = acct.lock("vmap_bump_chunks_lock", "rcu")
        found = None
        for c in self.chunks:
            acct.visited += 1
            if c.base <= addr < c.limit:
                found = c
                break
        acct.unlock(h)
        return found

    def find(self, addr, cpu):
        """``find_vmap_area()``'s chunk path: the area from ``page_va[]``, or None."""
        c = self.lookup(addr, cpu)
        if c is None:
            return None
        self.d.acct.visited += 1
        return c.area_at(addr)

    def unlink(self, addr, cpu):
        """``vmap_bump_unlink()``: the area starting at *addr*, released from its chunk."""
        d, acct = self.d, self.d.acct
        c = self.lookup(addr, cpu)
        if c is None:
            return None
        acct.visited += 1
        va = c.vas.get(addr)
        if va is None:
            return None
        del c.vas[addr]
        c.starts.remove(addr)
        n = (va.va_end - va.va_start) >> PAGE_SHIFT
        lines = -(-n * 8 // _CACHE_LINE)
        acct.written += lines
        acct.holds.append(Hold(None, "none", 1, lines, 0, 0))
        c.alloced -= n
        if c.alloced == 0 and c is not self.cur[c.owner] and not c.leaked:
            self.release(c, va)
        return va

    def release(self, c: Chunk, last) -> None:
        """The chunk drained: off the list, its range back to the allocator, descriptor freed.

        *last* is the area whose unlink drained it: it goes to a lazy list right after, so it
        counts as exposed like the areas already waiting there."""
        d, acct = self.d, self.d.acct
        counts = self.counts
        h = acct.lock("vmap_bump_chunks_lock")
        self.chunks.remove(c)
        acct.written += 1
        acct.unlock(h)
        c.released = True
        counts["releases"] += 1
        covered = sorted(d.reserved_within(c.base, c.limit) + [(last.va_start, last.va_end, "lazy")])
        for s, e, kind in covered:
            pages = (e - s) >> PAGE_SHIFT
            if kind == "lazy":
                counts["release_exposed_pages"] += pages
            elif kind == "pool":
                counts["release_pooled_pages"] += pages
            else:
                counts["release_live_pages"] += pages
        if self.release_mode == "series":
            # patch 11: occupied_mt_erase_range_locked(chunk->base, chunk->limit)
            d._erase_ranges([VmapArea(c.base, c.limit)])
            acct.events.append(("call_rcu", c.desc_bytes))
            return
        pieces, cur = [], c.base
        for s, e, _ in covered:
            if s > cur:
                pieces.append(VmapArea(cur, s))
            cur = max(cur, e)
        if cur < c.limit:
            pieces.append(VmapArea(cur, c.limit))
        d._erase_ranges(pieces)
        acct.events.append(("call_rcu", c.desc_bytes))     # kvfree_rcu(chunk, rcu)

    def split_reclaim(self, vas):
        """Which areas of a reclaim list need an occupied erase: all but bump areas of a chunk
        that is still alive (their range is part of the chunk's reservation).  Returns
        ``(erase, skip)``."""
        erase, skip = [], []
        for va in vas:
            c = self._chunk_of.get(va) if va.flags & VA_FROM_BUMP_CHUNK else None
            if c is not None:
                del self._chunk_of[va]
                if not c.released or self.release_mode == "series":
                    skip.append(va)
                    continue
            erase.append(va)
        return erase, skip

    def forget(self, va) -> None:
        """*va* left the bump world (popped from a pool: its flags were reset)."""
        self._chunk_of.pop(va, None)

    # ------------------------------------------------------------------ views
    def busy(self):
        return [va for c in self.chunks for va in c.vas.values()] + \
               [va for c in self.cur if c is not None and c not in self.chunks for va in c.vas.values()]

    def alive(self):
        return list(self.chunks)

    def memory(self) -> dict:
        live = self.alive()
        return {"bump_chunks": len(live),
                "bump_desc_bytes": sum(c.desc_bytes for c in live),
                "bump_reserved_bytes": len(live) * CHUNK_SIZE,
                "bump_leaked_chunks": sum(c.leaked for c in live)}
