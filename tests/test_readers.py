"""Reader workloads (vread_iter, vmallocinfo, usercopy, dump_obj) beside the allocators."""
import pytest

from vmapsim.designs import available_designs, make_design
from vmapsim.errors import ParameterError
from vmapsim.perf import warm
from vmapsim.perf.readers import ReaderSpec, parse_reader, reader_interference
from vmapsim.perf.simulate import simulate
from vmapsim.vmalloc.vmap_area import PAGE_SIZE


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VMAPSIM_WARM_CACHE", str(tmp_path / "warm"))
    warm.clear_memory_cache()


def _filled(name, n=400):
    d = make_design(name, possible_cpus=4, online_cpus=4)
    live = [d.alloc_vmap_area((1 + i % 3 + 1) * PAGE_SIZE, cpu=i % 4) for i in range(n)]
    for a in live[::3]:
        d.vfree(a, cpu=1)
    return d, [a for i, a in enumerate(live) if i % 3]


@pytest.mark.parametrize("name", available_designs())
def test_readers_change_nothing_and_record_their_holds(name):
    d, live = _filled(name)
    before = (d.busy_areas(), d.lazy_areas(), d.free_ranges(), d.pools())
    a = sorted(live)[5]
    copied = d.vread_iter(a, 8 * PAGE_SIZE, cpu=2)
    holds, events = d.acct.holds, d.acct.events
    if name != "rfc-v1":                       # its bump-chunk areas are in no busy tree
        assert copied > 0 and any(k == "copy_pages" for k, _ in events)
    assert all(0 <= v[0] < len(holds) for _, v in events)
    lines = d.vmalloc_info_show(cpu=2)
    if name != "rfc-v1":
        assert lines == len(d.busy_areas()) + len(d.lazy_areas())
    found = d.vmalloc_dump_obj(a + 10, cpu=3)
    assert [h.kind for h in d.acct.holds] == ["trylock"]
    assert found or name == "rfc-v1"
    assert before == (d.busy_areas(), d.lazy_areas(), d.free_ranges(), d.pools())


def test_vread_holds_the_owner_lock_during_the_copy_6_18():
    d, live = _filled("linux-6.18")
    a = sorted(live)[0]
    d.vread_iter(a, 2 * PAGE_SIZE, cpu=0)
    holds = d.acct.holds
    copy = [v for k, v in d.acct.events if k == "copy_pages"]
    # per area: every node's busy.lock once (the search), then the owner's (the copy)
    assert len(holds) == 5 and copy[0][0] == 4
    assert holds[4].lock == f"vn[{(a // (16 * PAGE_SIZE)) % 4}].busy.lock"
    d68, live68 = _filled("linux-6.8")
    d68.vread_iter(sorted(live68)[0], 64 * PAGE_SIZE)
    assert [h.lock for h in d68.acct.holds] == ["vmap_area_lock"]     # 6.8: one hold


def test_rcu_walks_only_on_maple_designs():
    d, live = _filled("rfc-maple-busy")
    d.vmalloc_info_show(rcu=True)
    kinds = {(h.lock.split(".")[1], h.kind) for h in d.acct.holds}
    assert kinds == {("busy", "rcu"), ("lazy", "spin")}     # lazy lists stay under their locks
    d618, _ = _filled("linux-6.18")
    with pytest.raises(ParameterError):
        d618.vread_iter(live[0], PAGE_SIZE, rcu=True)


def test_parse_reader():
    assert parse_reader("vread:cpus=2,rate=500,chunk=32,rcu=1") == ReaderSpec(
        "vread", cpus=2, rate=500.0, chunk=32, rcu=True)
    with pytest.raises(ParameterError):
        parse_reader("vread:speed=3")
    with pytest.raises(ParameterError):
        simulate(cpus=2, loops=5, readers=["kcore"])


def test_readers_beside_allocators():
    kw = dict(design="linux-6.18", cpus=2, workload="long_busy_list_alloc_test", loops=10,
              setup_scale=0.02, online_cpus=4)
    alone = simulate(**kw)
    both = simulate(readers=["vmallocinfo:rate=0", "dump_obj:rate=0"], **kw)
    assert both.cpus == 2 and both.ops == alone.ops
    info = both.readers["vmallocinfo"]
    assert info["reads"] >= 1 and info["mean_us"] > 0
    assert both.us_per_op > alone.us_per_op           # the show holds the busy locks
    assert both.readers["dump_obj"]["reads"] >= 1
    solo = simulate(readers=[ReaderSpec("vread", ops=5, rate=0)], readers_only=True, **kw)
    assert solo.readers["vread"]["reads"] == 5 and solo.ops == 0
    j = both.as_json()
    assert "readers" in j and j["ops"] == alone.ops


def test_reader_interference_rows():
    rows = reader_interference(designs=("linux-6.18", "rfc-maple-busy"),
                               readers=("vread:rate=0,ops=3",), cpus=2, loops=8,
                               setup_scale=0.02, online_cpus=4)
    assert [(r["design"], r["rcu"]) for r in rows] == [
        ("linux-6.18", False), ("rfc-maple-busy", False), ("rfc-maple-busy", True)]
    for r in rows:
        assert r["vread_reads"] > 0 and r["alloc_us_with_readers"] > 0
    from vmapsim.review.free_tree_plots import plot_reader_interference
    import matplotlib
    matplotlib.use("Agg")
    plot_reader_interference(rows)


def test_readers_with_nothing_to_read_still_let_the_allocators_run():
    # fix_size_alloc_test frees each area at once: a reader often finds no live area
    r = simulate(cpus=2, loops=20, online_cpus=5, cold=True,
                 readers=["vread:rate=0", "usercopy:rate=0", "dump_obj:rate=0"])
    assert r.ops == 40 and all(e["reads"] > 0 for e in r.readers.values())


def test_a_reader_at_a_rate_stops_with_the_allocators():
    # the idle period between two reads yields: the reader's next rmark sees the allocators'
    # progress, so no read starts after they have finished
    kw = dict(design="linux-6.18", cpus=2, online_cpus=3, workload="long_busy_list_alloc_test",
              loops=20, setup_scale=0.02, settle=0)    # counted from the first timed loop
    slow = simulate(readers=["vread:rate=100"], **kw)          # one period: 10 ms
    assert slow.sim_seconds < 0.01 and slow.readers["vread"]["reads"] == 1
    fast = simulate(readers=["vread:rate=100000"], **kw)       # 10 us periods
    n = fast.readers["vread"]["reads"]
    assert 1 < n <= fast.sim_seconds * 1e5 + 1
    # settled (the default): reads done in the timed, uncounted settle are not counted
    settled = simulate(readers=["vread:rate=100000"], **{**kw, "settle": None})
    assert settled.settle > 0 and settled.readers["vread"]["settle_reads"] > 0
    assert settled.readers["vread"]["reads"] > 1
