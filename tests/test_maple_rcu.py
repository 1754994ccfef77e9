"""RCU mode, dead nodes, reader restarts and the access layer of the maple tree."""
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmapsim.maple import ULONG_MAX, MapleTree
from vmapsim.maple.access import FAST, CountingAccess, HookedAccess
from vmapsim.maple.node import Node

VAL = 0xDEAD


def _tree(rcu=True, alloc=True, n=1000, **kw):
    mt = MapleTree(alloc_range=alloc, rcu=rcu, **kw)
    for i in range(n + 1):
        mt.store_range(i * 10, i * 10 + 5, i)
    return mt


@pytest.mark.parametrize("first,last,covers", [
    (4320, 4325, True),        # overwrite one entry (exact fit, in place even in RCU mode)
    (4320, 4322, True),        # first half
    (4322, 4325, False),       # second half: the reader's index keeps its value
    (4315, 4335, True),        # more than the entry
    (3920, 4720, True),        # more than the node (spanning store)
    (0, ULONG_MAX, True),      # the whole tree (new root)
])
def test_check_rcu_simulated_walks(first, last, covers):
    """``check_rcu_simulated`` (tools/testing/radix-tree/maple.c): a reader state positioned
    before a write re-walks from its cached node after it and sees the new value exactly
    where the write covered its index."""
    mt = _tree()
    reader = mt.state(4320)
    assert reader.walk() == 432
    before = reader.node
    mt.store_range(first, last, VAL)
    assert reader.walk() == (VAL if covers else 432)
    if (first, last) != (4320, 4325):
        assert before.dead, "RCU mode replaced the reader's leaf copy-on-write"
    mt.validate()


def test_check_rcu_simulated_next_prev():
    """``check_rcu_simulated``: ``mas_next``/``mas_prev`` continuing across a write return the new value."""
    mt = _tree()
    r = mt.state(4320)
    assert r.walk() == 432
    r.prev()
    mt.store_range(4320, 4325, VAL)
    assert r.next() == VAL
    mt.store_range(4320, 4325, 432)
    r = mt.state(4320)
    assert r.walk() == 432
    r.next()
    mt.store_range(4320, 4325, VAL)
    assert r.prev() == VAL
    # and across a copy-on-write replacement of the reader's node
    mt.store_range(4320, 4325, 432)
    r = mt.state(4320)
    r.walk()
    assert r.prev() == 431 and (r.index, r.last) == (4310, 4315)
    mt.store_range(4311, 4313, VAL + 1)           # replaces the reader's leaf
    assert r.node.dead
    assert r.next() == 432 and (r.index, r.last) == (4320, 4325)   # continues after 4315
    assert r.prev() == 431 and (r.index, r.last) == (4314, 4315)
    assert r.prev() == VAL + 1


def test_erase_testset_root_reuse():
    """``check_erase_testset``: a node store makes a new root node in RCU mode, reuses it otherwise."""
    for rcu in (True, False):
        mt = MapleTree(rcu=rcu)
        for k in (5015, 5014, 5017, 25):
            mt.insert(k, k)
        root = mt._root
        mt.erase(5017)
        mt.insert(1000, 1000)             # should not split
        assert mt._root.leaf
        assert (mt._root is not root) == rcu


def test_free_hook_deferred_and_dead():
    freed = []
    mt = _tree(n=300, free_node=lambda node, deferred: freed.append((node, deferred, node.dead)))
    mt.store_range(100, 2000, None)
    mt.store_range(0, ULONG_MAX, 1)
    assert freed and all(deferred and dead for _, deferred, dead in freed)
    assert mt.stats.allocated - mt.stats.freed == mt.node_count() == 1
    freed.clear()
    mt = _tree(rcu=False, n=300, free_node=lambda node, deferred: freed.append((deferred, node.dead)))
    freed.clear()                               # (splits while building free replaced nodes via kfree_rcu)
    mt.store_range(0, ULONG_MAX, None)          # destroy walk of the old tree: immediate free
    assert freed and all(dead and not deferred for deferred, dead in freed)


def test_stats_snapshot_and_nodes_needed():
    mt = _tree(n=400)
    s0 = mt.stats.snapshot()
    assert mt.load(2000) == 200
    d = mt.stats.since(s0)
    assert d.visited == mt.height() and d.written == 0 and d.allocated == 0
    # A node store in RCU mode needs one node and copies one node.
    assert mt.preallocate(2002, 2033, 7) == ("node_store", 1)
    s0 = mt.stats.snapshot()
    mt.store_range(2002, 2033, 7)
    d = mt.stats.since(s0)
    assert mt.last_store_type == "node_store" and d.allocated == 1 and d.freed == 1
    # exact fit and slot store need nothing, in RCU mode too
    assert mt.nodes_needed(2002, 2033, 8) == 0
    mt.set_rcu(False)
    assert mt.nodes_needed(2004, 2004, 8) == 0
    # worst case for a spanning store: 3 * (height - vacant/sufficient level) + 1
    typ, n = mt.preallocate(100, 3900, None)
    assert typ == "spanning_store" and 1 <= n <= 3 * mt.height() + 1


