"""explore_tables / stepview / lockless_find / allocation_under_lock: the notebook experiments over
the explorer."""
import pytest

from vmapsim.errors import ParameterError
from vmapsim.explore import explore
from vmapsim.review import explore_tables, lockless_find, stepview
from vmapsim.review.allocation_under_lock import approach_verdicts, posted_race


def test_verdicts_match_the_catalogue():
    rows = explore_tables.verdicts(["C1", "C2", "G2"])
    assert [(r.id, r.verdict, r.matches) for r in rows] == [
        ("C1", "violation", True), ("C2", "never", True), ("G2", "violation", True)]
    assert rows[1].exhaustive
    with pytest.raises(ParameterError, match="scenario"):
        explore_tables.verdicts(["Z9"])


def test_protocol_matrix_owner_versus_non_owner():
    owner = "owner (every find_vm_area caller, F1): reads vm fields"
    uc = "usercopy (check_heap_object): reads va_end; area purged to the slab"
    uc_pool = "usercopy: reads va_end; area recycled by a node pool"
    follows = "non-owner that follows va->vm (M22's lockless vread_iter / vmallocinfo)"
    pool = "non-owner keeps the vm pointer; pool reuse, no GP"
    m = explore_tables.protocol_matrix(
        callers=[owner, uc, uc_pool, follows, pool],
        protocols=["spinlock-6.18 (today)", "rcu-readonce (M23)", "rcu-trylock-retry",
                   "rcu-refcount"])
    assert m.verdict(owner, "rcu-readonce (M23)") == "never"
    # the usercopy window exists today and under M23 alike
    assert m.verdict(uc, "spinlock-6.18 (today)") == "violation"
    assert m.verdict(uc, "rcu-readonce (M23)") == "violation"
    # a pool hands back the same object with the same bounds: a generation change, no violation
    assert m.verdict(uc_pool, "spinlock-6.18 (today)") == "never"
    assert m.observed(uc_pool, "spinlock-6.18 (today)") == ["R: generation changed"]
    assert m.verdict(follows, "rcu-readonce (M23)") == "violation"
    assert m.verdict(follows, "rcu-trylock-retry") == "never"
    assert m.verdict(pool, "rcu-trylock-retry") == "never"
    assert m.rows()[4][3] == "safe, gen."
    assert m.verdict(pool, "rcu-refcount") is None   # not modelled
    # 6.18's free-range-descriptor exit: a wrong bound today and under M23, not with a stabiliser
    desc = "usercopy: reads va_end; area not merged: a free-range descriptor (6.18)"
    d = explore_tables.protocol_matrix(callers=[desc])
    assert d.verdict(desc, "spinlock-6.18 (today)") == "violation"
    assert d.verdict(desc, "rcu-readonce (M23)") == "violation"
    assert d.verdict(desc, "rcu-readonce, use inside RCU") == "violation"
    assert d.verdict(desc, "rcu-trylock-retry") == "never"
    assert d.verdict(desc, "seqcount copy-out") == "never"
    assert not m.safe_for_all("rcu-readonce (M23)")
    with pytest.raises(ParameterError, match="caller"):
        explore_tables.protocol_matrix(callers=["nobody"])


def test_on_maple_tree_keeps_verdicts_and_shows_nodes():
    c1 = explore(explore_tables.on_maple_tree("C1"))
    assert c1.verdict == "violation" and c1.preemptions == 1
    assert any("busy.N" in s["op"] for s in c1.counterexample)
    assert c1.counterexample[-1]["trees"]["busy"]["nodes"]
    c2 = explore(explore_tables.on_maple_tree("C2"))
    assert (c2.verdict, c2.exhaustive) == ("never", True)
    with pytest.raises(ParameterError, match="tree_mode"):
        explore_tables.on_maple_tree("C1", tree_mode="slot")


def test_stepped_records_and_errors():
    st = explore_tables.stepped("C1")
    assert st.verdict == "violation" and "violation" in st.steps[-1]
    assert st.threads == ["R", "W", "CB"]
    assert st.clamp(10_000) == len(st) - 1 and st.clamp(-3) == 0
    with pytest.raises(ParameterError, match="no counterexample"):
        explore_tables.stepped("C2")
    with pytest.raises(ParameterError, match="scenario"):
        explore_tables.stepped("nope")
    # a replay of an explicit schedule needs no violation
    ok = explore_tables.stepped("C2", schedule=["R"])
    assert ok.verdict == "never" and len(ok) > 3


def test_step_text_names_the_state():
    st = explore_tables.stepped("C3")
    last = stepview.step_text(st, len(st) - 1)
    assert "VIOLATION: use-after-free" in last
    assert "open read-side sections: R: cs" in last          # C3 fires inside the section
    gp = next(i for i, s in enumerate(st.steps) if s["rcu"]["gps"])
    assert "GP#" in stepview.step_text(st, gp)


def test_plot_step_draws_every_reachable_node():
    import matplotlib
    matplotlib.use("Agg")
    st = explore_tables.stepped("C1", areas=12)        # a two-level tree
    snap = st.steps[-1]["trees"]["busy"]
    levels = stepview._levels(snap)
    assert len(levels) == 2 and len(levels[0]) == 1
    assert sum(len(level) for level in levels) == len(snap["nodes"])
    fig = stepview.plot_step(st, len(st) - 1)
    assert len(fig.axes) == 3
    v = stepview.step_view("I1", step=5)
    assert v.step == 5 and "T1" in v.text()


