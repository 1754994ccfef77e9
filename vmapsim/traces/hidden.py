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

from sortedcontainers import SortedDict

from ..designs.base import Choice
from ..vmalloc.free_space import predict_range
from ..vmalloc.vmap_area import MAX_VA_SIZE_PAGES, PAGE_SIZE

__all__ = ["HiddenPools"]

#: free (or held) blocks visited when looking for the next candidate of a pool
SEARCH_BLOCKS = 256
#: blocks held at most per event when a free-tree allocation refutes the model's lower blocks
RESERVE_PER_EVENT = 64


class _Stream:
    """What the trace says about one node's pool of one size class: ``mode`` ``"pool"`` (it is
    handing out entries the snapshot could not show; ``last`` is the latest) or ``"free"`` (its
    hidden entries are gone: the class is served by the free tree)."""

    __slots__ = ("mode", "last", "ascending")

    def __init__(self, mode: str, last: int):
        self.mode, self.last, self.ascending = mode, last, False


class HiddenPools:
    """Candidate pool contents of a capture whose pools were not empty at the start."""

    def __init__(self, d, active: bool = True):
        self.d = d
        #: False: pools were empty at the start (drained); only the certainty is counted
        self.active = active
        self.free = getattr(d, "free", None)         # the design's free tree (linux-6.18 family)
        self.streams: dict[tuple, _Stream] = {}      # (node, pages) -> what its pool is doing
        self.reserved = SortedDict()                 # start -> end: held by entries not shown
        self.known: set[int] = set()                 # area starts the trace has shown
        self.counts = {True: [0, 0], False: [0, 0]}  # certain? -> [allocs, matched]
        self.took_held = False                       # the last allocation met a held range
        self.flags: list[bool] = []                  # per scored allocation: certain?

    # ---------------------------------------------------------------- prediction
    def predict(self, choice: Choice, e) -> tuple[Choice, bool]:
        """The prediction for allocation event *e* given the model's *choice*, and whether it is
        certain."""
        if choice.source == "pool":
            return choice, not self._head_is_copy(choice.node, e.size)
        if not self.active:
            return choice, True
        st = self.streams.get((choice.node, e.size // PAGE_SIZE))
        if st is not None and st.mode == "pool":
            cand = self._next_candidate(st.last, e.size, e.align, e.vstart, e.vend)
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
        """The highest *align*-ed block of *size* below *last* that the model holds free or
        reserved (a held range hides entries too)."""
        align = max(align, PAGE_SIZE)
        best = None
        blk = self.free.find_exceed(last - 1) if self.free is not None else None
        if blk is None and self.free is not None:
            blk = self.free.last
        steps = 0
        while blk is not None and steps < SEARCH_BLOCKS:
            steps += 1
            a = _fit_below(blk.va_start, blk.va_end, last, size, align, vstart, vend)
            if a is not None:
                best = a
                break
            blk = blk.prev
        res = self.reserved
        i = res.bisect_left(last)
        steps = 0
        while i > 0 and steps < SEARCH_BLOCKS:
            i -= 1
            steps += 1
            s = res.keys()[i]
            if best is not None and res[s] <= best:
                break
            a = _fit_below(s, res[s], last, size, align, vstart, vend)
            if a is not None:
                if best is None or a > best:
                    best = a
                break
        return best

    # ---------------------------------------------------------------- evidence
    def before_apply(self, e) -> None:
        """The kernel is about to take ``[e.addr, e.addr+e.size)``: a held range it meets was
        held wrongly from there up (the kernel found it free, or took an entry hidden in it):
        that part is given back, what lies below stays held."""
        self.took_held = False
        if not self.reserved:
            return
        a, b = e.addr, e.addr + e.size
        res = self.reserved
        i = res.bisect_right(a)
        hit = []
        if i > 0 and res.peekitem(i - 1)[1] > a:
            hit.append(res.peekitem(i - 1))
        while i < len(res) and res.keys()[i] < b:
            hit.append(res.peekitem(i))
            i += 1
        for s, _t in hit:
            self.d.release_range(s)
            del res[s]
            if s < a:
                self._reserve(s, a)
        self.took_held = bool(hit)

    def observe(self, model: Choice, pred: Choice, certain: bool, e, src: str, free_before) -> None:
        """Learn from where the kernel put *e*, given the model's own *model* choice and the
        prediction *pred* (called after the allocation was applied)."""
        a = e.addr
        hit = pred.addr == a
        c = self.counts[certain]
        c[0] += 1
        c[1] += hit
        self.flags.append(certain)
        self.known.add(a)
        if not self.active or model.source == "pool":
            return
        key = (model.node, e.size // PAGE_SIZE)
        eligible = model.node >= 0 and e.size // PAGE_SIZE <= MAX_VA_SIZE_PAGES
        if not eligible:
            if model.source == "free" and model.addr is not None and model.addr < a:
                self._refute_below(e)
            return
        st = self.streams.get(key)
        if hit:
            if st is not None:
                st.ascending = a > st.last
                st.last = a
            return
        if model.addr == a:                           # the free tree gave it: no hidden entry
            self.streams[key] = _Stream("free", a)
            return
        if st is None:
            # an address the free-tree rule does not give: most likely a pool entry
            self.streams[key] = _Stream("pool", a)
            return
        if st.mode == "pool":
            if a > st.last:
                if st.ascending:
                    # two ascending steps: not one pool's handing out (descending per purge
                    # batch); the free tree serves the class and the model's lower blocks are held
                    st.mode = "free"
                    self._refute_below(e)
                st.ascending = True
            else:
                st.ascending = False
            st.last = a
        else:
            if model.addr is not None and a > model.addr:
                self._refute_below(e)
                st.last = a
            elif self.took_held and a > st.last:
                st.last = a                           # held wrongly: still the free tree
            else:
                st.mode, st.last, st.ascending = "pool", a, False

    def _refute_below(self, e) -> None:
        """The free tree gave *e* its address: every block the model would have given below it
        is held by something the snapshot cannot show; hold them until an event touches them."""
        if self.free is None:
            return
        a = e.addr
        for _ in range(RESERVE_PER_EVENT):
            p = predict_range(self.free, e.size, e.align, e.vstart, e.vend)
            if p is None or p >= a:
                return
            blk = self.free.find(p)
            end = min(blk.va_end if blk is not None else p + e.size, a)
            if end <= p:
                return
            self._reserve(p, end)

    def freed(self, addr: int) -> None:
        self.known.add(addr)

    def _reserve(self, a: int, b: int) -> None:
        self.d.reserve_range(a, b)
        self.reserved[a] = b

    def stop(self) -> None:
        """The final snapshot is being read: held ranges are given back (they are inferences,
        never compared with a snapshot) and no new ones are made."""
        self.release_all()
        self.active = False

    def release_all(self) -> None:
        """Give every held range back."""
        for s in list(self.reserved):
            self.d.release_range(s)
        self.reserved.clear()

    def summary(self) -> tuple[int, int, int, int]:
        """``(certain, certain matched, uncertain, uncertain matched)``."""
        return (self.counts[True][0], self.counts[True][1], self.counts[False][0],
                self.counts[False][1])


def _fit_below(s: int, t: int, last: int, size: int, align: int, vstart: int, vend: int):
    """The highest *align*-ed start of a *size* block inside ``[s, t)`` below *last*, or None."""
    top = min(t, last, vend)
    a = (top - size) & ~(align - 1)
    if a >= max(s, vstart) and a + size <= top:
        return a
    return None
