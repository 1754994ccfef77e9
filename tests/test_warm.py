"""Setups built in bulk, warm states kept and restored, design clones (vmapsim.perf.warm)."""
import random

import pytest

from vmapsim.designs import available_designs, make_design
from vmapsim.perf import warm
from vmapsim.perf.simulate import simulate
from vmapsim.perf.workloads import make_spec
from vmapsim.vmalloc.vmap_area import PAGE_SIZE


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VMAPSIM_WARM_CACHE", str(tmp_path / "warm"))
    warm.clear_memory_cache()
    yield
    warm.clear_memory_cache()


def _design(possible, lazy_max=None, **params):
    d = make_design("linux-6.18", possible_cpus=possible, online_cpus=possible, **params)
    if lazy_max is not None:                 # small sizes still see many drains
        d.lazy_max_pages = lambda: lazy_max
    return d


def _state(d):
    return dict(busy=d.busy_areas(), lazy=d.lazy_areas(), free=d.free_ranges(), pools=d.pools(),
                lazy_nr=d.lazy_nr(), lazy_seq=d._lazy_seq, purge_gen=d._purge_gen,
                lazy_by_node=[[(va.va_start, va.flags, va.seq) for va in vn.lazy]
                              for vn in d.nodes],
                busy_flags=sorted((va.va_start, va.flags) for vn in d.nodes for va in vn.busy),
                pool_flags=[[(va.va_start, va.flags, va.seq) for lst in vn.pool.values()
                             for va in lst] for vn in d.nodes])


@pytest.mark.parametrize("test,workers,possible,scale,lazy_max,rule", [
    ("full_fit_alloc_test", 4, 4, 0.01, 40, "6.16"),
    ("full_fit_alloc_test", 3, 5, 0.02, 123, "6.16"),
    ("full_fit_alloc_test", 2, 2, 0.01, 7, "6.16"),
    ("full_fit_alloc_test", 1, 1, 0.01, 30, "6.16"),
    ("long_busy_list_alloc_test", 4, 4, 0.02, None, "6.16"),
    ("long_busy_list_alloc_test", 1, 1, 0.01, None, "6.16"),
    ("full_fit_alloc_test", 130, 130, 0.0005, 60, "6.16"),   # 128 nodes: two workers share one
    ("full_fit_alloc_test", 3, 3, 0.01, 50, "6.9"),   # the old decay rule
])
def test_bulk_setup_equals_steps(test, workers, possible, scale, lazy_max, rule):
    spec = make_spec(test, 10, online_cpus=possible, setup_scale=scale)
    a, b = (_design(possible, lazy_max, decay_rule=rule) for _ in range(2))
    steps = warm.play_setup_steps(a, spec, workers, seed=3)
    bulk = warm._bulk(b, spec, workers, seed=3)
    assert bulk is not None
    assert a._purge_gen > (2 if lazy_max else -1)          # the drains did run
    assert _state(a) == _state(b)
    for c in range(workers):
        assert steps.states[c]["ptr"] == bulk.states[c]["ptr"]
        assert steps.states[c]["arrays"] == bulk.states[c]["arrays"]
        assert steps.states[c]["rng"].getstate() == bulk.states[c]["rng"].getstate()
    assert steps.sizes == bulk.sizes
    b.validate()


@pytest.mark.parametrize("test,workers,scale,lazy_max", [
    ("full_fit_alloc_test", 4, 0.01, 40), ("full_fit_alloc_test", 3, 0.02, 7),
    ("long_busy_list_alloc_test", 3, 0.02, None)])
def test_bulk_setup_equals_steps_6_8(test, workers, scale, lazy_max):
    spec = make_spec(test, 10, online_cpus=workers, setup_scale=scale)
    a, b = (make_design("linux-6.8", possible_cpus=workers) for _ in range(2))
    if lazy_max:
        for d in (a, b):
            d.lazy_max_pages = lambda: lazy_max
    steps = warm.play_setup_steps(a, spec, workers, seed=1)
    bulk = warm._bulk(b, spec, workers, seed=1)
    for d in (a, b):
        d.validate()
    assert (a.busy_areas(), a.lazy_areas(), a.free_ranges(), a.lazy_nr(), a._preloaded) == \
        (b.busy_areas(), b.lazy_areas(), b.free_ranges(), b.lazy_nr(), b._preloaded)
    assert [s["ptr"] for s in steps.states] == [s["ptr"] for s in bulk.states]
    assert steps.sizes == bulk.sizes


def test_bulk_setup_refuses_what_it_cannot_build():
    spec = make_spec("full_fit_alloc_test", 10, online_cpus=2, setup_scale=0.01)
    d = _design(2)
    d.alloc_vmap_area(3 * PAGE_SIZE, cpu=0)
    d.vfree(d.alloc_vmap_area(2 * PAGE_SIZE, cpu=0) or 0)    # a lazy area: not fresh
    assert warm._bulk(d, spec, 2, seed=0) is None
    other = make_design("maple-nofree", possible_cpus=2)
    assert warm._bulk(other, spec, 2, seed=0) is None


