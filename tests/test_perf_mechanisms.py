"""The performance model's mechanisms, each on a small run: SMT only when two workers share a
core, the counter lines' layout by kernel, the per-CPU page lists and the zone lock, the counted
phase named in the JSON, and the contribution experiment of notebook 04."""
import pytest

from vmapsim.perf.costs import make_costs, make_machine
from vmapsim.perf.mechanisms import SWITCH_OFF, contributions
from vmapsim.perf.simulate import US_PER_OP_IS, simulate


def test_smt_siblings_only_above_the_core_count():
    m = make_machine("threadripper-3970x")            # 32 cores / 64 threads
    assert m.siblings(32) == [-1] * 32
    s = m.siblings(33)
    assert s.count(-1) == 31 and s[32] == 0 and s[0] == 32
    assert all(s[s[i]] == i for i in range(64) for s in [m.siblings(64)])


def test_counters_share_a_line_before_6_16():
    old = simulate(design="linux-6.8", cpus=2, loops=50, online_cpus=2)
    new = simulate(design="linux-6.18", cpus=2, loops=50, online_cpus=2)
    forced = simulate(design="linux-6.18", cpus=2, loops=50, online_cpus=2,
                      costs={"counters_share_line": 1})
    assert "nr_vmalloc_pages+vmap_lazy_nr" in old.lock_detail
    assert {"nr_vmalloc_pages", "vmap_lazy_nr"} <= set(new.lock_detail)
    assert "nr_vmalloc_pages+vmap_lazy_nr" in forced.lock_detail


def test_zone_lock_only_when_a_per_cpu_list_runs_dry_or_over_high():
    c = make_costs()
    # a steady 1-page loop gives back what it takes: no zone-lock trip
    r = simulate(design="linux-6.18", cpus=2, loops=300, online_cpus=2)
    assert r.zone_lock_trips == 0
    # long_busy_list's setup takes 15,000 x setup_scale pages, its teardown gives them back
    # (the test_vmalloc suite times its setups; a single-test run plays them untimed)
    r = simulate(design="linux-6.18", cpus=2, loops=20, online_cpus=2,
                 workload="test_vmalloc", run_test_mask=4, setup_scale=0.1)
    assert r.zone_lock_trips >= 2 * 1500 // c.pcp_batch - 2
    assert "zone->lock" in r.lock_detail


def test_the_counted_phase_is_named_in_the_json():
    d = simulate(design="linux-6.18", cpus=2, loops=100, online_cpus=2).as_json()
    assert d["us_per_op"] == d["latency_us"]["mean"]
    assert d["us_per_op_is"] == US_PER_OP_IS and "avg" in US_PER_OP_IS
    assert "makespan" in d["ops_per_sec_is"]


def test_contributions_switch_one_mechanism_off_at_a_time():
    t = contributions(design="linux-6.18", cpus=(1, 2), online_cpus=2, cycles=0.05,
                      mechanisms=["SMT", "page allocator"], prefill=50)
    assert t.cpus == [1, 2] and len(t.total) == 2
    assert t.contribution("SMT") == pytest.approx([0.0, 0.0], abs=1e-9)   # no shared core
    assert all(x > 0 for x in t.contribution("page allocator"))
    assert set(SWITCH_OFF) >= set(t.without)
    assert t.rows()[0][0] == "SMT"
