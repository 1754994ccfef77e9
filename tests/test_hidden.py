"""Hidden pool contents (vmapsim.traces.hidden) and the design's replay resync, on small
synthetic states: refuted free ranges beside the model, and pool entries the kernel had not
pushed yet going back to their purge."""
from types import SimpleNamespace

from vmapsim.designs import make_design
from vmapsim.traces.hidden import HiddenPools, _Refuted
from vmapsim.vmalloc.vmap_area import PAGE_SIZE, VMALLOC_END, VMALLOC_START

P = PAGE_SIZE
S16 = 16 * 1024


def test_refuted_ranges_coalesce_split_and_respect_alignment():
    r = _Refuted()
    r.add(0, 10 * P, P)
    r.add(10 * P, 20 * P, P)                      # touching: one range
    assert r.refuted_end(5 * P, 2 * P, P) == 20 * P
    assert r.refuted_end(19 * P, 2 * P, P) is None   # crosses the end: not inside
    r.add(40 * P, 60 * P, S16)
    assert r.refuted_end(44 * P, 5 * P, S16) == 60 * P
    assert r.refuted_end(44 * P, 5 * P, P) is None   # a page-aligned request is not refused there
    assert r.refuted_end(4 * P, 5 * P, S16) == 20 * P  # a page-aligned refusal refuses all
    r.remove(5 * P, 6 * P)
    assert r.refuted_end(0, 5 * P, P) == 5 * P
    assert r.refuted_end(6 * P, 5 * P, P) == 20 * P
    assert [h[1:] for h in r.hits(4 * P, 7 * P)] == [(0, 5 * P), (6 * P, 20 * P)]
    assert len(r) == 3
    r.clear()
    assert len(r) == 0


def _ev(addr, size, align=P, vend=VMALLOC_END):
    return SimpleNamespace(addr=addr, size=size, align=align, vstart=VMALLOC_START, vend=vend,
                           cpu=0)


def test_a_skipped_free_block_is_refuted_beside_the_model_and_freed_space_clears_it():
    d = make_design("linux-6.18", possible_cpus=2)
    z = VMALLOC_START
    # busy areas leave free holes of 8 pages at z and of 64 pages at z + 16p
    d.load_state([(z + 8 * P, z + 16 * P, 0), (z + 80 * P, z + 88 * P, 0)], [])
    h = HiddenPools(d, active=True)
    # a request outside the pools (not the whole window): a miss is the free tree's
    req = _ev(z + 88 * P, 4 * P, vend=VMALLOC_END - P)
    model = d.predict_alloc(req.size, req.align, req.vstart, req.vend, 1)
    assert model.addr == z                        # lowest fit
    pred, certain = h.predict(model, req)
    assert pred.addr == z and not certain         # a block the trace has not shown
    h.before_apply(req)
    src = d.apply_alloc(req.addr, req.size, req.align, req.vstart, req.vend, 1)
    h.observe(model, pred, certain, req, src, None)
    # the kernel passed over both holes: something unseen holds them; the model is unchanged
    assert d.free_ranges()[0] == (1, z + 8 * P)     # [1, VMALLOC_START) is free space too
    nxt = _ev(0, 2 * P)
    model = d.predict_alloc(nxt.size, nxt.align, nxt.vstart, nxt.vend, 1)
    assert model.addr == z
    assert h.predict(model, nxt)[0].addr == z + 92 * P
    # a range given back to the free space is no longer refuted there
    d.reserve_range(z + 2 * P, z + 3 * P)
    d.release_range(z + 2 * P)                    # through _reclaim_list_global: watched
    one = _ev(0, P)
    model = d.predict_alloc(one.size, one.align, one.vstart, one.vend, 1)
    assert model.addr == z and h.predict(model, one)[0].addr == z + 2 * P


def test_a_pool_entry_the_kernel_had_not_pushed_returns_to_its_purge():
    d = make_design("linux-6.18", possible_cpus=2)
    z = VMALLOC_START
    d.load_state([], [])
    addrs = []
    for _ in range(6):                            # six 5-page areas allocated on CPU 1 (node 1)
        a = d.alloc_vmap_area(5 * P, P, cpu=1)
        addrs.append(a)
    for a in addrs[:2]:                           # two freed and purged: pool entries
        d.free_vmap_area_noflush(d.find_unlink_vmap_area(a, 1), 1)
    d.purge_vmap_area_lazy()
    assert d.pools()[(1, 5)] == [addrs[1], addrs[0]]
    for a in addrs[2:]:                           # four more freed; a purge starts
        d.free_vmap_area_noflush(d.find_unlink_vmap_area(a, 1), 1)
    batch = d.purge_begin()
    d.purge_push(batch, 1)                        # the model pushes them at once
    assert d.pools()[(1, 5)][:2] == [addrs[5], addrs[4]]
    # the kernel hands out the old head: it had not pushed the new batch yet
    src = d.apply_alloc(addrs[1], 5 * P, P, VMALLOC_START, VMALLOC_END, 1)
    assert src == "pool-behind-head"
    assert d.pools()[(1, 5)] == [addrs[0]]
    assert [v.va_start for v in batch.lists[1]] == addrs[2:] and 1 in batch.held
    assert sorted(a for a, _n, _g in d.unpushed) == addrs[2:]
    d.purge_push(batch, 1)                        # held: waits for the end of the purge
    assert d.pools()[(1, 5)] == [addrs[0]]
    assert d.purge_finish(batch) == 4
    assert d.pools()[(1, 5)] == [addrs[5], addrs[4], addrs[3], addrs[2], addrs[0]]
    assert z <= addrs[0]
