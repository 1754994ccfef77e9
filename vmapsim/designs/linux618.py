"""``linux-6.18``: today's vmalloc address allocator (mm/vmalloc.c as of v6.16 .. v6.18).

What is modelled (each a kernel function of mm/vmalloc.c):

* ``vmap_init_nodes()``: ``nr_vmap_nodes = clamp(possible CPUs, 1, 128)``; with more than one
  node an address zone is 16 pages and ``addr_to_node(addr) = (addr / zone) % nodes``.
* per node (:class:`VmapNode`): a ``busy`` and a ``lazy`` rb-tree with their spinlocks, size-class
  pools for 1..256 pages under ``pool_lock``; the global augmented free tree under
  ``free_vmap_area_lock``.
* ``alloc_vmap_area()``: ``node_alloc()`` (node = CPU % nodes, only for requests spanning exactly
  ``[VMALLOC_START, VMALLOC_END]``) -> ``node_pool_del_va()`` (head only; a misaligned head is moved
  to the tail) -> else ``preload_this_cpu_lock()`` + ``__alloc_vmap_area()`` -> overflow path:
  ``reclaim_and_purge_vmap_areas()`` (full purge, full decay) and one retry -> busy insert into
  ``addr_to_node(va_start)``.  ``vn_id`` is encoded in ``flags`` even when the pool gave nothing.
* ``find_vmap_area()`` / ``find_unlink_vmap_area()``: the node walk starting at the address's node,
  decreasing ids, each node's ``busy.lock`` around its walk.
* ``free_vmap_area_noflush()``: lazy tree of the ``vn_id`` node (else the address node),
  ``vmap_lazy_nr``; a drain is due when it exceeds ``lazy_max_pages()``.
* ``__purge_vmap_area_lazy()``: per node ``decay_va_pool_node()`` (6.16 rule: ``len >> 2`` from the
  head, pools shorter than 4 untouched; full decay empties them) then detach of the lazy list; one
  TLB flush; ``purge_vmap_node()`` per node in id order (pool push in address order, or back to
  the free tree, which ``reclaim_list_global()`` merges in list order).
* ``vmap_node_shrink_scan()``: full decay of every node.

Not modelled: vmap blocks (``vm_map_ram``/``vb_alloc``: none in the traces), KASAN shadow,
``pcpu_get_vm_areas()`` (untraced; its one area is in every snapshot), the notifier chain of the
overflow path, GFP_NOWAIT failure of the NE-split object, and concurrency (operations are atomic
here; the replay estimates where a purge started, see :mod:`vmapsim.traces.replay`).
"""
from __future__ import annotations

from ..errors import ParameterError
from ..vmalloc.free_space import (
    alloc_vmap_area_range,
    merge_or_add_vmap_area,
    predict_range,
)
from ..vmalloc.rbtree import RBTree
from ..vmalloc.vmap_area import (
    MAX_VA_SIZE_PAGES,
    PAGE_SHIFT,
    PAGE_SIZE,
    SIZEOF_VMAP_AREA,
    VMAP_ZONE_PAGES,
    VmapArea,
    decode_vn_id,
    nr_vmap_nodes_for,
)
from .base import COND_RESCHED, VN_UNKNOWN, Choice, Design, IndexMemory
from .linux618_replay import ReplayMixin
from .readers import ReaderMixin

__all__ = ["Linux618", "VmapNode", "PurgeBatch"]


class VmapNode:
    """``struct vmap_node``: busy and lazy trees, size-class pools (``pool[idx][-1]`` is the head)."""

    __slots__ = ("id", "busy", "lazy", "pool", "skip_populate",
                 "busy_lock", "lazy_lock", "pool_lock")

    def __init__(self, i: int, acct, busy=None):
        self.id = i
        self.busy = RBTree(False, acct) if busy is None else busy
        self.lazy = RBTree(False, acct)
        self.pool: dict[int, list[VmapArea]] = {}
        self.skip_populate = False
        self.busy_lock = f"vn[{i}].busy.lock"
        self.lazy_lock = f"vn[{i}].lazy.lock"
        self.pool_lock = f"vn[{i}].pool_lock"


