"""Pool contents a start snapshot cannot show, inferred from what the trace proves.

``/proc/vmallocinfo`` lists busy and lazily freed areas, never the per-node pools
(mm/vmalloc.c ``vn->pool[]``): an area waiting in a pool looks free.  After ``drop_caches`` the
pools are known to be empty (``vmap_node_shrink_scan()`` decays them fully); on a capture taken
without it (``--no-drain``) or on a running system traced with perf or trace-cmd they are not,
and the model's free space holds entries the kernel will hand out from a pool.

What the trace proves, and what :class:`HiddenPools` does with it (per node and size class,
the unit of ``node_alloc()`` and ``size_to_va_pool()``):

* the kernel handed out an address the model holds free, which the free-tree rule would not
  have chosen (:func:`~vmapsim.traces.replay_rules.explained_by_taking` says no block the model
  could have missed explains it): it came from that node's pool of that class.  The pool is then
  known to be non-empty, and its next entries are the candidates: ``purge_vmap_node()`` pushes a
  node's areas in address order, so a pool is handed out from its highest address downwards
  within one purge's batch; the prediction is the highest block of the class below the last
  one taken that the model holds free;
* the kernel took a free-tree block above the one the model chose, and taking the model's block
  away explains its choice: that block is held by an entry of some pool (or an allocation the
  trace does not show); it is reserved (not free) until an event touches it.  An allocation of
  the class served from the free tree proves the pool of that node and class empty;
* an area the trace allocated, freed or purged is known; pools filled during the trace are the
  model's own (no candidates).

Each allocation is counted *certain* when its prediction did not depend on any candidate (a
known pool entry, or a free-tree block the trace has shown) and *uncertain* otherwise; the replay
reports the agreement of each kind.  Nothing here is a kernel rule: it is bookkeeping of what is
unknown, narrowed as events arrive.
"""
from __future__ import annotations

from ..designs.base import Choice
from ..vmalloc.vmap_area import MAX_VA_SIZE_PAGES, PAGE_SIZE
from .replay_rules import explained_by_taking

__all__ = ["HiddenPools"]

#: blocks of the free list visited when looking for the next candidate of a pool
SEARCH_BLOCKS = 256


class HiddenPools:
    """Candidate pool contents of a capture whose pools were not empty at the start."""

    def __init__(self, d, active: bool = True):
        self.d = d
        #: False: pools were empty at the start (drained); only the certainty is counted
        self.active = active
        self.free = getattr(d, "free", None)         # the design's free tree (linux-6.18 family)
        self.streams: dict[tuple, int] = {}          # (node, pages) -> last candidate taken
        self.reserved: dict[int, int] = {}           # start -> end of blocks held by hidden entries
        self.known: set[int] = set()                 # area starts the trace has shown
        self.counts = {True: [0, 0], False: [0, 0]}  # certain? -> [allocs, matched]
        self.flags: list[bool] = []                  # per scored allocation: certain?

    # ---------------------------------------------------------------- prediction
    def predict(self, choice: Choice, e) -> tuple[Choice, bool]:
        """The prediction for allocation event *e* given the model's *choice*, and whether it is
        certain."""
        if choice.source == "pool":
            dual = self._head_is_copy(choice.node, e.size)
            return choice, not dual
        if not self.active:
            return choice, True
        pages = e.size // PAGE_SIZE
        key = (choice.node, pages)
        if choice.node >= 0 and pages <= MAX_VA_SIZE_PAGES and key in self.streams:
            cand = self._next_candidate(self.streams[key], e.size, e.align, e.vstart, e.vend)
            if cand is not None:
                return Choice(cand, "hidden-pool", choice.node), False
        if choice.addr is None:
            return choice, True
        return choice, choice.addr in self.known

    def _head_is_copy(self, node: int, size: int) -> bool:
        """The model's pool head is one of several copies of an area whose node is unknown."""
        nodes = getattr(self.d, "nodes", None)
        if nodes is None or node < 0:
            return False
        lst = nodes[node].pool.get((size - 1) // PAGE_SIZE)
        return bool(lst) and getattr(lst[-1], "dual", None) is not None

    def _next_candidate(self, last: int, size: int, align: int, vstart: int, vend: int):
        """The highest *align*-ed block of *size* below *last* that the model holds free."""
        if self.free is None:
            return None
        align = max(align, PAGE_SIZE)
        blk = self.free.find_exceed(last - 1)
        if blk is None:
            blk = self.free.last
        steps = 0
        while blk is not None and steps < SEARCH_BLOCKS:
            steps += 1
            top = min(blk.va_end, last, vend)
            a = (top - size) & ~(align - 1)
            if a >= max(blk.va_start, vstart) and a + size <= top:
                return a
            blk = blk.prev
        return None

    # ---------------------------------------------------------------- evidence
    def before_apply(self, e) -> None:
        """The kernel is about to take ``[e.addr, e.addr+e.size)``: a reservation it meets was
        not a pool entry held elsewhere (or was this one): give it back first."""
        if not self.reserved:
            return
        a, b = e.addr, e.addr + e.size
        for s in [s for s, t in self.reserved.items() if s < b and a < t]:
            self.d.release_range(s)
            del self.reserved[s]

    def observe(self, model: Choice, pred: Choice, certain: bool, e, src: str, free_before) -> None:
        """Learn from where the kernel put *e* (the model's own *model* choice, the prediction
        *pred*, the apply's *src*, the free ranges before the apply when the model missed)."""
        hit = pred.addr == e.addr
        c = self.counts[certain]
        c[0] += 1
        c[1] += hit
        self.flags.append(certain)
        if not self.active:
            return
        pages = e.size // PAGE_SIZE
        key = (model.node, pages)
        eligible = model.node >= 0 and pages <= MAX_VA_SIZE_PAGES
        if hit:
            if pred.source == "hidden-pool":
                self.streams[key] = e.addr
            elif pred.source == "free" and eligible:
                self.streams.pop(key, None)          # the free tree served it: pool empty
        elif model.source == "free" and src == "free" and model.addr is not None:
            taken_explains = free_before is not None and model.addr < e.addr and \
                explained_by_taking(free_before, model.addr, e)
            if eligible and not taken_explains:
                self.streams[key] = e.addr           # a pool entry the snapshot could not show
            elif model.addr < e.addr and model.addr not in self.known:
                self._reserve(model.addr, model.addr + e.size)
                if eligible:
                    self.streams.pop(key, None)
        self.known.add(e.addr)

    def freed(self, addr: int) -> None:
        self.known.add(addr)

    def _reserve(self, a: int, b: int) -> None:
        if any(s < b and a < t for s, t in self.reserved.items()):
            return
        self.d.reserve_range(a, b)
        self.reserved[a] = b

    def stop(self) -> None:
        """The final snapshot is being read: reservations are given back (they are inferences,
        never compared with a snapshot) and no new ones are made."""
        self.release_all()
        self.active = False

    def release_all(self) -> None:
        """Give every reservation back."""
        for s in list(self.reserved):
            self.d.release_range(s)
        self.reserved.clear()

    def summary(self) -> tuple[int, int, int, int]:
        """``(certain, certain matched, uncertain, uncertain matched)``."""
        return (self.counts[True][0], self.counts[True][1], self.counts[False][0],
                self.counts[False][1])