def test_nodes_needed_bounds_the_work():
    """Whatever the store, the nodes it allocates never exceed what ``mas_prealloc_calc`` asked for."""
    rnd = random.Random(7)
    for rcu in (False, True):
        mt = MapleTree(alloc_range=True, rcu=rcu)
        for _ in range(3000):
            a = rnd.randrange(20000)
            b = a + rnd.choice([0, 1, 5, 30, 300, 3000])
            e = rnd.choice([None, 1, 2])
            need = mt.nodes_needed(a, b, e)
            s0 = mt.stats.snapshot()
            mt.store_range(a, b, e)
            assert mt.stats.since(s0).allocated <= need, (a, b, e, mt.last_store_type)
        mt.validate()


# ---------------------------------------------------------------- interleavings through the access layer
class WriterPoints(HookedAccess):
    """Runs ``probe()`` (a whole reader operation) before every store the writer makes."""

    def __init__(self, probe):
        self.probe = probe
        self.active = False
        self.points = 0

    def on_access(self, kind, node, field, index=None, value=None):
        if kind == "store" and self.active:
            self.active = False
            try:
                self.probe()
            finally:
                self.active = True
            self.points += 1


def _interleaved_reads(rcu, first, last, entry, n=60, probes=None):
    mt = MapleTree(alloc_range=True, rcu=rcu)
    for i in range(n):
        mt.store_range(i * 10, i * 10 + 5, i)
    old = {i: mt.load(i) for i in (probes or range(n * 10 + 5))}
    new_mt = MapleTree(alloc_range=True)
    for i in range(n):
        new_mt.store_range(i * 10, i * 10 + 5, i)
    new_mt.store_range(first, last, entry)
    new = {i: new_mt.load(i) for i in old}
    seen = []

    def probe():
        seen.append({i: mt.load(i) for i in old})

    acc = WriterPoints(probe)
    mt.set_access(acc)
    acc.active = True
    mt.store_range(first, last, entry)
    acc.active = False
    mt.set_access(None)
    mt.validate()
    bad = [(i, s[i]) for s in seen for i in old if s[i] != old[i] and s[i] != new[i]]
    return bad, acc.points


def _node_store_cases(k=6):
    cases = []
    for a in range(3, 600, 41):
        for ln in (3, 12, 25):
            mt = MapleTree(alloc_range=True)
            for i in range(60):
                mt.store_range(i * 10, i * 10 + 5, i)
            if mt.preallocate(a, a + ln, VAL)[0] == "node_store":
                cases.append((a, a + ln))
    return cases[:k]


def test_inplace_node_store_is_torn_cow_is_not():
    """F1 of the RCU analysis: a reader running between the individual stores of a non-RCU
    in-place node rewrite (``mas_wr_node_store``'s memcpy) can see a value the index never
    had; in RCU mode (copy-on-write, one publishing store) every index reads its old or its
    new entry at every point."""
    cases = _node_store_cases()
    assert len(cases) >= 4
    for first, last in cases:
        bad, points = _interleaved_reads(False, first, last, VAL)
        assert points > 1 and bad, f"in-place rewrite of [{first}, {last}] exposed no torn state"
        bad, points = _interleaved_reads(True, first, last, VAL)
        assert points >= 1 and not bad


def test_two_slot_slot_store_is_rcu_safe():
    """``mas_wr_slot_store``'s two-slot form writes the entry then moves one pivot: never torn."""
    for first, last in ((5, 9), (291, 299)):
        mt = MapleTree(alloc_range=True, rcu=True)
        for i in range(60):
            mt.store_range(i * 10, i * 10 + 5, i)
        assert mt.preallocate(first, last, VAL)[0] == "slot_store"
        bad, points = _interleaved_reads(True, first, last, VAL)
        assert points >= 2 and not bad


@settings(max_examples=25, deadline=None)
@given(first=st.integers(0, 700), n=st.integers(0, 200), null=st.booleans())
def test_rcu_per_index_old_or_new(first, n, null):
    """Wilcox's per-index rule in RCU mode: between any two stores of a write, every index reads
    one of the entries it had (never a spurious NULL or an unrelated entry)."""
    bad, _ = _interleaved_reads(True, first, first + n, None if null else VAL,
                                probes=range(0, 720, 3))
    assert not bad


class ReaderPause(HookedAccess):
    """Runs ``writer()`` once, at the reader's k-th access."""

    def __init__(self, k, writer):
        self.k = k
        self.writer = writer
        self.n = 0
        self.restarts = 0

    def on_access(self, kind, node, field, index=None, value=None):
        if kind != "load":
            return
        self.n += 1
        if self.n == self.k:
            self.writer()
        if field == "parent" and isinstance(node, Node) and node.parent is node:
            self.restarts += 1


