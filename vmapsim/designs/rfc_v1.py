"""``rfc-v1``: the series as posted, at its last patch (12/12), with switchable overlays.

Structures (docs/rcu-review.md section 1.1; code read from patches 04, 06, 07, 08,
11 and 12 of the posting):

* ``vn->busy.mt`` per node under ``vn->busy.lock`` (:mod:`vmapsim.designs.busy_mt`); unlink is one
  ``mas_erase()`` (patch 09).  Bump-chunk areas are not inserted (patch 11).
* ``occupied_vmap_area_mt``: global, ``MT_FLAGS_LOCK_EXTERN | MT_FLAGS_ALLOC_RANGE`` under
  ``free_vmap_area_lock``; ``XA_ZERO_ENTRY`` over every in-use range (busy, lazily freed, pooled,
  whole bump chunks).  It is the hot-path allocator (patch 07): ``mas_empty_area()`` for
  ``size + align - 1`` whenever ``align > PAGE_SIZE`` (``occupied_mt_find_hole_window_locked``,
  patch 06/07 -- unlike 6.18 also when the range is exactly ``size`` long, so such a request
  fails), then ``ALIGN(index, align)``; the consumed range is stored; at purge every area that
  does not go to a pool is erased and its ``vmap_area`` freed to the slab outside the lock
  (:mod:`vmapsim.designs.gap_alloc`).
* ``free_vmap_area_mt``: kept for the slow paths only (``vmap_init_free_space``,
  ``pcpu_get_vm_areas``' top-down walk, ``decay_va_pool_node``).  Modelled as built once at
  start-up (the boot-time free ranges, 48 B objects in a maple tree) and never updated on the
  hot path: its memory is counted, its contents go stale (patch 07 says the pcpu walk "relies
  on the assumption" that stale low entries never collide).  ``pcpu_get_vm_areas`` is not
  modelled (as in ``linux-6.18``), nor decay's maintenance of this tree.
* lazy queue: ``vn->lazy_list``, a ``list_head`` filled with ``list_add_tail`` (patch 08):
  ``purge_vmap_node()`` walks it in *free order*, so each purge pushes a node's areas into the
  pools oldest-freed first and the pool head is the most recently freed area, where 6.18 pushes
  in address order (head = highest address).  ``lazy_list=False`` restores address order (to
  see the overlay-free effect of the rest).
* ``vmap_retry_list`` (patch 05, overlay ``retry_list``): areas whose maple store could not get
  nodes (busy insert after the occupied publish; occupied erase at purge).  They stay reserved;
  the allocator scans the list as an exclusion set whenever it is non-empty; the purge worker
  retries them after its flush.  With ``retry_list=False`` a failed busy insert is rolled back
  (erase from the occupied tree) and a failed erase leaks the range (both counted).
* per-CPU 64 MB bump chunks (patches 10-12, overlay ``bump``): see :mod:`vmapsim.designs.rfc_v1_bump`.
* ``struct vmap_area``: 48 B (patch 04).

Node allocation: ``nodealloc="series"`` by default (``mas_preallocate(GFP_NOWAIT)``, then
``mas_store_gfp(GFP_ATOMIC)``, then the retry list; the occupied-tree erase helpers'
``mas_store_gfp(NULL, GFP_ATOMIC)``, which tries ``GFP_NOWAIT`` first; unlink by ``mas_erase()``
under the external busy lock).  Failure rates ``nowait_fail`` / ``atomic_fail`` (default 0).

Where the thread or the code does not say: the retry list is drained at the end of each purge
(after the flush), in list order, with the same node-allocation model; a busy insert that fails
fails the allocation (``-ENOMEM``, 6.18's overflow path: full purge, one retry).
"""
from __future__ import annotations

from ..maple import MapleTree
from ..vmalloc.layout import sizeof_vmap_area
from ..vmalloc.vmap_area import PAGE_SIZE, VmapArea
from .base import Choice
from .busy_mt import MAPLE_PARAMS, MapleBusyMixin
from .gap_alloc import MapleGapMixin
from .linux618 import Linux618
from .mt_index import LazyList
from .reference import ReferenceReplayMixin
from .rfc_v1_bump import VA_FROM_BUMP_CHUNK, BumpChunks

__all__ = ["RfcV1", "BusyInsertWarn"]


class BusyInsertWarn(Exception):
    """The series' busy-insert check failed (``check_overlaps``): the WARN of M15."""


