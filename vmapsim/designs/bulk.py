"""Building the state a test_vmalloc setup leaves, in bulk, where the result is determined.

``full_fit_alloc_test`` and ``long_busy_list_alloc_test`` start with a setup of many thousand
same-size allocations per worker (lib/test_vmalloc.c; ``fls(num_online_cpus()) * 8192`` pairs
per worker for full_fit, 15000 areas for long_busy_list).  Played one operation at a time that
is millions of tree operations at 64 CPUs.  The performance model plays a setup before the
timed run, round-robin (worker 0, 1, .., n-1, one operation each, then again; a drain runs as
soon as a ``vfree`` makes it due), which is what a FIFO lock does with n CPUs running the same
loop (see :mod:`vmapsim.perf.warm`).  For that order the result is determined, and this module
computes it directly:

* every allocation of the setup comes, lowest address first, from one free range (the design is
  fresh: no pool, lazy or other free range can serve it), so the k-th allocation of the round-
  robin order lands at ``base + k * size`` (full_fit: the two arrays first, then ptr and junk
  areas in alternate rounds);
* full_fit then frees the junk areas round-robin; every ``lazy_max_pages() / 2 + 1`` frees make a
  drain due, and the drain (``__purge_vmap_area_lazy``) decays each node's pools (``len >> 2``
  from the head) into the free tree and pushes the node's lazy areas to its pool in address
  order.  Only the pools' contents move, which lists do in bulk; the free tree gains the decayed
  areas, merged with their neighbours at the end (merging does not depend on the order);
* the trees are then built once from sorted lists (:meth:`RBTree.from_sorted`).

The result equals the one-operation-at-a-time result area for area (tests/test_warm.py checks
busy, lazy and free areas, pools in order, ``vmap_lazy_nr`` and each worker's addresses at small
sizes); tree shapes differ (balanced here), which changes no lookup and no page-aligned search.

``linux-6.18`` and ``linux-6.8`` (the classes themselves, rb-tree indexes) are built this way
(6.8 is simpler: one busy tree, one purge tree whose areas merge, every drain returning
everything to the free tree); the maple-tree designs return None and are played step by step.
"""
from __future__ import annotations

from ..vmalloc.rbtree import RBTree
from ..vmalloc.vmap_area import MAX_VA_SIZE_PAGES, PAGE_SHIFT, PAGE_SIZE, VmapArea

__all__ = ["bulk_setup"]

ULONG_END = (1 << 64) - 1


def bulk_setup(design, test: str, nworkers: int, *, arrays: int, array_pages: int,
               count: int, free_junk: bool):
    """Build the setup of *test* on *design* for workers ``0..nworkers-1`` (worker c on CPU c).

    Each worker allocates *arrays* areas of *array_pages* pages, then *count* 1-page areas
    (with *free_junk*: *count* ptr/junk pairs, and then frees the junk).  Returns, per worker,
    ``{"arrays": [...], "ptr": [...]}`` (addresses), or None when the design or its state is
    not one this module can build (the caller then plays the setup step by step)."""
    from .linux68 import Linux68
    from .linux618 import Linux618
    if type(design) is Linux68:
        return _linux68_setup(design, nworkers, arrays, array_pages, count, free_junk)
    if type(design) is not Linux618:
        return None
    return _Linux618Setup(design, nworkers).run(arrays, array_pages, count, free_junk)


