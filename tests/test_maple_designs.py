"""The maple-tree designs: construction and bad input, the node-allocation recipes and
their lock records, rfc-v1's overlays (retry list, bump chunks) and the struct sizes."""
import random

import pytest

from vmapsim.designs import make_design
from vmapsim.designs.rfc_v1_bump import CHUNK_PAGES, VA_FROM_BUMP_CHUNK
from vmapsim.errors import ParameterError
from vmapsim.maple.node import NODE_BYTES
from vmapsim.vmalloc.layout import objects_per_slab_page, sizeof_vmap_area
from vmapsim.vmalloc.vmap_area import PAGE_SIZE, VMALLOC_START

MAPLE = ["rfc-maple-busy", "rfc-v1", "maple-nofree", "maple-nofree-sharded"]


def drive(d, n=1500, seed=1, aligned=True, cpus=2, check_every=300):
    """Random alloc/vfree traffic; returns the live addresses."""
    r = random.Random(seed)
    live = []
    for i in range(n):
        if live and r.random() < 0.47:
            d.vfree(live.pop(r.randrange(len(live))), cpu=r.randrange(cpus))
        else:
            align = PAGE_SIZE << (r.randint(0, 3) if aligned else 0)
            a = d.alloc_vmap_area(PAGE_SIZE * r.randint(1, 8), align=align, cpu=r.randrange(cpus))
            if a is not None:
                live.append(a)
        if i % check_every == 0:
            d.validate()
    d.validate()
    return live


def test_unknown_design_lists_every_maple_design():
    with pytest.raises(ParameterError) as exc:
        make_design("maple-free")
    for name in MAPLE:
        assert name in str(exc.value)


@pytest.mark.parametrize("name, kwargs, msg", [
    ("rfc-v1", {"nodealloc": "gfp"}, "nodealloc.*series, wilcox, rezki"),
    ("maple-nofree", {"nowait_fail": 1.5}, "nowait_fail"),
    ("maple-nofree-sharded", {"aligned_search": "sideways"}, "aligned_search.*padded, exact"),
    ("maple-nofree", {"lookup": "seqlock"}, "lookup.*lock, rcu"),
    ("maple-nofree", {"va_layout": "huge"}, "va_layout"),
    ("rfc-v1", {"kvzalloc_fail": -0.1}, "kvzalloc_fail"),
    ("rfc-maple-busy", {"bump": True}, "unknown parameter 'bump'"),
])
def test_bad_parameters_name_the_parameter(name, kwargs, msg):
    with pytest.raises(ParameterError, match=msg):
        make_design(name, **kwargs)


@pytest.mark.parametrize("name", MAPLE)
@pytest.mark.parametrize("mode", ["series", "wilcox", "rezki"])
def test_every_mode_keeps_every_invariant_and_never_underestimates(name, mode):
    d = make_design(name, possible_cpus=2, nodealloc=mode)
    live = drive(d, n=900)
    d.purge_vmap_area_lazy()
    d.validate()
    assert d.na.counts["underestimate"] == 0, "mas_prealloc_calc must be an upper bound"
    assert d.na.counts["nodes_used"] + d.na.counts["nodes_returned"] == d.na.counts["nodes_requested"]
    for a in live:
        assert d.find_vmap_area(a + 1)[0] == a


def test_recipes_give_the_same_addresses_without_failures():
    runs = {}
    for mode in ("series", "wilcox", "rezki"):
        d = make_design("maple-nofree-sharded", possible_cpus=2, nodealloc=mode)
        drive(d, n=800)
        runs[mode] = (d.busy_areas(), d.lazy_areas(), d.free_ranges(), d.pools())
    assert runs["series"] == runs["wilcox"] == runs["rezki"]


def _spin_holds(d):
    return [h for h in d.acct.holds if h.lock is not None and h.kind == "spin"]


