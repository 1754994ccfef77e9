"""The allocator-design interface and its lock accounting.

Every design (today's ``linux-6.18``, the ``linux-6.8`` baseline, the maple-tree designs of the
RFC) is a :class:`Design` created with :func:`make_design`.  Replay, the differential tests, the
interleaving explorer and the performance model use only what is documented here.

Operations keep the kernel's names (mm/vmalloc.c)::

    d = make_design("linux-6.18", possible_cpus=2)
    addr = d.alloc_vmap_area(5 * PAGE_SIZE, align=4 * PAGE_SIZE, cpu=1)   # int or None
    d.acct.holds        # [Hold('vn[1].pool_lock', ...), Hold('free_vmap_area_lock', ...), ...]
    d.find_vmap_area(addr + 10)                                            # (va_start, va_end)
    va = d.find_unlink_vmap_area(addr, cpu=1)                              # opaque area handle
    if d.free_vmap_area_noflush(va, cpu=1):                                # True: drain scheduled
        d.purge_vmap_area_lazy()                                           # the drain work
    d.validate()

Lock accounting (:class:`Accounting`, ``design.acct``): every public operation starts a new
record; each lock the operation takes appends one :class:`Hold` in acquisition order, carrying
the work done while it was held (tree nodes visited and written, bytes of index nodes
allocated and freed).  Work outside any lock (e.g. the slab allocation of a ``vmap_area``
before taking a lock) is a ``Hold`` whose ``lock`` is ``None``.  Other costed events
(``tlb_flush`` with its page count, ``schedule_work``, ``cond_resched``, ``call_rcu``) go to
``acct.events``.  The record is reset, not accumulated, so it costs O(locks taken) per op and
nothing when nobody reads it; a consumer that wants totals adds them up itself.

Replay (``vmapsim.traces.replay``) needs a few more things: :meth:`Design.predict_alloc` says, without
changing any state, where the design would put an allocation; :meth:`Design.apply_alloc` then
makes the real kernel's address the truth (pool pop, free-space clip, ...), so the model stays in
sync with the kernel even after a wrong prediction; :meth:`Design.apply_free` does the same for a
lazy free.  :meth:`Design.load_state` builds the start state from a ``/proc/vmallocinfo``
snapshot.  Designs with pools may also offer the staged purge (``purge_begin`` /
``purge_push`` / ``purge_finish``, see below) so replay can start a purge before its event.

Adding a design: write ``vmapsim/designs/<module>.py`` with a :class:`Design` subclass and add
one line to :data:`vmapsim.designs.registry.DESIGNS`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ParameterError
from ..params import check_int, check_seed
from ..vmalloc.vmap_area import (
    PAGE_SIZE,
    SIZEOF_VMAP_AREA,
    VMALLOC_END,
    VMALLOC_START,
    lazy_max_pages,
)

__all__ = ["Design", "Hold", "Accounting", "Choice", "IndexMemory", "restore"]

class Hold:
    """One lock acquisition within an operation, and the work done while holding it.

    ``lock``: the lock's kernel name, per node indexed like ``vn[1].busy.lock`` (``None`` = work
    outside any lock); ``kind``: ``"spin"``, ``"mutex"``, ``"rcu"`` (a read-side section),
    ``"trylock-failed"`` (a trylock that did not get the lock: no work under it); ``visited``:
    tree/list nodes read; ``written``: nodes modified (including rebalancing and augment
    propagation); ``alloc_bytes`` / ``free_bytes``: index memory allocated / freed (for rb-tree
    designs a ``vmap_area`` *is* the index node).
    """

    __slots__ = ("lock", "kind", "visited", "written", "alloc_bytes", "free_bytes")

    def __init__(self, lock, kind, visited, written, alloc_bytes, free_bytes):
        self.lock, self.kind = lock, kind
        self.visited, self.written = visited, written
        self.alloc_bytes, self.free_bytes = alloc_bytes, free_bytes

    def as_tuple(self) -> tuple:
        return (self.lock, self.kind, self.visited, self.written, self.alloc_bytes, self.free_bytes)

    def __repr__(self) -> str:
        return (f"Hold({self.lock!r}, {self.kind}, visited={self.visited}, written={self.written}, "
                f"alloc={self.alloc_bytes}, free={self.free_bytes})")


class Accounting:
    """Per-operation lock record of a design (``design.acct``).

    Data structures add their work to the running counters ``visited``, ``written``,
    ``alloc_bytes`` and ``free_bytes``; :meth:`lock` / :meth:`unlock` turn the counter
    differences into a :class:`Hold`, :meth:`outside` records work outside any lock (a
    ``Hold`` whose lock is None).  Locks may nest (each hold then includes the work of the
    inner one); 6.18 never nests two spinlocks.  ``holds`` and ``events`` are new lists for
    each operation, so a consumer may keep the references.

    The slots from ``out`` on belong to the performance model's fused mode
    (:class:`vmapsim.perf.pricing.FusedAccounting`, which a simulation swaps in as this object's
    class while it runs, for designs that declare ``fusable_record``): there holds are priced
    into steps as they are released instead of being kept as :class:`Hold` objects.  Here they
    stay unused.
    """

    __slots__ = ("op", "cpu", "holds", "events", "visited", "written", "alloc_bytes", "free_bytes",
                 "enabled",
                 # fused mode (vmapsim.perf.pricing.FusedAccounting); None/0 otherwise
                 "out", "fspill", "fopen", "fv", "fw", "fa", "ff", "fhold", "fpricer", "frcu",
                 "fdeferred", "fdcount")

    def __init__(self, enabled: bool = True):
        self.visited = self.written = self.alloc_bytes = self.free_bytes = 0
        #: False: no Hold records are made (replay, which only needs addresses); counters still run
        self.enabled = enabled
        self.out = self.fspill = self.fopen = self.fhold = self.fpricer = None
        self.fv = self.fw = self.fa = self.ff = self.fdeferred = self.fdcount = 0
        self.frcu = False
        self.begin("init", -1)

    def begin(self, op: str, cpu: int) -> None:
        """Start the record of a new public operation *op* on *cpu*."""
        self.op, self.cpu, self.holds, self.events = op, cpu, [], []

    def lock(self, name, kind: str = "spin") -> Hold:
        if not self.enabled:
            return NO_HOLD
        h = _new_hold(Hold)                 # same fields as Hold(...), without the __init__ frame
        h.lock = name
        h.kind = kind
        h.visited = -self.visited
        h.written = -self.written
        h.alloc_bytes = -self.alloc_bytes
        h.free_bytes = -self.free_bytes
        self.holds.append(h)
        return h

    def unlock(self, h: Hold) -> None:
        if h is NO_HOLD:
            return
        h.visited += self.visited
        h.written += self.written
        h.alloc_bytes += self.alloc_bytes
        h.free_bytes += self.free_bytes

    def held(self, name, visited: int = 0, written: int = 0, kind: str = "spin") -> None:
        """A lock taken and released around work of *visited* / *written* nodes that is all
        counted here: the record ``h = lock(name, kind)``, the counters raised, ``unlock(h)``
        would make, in one call."""
        if self.enabled:
            self.holds.append(Hold(name, kind, visited, written, 0, 0))
        self.visited += visited
        self.written += written

    def outside(self, alloc: int = 0, free: int = 0) -> None:
        """Work outside any lock: *alloc* / *free* bytes of slab objects (kmem_cache_alloc/free
        of a ``vmap_area``), counted and recorded as ``Hold(None, "none", 0, 0, alloc, free)``."""
        self.alloc_bytes += alloc
        self.free_bytes += free
        if self.enabled:
            self.holds.append(Hold(None, "none", 0, 0, alloc, free))

    def event(self, kind: str, value=None) -> None:
        """Record a costed non-lock event (``tlb_flush`` pages, ``schedule_work`` name, ...)."""
        self.events.append((kind, value))

    def summary(self) -> list[tuple]:
        """The current record as plain tuples (for tests and printing)."""
        return [h.as_tuple() for h in self.holds]


#: what lock() returns while the record is disabled (unlock() ignores it)
NO_HOLD = Hold(None, "disabled", 0, 0, 0, 0)
#: the event a search of the free tree records (alloc_vmap_area's cond_resched()); one object,
#: so a consumer comparing event lists finds it by identity
COND_RESCHED = ("cond_resched", None)
_new_hold = Hold.__new__


@dataclass(frozen=True)
class Choice:
    """Where a design would place an allocation (:meth:`Design.predict_alloc`).

    ``source``: ``"pool"`` (a per-node size-class pool), ``"free"`` (the free-space index),
    ``"fail"`` (no space without a purge; ``addr`` is then None), or a design-specific name.
    ``node``: the ``node_alloc()`` node, -1 if the request is not pool-eligible.
    """
    addr: int | None
    source: str
    node: int = -1


@dataclass
class IndexMemory:
    """Memory the design's indexes use (:meth:`Design.index_memory`), in bytes."""
    sizeof_vmap_area: int
    busy_areas: int
    lazy_areas: int
    free_ranges: int
    pool_entries: int
    vmap_area_bytes: int          # all vmap_area objects alive (busy, lazy, free, pools)
    index_node_bytes: int         # separate index nodes (maple nodes); 0 when embedded (rb_node)
    extra: dict = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return self.vmap_area_bytes + self.index_node_bytes

    @property
    def bytes_per_busy_area(self) -> float:
        return self.total_bytes / max(1, self.busy_areas)


