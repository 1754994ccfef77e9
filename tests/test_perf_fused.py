"""Fused pricing (vmapsim.perf.pricing.FusedAccounting) makes the steps the two-pass pricing
(a Hold record, then Pricer.record_steps) makes: on scripted records with every path (nested
holds, a mutex, work outside the locks, RCU-deferred frees, events), and on whole simulations."""
import pytest

from vmapsim.designs.base import Accounting
from vmapsim.perf import pricing
from vmapsim.perf.costs import make_costs, make_machine
from vmapsim.perf.pricing import FusedAccounting, Pricer, fuse, unfuse
from vmapsim.perf.simulate import simulate


def _script_flat(a):
    a.outside(alloc=72)
    h = a.lock("vn[0].pool_lock")
    a.visited += 3
    a.written += 1
    a.unlock(h)
    h = a.lock("free_vmap_area_lock")
    a.visited += 11
    a.written += 4
    a.alloc_bytes += 300
    a.free_bytes += 600
    a.unlock(h)
    a.events.append(("cond_resched", None))
    a.events.append(("call_rcu", 144))
    a.held("vn[1].pool_lock", 1, 1)
    a.outside(free=72)


def _script_nested(a):
    h = a.lock("free_vmap_area_lock")
    a.visited += 2
    a.free_bytes += 512
    a.unlock(h)
    outer = a.lock("vn[1].busy.lock")
    a.visited += 5
    inner = a.lock("vn[1].lazy.lock")            # nested: spills with the outer hold open
    a.written += 2
    a.unlock(inner)
    a.held("vn[1].pool_lock", 0, 1)
    a.visited += 1
    a.unlock(outer)
    a.outside(alloc=72)


def _script_mutex(a):
    h = a.lock("vn[0].busy.lock")
    a.visited += 4
    a.unlock(h)
    m = a.lock("vmap_purge_lock", "mutex")
    a.visited += 9
    for i in range(3):
        h = a.lock(f"vn[{i}].pool_lock")
        a.written += 1
        a.free_bytes += 256
        a.unlock(h)
        a.held(f"vn[{i}].busy.lock", 2, 0)
    a.events.append(("tlb_flush", 12))
    a.unlock(m)
    h = a.lock("vn[2].busy.lock", "rcu")
    a.visited += 3
    a.unlock(h)


def _script_held_in_lock(a):
    a.held("vn[0].pool_lock", 1, 1)
    h = a.lock("free_vmap_area_lock")
    a.visited += 2
    a.held("vn[0].pool_lock", 1, 1)                # inside an open hold: spills
    a.unlock(h)


def _script_outside_in_lock(a):
    h = a.lock("free_vmap_area_lock")
    a.visited += 2
    a.outside(alloc=72)                          # work "outside" while a lock is open: spills
    a.unlock(h)


@pytest.mark.parametrize("script", [_script_flat, _script_nested, _script_mutex,
                                    _script_held_in_lock, _script_outside_in_lock])
@pytest.mark.parametrize("rcu_free", [False, True])
@pytest.mark.parametrize("fusable", [True, False])
def test_fused_steps_equal_the_two_pass_steps(script, rcu_free, fusable):
    pricer = Pricer(make_machine(), make_costs(), 16)
    pricer.set_footprint(1 << 20)
    a = Accounting()
    a.begin("op", 0)
    script(a)
    want = []
    pricer.record_steps(a.holds, a.events, want, rcu_free)
    names = list(pricer.lock_names)

    pricer2 = Pricer(make_machine(), make_costs(), 16)
    pricer2.set_footprint(1 << 20)
    b = Accounting()
    fused = fuse(b, pricer2, fusable, rcu_free)
    assert type(b) is FusedAccounting and fused == fusable
    got = []
    b.begin("op", 0)
    if fused:
        b.out = got
    else:
        b.fspill = got
    script(b)
    b.finish()
    assert got == want
    assert pricer2.lock_names == names                 # lock ids interned in the same order
    assert b.out is None and b.fspill is None and b.fdeferred == 0
    unfuse(b)
    assert type(b) is Accounting and b.fpricer is None


def test_held_records_what_lock_and_unlock_record():
    a, b = Accounting(), Accounting()
    for x in (a, b):
        x.begin("op", 0)
        x.visited, x.written = 5, 7
    h = a.lock("vn[2].pool_lock")
    a.visited += 1
    a.written += 3
    a.unlock(h)
    b.held("vn[2].pool_lock", 1, 3)
    assert a.summary() == b.summary() == [("vn[2].pool_lock", "spin", 1, 3, 0, 0)]
    assert (a.visited, a.written) == (b.visited, b.written)


def test_without_a_step_list_the_record_is_kept_as_holds():
    # lookups and readers: their pricers read acct.holds
    a = Accounting()
    fuse(a, Pricer(make_machine(), make_costs(), 4), True, False)
    a.begin("find_vmap_area", 0)
    h = a.lock("vn[0].busy.lock")
    a.visited += 3
    a.unlock(h)
    assert a.summary() == [("vn[0].busy.lock", "spin", 3, 0, 0, 0)]


CONFIGS = [
    dict(design="linux-6.18", cpus=2, online_cpus=2, workload="random_size_alloc_test",
         loops=300, cold=True),                                      # purges, free-tree path
    dict(design="linux-6.8", cpus=2, online_cpus=2, workload="random_size_alloc_test",
         loops=300, cold=True),
    dict(design="linux-6.18", cpus=3, workload="fix_size_alloc_test", loops=60),     # steady
    dict(design="linux-6.18", lookup="seqcount", cpus=3, workload="lookup", loops=60,
         cold=True),                                                 # RCU-deferred frees
    dict(design="linux-6.18", cpus=2, workload="fix_size_alloc_test", loops=30, cold=True,
         readers=["vread:rate=0", "vmallocinfo:rate=1000"]),
    dict(design="maple-nofree", cpus=2, workload="fix_size_alloc_test", loops=40, cold=True),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c['design']}-{c['workload']}")
def test_simulations_are_the_same_with_and_without_fusing(cfg, monkeypatch):
    fused = simulate(cache=False, **cfg).as_json()
    monkeypatch.setattr(pricing, "FUSE", False)
    plain = simulate(cache=False, **cfg).as_json()
    for j in (fused, plain):
        for k in ("wall_seconds", "wall_s", "elapsed_s", "warm_cache"):
            j.pop(k, None)
    assert fused == plain
