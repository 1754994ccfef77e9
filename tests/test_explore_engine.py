"""The explorer itself: partial-order reduction soundness, strategies, budgets, checks."""
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmapsim.errors import ParameterError
from vmapsim.explore import explore, replay, scenarios
from vmapsim.explore.scenarios import Scenario, Thread
from vmapsim.explore.search import dfs

# -- random programs: sleep sets must keep every outcome and every violation kind ----------
FIELDS = ("f0", "f1")
leaf = st.one_of(st.tuples(st.just("r"), st.sampled_from(FIELDS)),
                 st.tuples(st.just("w"), st.sampled_from(FIELDS), st.integers(1, 2)),
                 st.tuples(st.just("deref"),),      # rcu-protected read through the slot
                 st.tuples(st.just("retire"),),     # unpublish + call_rcu / kfree
                 st.tuples(st.just("sync"),))
block = st.one_of(leaf, st.tuples(st.just("locked"), st.lists(leaf, min_size=1, max_size=2)),
                  st.tuples(st.just("rcu"), st.lists(leaf, min_size=1, max_size=2)))
program = st.lists(st.lists(block, min_size=1, max_size=2), min_size=2, max_size=3)


def _random_scenario(prog, kfree):
    def setup(w):
        m = w.obj("M", f0=0, f1=0, lock=None)
        q = w.obj("Q", data=7)
        w.G.fields["slot"] = q
        return SimpleNamespace(m=m, q=q)

    def run_ops(ctx, s, ops, path, in_rcu):
        for i, op in enumerate(ops):
            key = f"{ctx.name}{path}.{i}"
            k = op[0]
            if k == "r":
                ctx.observe(key, (yield ctx.read(s.m, op[1])))
            elif k == "w":
                yield ctx.write(s.m, op[1], op[2])
            elif k == "deref":
                p = yield ctx.load("slot")
                if p is not None and in_rcu:
                    ctx.observe(key, (yield ctx.read(p, "data")))
                else:
                    ctx.observe(key, None if p is None else "p")
            elif k == "retire":
                p = yield ctx.load("slot")
                if p is not None:
                    yield ctx.store("slot", None)
                    yield (ctx.kfree(p) if kfree else ctx.call_rcu(p))
            elif k == "sync":
                if not in_rcu:
                    yield ctx.synchronize_rcu()
            elif k == "locked":
                yield ctx.spin_lock(s.m)
                yield from run_ops(ctx, s, op[1], f"{path}.{i}", in_rcu)
                yield ctx.spin_unlock(s.m)
            elif k == "rcu":
                yield ctx.rcu_read_lock()
                yield from run_ops(ctx, s, op[1], f"{path}.{i}", True)
                yield ctx.rcu_read_unlock()

    def make(ops):
        def fn(ctx, s):
            yield from run_ops(ctx, s, ops, "", False)
        return fn

    def outcome(w, s):
        return repr(sorted((k, repr(v)) for k, v in w.obs.items()))

    return Scenario(id="random", title="random", description="", setup=setup, outcome=outcome,
                    threads=[Thread(f"T{i}", make(p)) for i, p in enumerate(prog)])


@settings(max_examples=30, deadline=None)
@given(program, st.booleans())
def test_sleep_sets_keep_outcomes_and_violations(prog, kfree):
    sc = _random_scenario(prog, kfree)
    plain = dfs(sc, sleep=False, cache=False, stop_on_violation=False, max_executions=2000)
    if plain.limit_hit:
        return
    for cache in (False, True):
        red = dfs(sc, sleep=True, cache=cache, stop_on_violation=False)
        assert red.complete and plain.complete
        assert red.outcomes == plain.outcomes
        assert red.kinds == plain.kinds
        assert red.executions <= plain.executions


@pytest.mark.parametrize("sid", ["A1", "F1-cow", "C3", "C4-gp", "G1-fair", "H",
                                 "H-ref", "B1-slot", "B2-slot", "A2-slot"])
def test_sleep_sets_agree_on_catalogue(sid):
    sc = scenarios.get(sid[:-5], tree_mode="slot") if sid.endswith("-slot") else scenarios.get(sid)
    b = dfs(sc, sleep=False, cache=False, stop_on_violation=False)
    for cache in (False, True):
        a = dfs(sc, sleep=True, cache=cache, stop_on_violation=False)
        assert (a.outcomes, a.kinds) == (b.outcomes, b.kinds)
        assert a.executions < b.executions


