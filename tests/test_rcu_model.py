"""RcuModel and Heap against trivial reference models."""
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from vmapsim.explore.rcu import FREED, TFREE, Heap, RcuModel, Violation

THREADS = st.integers(0, 2)


class RcuMachine(RuleBasedStateMachine):
    """Reference: a GP is over iff every section open when it started has ended."""

    def __init__(self):
        super().__init__()
        self.m = RcuModel()
        self.depth = {0: 0, 1: 0, 2: 0}
        self.current = {}          # tid -> reference section token
        self.ended = set()
        self.token = 0
        self.gps = []              # (model gp, set of tokens open at start)

    @rule(t=THREADS)
    def lock(self, t):
        self.m.read_lock(t)
        if self.depth[t] == 0:
            self.token += 1
            self.current[t] = self.token
        self.depth[t] += 1

    @precondition(lambda self: any(self.depth.values()))
    @rule(data=st.data())
    def unlock(self, data):
        t = data.draw(st.sampled_from([t for t, d in self.depth.items() if d]))
        ended = self.m.read_unlock(t)
        self.depth[t] -= 1
        if self.depth[t] == 0:
            self.ended.add(self.current.pop(t))
        for gp in ended:
            assert gp.done

    @rule(t=THREADS, cb=st.booleans())
    def start_gp(self, t, cb):
        gp = self.m.call_rcu(t, 0, "payload") if cb else self.m.start_gp("sync", t, 0)
        self.gps.append((gp, set(self.current.values())))

    @rule()
    def run_callbacks(self):
        item = self.m.ready_callback()
        while item is not None:
            assert item[0].done
            self.m.pop_callback(item)
            item = self.m.ready_callback()

    @invariant()
    def agrees(self):
        self.m.validate()
        for gp, opened in self.gps:
            assert gp.done == (opened <= self.ended)
        for t, d in self.depth.items():
            assert self.m.in_section(t) == (d > 0)


TestRcuModel = RcuMachine.TestCase
TestRcuModel.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_broken_gp_never_waits():
    m = RcuModel(broken_gp=True)
    m.read_lock(0)
    assert m.start_gp("sync", 1, 0).done
    m.validate()


def test_unbalanced_unlock():
    with pytest.raises(Violation, match="bad-unlock"):
        RcuModel().read_unlock(0)


def test_heap_poison_and_typesafe_reuse():
    h = Heap()
    a = h.new("A", "va", {"x": 1})
    h.free(a, (3, "W", "kfree"))
    assert a.state is FREED and a.freed_by == (3, "W", "kfree")
    with pytest.raises(Violation, match="double-free"):
        h.free(a, (4, "W", "kfree"))
    h.typesafe_cache("c")
    b = h.new("B", "va", {"x": 1, "y": 2}, cache="c")
    h.free(b, (5, "W", "kmem_cache_free"))
    assert b.state == TFREE
    again = h.cache_alloc("c", "va", {"x": 9, "z": 3})
    assert again is b and b.gen == 1 and b.state == "live"
    assert b.fields == {"x": 1, "y": 2, "z": 3}        # old contents survive; no constructor
    fresh = h.cache_alloc("c", "va", {"x": 5})
    assert fresh is not b and fresh.gen == 0