def test_reader_restarts_on_dead_node():
    """A reader paused inside a node that the writer replaces sees the dead mark and re-walks."""
    restarts = 0
    for k in range(1, 12):
        mt = _tree(n=400)
        acc = ReaderPause(k, lambda: (mt.set_access(None), mt.store_range(2001, 2003, VAL),
                                      mt.set_access(acc)))
        mt.set_access(acc)
        got = mt.load(2002)
        mt.set_access(None)
        assert got in (200, VAL)
        restarts += acc.restarts
    assert restarts > 0


def test_counting_access_counts_and_fast_default():
    mt = _tree(n=200)
    assert mt.access is FAST
    acc = CountingAccess()
    mt.set_access(acc)
    mt.load(1000)
    h = mt.height()
    assert acc.counts[("load", "pivots")] == h and acc.counts[("load", "slot")] == h
    assert acc.counts[("load", "parent")] == h and acc.counts[("load", "root")] == 1
    acc.counts.clear()
    mt.store_range(1000, 1005, 7)                 # exact fit: one published slot store
    # mas_start (root pointer, then the root's dead check) and one published slot store
    assert acc.counts == {("load", "root"): 1, ("load", "parent"): 1, ("store", "slot"): 1}
    mt.set_access(None)
    assert mt.access is FAST


def test_prealloc_calc_values():
    """``mas_prealloc_calc``: a leaf split under a root with room needs 2 * 1 + 1 nodes (left,
    right, new parent) and uses exactly that; root-entry and new-root stores need 0 or 1."""
    mt = MapleTree(alloc_range=True)
    for i in range(40):
        mt.store_range(i * 10, i * 10 + 5, i)
    assert (mt.height(), mt.node_count()) == (2, 7)
    assert mt.preallocate(3, 3, "x") == ("split_store", 3)
    s0 = mt.stats.snapshot()
    mt.store_range(3, 3, "x")
    d = mt.stats.since(s0)
    assert (d.allocated, d.freed) == (3, 2) and mt.node_count() == 8
    empty = MapleTree()
    assert empty.preallocate(0, 0, 1) == ("store_root", 0)         # lone entry lives in ma_root
    assert empty.preallocate(5, 5, 1) == ("store_root", 1)         # expands into a leaf
    # overwriting everything is found to be a spanning store at the root: the worst case
    assert mt.preallocate(0, ULONG_MAX, 4) == ("spanning_store", 3 * mt.height() + 1)


def test_greenlet_threads_step_through_the_access_layer():
    """The explorer's plan: run each thread in a greenlet and switch to the scheduler
    inside ``HookedAccess.on_access``.  Every schedule "reader runs k accesses, writer runs to the
    end, reader finishes" and "writer runs j accesses, reader runs, writer finishes" is explored:
    in RCU mode the reader always gets the old or the new entry; in non-RCU mode some schedule
    of an in-place node store gives it something else."""
    greenlet = pytest.importorskip("greenlet")

    class Stepper(HookedAccess):
        def on_access(self, kind, node, field, index=None, value=None):
            g = greenlet.getcurrent()
            if g.parent is not None:
                g.parent.switch()

    def run_schedule(rcu, first, last, who_first, k):
        mt = MapleTree(alloc_range=True, rcu=rcu)
        for i in range(60):
            mt.store_range(i * 10, i * 10 + 5, i)
        probe = (last // 10 + 1) * 10 + 1          # an entry after the write: its slot moves
        old = mt.load(probe)
        mt.set_access(Stepper())
        result = {}
        reader = greenlet.greenlet(lambda: result.setdefault("r", mt.load(probe)))
        writer = greenlet.greenlet(lambda: mt.store_range(first, last, VAL))
        a, b = (reader, writer) if who_first == "r" else (writer, reader)
        for _ in range(k):                     # a runs k accesses
            if not a.dead:
                a.switch()
        while not b.dead:                      # b runs to the end
            b.switch()
        while not a.dead:                      # a finishes
            a.switch()
        mt.set_access(None)
        mt.validate()
        return result["r"], old, mt.load(probe)

    for first, last in _node_store_cases(3):
        torn = 0
        for rcu in (True, False):
            for who in ("r", "w"):
                for k in range(0, 40):
                    got, old, new = run_schedule(rcu, first, last, who, k)
                    if got not in (old, new):
                        assert not rcu, f"RCU reader saw {got!r} (old {old!r}, new {new!r})"
                        torn += 1
        assert torn, f"no schedule exposed the in-place rewrite of [{first}, {last}]"


def test_nodes_needed_erase():
    mt = _tree(rcu=False, n=300)
    assert mt.nodes_needed_erase(7) == 0                       # inside a NULL range
    need = mt.nodes_needed_erase(1003)
    s0 = mt.stats.snapshot()
    assert mt.erase(1003) == 100
    assert mt.stats.since(s0).allocated <= need