def test_rezki_never_allocates_under_a_spinlock():
    d = make_design("maple-nofree-sharded", possible_cpus=2, nodealloc="rezki")
    r = random.Random(3)
    live, seen_drop = [], False
    for i in range(600):
        if live and r.random() < 0.45:
            d.vfree(live.pop(r.randrange(len(live))), cpu=1)
        else:
            live.append(d.alloc_vmap_area(PAGE_SIZE * r.randint(1, 4), cpu=0))
        assert all(h.alloc_bytes == 0 for h in _spin_holds(d)), d.acct.holds
        holds = [h.lock for h in d.acct.holds]
        # a store that needs nodes: lock, drop, allocate outside, retake
        for i in range(len(holds) - 2):
            if holds[i] == holds[i + 2] == "occupied_mt.lock" and holds[i + 1] is None:
                seen_drop = True
    assert seen_drop and d.na.counts["revalidations"] == d.na.counts["lock_drops"] > 0


def test_series_allocates_under_the_lock_and_fails_over_to_atomic():
    d = make_design("rfc-v1", possible_cpus=2, bump=False, nowait_fail=1.0, seed=5)
    drive(d, n=400)
    c = d.na.counts
    assert c["nowait_fail"] == c["nowait_attempts"] > 0
    # NOWAIT failures of stores fall back to GFP_ATOMIC, those of mas_erase() to GFP_KERNEL
    assert c["atomic_attempts"] + c["gfp_kernel_under_spinlock"] >= c["nowait_fail"]
    assert c["atomic_fail"] == 0 and c["gfp_kernel_under_spinlock"] > 0
    under = [h for h in _spin_holds(d) if h.alloc_bytes]
    assert all(h.alloc_bytes % NODE_BYTES == 0 for h in under)


def test_wilcox_drops_its_own_lock_and_restarts():
    d = make_design("maple-nofree", possible_cpus=2, nowait_fail=1.0, seed=2)
    found = False
    for i in range(400):
        d.alloc_vmap_area(PAGE_SIZE, cpu=i % 2)
        locks = [h.lock for h in d.acct.holds]
        if "vmap_area_mt.lock" in locks and locks.count("vmap_area_mt.lock") >= 2:
            k = locks.index("vmap_area_mt.lock")
            assert locks[k + 1] is None and d.acct.holds[k + 1].alloc_bytes > 0
            found = True
    assert found and d.na.counts["restarts"] == d.na.counts["lock_drops"] > 0
    d.validate()


def test_mas_erase_under_an_external_lock_allocates_with_gfp_kernel_under_it():
    """Patch 09: find_unlink_vmap_area() calls mas_erase() under vn->busy.lock; when the erase
    needs nodes and GFP_NOWAIT fails, mas_nomem() allocates with GFP_KERNEL without dropping the
    external lock."""
    d = make_design("rfc-maple-busy", possible_cpus=1, nowait_fail=1.0)
    addrs = [d.alloc_vmap_area(PAGE_SIZE * 2) for _ in range(400)]
    events = []
    for a in addrs:                              # merging NULL ranges: rebalances need nodes
        va = d.find_unlink_vmap_area(a)
        events += [e for e in d.acct.events if e[0] == "gfp_kernel_under_spinlock"]
        d.free_vmap_area_noflush(va)
    assert events and d.na.counts["gfp_kernel_under_spinlock"] == len(events)
    d.validate()


def test_retry_list_keeps_failed_areas_reserved_until_the_purge():
    d = make_design("rfc-v1", possible_cpus=2, bump=False)
    for i in range(100):
        d.alloc_vmap_area(PAGE_SIZE, cpu=i % 2)
    # from now on node allocations for the busy trees fail (the occupied tree's succeed)
    busy_trees = {id(vn.busy.mt) for vn in d.nodes}
    d.na._fails = lambda rate: id(d.na._tree) in busy_trees
    queued = []
    orig = d._busy_insert_failed

    def spy(va):
        orig(va)
        queued.append(len(d.retry))
        assert not d.gap.overlaps_free(va.va_start, va.va_end), "queued range must stay reserved"
        d.validate()

    d._busy_insert_failed = spy
    fails = 0
    for i in range(300):
        if d.alloc_vmap_area(PAGE_SIZE, cpu=i % 2) is None:
            fails += 1
        d.validate()
    assert fails > 0 and d.na.counts["enomem"] > 0
    assert queued and min(queued) >= 1, "failed busy inserts go on the retry list"
    d.na._fails = lambda rate: False
    d.purge_vmap_area_lazy()
    assert not d.retry, "the purge worker drains the list"
    d.validate()


