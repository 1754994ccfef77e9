"""Pool contents a start snapshot cannot show, inferred from what the trace proves.

``/proc/vmallocinfo`` lists busy and lazily freed areas, never the per-node pools
(mm/vmalloc.c ``vn->pool[]``): an area waiting in a pool looks free.  After ``drop_caches`` the
pools are known to be empty (``vmap_node_shrink_scan()`` decays them fully); on a capture taken
without it (``--no-drain``) or on a running system traced with perf or trace-cmd they are not,
and the model's free space holds entries the kernel will hand out from a pool.

The model's own state is never changed by an inference: the design keeps exactly what the trace
and the snapshot proved, and :class:`HiddenPools` keeps, beside it, what is unknown, as
candidates, and uses them only to choose predictions.  What the trace proves, and what is done
with it (per node and size class, the unit of ``node_alloc()`` and ``size_to_va_pool()``):

* the kernel handed out an address the model holds free, which the free-tree rule would not
  have chosen: it most likely came from that node's pool of that class, which is then known to
  be non-empty.  Its next entries are the candidates: ``node_pool_add_va()`` adds at the list
  head and ``node_pool_del_va()`` takes the head, and ``purge_vmap_node()`` pushes a node's
  areas in address order, so a pool is handed out from its highest address downwards within
  one purge's batch; the prediction is a free block of exactly the class's size close below the
  last entry taken (an area whose neighbours are still there, :data:`EXACT_BLOCKS`), else the
  highest fit below it;
* the kernel took a free-tree block above the one the model chose: the model's blocks below it
  hold entries of some pool (or an allocation the trace does not show).  They are *refuted*:
  no free-tree prediction of that alignment (or a stricter one) is placed there, until an event
  touches the range (the kernel takes from it: refuted from that address up no longer; the
  model gives a range back to the free space: no longer refuted there).  An allocation of the
  class served from the free tree proves the pool of that node and class empty;
* an area the trace allocated, freed or purged is known; pools filled during the trace are the
  model's own (no candidates).

Each allocation is counted *certain* when its prediction did not depend on any candidate (a
known pool entry, or a free-tree block the trace has shown) and *uncertain* otherwise; the replay
reports the agreement of each kind.  Nothing here is a kernel rule: it is bookkeeping of what is
unknown, narrowed as events arrive.  How far it can go is limited by the capture itself: which
entries a pool held, and in which batches, is not in the trace (see data/traces/README.md).
"""
from __future__ import annotations

from sortedcontainers import SortedDict

from ..designs.base import Choice
from ..vmalloc.free_space import predict_range
from ..vmalloc.vmap_area import MAX_VA_SIZE_PAGES, PAGE_SIZE

__all__ = ["HiddenPools"]

#: free blocks visited when looking for the next candidate of a pool, or for an unrefuted fit
SEARCH_BLOCKS = 256
#: ranges refuted at most per event when a free-tree allocation refutes the model's lower blocks
REFUTE_PER_EVENT = 64
#: a free block of exactly the class's size among the first this many below a pool's last entry
#: is preferred as its next entry (for page-aligned classes)
EXACT_BLOCKS = 8


class _Stream:
    """What the trace says about one node's pool of one size class: ``mode`` ``"pool"`` (it is
    handing out entries the snapshot could not show; ``last`` is the latest) or ``"free"`` (its
    hidden entries are gone: the class is served by the free tree)."""

    __slots__ = ("mode", "last", "ascending", "prev")

    def __init__(self, mode: str, last: int):
        self.mode, self.last, self.ascending = mode, last, False
        self.prev = None

    def set_last(self, a: int) -> None:
        self.prev, self.last = self.last, a

    def entry_align(self, cap: int) -> int:
        """The alignment the last two entries share, at most *cap* (the largest alignment the
        trace requested for this size: a pool holding kernel stacks hands their 16 KiB-aligned
        entries to page-aligned requests of the same size too)."""
        if self.prev is None:
            return PAGE_SIZE
        x = self.last | self.prev
        return min(x & -x, cap)