@pytest.mark.parametrize("kw", [
    dict(cpus=3, loops=40),
    dict(cpus=2, workload="lookup", loops=30, lookup="rcu-readonce"),
    dict(cpus=2, workload="random_size_alloc_test", loops=30),
    dict(cpus=2, workload="full_fit_alloc_test", loops=20, setup_scale=0.01),
    dict(cpus=2, workload="long_busy_list_alloc_test", loops=5, setup_scale=0.01,
         design="maple-nofree"),
])
def test_cache_hit_equals_miss_and_resume_equals_continuing(kw):
    kw = dict(kw, online_cpus=kw["cpus"], machine="threadripper-3970x")
    miss = simulate(**kw).as_json()
    hit = simulate(**kw).as_json()
    warm.clear_memory_cache()
    disk = simulate(**kw).as_json()
    nocache = simulate(cache=False, **kw).as_json()
    assert miss["warm_cache"]["cache"] == "miss" and hit["warm_cache"]["cache"] == "memory"
    assert disk["warm_cache"]["cache"] == "disk"
    for j in (miss, hit, disk, nocache):
        j.pop("warm_cache"), j.pop("wall_seconds")
    assert miss == hit == disk == nocache
    assert miss["steady"] and miss["warmup"] > 0


def test_resumed_worker_equals_the_old_fast_forward():
    """The warm start (saved, restored workers) times exactly what the continuous warm-up did."""
    from vmapsim.perf.costs import make_costs, make_machine
    from vmapsim.perf.sim import Simulation
    kw = dict(cpus=3, loops=60, warmup=500, online_cpus=3)
    new = simulate(**kw, settle=0)          # counted from the first timed loop, as before
    spec = make_spec("fix_size_alloc_test", 60, online_cpus=3, warmup=500)
    d = make_design("linux-6.18", possible_cpus=3, online_cpus=3, seed=0)
    st = Simulation(d, spec, 3, make_machine("threadripper-3970x"), make_costs(),
                    online_cpus=3).run()
    assert st.ops == new.ops
    assert sum(st.latencies) / len(st.latencies) / 1000 == pytest.approx(new.latency_us["mean"],
                                                                          rel=1e-12)


def test_cold_flag_and_steady_default():
    cold = simulate(cpus=2, loops=20, cold=True, online_cpus=2)
    assert cold.warmup == 0 and not cold.steady
    assert cold.as_json()["steady"] is False
    with pytest.raises(Exception):
        simulate(cpus=2, loops=20, cold=True, warmup=10)


@pytest.mark.parametrize("name", available_designs())
def test_clone_behaves_like_the_original(name):
    d = make_design(name, possible_cpus=4, online_cpus=4)
    rng = random.Random(7)
    live = []

    def step(x, i, r):
        if live and r.random() < 0.45:
            a = live[r.randrange(len(live))]
            return ("free", a)
        return ("alloc", r.randint(1, 5))

    for i in range(3000):
        op = step(d, i, rng)
        if op[0] == "free":
            live.remove(op[1])
            d.vfree(op[1], cpu=i % 4)
        else:
            live.append(d.alloc_vmap_area((op[1] + 1) * PAGE_SIZE, cpu=i % 4))
    c = d.clone()
    c.validate()
    r1, r2 = random.Random(9), random.Random(9)
    l1, l2 = list(live), list(live)
    for i in range(1500):
        out = []
        for x, r, lv in ((d, r1, l1), (c, r2, l2)):
            if lv and r.random() < 0.5:
                a = lv.pop(r.randrange(len(lv)))
                x.vfree(a, cpu=i % 4)
                out.append(("free", a, x.acct.summary()))
            else:
                a = x.alloc_vmap_area((r.randint(1, 5) + 1) * PAGE_SIZE, cpu=i % 4)
                lv.append(a)
                out.append(("alloc", a, x.acct.summary()))
        assert out[0] == out[1]
    assert d.busy_areas() == c.busy_areas() and d.free_ranges() == c.free_ranges()
    assert d.pools() == c.pools() and d.lazy_areas() == c.lazy_areas()


def test_sensitivity_widget_is_steady_and_reuses_the_warm_state():
    from vmapsim.review.scaling import sensitivity, sensitivity_config, sensitivity_widget
    a = sensitivity_widget(cpus=2, loops=5)
    b = sensitivity_widget(cpus=2, loops=5, node_visit_ns=8.0)
    assert a.steady and a.warmup > 0
    assert a.setup["cache"] == "miss" and b.setup["cache"] == "memory"
    assert a.purges == 0                  # between two purges: the purge is not in the window
    assert not sensitivity(cpus=2, loops=5, cold=True).steady
    # the panel's own runs time whole purge cycles after two untimed ones
    c = sensitivity_config(cpus=2)
    assert c["warmup"] == 2 * c["loops"]


def test_an_unreadable_cache_file_is_rebuilt(tmp_path):
    kw = dict(cpus=2, loops=10, online_cpus=2)
    first = simulate(**kw).as_json()
    for f in (tmp_path / "warm").glob("*.pkl"):
        f.write_bytes(b"not a pickle")
    warm.clear_memory_cache()
    again = simulate(**kw).as_json()
    assert again["warm_cache"]["cache"].startswith("miss")
    for j in (first, again):
        j.pop("warm_cache"), j.pop("wall_seconds")
    assert first == again


def test_a_cached_warm_state_times_the_same_run_for_every_design_with_state_outside_the_tree():
    """rfc-v1's bump chunks kept their areas by id(): a warm state restored from the cache (a
    pickled copy, new ids) lost which chunk each area came from, and a settled run from it
    took x0.68 of the fresh run's time (8 CPUs).  Keyed by the area itself, a restored copy
    keeps every pair."""
    kw = dict(design="rfc-v1", cpus=4, online_cpus=4, workload="fix_size_alloc_test",
              loops=2048, seed=3)
    fresh = simulate(cache=False, **kw).us_per_op
    simulate(**kw)                                   # builds and keeps the warm state
    hit = simulate(**kw)
    assert hit.setup["cache"] in ("memory", "disk")
    assert hit.us_per_op == fresh
