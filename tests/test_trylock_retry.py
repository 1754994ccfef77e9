"""vmapsim.review.trylock_retry: struct size arithmetic, the writer model and the G3 retry statistics."""
import numpy as np
import pytest

from vmapsim.errors import ParameterError
from vmapsim.review import trylock_retry
from vmapsim.review.trylock_retry import (
    WriterTimeline,
    analytic_failures,
    retry_run,
)
from vmapsim.vmalloc.layout import Field, Layout
from vmapsim.vmalloc.vmap_area import SIZEOF_VMAP_AREA


def test_layout_sizes_follow_c_alignment():
    by = {L.name: L for L in trylock_retry.layouts()}
    assert by["rb-72"].size == 72 and by["rb-72"].per_4k == 56
    assert by["maple-48"].size == 48 and by["maple-48"].per_4k == 85
    assert by["rcu-head-64"].size == 64
    # a 4-byte lock after 8-byte fields is padded to the struct's 8-byte alignment
    lk = by["rcu-head-spinlock-72"]
    assert (lk.size, lk.padding) == (72, 4)
    assert by["union-refcount-56"].size == 56
    assert by["rcu-head-debug-spinlock-88"].size == 88
    assert by["rcu-head-rt-spinlock-96"].size == 96        # PREEMPT_RT: rt_mutex_base, 32 B
    # every layout's name states its size
    assert all(k.endswith(f"-{L.size}") for k, L in by.items())
    assert SIZEOF_VMAP_AREA == 72
    # offsets: fields in order, each aligned
    L = Layout("t", (Field("a", "refcount_t"), Field("b", "unsigned long"), Field("c", "spinlock_t")))
    assert L.offsets == {"a": 0, "b": 8, "c": 16} and L.size == 24 and L.padding == 8


def test_analytic_formula():
    assert analytic_failures(0.5) == pytest.approx(1.0)
    assert analytic_failures(0.5, max_retries=0) == pytest.approx(0.5)
    assert analytic_failures(0.5, max_retries=3) == pytest.approx(0.5 + 0.25 + 0.125 + 0.0625)
    assert analytic_failures(0.0, max_retries=3) == 0


def test_writer_timeline_holds_the_lock_a_fraction_f_of_the_time():
    rng = np.random.default_rng(1)
    t = WriterTimeline(0.3, 0.05, 2000.0, rng)
    assert abs(t.held_fraction(2000.0) - 0.3) < 0.02
    # held() flips exactly at the change points
    c = t.changes[10]
    assert t.held(c - 1e-9) != t.held(c + 1e-9)
    assert t.next_change(c - 1e-9) == c
    never = WriterTimeline(0.0, 0.05, 10.0, rng)
    assert not never.held(5.0) and never.changes == []


def test_retry_run_is_deterministic_and_matches_the_formula_for_short_holds():
    a = retry_run(f=0.5, lookups=2000, hold=0.05, seed=3)
    b = trylock_retry._retry_run.__wrapped__(0.5, 2000, 0.05, 64, 3, 32)   # bypass the cache
    assert np.array_equal(a.failures, b.failures)
    assert a.z <= 4, a.line()
    assert abs(a.held_fraction - 0.5) < 0.03
    # the tail follows f**r
    r, meas, pred = a.tail(4)
    assert np.all(np.abs(meas - pred) < 0.05)


def test_long_holds_break_independence():
    short = retry_run(f=0.2, lookups=1500, hold=0.05, seed=0)
    long = retry_run(f=0.2, lookups=1500, hold=5.0, seed=0)
    assert long.mean > 3 * short.analytic > 0
    assert long.z > 4


def test_fallback_after_max_retries():
    r = retry_run(f=0.6, lookups=3000, hold=0.05, max_retries=1, seed=2)
    # at most max_retries + 1 failed trylocks, then the locked fallback
    assert r.failures.max() <= 2
    se = (r.analytic_fallback * (1 - r.analytic_fallback) / r.lookups) ** 0.5
    assert abs(r.fallback_rate - 0.36) <= 4 * se
    assert r.counts["fallback"] == r.fallbacks > 0


@pytest.mark.parametrize("kw, name", [({"f": 0.99}, "f"), ({"lookups": 0}, "lookups"),
                                      ({"hold": 0}, "hold"), ({"max_retries": -1}, "max_retries")])
def test_bad_parameters_are_named(kw, name):
    with pytest.raises(ParameterError, match=name):
        retry_run(**kw)


def test_sweep_rows_and_empty_sweep():
    sw = trylock_retry.retry_sweep(fs=[0.0, 0.4], lookups=300)
    assert len(sw.rows()) == 2 and sw.measured[0] == 0
    with pytest.raises(ParameterError, match="fs"):
        trylock_retry.retry_sweep(fs=[])


def test_requirement_evidence_each_property_fails_without_and_holds_with():
    rows = trylock_retry.requirement_evidence()
    checked = [r for r in rows if r.without is not None]
    assert len(checked) == 7
    assert {r.id: r.kind for r in rows}["R5"] == "bound"
    assert {r.id: r.kind for r in rows}["R6"] == "performance"
    for r in checked:
        if r.id == "R1b":
            # pool recycling is a generation change, not a violation: nothing is required
            assert (r.without_verdict, r.without_observed, r.with_verdict, r.with_observed) == (
                "never", ("R: generation changed",), "never", ()), r
            continue
        assert (r.without_verdict, r.with_verdict, r.exhaustive) == ("violation", "never", True), r


def test_plots_return_figures():
    import matplotlib
    matplotlib.use("Agg")
    sw = trylock_retry.retry_sweep(fs=[0.0, 0.5], lookups=200)
    assert trylock_retry.plot_retry_sweep(sw, extra=[sw]).axes
    assert trylock_retry.plot_retry_run(sw.runs[1]).axes
    assert trylock_retry.plot_layouts(trylock_retry.layouts()).axes