class _Refuted:
    """Ranges of the model's free space that the kernel's free tree was seen to skip: per
    alignment, disjoint coalesced ranges ``start -> end``.  A range refuted at alignment *A*
    refutes every request whose alignment is a multiple of *A*."""

    def __init__(self):
        self.sets: dict[int, SortedDict] = {}

    def __len__(self):
        return sum(len(v) for v in self.sets.values())

    def refuted_end(self, p: int, size: int, align: int):
        """The end of a refuted range holding the fit ``[p, p + size)`` at *align*, or None."""
        best = None
        for a, iv in self.sets.items():
            if align % a:
                continue
            i = iv.bisect_right(p) - 1
            if i >= 0:
                t = iv.peekitem(i)[1]
                if t >= p + size and (best is None or t > best):
                    best = t
        return best

    def hits(self, a: int, b: int):
        """``(alignment, start, end)`` of every refuted range meeting ``[a, b)``."""
        out = []
        for al, iv in self.sets.items():
            i = max(iv.bisect_right(a) - 1, 0)
            while i < len(iv):
                s, t = iv.peekitem(i)
                if s >= b:
                    break
                if t > a:
                    out.append((al, s, t))
                i += 1
        return out

    def add(self, a: int, b: int, align: int) -> None:
        if b <= a:
            return
        iv = self.sets.setdefault(align, SortedDict())
        i = max(iv.bisect_right(a) - 1, 0)
        lo, hi, hit = a, b, []
        while i < len(iv):
            s, t = iv.peekitem(i)
            if s > b:
                break
            if t >= a:
                hit.append(s)
                lo, hi = min(lo, s), max(hi, t)
            i += 1
        for s in hit:
            del iv[s]
        iv[lo] = hi

    def remove(self, a: int, b: int, align: int | None = None) -> None:
        """Nothing is refuted in ``[a, b)`` any more (at *align* only, if given)."""
        for al in [k for k in self.sets if align is None or k == align]:
            iv = self.sets[al]
            i = max(iv.bisect_right(a) - 1, 0)
            hit = []
            while i < len(iv):
                s, t = iv.peekitem(i)
                if s >= b:
                    break
                if t > a:
                    hit.append((s, t))
                i += 1
            for s, t in hit:
                del iv[s]
                if s < a:
                    iv[s] = a
                if t > b:
                    iv[b] = t
            if not iv:
                del self.sets[al]

    def clear(self) -> None:
        self.sets.clear()