class Design:
    """Base class and documentation of the design interface.

    Constructor parameters (all keyword; :attr:`PARAMS` gives the defaults, subclasses add
    their own): ``possible_cpus`` (sets the number of vmap nodes where the design has them),
    ``online_cpus`` (sets ``lazy_max_pages()``; default = possible), ``vmalloc_start`` /
    ``vmalloc_end`` (the ``[VMALLOC_START, VMALLOC_END]`` a request must span to be
    pool-eligible), ``seed`` (for designs that make random choices, e.g. failing preallocation).

    Addresses and sizes are bytes; sizes include the guard page, as in the kernel's ``vmap_area``.
    """

    #: the registered name
    name = "abstract"
    #: sizeof(struct vmap_area) this design implies
    sizeof_vmap_area = SIZEOF_VMAP_AREA
    #: True, in a class's own body (never inherited: ``type(d).__dict__`` is read), when every
    #: hold the class records goes through ``acct.lock/unlock/outside`` and nothing reads or
    #: rewrites ``acct.holds`` during an operation: the performance model then prices its holds
    #: as they are released (:class:`vmapsim.perf.pricing.FusedAccounting`), with the same steps.
    fusable_record = False
    #: parameter -> default
    PARAMS: dict = {"possible_cpus": 2, "online_cpus": None, "vmalloc_start": VMALLOC_START,
                    "vmalloc_end": VMALLOC_END, "seed": 0}

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.PARAMS))
        if unknown:
            raise ParameterError(f"unknown parameter {unknown[0]!r} for design {self.name!r}; "
                                 f"valid parameters: {', '.join(sorted(self.PARAMS))}")
        p = dict(self.PARAMS)
        p.update(params)
        p["possible_cpus"] = check_int("possible_cpus", p["possible_cpus"], lo=1, hi=1024)
        if p["online_cpus"] is None:
            p["online_cpus"] = p["possible_cpus"]
        p["online_cpus"] = check_int("online_cpus", p["online_cpus"], lo=1, hi=p["possible_cpus"])
        p["seed"] = check_seed("seed", p["seed"])
        self.params = p
        self.possible_cpus = p["possible_cpus"]
        self.online_cpus = p["online_cpus"]
        self.vmalloc_start = p["vmalloc_start"]
        self.vmalloc_end = p["vmalloc_end"]
        self.acct = Accounting()

    # ---------------------------------------------------------------- copies
    def clone(self) -> "Design":
        """An independent copy of this design in its current state (same structures, same tree
        shapes, same random state), so that the copy and the original behave identically from
        here on.  It is one pickle round trip: :meth:`snapshot` gives the bytes, which
        :func:`restore` turns into a new copy as often as needed (the warm-state cache of the
        performance model keeps them)."""
        return restore(self.snapshot())

    def snapshot(self) -> bytes:
        """This design's state as bytes (:func:`restore` makes a copy from them)."""
        import pickle
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    # ---------------------------------------------------------------- kernel operations
    def lazy_max_pages(self) -> int:
        """mm/vmalloc.c lazy_max_pages(): the lazy backlog (pages) that schedules a drain."""
        return lazy_max_pages(self.online_cpus)

    def alloc_vmap_area(self, size: int, align: int = PAGE_SIZE, vstart: int | None = None,
                        vend: int | None = None, cpu: int = 0, va_flags: int = 0) -> int | None:
        """mm/vmalloc.c alloc_vmap_area(): reserve *size* bytes; return ``va_start`` or None.

        *vstart*/*vend* default to the design's ``[VMALLOC_START, VMALLOC_END]``.  On failure
        the kernel's overflow path runs (full purge, retry) before None is returned.
        """
        raise NotImplementedError

    def find_vmap_area(self, addr: int, cpu: int = 0) -> tuple[int, int] | None:
        """mm/vmalloc.c find_vmap_area(): ``(va_start, va_end)`` of the busy area holding *addr*."""
        raise NotImplementedError

    def find_unlink_vmap_area(self, addr: int, cpu: int = 0):
        """mm/vmalloc.c find_unlink_vmap_area(): unlink the busy area starting at *addr*.

        Returns an opaque area handle for :meth:`free_vmap_area_noflush`, or None."""
        raise NotImplementedError

    def free_vmap_area_noflush(self, va, cpu: int = 0) -> bool:
        """mm/vmalloc.c free_vmap_area_noflush(): put an unlinked area on a lazy list.

        Returns True when the lazy backlog now exceeds :meth:`lazy_max_pages`, i.e. the kernel
        would ``schedule_work(&drain_vmap_work)``; the caller runs :meth:`purge_vmap_area_lazy`
        when (and on whichever CPU) it models that work running."""
        raise NotImplementedError

    def vfree(self, addr: int, cpu: int = 0) -> bool:
        """Convenience: find_unlink + free_vmap_area_noflush, and the drain inline if scheduled.

        Raises KeyError if *addr* is not the start of a busy area.  Returns whether a purge ran.
        The lock record then holds both operations."""
        va = self.find_unlink_vmap_area(addr, cpu)
        if va is None:
            raise KeyError(f"{addr:#x} is not the start of a busy vmap_area")
        holds = self.acct.holds
        drain = self.free_vmap_area_noflush(va, cpu)
        holds.extend(self.acct.holds)
        self.acct.holds = holds
        if drain:
            self.purge_vmap_area_lazy(cpu=cpu)
            holds.extend(self.acct.holds)
            self.acct.holds = holds
        return drain

    def purge_vmap_area_lazy(self, full_pool_decay: bool = False, cpu: int = 0) -> int:
        """mm/vmalloc.c __purge_vmap_area_lazy() (with ``vmap_purge_lock``): flush and release
        every lazy area; return the number purged (the ``purge_vmap_area_lazy`` event's
        ``npurged``)."""
        raise NotImplementedError

    def vmap_node_shrink_scan(self) -> int:
        """mm/vmalloc.c vmap_node_shrink_scan(): full decay of every pool (memory pressure,
        ``drop_caches``).  Returns the entries released; 0 for designs without pools."""
        return 0

    # ---------------------------------------------------------------- replay
    def load_state(self, busy, lazy) -> None:
        """Build the start state of a fresh design from a vmallocinfo snapshot.

        *busy*: iterable of ``(va_start, va_end, flags)``; *lazy*: ``(va_start, va_end, node)``
        (node = the lazy list it was listed on, or -1).  ``flags`` may carry
        :data:`VN_UNKNOWN` for areas whose allocating node is unknown.  Everything else is free;
        pools are empty."""
        raise NotImplementedError

    def apply_free(self, addr: int, cpu: int, size_hint: int | None = None) -> str:
        """The kernel lazily freed the area starting at *addr* (a ``free_vmap_area_noflush`` event).

        Returns ``"ok"``, or ``"unknown"`` when the design has no busy area starting there; then,
        if *size_hint* (bytes, from the event's ``nr_lazy`` delta) is given, the range is forced
        into the lazy state so the model stays consistent."""
        va = self.find_unlink_vmap_area(addr, cpu)
        if va is None:
            return "unknown"
        self.free_vmap_area_noflush(va, cpu)
        return "ok"

    # Optional staged purge (replay places a purge's start before its event; designs without it
    # are purged atomically at the event):
    #   purge_begin(full_pool_decay=False, limit=None) -> batch   (decay pools, detach the `limit`
    #       oldest lazy areas; ``batch.lists`` maps node -> areas still to push, address order)
    #   purge_push(batch, node, upto=None)   (push that node's areas below `upto`)
    #   purge_finish(batch) -> npurged
    # linux-6.18 implements them (vmapsim.designs.linux618); subclasses inherit them.

    def predict_alloc(self, size: int, align: int, vstart: int, vend: int, cpu: int) -> Choice:
        """Where :meth:`alloc_vmap_area` would put this request now, without changing state."""
        raise NotImplementedError

    def apply_alloc(self, addr: int, size: int, align: int, vstart: int, vend: int, cpu: int,
                    va_flags: int = 0) -> str:
        """Make ``[addr, addr+size)`` busy because the real kernel chose it.

        Performs the side effects the kernel's request had (pool head rotation, pool pop or
        free-space clip, busy insert) and returns where the range came from: ``"pool"``,
        ``"free"``, or a named inconsistency (``"pool-behind-head"``: the kernel's pool was
        longer; ``"not-free"``: the model thought the range busy/lazy/pooled elsewhere and
        forced it).  Never raises for a consistent trace."""
        raise NotImplementedError

    # ---------------------------------------------------------------- state views
    def busy_areas(self) -> list[tuple[int, int]]:
        """Sorted ``(va_start, va_end)`` of every busy area (all nodes)."""
        raise NotImplementedError

    def lazy_areas(self) -> list[tuple[int, int]]:
        """Sorted ``(va_start, va_end)`` of every lazily freed, not yet purged area."""
        raise NotImplementedError

    def free_ranges(self) -> list[tuple[int, int]]:
        """Sorted maximal free ranges ``(start, end)``: what a new allocation may take."""
        raise NotImplementedError

    def pools(self) -> dict[tuple[int, int], list[int]]:
        """``(node, pages) -> [va_start, ...]`` head first; empty for designs without pools."""
        return {}

    def lazy_nr(self) -> int:
        """``vmap_lazy_nr``: pages waiting in lazy lists."""
        raise NotImplementedError

    def index_memory(self) -> IndexMemory:
        """Bytes the design's indexes use now (see :class:`IndexMemory`)."""
        raise NotImplementedError

    def validate(self) -> None:
        """Assert every invariant of every structure (trees, lists, pools, disjointness)."""
        raise NotImplementedError


#: model-only ``va->flags`` bit: the allocating node (vn_id) of this area is unknown
#: (an area that already existed when the start snapshot was taken).
VN_UNKNOWN = 1 << 40


def restore(snapshot: bytes) -> Design:
    """A new design from :meth:`Design.snapshot` bytes."""
    import pickle
    return pickle.loads(snapshot)
