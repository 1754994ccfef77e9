"""Every scenario of the catalogue gives the verdict the analysis expects."""
import pytest

from vmapsim.explore import explore, replay, scenarios

IDS = scenarios.ids()


@pytest.mark.parametrize("sid", IDS)
def test_catalogue_verdict(sid):
    r = explore(sid)
    assert r.verdict == r.expected, r.summary()
    if r.expected == "never":
        assert r.exhaustive, f"{sid}: a 'never' verdict must come from a complete search"
        assert r.counterexample is None
        if r.expected_observed is not None:
            assert r.observed == r.expected_observed, r.summary()
    if r.expected == "outcomes":
        assert r.exhaustive
        assert r.outcomes == r.expected_outcomes, r.summary()
    if r.expected == "violation":
        assert r.counterexample and "violation" in r.counterexample[-1]
        assert r.schedule and len(r.schedule) == len(r.counterexample)


def test_catalogue_lists_the_issue_ids():
    expected = ("A1 A2 B1 B2 C1 C2 C3 C4 C4-gp D1 D2 D3 D3-recheck D4 E1 E2 E2-rcu F1-inplace "
                "F1-cow F2 F2-filter G1-unfair G1-fair G2 G2-shared H H-ref I1 I1-revalidate "
                "I1-mas-nomem").split()
    assert [i for i in IDS if i in expected] == expected      # all of them, in the issue's order
    # our additions: 6.18's own find_vmap_area (C0, C0-pool, C0-freetree) and M23 on 6.18's
    # allocator (C1-freetree), the owner without call_rcu (C2-kfree), the series' bump-chunk
    # lookup (C5) and its per-CPU fast path (C5-fast, C5-fast-rcu), a split, a spanning store
    # and a rebalance under a lockless walk (F1-cow-split, E2-span, E2-rebalance), bounded
    # retries (G1-bounded), and the stale-range store of mas_store_gfp
    assert set(IDS) - set(expected) == {"I1-store-gfp", "C0", "C0-pool", "C0-freetree",
                                        "C1-freetree", "C2-kfree", "C5", "C5-fast",
                                        "C5-fast-rcu", "F1-cow-split", "E2-span",
                                        "E2-rebalance", "G1-bounded"}


@pytest.mark.parametrize("sid", [i for i in IDS if scenarios.CATALOGUE[i].expected == "violation"])
def test_counterexample_is_minimal_and_replays(sid):
    r = explore(sid)
    fewest = explore(sid, strategy="bounded", bound=max(r.preemptions, 1))
    assert fewest.verdict == "violation"
    assert r.preemptions == fewest.preemptions, (r.schedule, fewest.schedule)
    ns = {}
    exec(r.snippet(), ns)               # the exported snippet is runnable as it stands
    assert ns["result"].violation == r.violation
    again = replay(sid, r.schedule)
    assert again.counterexample == r.counterexample


def test_b2_lkmm_annotation():
    r = explore("B2")
    assert r.lkmm_extra == ["D"] and "D" not in r.outcomes


def test_generation_change_is_an_observation_not_a_violation():
    """Pool reuse hands back the same object with the same bounds: a reader that meets it
    has the right answer for its address.  The explorer reports the generation change
    beside the verdict, not as a violation; only a wrong answer for the address is one."""
    c4 = explore("C4")
    assert (c4.verdict, c4.observed) == ("never", ["R: generation changed"])
    assert explore("C4-gp").observed == []                   # the GP removes the observation
    d3 = explore("D3")                                       # reuse at another address
    assert d3.verdict == "violation" and "does not contain the address" in d3.violation


def test_today_has_the_usercopy_window():
    """6.18's find_vmap_area drops busy.lock before returning: C1's race exists today (C0)."""
    c0, c1 = explore("C0"), explore("C1")
    assert (c0.verdict, c0.violation_kind, c0.preemptions) == ("violation", "use-after-free", 1)
    assert (c1.verdict, c1.violation_kind, c1.preemptions) == ("violation", "use-after-free", 1)
    assert any(s["thread"] == "CB" for s in c1.counterexample)        # M23: after a grace period
    assert not any(s["thread"] == "CB" for s in c0.counterexample)    # 6.18: no grace period


def test_free_range_descriptor_exit_is_a_wrong_bound_not_a_use_after_free():
    """6.18: an unmerged purged area becomes a free-range descriptor whose bounds are rewritten
    in place (mm/vmalloc.c:__merge_or_add_vmap_area); usercopy reads a wrong bound from a live
    object.  M23's call_rcu does not cover that exit."""
    for sid in ("C0-freetree", "C1-freetree"):
        r = explore(sid)
        assert (r.verdict, r.violation_kind, r.preemptions) == ("violation", "wrong-bound", 1)
        assert "free-range descriptor" in r.violation


def test_series_bump_lookup_window_is_on_the_descriptor():
    r = explore("C5")
    assert (r.verdict, r.violation_kind) == ("violation", "use-after-free")
    assert "chunk was freed" in r.violation and any(s["thread"] == "CB" for s in r.counterexample)
    owner = explore(scenarios.bump_lookup_race(owner=True))
    assert (owner.verdict, owner.exhaustive) == ("never", True)


def test_series_bump_fast_path_exposes_the_owner():
    """Patch 11's vmap_chunk_lookup() reads this CPU's current chunk with this_cpu_read() and
    dereferences it outside any RCU section: a chunk retired and kvfree_rcu()'d meanwhile is
    read after its free, even by the owner of the area looked up (its own area keeps its own
    chunk alive, not the current one).  Holding rcu_read_lock() over the check closes it."""
    r = explore("C5-fast")
    assert (r.verdict, r.violation_kind, r.preemptions) == ("violation", "use-after-free", 1)
    assert "chunkY was freed" in r.violation and any(s["thread"] == "CB" for s in r.counterexample)
    fixed = explore("C5-fast-rcu")
    assert (fixed.verdict, fixed.exhaustive) == ("never", True)


def test_spanning_store_and_rebalance_under_a_lockless_walk():
    """E2-span / E2-rebalance really are a spanning store and a rebalance on a tree of height
    2, and the scenarios can see a node freed under the walk (negative control)."""
    from vmapsim.explore.scenarios.tree import SPAN_CASES, SPAN_FILL
    from vmapsim.maple import MapleTree

    for case, (erased, _mine) in SPAN_CASES.items():
        t = MapleTree(rcu=True)
        for k in range(1, SPAN_FILL + 1):
            t.store_range(6 * k, 6 * k + 4, object())
        assert t.height() == 2
        t.erase(6 * erased)
        assert t.last_store_type == {"erase-spanning": "spanning_store",
                                     "erase-rebalance": "rebalance"}[case]
        control = explore(scenarios.node_race(case=case, node_free="kfree"))
        assert (control.verdict, control.violation_kind) == ("violation", "use-after-free")
    for sid in ("E2-span", "E2-rebalance"):
        r = explore(sid)
        assert (r.verdict, r.exhaustive) == ("never", True)


def test_split_under_a_lockless_walk_really_splits():
    from vmapsim.explore.scenarios.tree import SPLIT_FILL
    from vmapsim.maple import MapleTree

    t = MapleTree(rcu=True)
    for k in range(1, SPLIT_FILL + 1):
        t.store_range(6 * k, 6 * k + 4, object())
    t.store_range(6 * SPLIT_FILL + 6, 6 * SPLIT_FILL + 8, object())
    assert t.last_store_type == "split_store"