def test_without_the_retry_list_failed_erases_leak():
    d = make_design("rfc-v1", possible_cpus=1, bump=False, retry_list=False)
    live = [d.alloc_vmap_area(PAGE_SIZE * 3) for _ in range(600)]
    for a in live:
        d.vfree(a)
    d.na.atomic_fail = 1.0
    d.purge_vmap_area_lazy()
    assert not d.leaked, "mas_store_gfp tries GFP_NOWAIT first: GFP_ATOMIC is not reached"
    d2 = make_design("rfc-v1", possible_cpus=1, bump=False, retry_list=False)
    live = [d2.alloc_vmap_area(PAGE_SIZE * 3) for _ in range(600)]
    for a in live:
        d2.vfree(a)
    d2.na.nowait_fail = d2.na.atomic_fail = 1.0
    d2.purge_vmap_area_lazy()
    assert d2.leaked and not d2.retry
    d2.validate()


def test_series_erase_helpers_try_gfp_nowait_before_gfp_atomic():
    """The erase helpers' mas_store_gfp(NULL, GFP_ATOMIC): lib/maple_tree.c:mas_store_gfp
    allocates first with GFP_NOWAIT (mas_wr_preallocate), GFP_ATOMIC only in mas_nomem()."""
    from vmapsim.designs.base import Accounting
    from vmapsim.designs.node_alloc import NodeAlloc
    from vmapsim.maple import MapleTree

    def erase_needing_nodes(nowait_fail, atomic_fail):
        t = MapleTree()
        for k in range(1, 40):
            t.store_range(0x10000 * k, 0x10000 * k + 0xfff, f"va{k}")
        k = next(k for k in range(1, 40) if t.nodes_needed(0x10000 * k, 0x10000 * k + 0xfff, None))
        na = NodeAlloc("series", nowait_fail=nowait_fail, atomic_fail=atomic_fail, seed=0)
        acct = Accounting()
        acct.begin("purge", 0)
        r = na.run(acct, "free_vmap_area_lock", t,
                   lambda: (0x10000 * k, 0x10000 * k + 0xfff), None, kind="erase")
        return r, na.counts, acct

    assert NodeAlloc("series").recipe("erase") == "store_gfp"
    r, c, acct = erase_needing_nodes(0.0, 1.0)
    assert r.ok and c["nowait_attempts"] == 1 and c["atomic_attempts"] == 0 and acct.alloc_bytes
    r, c, _ = erase_needing_nodes(1.0, 0.0)
    assert r.ok and c["nowait_fail"] == 1 and c["atomic_attempts"] == 1
    r, c, _ = erase_needing_nodes(1.0, 1.0)
    assert not r.ok and c["atomic_fail"] == 1 and c["gfp_kernel_under_spinlock"] == 0


def test_rfc_v1_pads_an_exact_range_and_fails_where_618_succeeds():
    lo = VMALLOC_START + (1 << 30)
    for name, ok in (("linux-6.18", True), ("maple-nofree", True), ("rfc-v1", False)):
        d = make_design(name, possible_cpus=2)
        a = d.alloc_vmap_area(8 * PAGE_SIZE, align=8 * PAGE_SIZE, vstart=lo, vend=lo + 8 * PAGE_SIZE)
        assert (a == lo) if ok else (a is None), name


# ---------------------------------------------------------------------------- bump chunks
def test_bump_serves_eligible_requests_before_the_pools():
    d = make_design("rfc-v1", possible_cpus=2)
    a = d.alloc_vmap_area(5 * PAGE_SIZE, align=4 * PAGE_SIZE, cpu=1)
    va = d.bump.cur[1].vas[a]
    assert va.flags & VA_FROM_BUMP_CHUNK and a % (4 * PAGE_SIZE) == 0
    assert d.find_vmap_area(a + PAGE_SIZE, cpu=0) == (a, a + 5 * PAGE_SIZE)
    assert all(not vn.busy.count for vn in d.nodes), "bump areas are not in busy.mt (patch 11)"
    b = d.alloc_vmap_area(PAGE_SIZE, vstart=VMALLOC_START, vend=VMALLOC_START + (1 << 40))
    assert b not in d.bump.cur[0].vas if d.bump.cur[0] else True
    d.validate()


