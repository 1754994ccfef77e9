"""Replay on captures of each kind (data/traces/tuning and data/traces/held-out): drained pools,
undrained pools, and a dirty start (a running system recorded with perf or trace-cmd, no meta).

The floors are the figures measured when the inference of hidden pool contents
(vmapsim.traces.hidden) was done, less a small margin; data/traces/README.md lists them.  Fast
mode replays one capture of each kind; ``VMAPSIM_FAST=0`` all of them."""
import os

import pytest

from vmapsim.traces.captures import kind_captures
from vmapsim.traces.replay import replay

FAST = os.environ.get("VMAPSIM_FAST") == "1"
ALL = {name: (st, kind, d) for st, kind, name, d in kind_captures()}
#: name -> (agreement floor, final state equal?)
FLOORS = {
    "drained-mixed-s81": (0.995, True), "undrained-mixed-s101": (0.88, True),
    "dirty-perf-mixed-s121": (0.86, False),
    "drained-fork-s141": (0.994, True), "drained-mixed-s131": (0.996, True),
    "undrained-long-s161": (0.88, True), "undrained-mixed-s151": (0.905, True),
    "undrained-long-s191": (0.995, True),
    "dirty-perf-mixed-s171": (0.90, True), "dirty-tc-mixed-s181": (0.84, False),
}
_cache = {}


def _replay(name):
    if name not in _cache:
        _cache[name] = replay(ALL[name][2])
    return _cache[name]


PICK = ["drained-fork-s141", "undrained-long-s161", "dirty-perf-mixed-s171"] if FAST else sorted(FLOORS)


def test_every_kind_has_held_out_captures():
    held = {kind for st, kind, _ in ALL.values() if st == "held-out"}
    assert held == {"drained", "undrained", "dirty"}
    assert set(ALL) == set(FLOORS)


@pytest.mark.parametrize("name", PICK)
def test_kind_figures(name):
    st, kind, d = ALL[name]
    res = _replay(name)
    floor, equal = FLOORS[name]
    assert res.agreement >= floor, res.table()
    if equal:
        assert res.final_state_equal, res.table()
    assert res.certain + res.uncertain == res.allocs
    assert res.certain_matched + res.uncertain_matched == res.matched
    dirty = [w for w in res.warnings if w.startswith("dirty start")]
    if kind == "drained":
        assert not dirty and res.certain_matched / res.certain >= 0.99
    else:
        assert len(dirty) == 1 and f"{res.uncertain} of {res.allocs} allocations were uncertain" in dirty[0]
        assert res.certain_matched / res.certain >= 0.94


def test_inference_is_what_lifts_a_dirty_start():
    st, kind, d = ALL["dirty-perf-mixed-s171"]
    without = replay(d, infer=False)
    assert without.agreement < 0.75 < _replay("dirty-perf-mixed-s171").agreement


def test_table_reports_certain_and_uncertain():
    st, kind, d = ALL["drained-fork-s141"]
    assert "certain   2423 (99.50% matched), uncertain 0 (-" in _replay("drained-fork-s141").table()