class _RfcV1(MapleGapMixin, MapleBusyMixin, Linux618):
    """The RFC series at patch 12 (see the module docstring); :class:`RfcV1` adds replay naming."""

    name = "rfc-v1"
    gap_lock = "free_vmap_area_lock"
    pad_rule = "series"
    #: replay: when the kernel takes a pool entry that is not at this design's pool head, the
    #: pools hold the same areas in another order (free order, not address order): only that
    #: entry is taken (``pool_resync="keep"``), nothing in front of it is presumed gone.  With
    #: ``lazy_list=False`` the pools are 6.18's and so is the rule (``"limbo"``).
    PARAMS = dict(Linux618.PARAMS, **MAPLE_PARAMS, bump=True, retry_list=True, lazy_list=True,
                  kvzalloc_fail=0.0, stack_levels=12, pool_resync="keep",
                  chunk_release="consistent", kvzalloc_fail_mode="independent",
                  refill_guard="none", check_overlaps=False)

    def __init__(self, **params):
        if "pool_resync" not in params and not params.get("lazy_list", True):
            params["pool_resync"] = "limbo"     # address-ordered pools: 6.18's replay rule
        super().__init__(**params)
        p = self.params
        self.sizeof_vmap_area = sizeof_vmap_area("maple-48")
        self._setup_maple()
        self._setup_gap()
        for vn in self.nodes:
            vn.lazy = LazyList(self.acct)
        self.retry: list[VmapArea] = []
        self.retry_enabled = bool(p["retry_list"])
        self.lazy_list = bool(p["lazy_list"])
        self.bump = BumpChunks(self, p["kvzalloc_fail"], p["stack_levels"], p["chunk_release"],
                               p["kvzalloc_fail_mode"], p["refill_guard"]) if p["bump"] else None
        #: the series' busy-insert check (validate_vmap_area_range_insert_mt_locked) is modelled
        #: when ``check_overlaps``: each WARN it would print is recorded here
        self.check_overlaps = bool(p["check_overlaps"])
        self.splats: list[dict] = []
        self._erase_inject = 0
        #: areas a failed mas_erase() left in a busy tree (see inject_busy_erase_failure)
        self.stale_busy: list = []
        self.free_mt = MapleTree(alloc_range=True)
        self._init_free_mt([(1, (1 << 64) - 1)])
        self.acct.begin("init", -1)

    # ------------------------------------------------------------------ free_vmap_area_mt
    def _init_free_mt(self, ranges) -> None:
        """``vmap_init_free_space()``: the slow-path free tree as it is at start-up."""
        self.free_mt = MapleTree(alloc_range=True)
        for s, e in ranges:
            self.free_mt.store_range(s, e - 1, VmapArea(s, e))
        self._free_mt_objects = len(ranges)

    def _load_free(self, taken) -> None:
        super()._load_free(taken)
        self._init_free_mt(self.gap.free_ranges())

    # ------------------------------------------------------------------ lazy queue order
    def _push_order(self, vas):
        """``purge_vmap_node()`` walks ``purge_list`` in list (free) order at the series' HEAD."""
        if not self.lazy_list:
            return vas
        return sorted(vas, key=lambda va: va.seq)

    # ------------------------------------------------------------------ retry list
    def _excluded(self):
        if not self.retry:
            return None
        acct = self.acct
        retry = self.retry

        def blocked(start, end):
            acct.visited += len(retry)          # retry_queue_overlap_locked(): a list walk
            hit = None
            for va in retry:
                if va.va_start < end and start < va.va_end:
                    hit = va.va_end if hit is None else max(hit, va.va_end)
            return hit
        return blocked

    def _busy_insert_failed(self, va) -> None:
        if self.retry_enabled:
            acct = self.acct
            h = acct.lock(self.gap_lock)
            self.retry.append(VmapArea(va.va_start, va.va_end))
            acct.written += 1
            acct.unlock(h)
            acct.events.append(("retry_list", va.va_end - va.va_start))
            return
        # rollback: erase the published range again (which may itself fail and leak it)
        self._reclaim_list_global([VmapArea(va.va_start, va.va_end)])

    def _erase_failed(self, vas) -> None:
        if not self.retry_enabled:
            super()._erase_failed(vas)
            return
        acct = self.acct
        h = acct.lock(self.gap_lock)
        self.retry.extend(vas)
        acct.written += len(vas)
        acct.unlock(h)
        for va in vas:
            acct.events.append(("retry_list", va.va_end - va.va_start))

    def drain_retry_list(self) -> int:
        """The purge worker's pass over ``vmap_retry_list``: retry each erase; returns how many
        left the list."""
        if not self.retry:
            return 0
        vas, self.retry = self.retry, []
        n = len(vas)
        self._reclaim_list_global(vas)          # failures go back on the list
        return n - len(self.retry)

    def purge_finish(self, batch):
        n = super().purge_finish(batch)
        self.drain_retry_list()
        return n

    # ------------------------------------------------------------------ busy insert check
    def _insert_busy(self, va) -> bool:
        """With ``check_overlaps``: the series' ``find_vmap_area_insert_neighbors_mt_locked()``
        before the busy store (patch 06): the area at or before ``va_start`` must end at or
        below it (``WARN_ON_ONCE((*left)->va_end > start)``), the next one must start at or
        above ``va_end``.  A failed check is recorded in :attr:`splats` and handled as a failed
        busy insert (the series returns false from the insert; what its caller then does is
        not modelled beyond that).  The check reads the model's address order and counts no
        work (the series' two extra walks per insert are not priced).  After recording, the
        check raises :class:`BusyInsertWarn`: the operation stops there, as on a kernel with
        ``panic_on_warn`` (what the series does after a failed check is not modelled)."""
        if self.check_overlaps:
            vn = self.nodes[(va.va_start // self.zone) % self.nr_nodes]
            other = vn.busy.order.find_exceed(va.va_start)      # lowest area ending above start
            if other is not None and other.va_start < va.va_end:
                side = "left" if other.va_start <= va.va_start else "right"
                self.splats.append({
                    "kind": "busy_insert_overlap", "node": vn.id,
                    "warn": "(*left)->va_end > start" if side == "left"
                            else "(*right)->va_start < end",
                    "new": (va.va_start, va.va_end), "existing": (other.va_start, other.va_end),
                    "existing_flags": other.flags})
                self.acct.events.append(("warn", "busy insert overlap"))
                raise BusyInsertWarn(self.splats[-1])
        return super()._insert_busy(va)

    def inject_busy_erase_failure(self, n: int = 1) -> None:
        """Fault injection for the next *n* busy unlinks: ``mas_erase()`` (patch 09) cannot get
        its nodes (``GFP_NOWAIT`` and then ``GFP_KERNEL`` under ``vn->busy.lock`` both fail).
        ``lib/maple_tree.c:mas_erase`` then skips the store and still returns the entry it
        found, and nothing tells ``find_unlink_vmap_area()``: the area is freed but stays in
        the busy tree."""
        self._erase_inject += int(n)

    def _busy_erase(self, vn, addr: int):
        if self._erase_inject:
            va = vn.busy.peek(addr)
            if va is not None:
                self._erase_inject -= 1
                self.stale_busy.append(va)
                self.acct.events.append(("gfp_kernel_under_spinlock", 1))
                self.acct.events.append(("enomem", "busy erase ignored"))
                return va
        return super()._busy_erase(vn, addr)

    # ------------------------------------------------------------------ bump overlay
    def alloc_vmap_area(self, size, align=PAGE_SIZE, vstart=None, vend=None, cpu=0, va_flags=0):
        vstart = self.vmalloc_start if vstart is None else vstart
        vend = self.vmalloc_end if vend is None else vend
        if self.bump is not None and self.bump.eligible(size, align, vstart, vend):
            acct = self.acct
            acct.begin("alloc_vmap_area", cpu)
            self._check_request(size, align)
            va = self.bump.alloc(size, align, cpu, va_flags)
            if va is not None:
                return va.va_start
            holds, events = acct.holds, acct.events
            # node_alloc() picks the pool of the CPU the task runs on now
            addr = super().alloc_vmap_area(size, align, vstart, vend, self.bump.cpu_after,
                                           va_flags)
            acct.holds, acct.events = holds + acct.holds, events + acct.events
            return addr
        return super().alloc_vmap_area(size, align, vstart, vend, cpu, va_flags)

    def find_vmap_area(self, addr, cpu=0):
        if self.bump is not None:
            self.acct.begin("find_vmap_area", cpu)
            va = self.bump.find(addr, cpu)
            if va is not None:
                return va.va_start, va.va_end
            holds = self.acct.holds
            out = super().find_vmap_area(addr, cpu)
            self.acct.holds = holds + self.acct.holds
            return out
        return super().find_vmap_area(addr, cpu)

    def find_unlink_vmap_area(self, addr, cpu=0):
        if self.bump is not None:
            self.acct.begin("find_unlink_vmap_area", cpu)
            va = self.bump.unlink(addr, cpu)
            if va is not None:
                return va
            holds, events = self.acct.holds, self.acct.events
            out = super().find_unlink_vmap_area(addr, cpu)
            self.acct.holds, self.acct.events = holds + self.acct.holds, events + self.acct.events
            return out
        return super().find_unlink_vmap_area(addr, cpu)

    def _reclaim_list_global(self, vas, objects: bool = True) -> None:
        if self.bump is None or not vas or not objects:
            super()._reclaim_list_global(vas, objects)
            return
        keep, skip = self.bump.split_reclaim(vas)
        if skip:
            # bump areas of a live chunk: no occupied erase (the chunk's range stays reserved),
            # the struct goes back to the slab
            self._free_objects(len(skip))
        super()._reclaim_list_global(keep)

    def predict_alloc(self, size, align, vstart, vend, cpu):
        if self.bump is not None and self.bump.eligible(size, align, vstart, vend):
            addr = self.bump.predict(size, align, cpu)
            if addr is not None:
                return Choice(addr, "bump", cpu % self.nr_nodes if self._eligible(vstart, vend) else -1)
        return super().predict_alloc(size, align, vstart, vend, cpu)

    def _node_pool_del_va(self, vn, size, align):
        va = super()._node_pool_del_va(vn, size, align)
        if va is not None and self.bump is not None and va.flags & VA_FROM_BUMP_CHUNK:
            self.bump.forget(va)                # alloc_vmap_area() resets the flags
        return va

    def nested_alloc(self, size, align, cpu):
        """A ``vmalloc()`` made from inside an allocation (kvzalloc's fallback in the bump
        refill): its lock record is appended to the outer operation's."""
        acct = self.acct
        op, holds, events = acct.op, acct.holds, acct.events
        addr = self.alloc_vmap_area(size, align, cpu=cpu)
        acct.op, acct.holds, acct.events = op, holds + acct.holds, events + acct.events
        return addr

    def reserved_within(self, lo, hi):
        """Sorted ``(start, end, kind)`` of everything the model holds inside ``[lo, hi)`` apart
        from bump areas: busy-tree areas, lazy areas, pool entries, retry-list entries."""
        out = []
        for vn in self.nodes:
            for tree, kind in ((vn.busy, "busy"), (vn.lazy, "lazy")):
                va = tree.order.find_exceed(lo)
                while va is not None and va.va_start < hi:
                    out.append((max(va.va_start, lo), min(va.va_end, hi), kind))
                    va = va.next
            for lst in vn.pool.values():
                out += [(max(va.va_start, lo), min(va.va_end, hi), "pool") for va in lst
                        if va.va_start < hi and lo < va.va_end]
        out += [(max(va.va_start, lo), min(va.va_end, hi), "retry") for va in self.retry
                if va.va_start < hi and lo < va.va_end]
        return sorted(out)

    # ------------------------------------------------------------------ views
    def busy_areas(self):
        out = super().busy_areas()
        if self.bump is not None:
            out = sorted(out + [(va.va_start, va.va_end) for va in self.bump.busy()])
        return out

    def _extra_spans(self):
        spans = super()._extra_spans()
        spans += [(va.va_start, va.va_end, "retry") for va in self.retry]
        if self.bump is not None:
            for c in self.bump.alive():
                own = [(va.va_start, va.va_end, "busy") for va in c.vas.values()]
                taken = sorted(self.reserved_within(c.base, c.limit) + own)
                spans += own
                for first, last, entry in self.gap.mt.items(c.base, c.limit - 1):
                    s, e = max(first, c.base), min(last + 1, c.limit)
                    for ts, te, _ in taken:     # in-use parts nothing else accounts for
                        if te <= s or ts >= e:
                            continue
                        if ts > s:
                            spans.append((s, ts, "bump-idle"))
                        s = max(s, te)
                    if s < e:
                        spans.append((s, e, "bump-idle"))
        return spans

    def index_memory(self):
        """Gap tree, busy trees, the stale free tree (nodes and its boot-time objects) and, with
        bump chunks, their descriptors (``index_node_bytes`` includes them)."""
        m = self._gap_index_memory("occupied_vmap_area_mt")
        busy = self.busy_index_bytes()
        objs = self._free_mt_objects * self.sizeof_vmap_area
        m.index_node_bytes += busy + self.free_mt.memory_bytes()
        m.vmap_area_bytes += objs
        m.extra.update({"busy.mt": busy, "free_vmap_area_mt": self.free_mt.memory_bytes() + objs,
                        "retry_list": len(self.retry)})
        if self.bump is not None:
            # the chunk descriptors (page_va[] arrays) index the bump areas: index memory too
            mem = self.bump.memory()
            m.extra.update(mem)
            m.index_node_bytes += mem["bump_desc_bytes"]
        return m


class RfcV1(ReferenceReplayMixin, _RfcV1):
    """``rfc-v1``: the series at patch 12, with the linux-6.18 reference kept during replays
    (:mod:`vmapsim.designs.reference`) so every differing choice gets a named cause."""
