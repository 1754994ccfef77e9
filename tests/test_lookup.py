"""The lookup protocols under the sequential (cost-accounting) interpreter."""
import pytest

from vmapsim.errors import ParameterError
from vmapsim.explore.lookup import (
    BUSY,
    DEAD,
    PROTOCOLS,
    SequentialEnv,
    make_protocol,
    vmap_area_fields,
)
from vmapsim.explore.rcu import Obj
from vmapsim.explore.world import RangeIndex


def _world():
    vmA = Obj("vmA", {"flags": 1})
    A = Obj("A", vmap_area_fields(0x1000, 0x3000, vmA))
    vn = Obj("vn", {"busy_lock": None, "seq": 0})
    return vn, RangeIndex("busy", [(0x1000, 0x2fff, A)]), A, vmA


@pytest.mark.parametrize("name", PROTOCOLS)
def test_find_put_unlink(name):
    vn, tree, A, vmA = _world()
    p = make_protocol(name)
    env = SequentialEnv()
    f = p.find(env, vn, tree, 0x1800)
    assert (f.start, f.end) == (0x1000, 0x3000)
    assert f.va is (None if name == "seqcount" else A)
    p.put(env, vn, f)
    assert vn.fields["busy_lock"] is None and A.fields["lock"] is None
    assert A.fields["refcnt"] == 1
    assert p.find(env, vn, tree, 0x5000) is None
    assert p.unlink(env, vn, tree, 0x1000) is A
    assert p.find(env, vn, tree, 0x1800) is None
    assert vmA in env.freed and env.deferred == [A]      # vm freed at once, area via call_rcu
    if name == "rcu-trylock-retry":
        assert A.fields["state"] == DEAD
    c = env.counts
    assert c["tree_walks"] >= 3 and c["spin_lock"] >= 1
    assert c["rcu_sections"] == (0 if name.startswith("spinlock") else 3)


def test_trylock_failures_counted_then_fallback():
    vn, tree, A, _ = _world()
    p = make_protocol("rcu-trylock-retry", max_retries=2)
    env = SequentialEnv()
    A.fields["lock"] = "W"                  # a writer holds it (sequentially: forever)
    with pytest.raises(RuntimeError, match="held lock"):
        p.find(env, vn, tree, 0x1800)       # 3 failed trylocks, then the locked fallback blocks
    assert env.counts["trylock_fail"] == 3 and env.counts["retry"] == 3
    assert env.counts["spin_trylock_failed"] == 3 and env.counts["spin_trylock"] == 3
    assert env.counts["fallback"] == 1


def test_refcount_zero_is_retried_then_falls_back():
    vn, tree, A, _ = _world()
    A.fields["refcnt"] = 0                  # dying, still in the tree
    env = SequentialEnv()
    with pytest.raises(AssertionError, match="zero refcount"):
        make_protocol("rcu-refcount", max_retries=1).find(env, vn, tree, 0x1800)
    assert env.counts["ref_fail"] == 2                      # events: two RCU attempts
    assert env.counts["refcount_inc_not_zero_failed"] == 3  # + the locked fallback's


def test_publish_then_find():
    vn, tree, A, _ = _world()
    env = SequentialEnv()
    p = make_protocol("seqcount")
    B = Obj("B", vmap_area_fields(0x8000, 0x9000, None))
    p.publish(env, vn, tree, B)
    assert vn.fields["seq"] == 2 and p.find(env, vn, tree, 0x8800).start == 0x8000
    assert B.fields["state"] == BUSY


def test_bad_protocol_options():
    with pytest.raises(ParameterError, match="protocol"):
        make_protocol("rcu-magic")
    with pytest.raises(ParameterError, match="reclaim"):
        make_protocol("spinlock", reclaim="never")