class HiddenPools:
    """Candidate pool contents of a capture whose pools were not empty at the start."""

    def __init__(self, d, active: bool = True):
        self.d = d
        #: False: pools were empty at the start (drained); only the certainty is counted
        self.active = active
        self.free = getattr(d, "free", None)         # the design's free tree (linux-6.18 family)
        self.streams: dict[tuple, _Stream] = {}      # (node, pages) -> what its pool is doing
        self.refuted = _Refuted()                    # free space the kernel's free tree skipped
        self.known: set[int] = set()                 # area starts the trace has shown
        self.counts = {True: [0, 0], False: [0, 0]}  # certain? -> [allocs, matched]
        self.took_refuted = False                    # the last allocation met a refuted range
        self.flags: list[bool] = []                  # per scored allocation: certain?
        self.class_align: dict[int, int] = {}        # size -> largest alignment requested
        self._free_pred = None                       # the free-tree prediction, refutations applied
        if active and self.free is not None and hasattr(d, "watch_free"):
            d.watch_free(self.refuted.remove)

    # ---------------------------------------------------------------- prediction
    def predict(self, choice: Choice, e) -> tuple[Choice, bool]:
        """The prediction for allocation event *e* given the model's *choice*, and whether it is
        certain."""
        self._free_pred = choice.addr if choice.source == "free" else None
        if choice.source == "pool":
            return choice, not self._head_is_copy(choice.node, e.size)
        if not self.active:
            return choice, True
        if choice.source == "free" and choice.addr is not None and self.refuted.sets:
            p = self._unrefuted_fit(choice.addr, e)
            self._free_pred = p
            choice = Choice(p, "free" if p is not None else "fail", choice.node)
        st = self.streams.get((choice.node, e.size // PAGE_SIZE))
        if st is not None and st.mode == "pool":
            cand = None
            ea = st.entry_align(self.class_align.get(e.size, PAGE_SIZE))
            if ea > max(e.align, PAGE_SIZE):
                cand = self._next_candidate(st.last, e.size, ea, e.vstart, e.vend)
            if cand is None:
                cand = self._next_candidate(st.last, e.size, e.align, e.vstart, e.vend)
            if cand is not None:
                return Choice(cand, "hidden-pool", choice.node), False
        if choice.addr is None:
            return choice, True
        return choice, choice.addr in self.known

    def _unrefuted_fit(self, p: int, e):
        """The lowest fit from *p* up that no refuted range holds."""
        size, align = e.size, max(e.align, PAGE_SIZE)
        for _ in range(SEARCH_BLOCKS):
            if p is None:
                return None
            t = self.refuted.refuted_end(p, size, align)
            if t is None:
                return p
            p = predict_range(self.free, size, e.align, max(e.vstart, t - size + PAGE_SIZE), e.vend)
        return p

    def _head_is_copy(self, node: int, size: int) -> bool:
        """The model's pool head is one of several copies of an area whose node is unknown."""
        nodes = getattr(self.d, "nodes", None)
        if nodes is None or node < 0:
            return False
        lst = nodes[node].pool.get((size - 1) // PAGE_SIZE)
        return bool(lst) and getattr(lst[-1], "dual", None) is not None

    def _next_candidate(self, last: int, size: int, align: int, vstart: int, vend: int):
        """The next entry of a pool whose last hand-out was *last*: a free block of exactly
        *size* among the first :data:`EXACT_BLOCKS` below it (page-aligned classes), else the
        highest *align*-ed fit below it."""
        if self.free is None:
            return None
        align = max(align, PAGE_SIZE)
        first = self.free.find_exceed(last - 1)
        if first is None:
            first = self.free.last
        elif first.va_start >= last:
            first = first.prev
        if align == PAGE_SIZE:
            blk, k = first, 0
            while blk is not None and k < EXACT_BLOCKS:
                if blk.va_end - blk.va_start == size and blk.va_end <= min(last, vend) \
                        and blk.va_start >= vstart and not blk.va_start & (align - 1):
                    return blk.va_start
                blk, k = blk.prev, k + 1
        blk = self.free.find_exceed(last - 1)
        if blk is None:
            blk = self.free.last
        steps = 0
        while blk is not None and steps < SEARCH_BLOCKS:
            steps += 1
            a = _fit_below(blk.va_start, blk.va_end, last, size, align, vstart, vend)
            if a is not None:
                return a
            blk = blk.prev
        return None

    # ---------------------------------------------------------------- evidence
    def before_apply(self, e) -> None:
        """The kernel is about to take ``[e.addr, e.addr+e.size)``: a refuted range it meets was
        refuted wrongly from there up (the kernel found it free, or took an entry hidden in it):
        that part is no longer refuted at the alignments that would have refused this request."""
        a, b = e.addr, e.addr + e.size
        hit = self.refuted.hits(a, b)
        self.took_refuted = bool(hit)
        align = max(e.align, PAGE_SIZE)
        for al, s, t in hit:
            if align % al == 0:
                self.refuted.remove(max(s, a), t, al)

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
        if e.align > self.class_align.get(e.size, PAGE_SIZE):
            self.class_align[e.size] = e.align
        if not self.active or model.source == "pool":
            return
        fp = self._free_pred                          # the free-tree rule, refutations applied
        key = (model.node, e.size // PAGE_SIZE)
        eligible = model.node >= 0 and e.size // PAGE_SIZE <= MAX_VA_SIZE_PAGES
        if not eligible:
            if fp is not None and fp < a:
                self._refute_below(e)
            return
        st = self.streams.get(key)
        if hit:
            if st is not None:
                st.ascending = a > st.last
                st.set_last(a)
            return
        if fp == a:                                   # the free tree gave it: no hidden entry
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
            st.set_last(a)
        else:
            if fp is not None and a > fp:
                self._refute_below(e)
                st.set_last(a)
            elif self.took_refuted and a > st.last:
                st.set_last(a)                        # refuted wrongly: still the free tree
            else:
                st.mode, st.ascending = "pool", False
                st.prev, st.last = None, a

    def _refute_below(self, e) -> None:
        """The free tree gave *e* its address: every block in which the model would have placed
        it below that address holds something the snapshot cannot show (a pool's entries);
        those blocks are refuted at *e*'s alignment."""
        if self.free is None:
            return
        a = e.addr
        align = max(e.align, PAGE_SIZE)
        vstart = e.vstart
        added = 0
        for _ in range(SEARCH_BLOCKS * REFUTE_PER_EVENT):
            p = predict_range(self.free, e.size, e.align, vstart, e.vend)
            if p is None or p >= a:
                return
            t = self.refuted.refuted_end(p, e.size, align)
            if t is not None:                         # refuted already: look above it
                vstart = max(vstart, t - e.size + PAGE_SIZE, p + PAGE_SIZE)
                continue
            added += 1
            if added > REFUTE_PER_EVENT:
                return
            blk = self.free.find(p)
            if blk is None:
                return
            end = min(blk.va_end, a)
            if end <= p:
                return
            self.refuted.add(blk.va_start, end, align)
            vstart = max(vstart, end - e.size + PAGE_SIZE, p + PAGE_SIZE)

    def freed(self, addr: int) -> None:
        self.known.add(addr)

    def stop(self) -> None:
        """The final snapshot is being read: no more inference."""
        self.refuted.clear()
        self.active = False

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