def test_protocol_costs_count_the_shared_atomics():
    rows = {r.protocol: r for r in lockless_find.protocol_costs(areas=200, lookups=50)}
    # one RMW to take the lock, one release store to drop it (native qspinlock)
    assert (rows["spinlock"].node_rmw, rows["spinlock"].node_release) == (1, 1)
    assert rows["spinlock"].rcu_sections == 0
    assert (rows["spinlock-6.18"].node_rmw, rows["spinlock-6.18"].node_release) == (1, 1)
    assert rows["spinlock-6.18"].pin == "none"
    assert rows["rcu-readonce"].node_rmw == rows["rcu-readonce"].area_rmw == 0
    assert (rows["rcu-trylock-retry"].area_rmw, rows["rcu-trylock-retry"].area_release) == (1, 1)
    assert (rows["rcu-refcount"].area_rmw, rows["rcu-refcount"].area_release) == (2, 0)
    assert rows["seqcount"].pin == "copy"
    assert len({r.tree_nodes for r in rows.values()}) == 1     # same walk for all
    with pytest.raises(ParameterError, match="protocol"):
        lockless_find.protocol_costs(protocols=["mutex"])


def test_m23_callers_do_not_use_find_vmap_area():
    for name in lockless_find.M23_CLAIMED:
        hits = [c for c in lockless_find.KERNEL_CALLERS if name in c.name]
        assert hits and all(not c.lookup.startswith("find_vmap_area") for c in hits)


def test_allocation_approaches():
    got = {r.scenario: r.verdict for r in approach_verdicts()}
    assert got == {"posted": "never", "posted-noscan": "violation", "I1": "violation",
                   "I1-revalidate": "never", "I1-mas-nomem": "never", "I1-store-gfp": "violation"}
    # the posted scheme with no allocation failure is safe whatever the search does
    assert explore(posted_race(scan_retry_list=False, fail="none")).verdict == "never"
    noscan = explore(posted_race(scan_retry_list=False))
    assert noscan.preemptions == 0 and noscan.violation.startswith("overlap")


def test_fallback_rates_follow_the_recipes():
    from vmapsim.review.allocation_under_lock import fallback_sweep

    sw = fallback_sweep(rates=[0.0, 0.3], atomic_fail=0.5, ops=400, live=100, seed=1)
    s0, s3 = sw.run("series", 0.0).counts["alloc"], sw.run("series", 0.3).counts["alloc"]
    assert s0.get("atomic_attempts", 0) == 0 and s3["atomic_attempts"] == s3["nowait_fail"] > 0
    assert 0 < s3["retry_list"] <= s3["atomic_attempts"]
    r0, r3 = sw.run("rezki", 0.0).counts["alloc"], sw.run("rezki", 0.3).counts["alloc"]
    # Rezki drops the lock for every allocation that needs nodes, whatever the failure rate
    assert r0["lock_drops"] == r3["lock_drops"] >= r0["needing_nodes"] > 0
    w0, w3 = sw.run("wilcox", 0.0).counts["alloc"], sw.run("wilcox", 0.3).counts["alloc"]
    assert w0.get("lock_drops", 0) == 0 and w3["lock_drops"] == w3["restarts"] == w3["nowait_fail"]
    # copy-on-write in RCU mode makes most stores need nodes
    rcu = fallback_sweep(rates=[0.0], modes=("rezki",), ops=400, live=100, seed=1, rcu=True)
    assert rcu.run("rezki", 0.0).need_fraction() > 0.5 > sw.run("rezki", 0.0).need_fraction()
    with pytest.raises(ParameterError, match="recipe"):
        fallback_sweep(modes=("mine",))


def test_store_census_classifies_the_series_stores():
    from vmapsim.review import allocation_under_lock as a

    c = a.store_census("fork-s71")
    assert c.agreement >= 0.99 and c.allocs > 1000
    keys = {("busy", "store"), ("busy", "unlink"), ("free_vmap_area_lock", "store")}
    assert keys <= set(c.kinds)
    for k in keys:
        lo, hi = c.ci(k)
        assert 0.1 < lo <= c.q(k) <= hi < 0.5           # about a quarter need nodes
    rcu = a.store_census("fork-s71", rcu=True)
    assert rcu.q(("busy", "store")) > 0.9                # copy-on-write: nearly every store
    rows = {r[0]: r for r in a.expected_rates(c, 0.01)}
    unlink = rows["busy unlink (vfree; patch 09 mas_erase)"]
    assert unlink[4] == round(1000 * c.q(("busy", "unlink")) * 0.01, 1) > 0   # GFP_KERNEL
    pair = a.per_pair(c, 0.0)
    assert pair["kernel"] == pair["wilcox"] == 0 and pair["rezki"] == pair["need"] > 0
    # the erase helpers' GFP_ATOMIC is mas_store_gfp's fallback (q p); GFP_NOWAIT at q, any p
    assert pair["atomic"] == pair["atomic_erase"] == 0
    # (this trace makes no occupied-tree erase: a census made up of 724 of them, 164 needing nodes)
    er = ("free_vmap_area_lock", "erase")
    made = a.StoreCensus("x", False, {}, 8156, 8109, 1.0, {er: {"n": 724, "need": 164,
                                                                 "nodes": 164, "max_nodes": 1}})
    p0, p1 = a.per_pair(made, 0.0), a.per_pair(made, 0.01)
    assert round(p0["nowait_erase"], 1) == round(p1["nowait_erase"], 1) == 20.1
    assert p0["atomic_erase"] == 0 and round(p1["atomic_erase"], 2) == 0.2
    assert {r[0]: r for r in a.expected_rates(made, 0.01)}["occupied-tree erase (purge)"][2] == 2.3
    assert a.wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ParameterError, match="trace"):
        a.store_census("no-such-trace")