def _linux68_setup(d, n, arrays, array_pages, count, free_junk):
    """6.8: one busy tree, lazy areas merged into one purge tree, a drain returns them all to
    the free tree (merged): nothing depends on nodes or pools."""
    asize = (array_pages + 1) * PAGE_SIZE
    psize = 2 * PAGE_SIZE
    pairs = 2 if free_junk else 1
    total = n * (arrays * asize + pairs * count * psize)
    if d.vmap_lazy_nr or d.purge.count:
        return None
    vs, ve = d.vmalloc_start, d.vmalloc_end
    inside = [va for va in d.free if va.va_end > vs and va.va_start < ve]
    if len(inside) != 1:
        return None
    r = inside[0]
    base = max(r.va_start, vs)
    if base & (PAGE_SIZE - 1) or base + total > min(r.va_end, ve + 1):
        return None
    out = [{"arrays": [], "ptr": []} for _ in range(n)]
    busy = []
    a = base
    for _ in range(arrays):
        for c in range(n):
            busy.append(VmapArea(a, a + asize, 0, True))
            out[c]["arrays"].append(a)
            a += asize
    pbase = a
    step = pairs * n * psize
    for c in range(n):
        out[c]["ptr"] = list(range(pbase + c * psize, pbase + c * psize + count * step, step))
    round_bytes = n * psize
    for k in range(0, pairs * count, pairs):
        a = pbase + k * round_bytes
        busy.extend(VmapArea(x, x + psize, 0, True) for x in range(a, a + round_bytes, psize))
    end = pbase + pairs * count * n * psize
    starts, ends = [], []
    for va in d.free:
        if va is r:
            if r.va_start < base:
                starts.append(r.va_start)
                ends.append(base)
            if end < r.va_end:
                starts.append(end)
                ends.append(r.va_end)
        else:
            starts.append(va.va_start)
            ends.append(va.va_end)
    for c in range(n):
        d._preloaded[c] = True
    purged, lazy = [], []
    if free_junk:
        pages = psize >> PAGE_SHIFT
        f = d.lazy_max_pages() // pages + 1           # frees that make a drain due
        frees = n * count
        done = (frees // f) * f                       # frees purged by the drains
        junk = [pbase + (2 * i + 1) * round_bytes + c * psize
                for i in range(count) for c in range(n)]
        purged, lazy = junk[:done], junk[done:]
        d.vmap_lazy_nr = len(lazy) * pages
    d.busy = RBTree.from_sorted(busy, False, d.acct)
    d.purge = RBTree.from_sorted(_merged([], [], lazy, psize), False, d.acct)
    d.free = RBTree.from_sorted(_merged(starts, ends, purged, psize), True, d.acct)
    return out


class _Linux618Setup:
    def __init__(self, d, n):
        self.d, self.n = d, n

    def _fresh_range(self, total: int):
        """The one free range all allocations come from, or None (preconditions not met)."""
        d = self.d
        if d.vmap_lazy_nr or any(vn.pool or vn.lazy.count for vn in d.nodes) or d._ncopies:
            return None
        vs, ve = d.vmalloc_start, d.vmalloc_end
        inside = [va for va in d.free if va.va_end > vs and va.va_start < ve]
        if len(inside) != 1:
            return None
        r = inside[0]
        base = max(r.va_start, vs)
        if base & (PAGE_SIZE - 1) or base + total > min(r.va_end, ve + 1):
            return None
        return r, base

    def run(self, arrays, array_pages, count, free_junk):
        d, n = self.d, self.n
        nodes = d.nr_nodes
        asize = (array_pages + 1) * PAGE_SIZE          # + guard page
        psize = 2 * PAGE_SIZE                          # 1 page + guard page
        pairs = 2 if free_junk else 1
        total = n * (arrays * asize + pairs * count * psize)
        got = self._fresh_range(total)
        if got is None:
            return None
        r, base = got
        eligible = nodes > 1                           # node_alloc(): vn_id encoded
        node_of = [c % nodes for c in range(n)]
        vn_flag = [((c % nodes) + 1) << 8 if eligible else 0 for c in range(n)]
        zone = d.zone
        busy = [[] for _ in range(nodes)]
        out = [{"arrays": [], "ptr": []} for _ in range(n)]
        # --- allocations, round-robin, lowest address first
        a = base
        for _ in range(arrays):
            for c in range(n):
                busy[(a // zone) % nodes].append(VmapArea(a, a + asize, vn_flag[c], True))
                out[c]["arrays"].append(a)
                a += asize
        pbase = a
        step = pairs * n * psize                      # one round of ptr (+ one of junk)
        for c in range(n):
            out[c]["ptr"] = list(range(pbase + c * psize, pbase + c * psize + count * step, step))
        # the ptr rounds (every round, or every other one with junk), in address order
        round_bytes = n * psize
        starts = []
        for k in range(0, pairs * count, pairs):
            a = pbase + k * round_bytes
            starts.extend(range(a, a + round_bytes, psize))
        flags = [vn_flag[c] for c in range(n)] * (len(starts) // n)
        areas = list(map(VmapArea, starts, [s + psize for s in starts], flags,
                         [True] * len(starts)))
        if nodes == 1:
            busy[0].extend(areas)
        elif zone % psize == 0:
            first = 0                                 # consecutive areas share a zone
            while first < len(areas):
                a = starts[first]
                room = max(1, -(-(zone - a % zone) // psize))   # areas starting in a's zone
                if free_junk:                          # rounds are not contiguous
                    room = min(room, n - (first % n))
                busy[(a // zone) % nodes].extend(areas[first:first + room])
                first += room
        else:
            for va in areas:
                busy[(va.va_start // zone) % nodes].append(va)
        end = pbase + pairs * count * n * psize
        # the free range the allocations came from: NE fit at base leaves [r.start, base)
        free_starts, free_ends = [], []
        for va in d.free:
            if va is r:
                if r.va_start < base:
                    free_starts.append(r.va_start)
                    free_ends.append(base)
                if end < r.va_end:
                    free_starts.append(end)
                    free_ends.append(r.va_end)
            else:
                free_starts.append(va.va_start)
                free_ends.append(va.va_end)
        # alloc_vmap_area bookkeeping of the free-tree path (one NE fit at the very first one
        # if the range started below base: the spare was used then re-preloaded)
        for c in range(n):
            d._preloaded[c] = True
        if d._spare is None:
            d._spare = VmapArea()
        lazy = [[] for _ in range(nodes)]
        decayed = []
        if free_junk:
            lazy = self._free_junk(pbase, psize, count, node_of, vn_flag, decayed)
        # --- the trees, each built once
        for i, vn in enumerate(d.nodes):
            vn.busy = RBTree.from_sorted(busy[i], False, d.acct)
            vn.lazy = RBTree.from_sorted(lazy[i], False, d.acct)
        free_areas = _merged(free_starts, free_ends, decayed, psize)
        d.free = RBTree.from_sorted(free_areas, True, d.acct)
        return out

    def _free_junk(self, pbase, psize, count, node_of, vn_flag, decayed):
        """Free junk[c][i] round-robin (i outer, c inner); drains inline when due."""
        d, n = self.d, self.n
        nodes = d.nr_nodes
        populate = nodes > 1
        idx = (psize - 1) // PAGE_SIZE
        assert idx < MAX_VA_SIZE_PAGES
        old_rule = d.params["decay_rule"] == "6.9"
        pages = psize >> PAGE_SHIFT
        lazy_max = d.lazy_max_pages()
        step = 2 * n * psize
        total = n * count                              # frees in all
        seq0 = d._lazy_seq
        pool = [[] for _ in range(nodes)]              # addresses, tail = head of the pool
        pool_gen = [[] for _ in range(nodes)]
        workers_of = [[c for c in range(n) if node_of[c] == v] for v in range(nodes)]

        def junk(c, i):
            return pbase + (2 * i + 1) * n * psize + c * psize

        k0 = 0
        lazy_nr = d.vmap_lazy_nr
        # frees until the drain is due: lazy_nr + f * pages > lazy_max
        while True:
            f = (lazy_max - lazy_nr) // pages + 1      # frees that make the drain due
            if f < 1:
                f = 1
            k1 = k0 + f
            if k1 > total:
                break
            # the drain: decay every node's pool, then push every node's lazy list
            d._purge_gen += 1
            gen = -d._purge_gen
            for v in range(nodes):
                lst = pool[v]
                m = len(lst)
                if not m:
                    continue
                k = m >> 2
                if old_rule and m < 4:
                    k = m
                if k:
                    decayed.extend(lst[m - k:])
                    del lst[m - k:]
                    del pool_gen[v][m - k:]
            for v in range(nodes):
                vas = _batch(workers_of[v], k0, k1, n, junk)
                if not vas:
                    continue
                if populate:
                    pool[v].extend(vas)
                    pool_gen[v].extend([gen] * len(vas))
                else:
                    decayed.extend(vas)
            lazy_nr = 0                                # the drain purged every lazy area
            k0 = k1
        d.vmap_lazy_nr = lazy_nr + (total - k0) * pages
        d._lazy_seq = seq0 + total
        lazy = []
        for v in range(nodes):
            lst = []
            for c in workers_of[v]:
                i0 = _first_round(c, k0, n)
                for i in range(i0, count):
                    a = junk(c, i)
                    va = VmapArea(a, a + psize, vn_flag[c], True)
                    va.seq = seq0 + i * n + c + 1
                    lst.append(va)
            if len(workers_of[v]) > 1:
                lst.sort(key=lambda va: va.va_start)
            lazy.append(lst)
        for v in range(nodes):
            if not pool[v]:
                continue
            vas = []
            for a, g in zip(pool[v], pool_gen[v]):
                va = VmapArea(a, a + psize, vn_flag[((a - pbase) // psize) % n], True)
                va.seq = g
                vas.append(va)
            d.nodes[v].pool = {idx: vas}
        return lazy


def _first_round(c, k0, n):
    """The first round i whose free of worker c (free number i * n + c) is at or after k0."""
    return max(0, -(-(k0 - c) // n))


def _batch(workers, k0, k1, n, junk):
    """Addresses freed by *workers* among frees k0..k1-1, in address order."""
    out = []
    for c in workers:
        i0 = _first_round(c, k0, n)
        i1 = _first_round(c, k1, n)
        if i1 > i0:
            a, step = junk(c, i0), junk(c, i0 + 1) - junk(c, i0)
            out.extend(range(a, a + (i1 - i0) * step, step))
    if len(workers) > 1:
        out.sort()
    return out


def _merged(starts, ends, decayed, size):
    """Free areas: the given ranges plus the *size*-byte areas at *decayed*, merged where they
    touch (the free tree's ranges are maximal), as VmapArea objects in address order."""
    import numpy as np
    spans = list(zip(starts, ends))
    if decayed:
        a = np.array(decayed, dtype=np.uint64)
        a.sort()
        brk = np.nonzero(a[1:] != a[:-1] + np.uint64(size))[0]
        first = np.concatenate(([0], brk + 1))
        last = np.concatenate((brk, [len(a) - 1]))
        spans += zip(a[first].tolist(), (a[last] + np.uint64(size)).tolist())
    spans.sort()
    out = []
    cs, ce = None, None
    for s, e in spans:
        if ce is not None and s == ce:
            ce = e
            continue
        if cs is not None:
            out.append(VmapArea(cs, ce))
        cs, ce = s, e
    if cs is not None:
        out.append(VmapArea(cs, ce))
    return out