@pytest.mark.parametrize("sid", scenarios.ids())
def test_state_caching_agrees(sid):
    sc = scenarios.get(sid)
    a = dfs(sc, cache=False, stop_on_violation=False)
    b = dfs(sc, cache=True, stop_on_violation=False)
    assert (a.outcomes, a.kinds, a.complete) == (b.outcomes, b.kinds, b.complete)
    assert b.executions <= a.executions


# -- strategies -------------------------------------------------------------------------
def test_bounded_is_fewest_preemptions_first():
    r = explore("C1", strategy="bounded", bound=3)
    assert r.verdict == "violation" and r.preemptions == 1 and r.bound == 3
    assert explore("C1", strategy="bounded", bound=1).preemptions == 1


def test_bounded_reports_exhaustive_only_when_nothing_pruned():
    small = explore("C2", strategy="bounded", bound=3)
    assert small.verdict == "never" and small.exhaustive and small.pruned == 0
    cut = explore("D1", strategy="bounded", bound=1)
    assert cut.verdict == "never" and not cut.exhaustive and cut.pruned > 0


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_seeded_strategies_are_deterministic(strategy):
    a = explore("C3", strategy=strategy, runs=300, seed=11)
    b = explore("C3", strategy=strategy, runs=300, seed=11)
    assert a.verdict == "violation"
    assert (a.executions, a.schedule) == (b.executions, b.schedule)
    assert not a.exhaustive


def test_random_never_claims_exhaustive():
    r = explore("D1", strategy="random", runs=50, seed=1)
    assert r.verdict == "never" and not r.exhaustive and r.executions == 50


def test_step_budget_is_not_a_violation():
    # an unfair scheduler can spin R for ever; with a huge attempt bound the only thing
    # that stops it is the step budget, which is reported separately
    sc = scenarios.trylock_livelock(k=1, fair=False, bound=10_000, max_retries=10_000)
    sc.step_budget = 25
    r = explore(sc)
    assert r.verdict == "never" and r.budget_hits > 0 and not r.exhaustive
    fair = scenarios.trylock_livelock(k=1, fair=True, bound=10_000, max_retries=10_000)
    assert explore(fair).budget_hits == 0


def test_g1_fair_bound_k_is_violated():
    assert explore(scenarios.trylock_livelock(k=2, fair=True, bound=2)).verdict == "violation"
    assert explore(scenarios.trylock_livelock(k=3, fair=True)).verdict == "never"


def test_limits_make_search_non_exhaustive():
    r = explore("D2", max_executions=20)
    assert r.verdict == "never" and not r.exhaustive and r.limit_hit


def test_bad_parameters_named():
    for kw, name in (({"strategy": "bounded", "bound": 0}, "bound"), ({"strategy": "random", "runs": 0}, "runs"),
                     ({"strategy": "dfs"}, "strategy"), ({"seed": -1}, "seed")):
        with pytest.raises(ParameterError, match=name):
            explore("C1", **kw)
    with pytest.raises(ParameterError, match="scenario"):
        explore("nope")
    with pytest.raises(ParameterError, match="schedule"):
        replay("C1", ["W", "W", "W", "CB"])


# -- the checks the world performs ---------------------------------------------------------
def _two(setup, t0, t1, **kw):
    return Scenario(id="t", title="t", description="", setup=setup,
                    threads=[Thread("T0", t0), Thread("T1", t1)], **kw)


def test_abba_deadlock_is_found():
    def setup(w):
        return SimpleNamespace(a=w.obj("a", lock=None), b=w.obj("b", lock=None))

    def t0(ctx, s):
        yield ctx.spin_lock(s.a)
        yield ctx.spin_lock(s.b)
        yield ctx.spin_unlock(s.b)
        yield ctx.spin_unlock(s.a)

    def t1(ctx, s):
        yield ctx.spin_lock(s.b)
        yield ctx.spin_lock(s.a)
        yield ctx.spin_unlock(s.a)
        yield ctx.spin_unlock(s.b)
    r = explore(_two(setup, t0, t1))
    assert r.violation_kind == "deadlock" and "spin_lock" in r.violation


def test_lock_held_at_exit_and_sync_in_rcu():
    def setup(w):
        return SimpleNamespace(a=w.obj("a", lock=None))

    def t0(ctx, s):
        yield ctx.spin_lock(s.a)

    def t1(ctx, s):
        yield ctx.rcu_read_lock()
        yield ctx.synchronize_rcu()
        yield ctx.rcu_read_unlock()
    kinds = dfs(_two(setup, t0, t1), stop_on_violation=False).kinds
    assert kinds == {"lock-held-at-exit", "sleep-in-rcu"}