def test_alloc_free_pairs_leak_every_replaced_chunk():
    """fix_size_alloc_test's pattern: each chunk is empty when it is replaced, and only an
    unlink can release a chunk, so every replaced chunk stays reserved for ever."""
    d = make_design("rfc-v1", possible_cpus=1)
    per_chunk = CHUNK_PAGES // 2                 # 1 page + guard
    for _ in range(3 * per_chunk + 1):
        d.vfree(d.alloc_vmap_area(2 * PAGE_SIZE))
    c = d.bump.counts
    assert c["refills"] == 4 and c["leaked_chunks"] == 3 and c["releases"] == 0
    mem = d.index_memory().extra
    assert mem["bump_chunks"] == 4 and mem["bump_reserved_bytes"] == 4 * (64 << 20)
    d.validate()


def test_releasing_a_chunk_exposes_areas_still_waiting_for_the_flush():
    d = make_design("rfc-v1", possible_cpus=1)
    first = d.alloc_vmap_area(4 * PAGE_SIZE)
    while d.bump.counts["refills"] < 2:
        d.alloc_vmap_area(1024 * PAGE_SIZE)
    d.vfree(d.bump.cur[0].starts[0])             # the new chunk keeps one area: not released
    assert d.bump.counts["releases"] == 0
    # free every area of the first chunk; the last unlink releases it while it is lazy
    old = [c for c in d.bump.chunks if c is not d.bump.cur[0]][0]
    for a in list(old.starts):
        d.vfree(a)
    c = d.bump.counts
    assert c["releases"] == 1 and c["release_exposed_pages"] >= 4
    assert first >= old.base
    d.validate()
    d.purge_vmap_area_lazy()
    d.validate()


def test_kvzalloc_fallback_recursion_is_bounded_only_by_the_stack():
    d = make_design("rfc-v1", possible_cpus=1, kvzalloc_fail=1.0, stack_levels=6)
    d.alloc_vmap_area(PAGE_SIZE)                 # first refill: nested vmallocs all the way down
    c = d.bump.counts
    assert c["stack_overflow"] == 1 and c["max_depth"] == 6
    d.validate()


# ---------------------------------------------------------------------------- sizes and memory
def test_vmap_area_sizes_follow_the_arithmetic():
    assert {k: sizeof_vmap_area(k) for k in ("rb-72", "maple-48", "rcu-head-64", "rcu-head-refcount-72",
                                             "union-refcount-56", "typesafe-refcount-56")} == {
        "rb-72": 72, "maple-48": 48, "rcu-head-64": 64, "rcu-head-refcount-72": 72,
        "union-refcount-56": 56, "typesafe-refcount-56": 56}
    assert objects_per_slab_page("rb-72") == 56 and objects_per_slab_page("maple-48") == 85
    sizes = {n: make_design(n).sizeof_vmap_area for n in ["linux-6.18"] + MAPLE}
    assert sizes == {"linux-6.18": 72, "rfc-maple-busy": 72, "rfc-v1": 48, "maple-nofree": 48,
                     "maple-nofree-sharded": 48}
    assert make_design("maple-nofree", lookup="rcu").sizeof_vmap_area == 64


@pytest.mark.parametrize("name", MAPLE)
def test_index_memory_adds_up(name):
    d = make_design(name, possible_cpus=2, **({"bump": False} if name == "rfc-v1" else {}))
    drive(d, n=700)
    m = d.index_memory()
    areas = m.busy_areas + m.lazy_areas + m.pool_entries
    if name == "rfc-maple-busy":
        areas += m.free_ranges
    extra_objs = 0 if name != "rfc-v1" else d._free_mt_objects
    assert m.vmap_area_bytes == (areas + extra_objs) * m.sizeof_vmap_area
    trees = sum(v for k, v in m.extra.items() if k.endswith("mt") and k != "free_vmap_area_mt")
    if name == "rfc-v1":
        trees += d.free_mt.memory_bytes()
    assert m.index_node_bytes == trees > 0 and m.index_node_bytes % NODE_BYTES == 0
    assert m.free_ranges == len(d.free_ranges())
