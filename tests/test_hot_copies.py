"""The performance model's hot path runs inlined copies of small functions (each marked with the
name of the function it copies); these tests check that each copy and its original agree."""
import random

import pytest

from vmapsim.designs import make_design
from vmapsim.designs.linux618 import Linux618
from vmapsim.vmalloc.free_space import (
    LE_FIT_TYPE,
    alloc_vmap_area_range,
    find_vmap_lowest_match,
    va_clip,
)
from vmapsim.vmalloc.rbtree import RBTree
from vmapsim.vmalloc.vmap_area import PAGE_SIZE, VmapArea


class _Calls(Linux618):
    """linux-6.18 with the inlined helpers overridden by themselves: it takes the calls."""

    name = "linux-6.18-calls"

    def _node_pool_del_va(self, vn, size, align):
        return Linux618._node_pool_del_va(self, vn, size, align)

    def _alloc_free_tree(self, size, align, vstart, vend, cpu):
        return Linux618._alloc_free_tree(self, size, align, vstart, vend, cpu)


def _state(d):
    return (d.busy_areas(), d.lazy_areas(), d.free_ranges(), d.pools(), d.lazy_nr())


def _record(acct):
    return (acct.op, acct.cpu, acct.summary(), list(acct.events), acct.visited, acct.written,
            acct.alloc_bytes, acct.free_bytes)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_linux618_inline_copies_match_the_calls(seed):
    """alloc_vmap_area / find_unlink_vmap_area / free_vmap_area_noflush with the copies of
    begin(), the pool pop, the free-tree search, the busy insert and the node walk leave the
    same state and the same lock records as with the calls (pools filled by purges)."""
    params = dict(possible_cpus=4, online_cpus=1)
    a, b = make_design("linux-6.18", **params), _Calls(**params)
    assert a._inline and a._inline_free and not b._inline and not b._inline_free
    rng = random.Random(seed)
    live = []
    pool_pops = 0
    for step in range(1500):
        cpu = rng.randrange(4)
        if live and rng.random() < 0.48:
            addr = live.pop(rng.randrange(len(live)))
            out = []
            for d in (a, b):
                va = d.find_unlink_vmap_area(addr, cpu)
                r1 = _record(d.acct)
                drain = d.free_vmap_area_noflush(va, cpu)
                out.append((va.va_start, va.va_end, r1, _record(d.acct), drain))
                if drain:
                    d.purge_vmap_area_lazy(cpu=cpu)
            assert out[0] == out[1], step
        else:
            pages = rng.choice([1, 1, 2, 3, 8])
            align = rng.choice([PAGE_SIZE, PAGE_SIZE, 4 * PAGE_SIZE])
            got = [(d.alloc_vmap_area((pages + 1) * PAGE_SIZE, align, cpu=cpu), _record(d.acct))
                   for d in (a, b)]
            assert got[0] == got[1], step
            pool_pops += any(str(h[0]).endswith("pool_lock") for h in got[0][1][2])
            if got[0][0] is not None:
                live.append(got[0][0])
        if step % 100 == 99:                       # fill the pools
            assert _state(a) == _state(b)
            for d in (a, b):
                d.purge_vmap_area_lazy(cpu=cpu)
    assert _state(a) == _state(b)
    assert pool_pops > 100                         # the pool copies were exercised


def test_alloc_range_le_copy_matches_va_clip():
    """alloc_vmap_area_range's copy of va_clip()'s LE_FIT_TYPE case: same address, fit type,
    tree and counted work as the search followed by va_clip()."""
    rng = random.Random(5)

    def tree():
        t = RBTree(True)
        for s, e in [(1, 100 * PAGE_SIZE), (200 * PAGE_SIZE, 1000 * PAGE_SIZE),
                     (1200 * PAGE_SIZE, 1 << 40)]:
            va = VmapArea(s, e)
            t.insert_augment(va)
        return t

    t1, t2 = tree(), tree()
    les = 0
    for _ in range(300):
        size = rng.choice([1, 2, 5]) * PAGE_SIZE
        align = rng.choice([PAGE_SIZE, 8 * PAGE_SIZE])
        vstart, vend = PAGE_SIZE, 1 << 40
        addr, fit = alloc_vmap_area_range(t1, size, align, vstart, vend)
        va = find_vmap_lowest_match(t2, size, align, vstart, align > PAGE_SIZE)
        a = va.va_start
        nva = (max(a, vstart) + align - 1) & ~(align - 1)
        assert (addr, fit) == (nva, va_clip(t2, va, nva, size))
        les += fit == LE_FIT_TYPE
        assert [(v.va_start, v.va_end) for v in t1] == [(v.va_start, v.va_end) for v in t2]
        assert (t1.acct.visited, t1.acct.written, t1.acct.alloc_bytes, t1.acct.free_bytes) == \
            (t2.acct.visited, t2.acct.written, t2.acct.alloc_bytes, t2.acct.free_bytes)
    t1.validate()
    assert les > 50
