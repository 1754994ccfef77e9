"""Throughput of vmapsim.maple.MapleTree against sortedcontainers doing the same job.

For each size N (10^3 .. 10^6 ranges, vmalloc-like: page-granular areas of 1..16 pages with
0..4-page holes between them) it measures, in operations per second:

* ``load``: the entry of the range containing a random index.  Maple: ``mt.load``.
  SortedList: ``bisect_right`` on the sorted starts, then the end/entry of that start.
* ``store``: insert a new area into a hole (``mt.store_range``) / ``SortedList.add`` + dict.
* ``erase``: remove those areas again (``mt.erase``) / ``SortedList.remove`` + dict.
* ``empty_area``: lowest start of a free area of a random size in a random window
  (``mt.empty_area``) / a scan of the sorted areas from the window start.

and prints each maple/SortedList throughput ratio (> 1: the maple tree is faster).  It also
measures the access layer's cost: ``load`` with the default :data:`vmapsim.maple.access.FAST`
against a :class:`vmapsim.maple.access.HookedAccess` whose hook does nothing (the explorer's hook
point, switched on) and a :class:`~vmapsim.maple.access.CountingAccess`.

Floor: range lookup >= 0.5x SortedList's.  Exit status 1 if a measured ratio is
below the floor.  ``python bench/bench_maple.py [--sizes 1000,10000,...] [--seed S] [--json]``.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time

from sortedcontainers import SortedList

from vmapsim.maple import MapleBusy, MapleTree
from vmapsim.maple.access import CountingAccess, HookedAccess

LOAD_FLOOR = 0.5


def build(n, seed):
    rnd = random.Random(seed)
    areas = []
    pos = 1 << 20
    for i in range(n):
        pos += rnd.randrange(0, 5)
        size = rnd.randrange(1, 17)
        areas.append((pos, pos + size - 1, i))
        pos += size
    return areas


def _rate(count, seconds):
    return count / seconds if seconds > 0 else float("inf")


class SortedAreas:
    """The SortedList equivalent: sorted starts plus a dict start -> (end, entry)."""

    def __init__(self, areas):
        self.starts = SortedList(a for a, _, _ in areas)
        self.info = {a: (b, v) for a, b, v in areas}

    def load(self, index):
        starts = self.starts
        i = starts.bisect_right(index) - 1
        if i < 0:
            return None
        s = starts[i]
        end, v = self.info[s]
        return v if index <= end else None

    def store(self, a, b, v):
        self.starts.add(a)
        self.info[a] = (b, v)

    def erase(self, a):
        self.starts.remove(a)
        return self.info.pop(a)[1]

    def empty_area(self, mn, mx, size):
        starts = self.starts
        i = starts.bisect_right(mn) - 1
        pos = mn
        if i >= 0:
            end = self.info[starts[i]][0]
            if end >= pos:
                pos = end + 1
            i += 1
        else:
            i = 0
        for s in starts.islice(i):
            if s - pos >= size:
                break
            end = self.info[s][0]
            if end >= pos:
                pos = end + 1
            if pos > mx:
                break
        if pos + size - 1 <= mx:
            return pos
        raise MapleBusy("no fit")


def _best(rounds, fns):
    """Best (highest) rate of each callable over *rounds* alternating rounds: ``fn(k) -> count``."""
    best = [0.0] * len(fns)
    for k in range(rounds):
        for j, fn in enumerate(fns):
            t0 = time.perf_counter()
            count = fn(k)
            rate = _rate(count, time.perf_counter() - t0)
            best[j] = max(best[j], rate)
    return best


def measure(n, seed, reps, rounds=3):
    areas = build(n, seed)
    rnd = random.Random(seed + 1)
    lo, hi = areas[0][0], areas[-1][1]
    t0 = time.perf_counter()
    mt = MapleTree(alloc_range=True)
    for a, b, v in areas:
        mt.store_range(a, b, v)
    build_maple = time.perf_counter() - t0
    t0 = time.perf_counter()
    sa = SortedAreas(areas)
    build_sorted = time.perf_counter() - t0
    res = {"n": n, "height": mt.height(), "nodes": mt.node_count(), "bytes": mt.memory_bytes(),
           "build_s": {"maple": build_maple, "sortedlist": build_sorted}}

    # load
    idx = [rnd.randrange(lo, hi + 1) for _ in range(reps)]
    for a in idx[:200]:
        assert mt.load(a) == sa.load(a)

    def maple_load(_k):
        load = mt.load
        for a in idx:
            load(a)
        return len(idx)

    def sorted_load(_k):
        load = sa.load
        for a in idx:
            load(a)
        return len(idx)

    res["load"] = tuple(_best(rounds, [maple_load, sorted_load]))
    # access layer: default, hooked (no-op hook), counting
    hooked, counting = HookedAccess(), CountingAccess()

    def with_access(acc):
        def run(_k):
            mt.set_access(acc)
            try:
                return maple_load(_k)
            finally:
                mt.set_access(None)
        return run

    fast, res["load_hooked"], res["load_counting"] = _best(
        rounds, [maple_load, with_access(hooked), with_access(counting)])
    res["load_fast_again"] = fast

    # store into holes, then erase them (a fresh group of holes each round)
    holes = [areas[k - 1][1] + 1 for k in range(1, len(areas)) if areas[k][0] > areas[k - 1][1] + 1]
    rnd.shuffle(holes)
    per = max(1, min(reps // 4, len(holes) // rounds))
    groups = [holes[k * per:(k + 1) * per] for k in range(rounds)]

    def maple_store(k):
        for h in groups[k]:
            mt.store_range(h, h, -1)
        return len(groups[k])

    def sorted_store(k):
        for h in groups[k]:
            sa.store(h, h, -1)
        return len(groups[k])

    def maple_erase(k):
        for h in groups[k]:
            mt.erase(h)
        return len(groups[k])

    def sorted_erase(k):
        for h in groups[k]:
            sa.erase(h)
        return len(groups[k])

    st_m = st_s = er_m = er_s = 0.0
    for k in range(rounds):
        a, b = _best(1, [lambda _k, k=k: maple_store(k), lambda _k, k=k: sorted_store(k)])
        c, d = _best(1, [lambda _k, k=k: maple_erase(k), lambda _k, k=k: sorted_erase(k)])
        st_m, st_s, er_m, er_s = max(st_m, a), max(st_s, b), max(er_m, c), max(er_s, d)
    res["store"] = (st_m, st_s)
    res["erase"] = (er_m, er_s)

    # empty_area: random window start, first fit of 1..6 pages up to the end of the space
    q = max(50, reps // 20)
    reqs = [(areas[rnd.randrange(len(areas))][0], rnd.randrange(1, 7)) for _ in range(q)]
    for mn, size in reqs[:50]:
        assert mt.empty_area(mn, hi + 100, size) == sa.empty_area(mn, hi + 100, size)

    def maple_area(_k):
        for mn, size in reqs:
            mt.empty_area(mn, hi + 100, size)
        return q

    def sorted_area(_k):
        for mn, size in reqs:
            sa.empty_area(mn, hi + 100, size)
        return q

    res["empty_area"] = tuple(_best(rounds, [maple_area, sorted_area]))
    if n <= 10 ** 5:
        mt.validate()
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="maple tree vs SortedList throughput")
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--reps", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(n, args.seed, args.reps) for n in sizes]
    ok = True
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'N':>8} {'h':>2} {'nodes':>7}  " + "  ".join(
            f"{op:>22}" for op in ("load", "store", "erase", "empty_area")) + "   hook cost")
        for r in rows:
            cells = []
            for op in ("load", "store", "erase", "empty_area"):
                m, s = r[op]
                cells.append(f"{m / 1e3:7.0f}k/{s / 1e3:6.0f}k ={m / s:5.2f}x")
            hook = r["load_fast_again"] / r["load_hooked"]
            print(f"{r['n']:>8} {r['height']:>2} {r['nodes']:>7}  " + "  ".join(cells)
                  + f"   hooked {hook:4.2f}x slower, counting {r['load_fast_again'] / r['load_counting']:4.2f}x")
        print("cells: maple ops/s / SortedList ops/s = ratio (> 1: maple faster)")
    for r in rows:
        m, s = r["load"]
        if m / s < LOAD_FLOOR:
            ok = False
            print(f"FLOOR MISSED: load ratio {m / s:.2f} < {LOAD_FLOOR} at N={r['n']}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