def test_grace_period_waits_only_for_preexisting_readers():
    """T1's synchronize_rcu must outlast T0's section if it started inside it, and must
    not wait for sections opened later (nested or not)."""
    def setup(w):
        w.G.fields["flag"] = 0
        return SimpleNamespace()

    def t0(ctx, s):
        yield ctx.rcu_read_lock()
        yield ctx.rcu_read_lock()
        yield ctx.store("flag", 1)
        yield ctx.rcu_read_unlock()
        v = yield ctx.load("flag")          # still inside the outer section
        ctx.observe("inner", v)
        yield ctx.rcu_read_unlock()
        yield ctx.rcu_read_lock()           # a new reader after the GP started
        yield ctx.rcu_read_unlock()

    def t1(ctx, s):
        f = yield ctx.load("flag")
        yield ctx.synchronize_rcu()
        yield ctx.store("flag", 2)
        ctx.observe("seen", f)

    sc = _two(setup, t0, t1, outcome=lambda w, s: f"{w.obs['seen']}/{w.obs['inner']}")
    out = dfs(sc, stop_on_violation=False)
    # if T1 saw flag==1 before its GP, T0 was inside its section then, so T0's later
    # in-section load cannot see T1's post-GP store
    assert "1/2" not in out.outcomes
    assert {"0/1", "1/1", "0/2"} <= out.outcomes and not out.kinds


@pytest.mark.parametrize("sid", ["E2-rcu", "F1-cow"])
def test_broken_grace_period_is_caught(sid):
    """Self-test of the checker: if a grace period did not wait for pre-existing readers,
    the maple tree's RCU-mode node reclamation would be unsafe, and the explorer must say so."""
    assert explore(sid).verdict == "never"
    bad = explore(sid, broken_gp=True)
    assert bad.verdict == "violation" and bad.violation_kind == "use-after-free", bad.summary()
    assert ".N" in bad.violation                     # a maple node, read after its free


def test_broken_grace_period_breaks_refcount_protocol():
    assert explore("D2").verdict == "never"
    bad = explore("D2", broken_gp=True)
    assert bad.verdict == "violation" and bad.violation_kind == "use-after-free"


def test_maple_trace_has_tree_drawing_data():
    r = explore("F1-inplace")
    step = r.counterexample[-1]
    tree = step["trees"]["mt"]
    assert tree["root"] and tree["nodes"][0]["leaf"] is True
    assert any(k.startswith("mt.N") for k in step["objects"])
    cow = replay("F1-cow", [])            # W runs first: copy-on-write, publish, mark dead
    marked = [e for e in cow.counterexample if e["objects"].get("mt.N1") == "live (dead)"]
    assert marked and marked[0]["op"] == "store mark mt.N1 dead"
    final = cow.counterexample[-1]["trees"]["mt"]
    assert final["root"] == "mt.N2" and final["nodes"][0]["slots"] == ["NULL", "Y", "NULL", "X", "NULL"]


def test_replay_records_step_through_data():
    r = replay("C1", explore("C1").schedule)
    steps = r.counterexample
    assert steps[0]["positions"]["R"] and set(steps[0]) >= {
        "step", "thread", "op", "result", "preempt", "notes", "rcu", "objects", "locks", "positions"}
    gp_steps = [s for s in steps if s["rcu"]["gps"]]
    assert gp_steps and gp_steps[0]["rcu"]["gps"][0]["kind"] == "cb"
    assert steps[-1]["objects"]["A"] == "freed" and "use-after-free" in steps[-1]["violation"]
    assert "A freed" in "".join(n for s in steps for n in s["notes"])
    assert "!!" in r.swimlane()


def test_lookup_race_on_the_real_maple_tree():
    """The C1/C2 protocols give the same verdicts when the walk is the real RCU-mode tree."""
    c1 = explore(scenarios.get("C1", tree_mode="rcu"))
    assert c1.verdict == "violation" and c1.violation_kind == "use-after-free"
    assert "busy" in c1.counterexample[-1]["trees"]
    assert explore(scenarios.get("C2", tree_mode="rcu")).verdict == "never"


def test_stabiliser_knob_names_the_protocol():
    sc = scenarios.lookup_race(stabiliser="refcount", readers=1)
    assert sc.knobs["protocol"] == "rcu-refcount" and explore(sc).verdict == "never"
    with pytest.raises(ParameterError, match="stabiliser"):
        scenarios.lookup_race(stabiliser="rwsem")