class PurgeBatch:
    """A purge between its start (pools decayed, lazy lists detached) and its end (all pushed)."""

    __slots__ = ("lists", "start", "end", "full", "npurged", "gen", "held")

    def __init__(self, lists, start, end, full, gen=0):
        self.lists = lists          # node id -> remaining purge list (address order)
        self.start, self.end, self.full = start, end, full
        self.npurged = 0
        self.gen = gen
        #: replay only: nodes whose pushes wait for the end of the purge (the kernel was seen
        #: handing out what this node's pool held before the push)
        self.held: set = set()


def _va_pool_idx(size: int) -> int:
    """mm/vmalloc.c size_to_va_pool(): pool index, or -1 when the size has no pool."""
    idx = (size - 1) // PAGE_SIZE
    return idx if idx < MAX_VA_SIZE_PAGES else -1


class Linux618(ReplayMixin, ReaderMixin, Design):
    """The Linux 6.18 allocator with per-CPU-node pools (see the module docstring)."""

    name = "linux-6.18"
    sizeof_vmap_area = SIZEOF_VMAP_AREA
    fusable_record = True
    PARAMS = dict(Design.PARAMS, nr_vmap_nodes=None, decay_rule="6.16", pool_resync="limbo")

    def __init__(self, **params):
        super().__init__(**params)
        n = self.params["nr_vmap_nodes"]
        if n is None:
            n = nr_vmap_nodes_for(self.possible_cpus)
        self.nr_nodes = n = int(n)
        if not 1 <= n <= 128:
            raise ParameterError(f"nr_vmap_nodes must be in 1..128, got {n}")
        if self.params["pool_resync"] not in ("keep", "free", "limbo"):
            raise ParameterError(f"unknown pool_resync {self.params['pool_resync']!r}; "
                                 "valid pool_resync values: keep, free, limbo")
        if self.params["decay_rule"] not in ("6.16", "6.9"):
            raise ParameterError(f"unknown decay_rule {self.params['decay_rule']!r}; "
                                 "valid decay_rule values: 6.16, 6.9")
        self.zone = VMAP_ZONE_PAGES * PAGE_SIZE if n > 1 else 1
        self._zone_shift = self.zone.bit_length() - 1     # addr // zone == addr >> this
        acct = self.acct
        self.free = RBTree(True, acct)
        self.nodes = [VmapNode(i, acct, self.new_busy_index(i)) for i in range(n)]
        self.vmap_lazy_nr = 0
        self._preloaded = [False] * self.possible_cpus
        self._lazy_seq = 0
        self._spare = None
        self._lazy_max = (None, 0)
        self._purge_gen = 0
        self._open_batches: dict[int, PurgeBatch] = {}
        #: replay only: ``(va_start, node, gen)`` of entries the last apply_alloc gave back to a
        #: purge still being pushed (see ReplayMixin._unpush_pending)
        self.unpushed: list = []
        self._ncopies = 0
        cls = type(self)
        #: the class keeps 6.18's pool pop, busy insert and node walk: alloc_vmap_area and
        #: find_unlink_vmap_area run copies of them inline (the performance model's hot path)
        self._inline = all(getattr(cls, m) is getattr(Linux618, m)
                           for m in ("_node_pool_del_va", "_insert_busy", "_node_walk",
                                     "_node_lookup"))
        #: likewise for the free-tree search (designs with another free-space index override it)
        self._inline_free = cls._alloc_free_tree is Linux618._alloc_free_tree
        merge_or_add_vmap_area(self.free, VmapArea(1, (1 << 64) - 1))
        self.acct.begin("init", -1)

    # ------------------------------------------------------------------ helpers
    def new_busy_index(self, node: int):
        """The index of node *node*'s busy areas (``vn->busy.root``): an :class:`RBTree` here.

        A design that keeps 6.18's policy but indexes busy areas differently (``rfc-maple-busy``)
        overrides this; the object must offer ``insert(va)``, ``find(addr)``, ``unlink(va)``,
        ``find_exceed(addr)``, iteration in address order with ``va.next`` links, ``count`` and
        ``validate()``, and count its work into ``self.acct``."""
        return RBTree(False, self.acct)

    def addr_to_node_id(self, addr: int) -> int:
        return (addr // self.zone) % self.nr_nodes

    def _slab(self, alloc: int = 0, free: int = 0) -> None:
        """Work outside any lock: kmem_cache_alloc/free of vmap_area objects."""
        self.acct.outside(alloc, free)

    def _eligible(self, vstart: int, vend: int) -> bool:
        return vstart == self.vmalloc_start and vend == self.vmalloc_end and self.nr_nodes > 1

    def _check_request(self, size, align):
        if size <= 0 or size % PAGE_SIZE or align <= 0 or align & (align - 1):
            raise ParameterError(f"alloc_vmap_area: size must be a positive multiple of {PAGE_SIZE} "
                                 f"and align a power of two, got size={size} align={align}")

    # ------------------------------------------------------------------ allocation
    def _node_pool_del_va(self, vn: VmapNode, size: int, align: int):
        """mm/vmalloc.c node_pool_del_va(): pop the head if aligned, else rotate it to the tail."""
        idx = (size - 1) // PAGE_SIZE                 # _va_pool_idx(), inlined
        if idx >= MAX_VA_SIZE_PAGES:
            return None
        lst = vn.pool.get(idx)
        if not lst:
            return None
        va = lst[-1]                                  # under pool_lock: 1 read, 1 write
        if va.va_start & (align - 1) == 0:
            lst.pop()
            if not lst:
                del vn.pool[idx]
            if va.dual is not None:
                self._resolve_dual(va)
        else:
            lst.pop()
            lst.insert(0, va)
            va = None
        self.acct.held(vn.pool_lock, 1, 1)
        return va

    def _alloc_free_tree(self, size, align, vstart, vend, cpu):
        """preload_this_cpu_lock() + __alloc_vmap_area() under free_vmap_area_lock."""
        acct = self.acct
        if not self._preloaded[cpu]:
            acct.outside(SIZEOF_VMAP_AREA)             # _slab(), inlined
            self._preloaded[cpu] = True
        h = acct.lock("free_vmap_area_lock")
        spare = self._spare                  # a blank object: only an NE split uses (takes) it
        if spare is None:
            spare = VmapArea()
        addr, fit = alloc_vmap_area_range(self.free, size, align, vstart, vend, spare)
        if fit == 4:                         # NE_FIT_TYPE consumed the preloaded object
            self._preloaded[cpu] = False
            self._spare = None
        else:
            self._spare = spare
        acct.unlock(h)
        acct.events.append(COND_RESCHED)
        return addr

    def _insert_busy(self, va: VmapArea) -> None:
        acct = self.acct
        vn = self.nodes[(va.va_start // self.zone) % self.nr_nodes]
        h = acct.lock(vn.busy_lock)
        vn.busy.insert(va)
        acct.unlock(h)

    def alloc_vmap_area(self, size, align=PAGE_SIZE, vstart=None, vend=None, cpu=0, va_flags=0):
        acct = self.acct
        acct.op, acct.cpu = "alloc_vmap_area", cpu          # acct.begin(), copied
        acct.holds, acct.events = [], []
        if vstart is None and vend is None:               # the whole vmalloc range
            vstart, vend, whole = self.vmalloc_start, self.vmalloc_end, True
        else:
            vstart = self.vmalloc_start if vstart is None else vstart
            vend = self.vmalloc_end if vend is None else vend
            whole = vstart == self.vmalloc_start and vend == self.vmalloc_end
        if size <= 0 or size % PAGE_SIZE or align <= 0 or align & (align - 1):
            self._check_request(size, align)
        va, vn_id = None, 0
        n = self.nr_nodes
        if whole and n > 1:                                                     # _eligible()
            node = cpu % n
            vn = self.nodes[node]
            if not vn.pool:                                                     # no pool at all
                pass
            elif self._inline:                  # _node_pool_del_va(vn, size, align), copied
                idx = (size - 1) // PAGE_SIZE
                lst = vn.pool.get(idx) if idx < MAX_VA_SIZE_PAGES else None
                if lst:
                    va = lst[-1]
                    lst.pop()
                    if va.va_start & (align - 1) == 0:
                        if not lst:
                            del vn.pool[idx]
                        if va.dual is not None:
                            self._resolve_dual(va)
                    else:
                        lst.insert(0, va)
                        va = None
                    acct.held(vn.pool_lock, 1, 1)
            else:
                va = self._node_pool_del_va(vn, size, align)
            vn_id = (node + 1) << 8                                             # encode_vn_id()
        if va is not None:
            addr = va.va_start
            va.va_end = addr + size
            va.flags = va_flags | vn_id
            va.vm = True
        else:
            acct.outside(self.sizeof_vmap_area)    # _slab(), inlined (the object: below)
            if self._inline_free:                 # _alloc_free_tree(...), copied
                preloaded = self._preloaded
                if not preloaded[cpu]:
                    acct.outside(SIZEOF_VMAP_AREA)
                    preloaded[cpu] = True
                h = acct.lock("free_vmap_area_lock")
                spare = self._spare
                if spare is None:
                    spare = self._spare = VmapArea()
                addr, fit = alloc_vmap_area_range(self.free, size, align, vstart, vend, spare)
                if fit == 4:
                    preloaded[cpu] = False
                    self._spare = None
                acct.unlock(h)
                acct.events.append(COND_RESCHED)
            else:
                addr = self._alloc_free_tree(size, align, vstart, vend, cpu)
            if addr is None:
                self._purge(True, cpu)
                addr = self._alloc_free_tree(size, align, vstart, vend, cpu)
                if addr is None:
                    self._slab(free=self.sizeof_vmap_area)
                    return None
            va = VmapArea(addr, addr + size, va_flags | vn_id, True)
        if self._inline:                                  # _insert_busy(va), copied
            vn = self.nodes[(addr >> self._zone_shift) % n]
            h = acct.lock(vn.busy_lock)
            vn.busy.insert(va)
            acct.unlock(h)
        else:
            self._insert_busy(va)
        return addr

    # ------------------------------------------------------------------ lookup and free
    def _node_walk(self, addr: int, unlink: bool):
        """The node walk of find_vmap_area / find_unlink_vmap_area: the address's own node
        first, then the others downwards; each node searched by :meth:`_node_lookup`."""
        nodes, n = self.nodes, self.nr_nodes
        i = j = (addr // self.zone) % n
        while True:
            va = self._node_lookup(nodes[i], addr, unlink)
            if va is not None:
                return va
            i = (i + n - 1) % n
            if i == j:
                return None

    def _node_lookup(self, vn, addr: int, unlink: bool):
        """Search (and with *unlink*, unlink from) one node's busy tree under its lock."""
        acct = self.acct
        h = acct.lock(vn.busy_lock)
        va = vn.busy.find(addr)
        if va is not None and unlink:
            vn.busy.unlink(va)
        acct.unlock(h)
        return va

    def find_vmap_area(self, addr, cpu=0):
        self.acct.begin("find_vmap_area", cpu)
        va = self._node_walk(addr, False)
        return None if va is None else (va.va_start, va.va_end)

    def find_unlink_vmap_area(self, addr, cpu=0):
        acct = self.acct
        acct.op, acct.cpu = "find_unlink_vmap_area", cpu          # acct.begin(), copied
        acct.holds, acct.events = [], []
        if not self._inline:
            return self._node_walk(addr, True)
        nodes, n = self.nodes, self.nr_nodes          # _node_walk and _node_lookup, copied
        i = j = (addr >> self._zone_shift) % n
        while True:
            vn = nodes[i]
            h = acct.lock(vn.busy_lock)
            busy = vn.busy
            va = busy.find(addr)
            if va is not None:
                busy.unlink(va)
                acct.unlock(h)
                return va
            acct.unlock(h)
            i = (i + n - 1) % n
            if i == j:
                return None

    def _lazy_node(self, va: VmapArea) -> VmapNode:
        vn_id = decode_vn_id(va.flags & 0xFFFFFFFF)
        if 0 <= vn_id < self.nr_nodes:
            return self.nodes[vn_id]
        return self.nodes[(va.va_start // self.zone) % self.nr_nodes]

    def free_vmap_area_noflush(self, va, cpu=0):
        acct = self.acct
        acct.op, acct.cpu = "free_vmap_area_noflush", cpu          # acct.begin(), copied
        acct.holds, acct.events = [], []
        self.vmap_lazy_nr += (va.va_end - va.va_start) >> PAGE_SHIFT
        vn_id = ((va.flags & 0xFFFFFFFF) >> 8) - 1          # _lazy_node(va), inlined
        if 0 <= vn_id < self.nr_nodes:
            vn = self.nodes[vn_id]
        else:
            vn = self.nodes[(va.va_start // self.zone) % self.nr_nodes]
        va.seq = self._lazy_seq = self._lazy_seq + 1
        h = acct.lock(vn.lazy_lock)
        vn.lazy.insert(va)
        acct.unlock(h)
        lazy_max = self._lazy_max                   # lazy_max_pages(), cached per online_cpus
        if lazy_max[0] != self.online_cpus:
            lazy_max = self._lazy_max = (self.online_cpus, self.lazy_max_pages())
        if self.vmap_lazy_nr > lazy_max[1]:
            acct.events.append(("schedule_work", "drain_vmap_work"))
            return True
        return False

    # ------------------------------------------------------------------ purge
    def _decay_va_pool_node(self, vn: VmapNode, full: bool) -> None:
        """mm/vmalloc.c decay_va_pool_node(): release ``len >> 2`` (or all) entries from each pool head."""
        acct = self.acct
        if not vn.pool:
            return
        decay = RBTree(False, acct)
        old_rule = self.params["decay_rule"] == "6.9"
        for idx in sorted(vn.pool):
            lst = vn.pool[idx]
            acct.held(vn.pool_lock, 0, 1)
            n = len(lst)
            copies = sum(1 for va in lst if va.dual is not None) if self._ncopies else 0
            if copies:
                # each copy is in one kernel pool only: it counts 1/nodes towards the length
                n = n - copies + copies // self.nr_nodes
            k = n if full else n >> 2
            if old_rule and not full and n < 4:
                # before v6.16 the count was tested after a first removal: short pools emptied
                k = n
            step = 1.0 / self.nr_nodes
            left = float(k) if not full else float(len(lst))
            while lst and left > 1e-9:
                va = lst.pop()
                if va.dual is not None:
                    left -= step
                    if self._drop_copy(va):
                        continue
                else:
                    left -= 1
                merge_or_add_vmap_area(decay, va)
            if lst:
                acct.held(vn.pool_lock, 0, 1)
            else:
                del vn.pool[idx]
        self._reclaim_list_global(decay.detach_all())

    def _reclaim_list_global(self, vas) -> None:
        """mm/vmalloc.c reclaim_list_global(): merge a list into the free tree under its lock."""
        if not vas:
            return
        acct = self.acct
        h = acct.lock("free_vmap_area_lock")
        free = self.free
        for va in vas:
            merge_or_add_vmap_area(free, va)
        acct.unlock(h)

    def purge_begin(self, full_pool_decay: bool = False, limit: int | None = None) -> PurgeBatch:
        """First half of __purge_vmap_area_lazy(): decay every node's pools, detach lazy lists.

        *limit* (replay only): detach just the *limit* areas freed first (the others were freed
        after this purge had detached its node's list)."""
        acct = self.acct
        cutoff = None
        if limit is not None:
            seqs = sorted(va.seq for vn in self.nodes for va in vn.lazy)
            cutoff = seqs[limit - 1] if 0 < limit <= len(seqs) else (0 if limit <= 0 else None)
        lists, start, end = {}, None, None
        for vn in self.nodes:
            vn.skip_populate = full_pool_decay
            self._decay_va_pool_node(vn, full_pool_decay)
            if not vn.lazy.count:
                continue
            h = acct.lock(vn.lazy_lock)
            if cutoff is None:
                vas = vn.lazy.detach_all()
            else:
                vas = [va for va in vn.lazy if va.seq <= cutoff]
                for va in vas:
                    vn.lazy.unlink(va)
            acct.written += 1
            acct.unlock(h)
            if not vas:
                continue
            lists[vn.id] = vas
            start = vas[0].va_start if start is None else min(start, vas[0].va_start)
            end = vas[-1].va_end if end is None else max(end, vas[-1].va_end)
        if lists:
            acct.events.append(("tlb_flush", (end - start) >> PAGE_SHIFT))
            helpers = max(1, min(self.vmap_lazy_nr // self.lazy_max_pages(), len(lists))) - 1
            if helpers:
                acct.events.append(("purge_helpers", helpers))
        self._purge_gen += 1
        batch = PurgeBatch(lists, start, end, full_pool_decay, self._purge_gen)
        self._open_batches[batch.gen] = batch
        return batch

    def purge_push(self, batch: PurgeBatch, node: int, upto: int | None = None,
                   force: bool = False) -> None:
        """mm/vmalloc.c purge_vmap_node() for *node*'s list, or its entries below *upto* only.

        A node in ``batch.held`` (replay) is pushed only with *force* (the kernel was seen using
        what it pushed) or by :meth:`purge_finish`."""
        vas = batch.lists.get(node)
        if not vas:
            return
        if batch.held:
            if node in batch.held and not force:
                return
            batch.held.discard(node)
        if upto is None:
            todo, rest = vas, []
        else:
            k = 0
            while k < len(vas) and vas[k].va_start < upto:
                k += 1
            todo, rest = vas[:k], vas[k:]
        if rest:
            batch.lists[node] = rest
        else:
            del batch.lists[node]
        vn = self.nodes[node]
        acct = self.acct
        local = []
        pages = npurged = 0
        nr = self.nr_nodes
        populate = not vn.skip_populate
        pool, pool_lock, gen = vn.pool, vn.pool_lock, -batch.gen
        held = acct.held
        for va in self._push_order(todo):
            size = va.va_end - va.va_start
            pages += size >> PAGE_SHIFT
            npurged += 1
            vn_id = ((va.flags & 0xFFFFFFFF) >> 8) - 1            # decode_vn_id()
            idx = (size - 1) // PAGE_SIZE                           # _va_pool_idx()
            if idx >= MAX_VA_SIZE_PAGES:
                idx = -1
            if 0 <= vn_id < nr and populate and idx >= 0:
                lst = pool.get(idx)                         # under pool_lock: 1 write
                va.seq = gen
                if lst is None:
                    pool[idx] = [va]
                elif lst[-1].dual is None:
                    lst.append(va)
                else:
                    self._pool_push_sorted(lst, va)
                held(pool_lock, 0, 1)
            elif va.flags & VN_UNKNOWN and populate and idx >= 0 and nr > 1:
                # unknown vn_id (pre-trace area): the kernel pushed it into one node's pool; keep
                # a copy in every node's pool until an allocation shows which (replay only)
                group = [va] + [VmapArea(va.va_start, va.va_end, va.flags, True)
                                for _ in range(self.nr_nodes - 1)]
                others = [n for n in self.nodes if n is not vn]
                self._ncopies += len(group)
                for c, n in zip(group, [vn] + others):
                    c.dual = group
                    c.seq = -batch.gen
                    self._pool_push_sorted(n.pool.setdefault(idx, []), c)
            else:
                local.append(va)
        batch.npurged += npurged
        self.vmap_lazy_nr -= pages
        local.reverse()                     # list_add() builds the local list in reverse
        self._reclaim_list_global(local)

    @staticmethod
    def _push_order(vas):
        """The order in which purge_vmap_node() walks a node's purge list: address order in 6.18
        (the lazy list is an address-sorted rb_list).  Hook for designs with another lazy queue."""
        return vas

    def purge_finish(self, batch: PurgeBatch) -> int:
        """Push what is left (node id order) and return ``npurged`` of the purge event."""
        batch.held.clear()
        self._open_batches.pop(batch.gen, None)
        for node in sorted(batch.lists):
            self.purge_push(batch, node)
        return batch.npurged

    def _purge(self, full: bool, cpu: int) -> int:
        acct = self.acct
        h = acct.lock("vmap_purge_lock", "mutex")
        batch = self.purge_begin(full)
        n = self.purge_finish(batch)
        acct.unlock(h)
        return n

    def purge_vmap_area_lazy(self, full_pool_decay=False, cpu=0):
        self.acct.begin("purge_vmap_area_lazy", cpu)
        return self._purge(full_pool_decay, cpu)

    def vmap_node_shrink_scan(self):
        acct = self.acct
        acct.begin("vmap_node_shrink_scan", -1)
        n = sum(len(lst) for vn in self.nodes for lst in vn.pool.values())
        h = acct.lock("vmap_purge_lock", "mutex")
        for vn in self.nodes:
            self._decay_va_pool_node(vn, True)
        acct.unlock(h)
        return n

    # ------------------------------------------------------------------ views
    def busy_areas(self):
        return sorted((va.va_start, va.va_end) for vn in self.nodes for va in vn.busy)

    def lazy_areas(self):
        return sorted((va.va_start, va.va_end) for vn in self.nodes for va in vn.lazy)

    def free_ranges(self):
        return [(va.va_start, va.va_end) for va in self.free]

    def pools(self):
        return {(vn.id, idx + 1): [va.va_start for va in reversed(lst)]
                for vn in self.nodes for idx, lst in sorted(vn.pool.items())}

    def lazy_nr(self):
        return self.vmap_lazy_nr

    def index_memory(self):
        busy = sum(vn.busy.count for vn in self.nodes)
        lazy = sum(vn.lazy.count for vn in self.nodes)
        pool = sum(len(lst) for vn in self.nodes for lst in vn.pool.values())
        free = self.free.count
        return IndexMemory(self.sizeof_vmap_area, busy, lazy, free, pool,
                           (busy + lazy + pool + free) * self.sizeof_vmap_area, 0)

    def predict_alloc(self, size, align, vstart, vend, cpu):
        node = -1
        if self._eligible(vstart, vend):
            node = cpu % self.nr_nodes
            idx = _va_pool_idx(size)
            lst = self.nodes[node].pool.get(idx) if idx >= 0 else None
            if lst and lst[-1].va_start & (align - 1) == 0:
                return Choice(lst[-1].va_start, "pool", node)
        addr = self._predict_free(size, align, vstart, vend)
        return Choice(addr, "free" if addr is not None else "fail", node)

    def _predict_free(self, size, align, vstart, vend):
        """The free-space search's address for this request, no side effects (hook: designs with
        another free-space index override it)."""
        return predict_range(self.free, size, align, vstart, vend)

    def _free_spans(self):
        """Validate the free-space index; return its ranges as ``(start, end, "free")`` spans, plus
        any other span kinds the design reserves (hook for other free-space indexes)."""
        self.free.validate()
        return [(va.va_start, va.va_end, "free") for va in self.free]

    def validate(self):
        spans = self._free_spans()
        lazy_pages = 0
        for vn in self.nodes:
            vn.busy.validate()
            vn.lazy.validate()
            for va in vn.busy:
                assert (va.va_start // self.zone) % self.nr_nodes == vn.id, \
                    f"{va!r} in busy tree of node {vn.id}, belongs to {self.addr_to_node_id(va.va_start)}"
                spans.append((va.va_start, va.va_end, "busy"))
            for va in vn.lazy:
                assert va.flags & VN_UNKNOWN or self._lazy_node(va) is vn, f"{va!r} on wrong lazy node"
                lazy_pages += (va.va_end - va.va_start) >> PAGE_SHIFT
                spans.append((va.va_start, va.va_end, "lazy"))
            for idx, lst in vn.pool.items():
                assert lst, f"empty pool list kept for node {vn.id} idx {idx}"
                for va in lst:
                    assert _va_pool_idx(va.va_end - va.va_start) == idx, f"{va!r} in wrong pool {idx}"
                    if va.dual is not None:
                        assert va in va.dual and len(va.dual) > 1, f"broken copy group of {va!r}"
                        if va is not va.dual[0]:
                            continue
                    spans.append((va.va_start, va.va_end, "pool"))
        assert lazy_pages == self.vmap_lazy_nr, f"vmap_lazy_nr {self.vmap_lazy_nr} != {lazy_pages}"
        ncopies = sum(1 for vn in self.nodes for lst in vn.pool.values() for va in lst if va.dual)
        assert ncopies == self._ncopies, f"copy count {self._ncopies} != {ncopies}"
        spans.sort()
        for (s1, e1, k1), (s2, e2, k2) in zip(spans, spans[1:]):
            assert e1 <= s2, f"{k1} {s1:#x}-{e1:#x} overlaps {k2} {s2:#x}-{e2:#x}"
        covered = sum(e - s for s, e, _ in spans)
        assert covered == (1 << 64) - 2, "address space [1, ULONG_MAX) not fully accounted for"
