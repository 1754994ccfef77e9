"""Replay of the real traces under the maple designs: rfc-maple-busy makes 6.18's choices, and
every choice in which rfc-v1 / maple-nofree(-sharded) differ from 6.18 has a named cause.

Fast mode (the suite) replays the smallest trace; ``VMAPSIM_FAST=0`` replays all of them
(``bench/bench_design_replay.py`` does the same and prints the figures of the note)."""
import json
import os
import subprocess
import sys

import pytest

from vmapsim.designs.reference import DESIGN_MISS_CAUSES
from vmapsim.errors import ParameterError
from vmapsim.review.free_tree import reference_records
from vmapsim.traces.captures import capture_dirs
from vmapsim.traces.replay import MISS_CAUSES, replay

FAST = os.environ.get("VMAPSIM_FAST") == "1"
ALL = list(capture_dirs().values())
SMALLEST = min(ALL, key=lambda p: (p / "trace.txt.gz").stat().st_size)
TRACES = [SMALLEST] if FAST else ALL
JSON_KEYS = {"allocs", "matched", "agreement", "final_state_equal", "misses_by_cause", "warnings"}

_cache = {}


def run(trace, design, **kw):
    key = (trace.name, design, tuple(sorted(kw.items())))
    if key not in _cache:
        _cache[key] = replay(trace, design, **kw)
    return _cache[key]


@pytest.mark.parametrize("trace", TRACES, ids=[p.name for p in TRACES])
def test_rfc_maple_busy_makes_exactly_the_choices_of_618(trace):
    ref, got = run(trace, "linux-6.18"), run(trace, "rfc-maple-busy")
    assert got.records == ref.records
    assert got.as_json() == ref.as_json()


def _check_named(trace, design, **kw):
    ref, got = run(trace, "linux-6.18"), run(trace, design, **kw)
    base = reference_records(ref, got)           # 6.18 beside the design, same replay steps
    assert len(got.model.reference_predictions) == len(got.records)
    assert got.allocs == ref.allocs and got.final_state_equal
    assert "unexplained" not in got.misses_by_cause, got.misses_by_cause
    assert set(got.misses_by_cause) <= set(MISS_CAUSES) | set(DESIGN_MISS_CAUSES)
    assert sum(got.misses_by_cause.values()) == got.allocs - got.matched
    own = 0
    for r, g in zip(base, got.records):
        assert r[:5] == g[:5]                        # the same event
        if g[5] == r[5]:
            # same prediction as 6.18: a miss keeps one of replay's 6.18 causes
            assert g[7] == "" or g[7] in MISS_CAUSES, (r, g)
        elif g[7]:
            assert g[7] in DESIGN_MISS_CAUSES, (r, g)
            own += 1
    return ref, got, own


@pytest.mark.parametrize("trace", TRACES, ids=[p.name for p in TRACES])
@pytest.mark.parametrize("design", ["maple-nofree", "maple-nofree-sharded"])
def test_nofree_differences_are_all_exact_aligned_gaps(trace, design):
    ref, got, own = _check_named(trace, design)
    design_causes = {k: v for k, v in got.misses_by_cause.items() if k in DESIGN_MISS_CAUSES}
    assert set(design_causes) <= {"exact-aligned-gap"}
    assert own == sum(design_causes.values())
    # the padded gap search is 6.18's rule without the rb-tree shape: it never loses more than
    # the shape-dependent misses it removes
    ref_hits = sum(r[5] == r[2] for r in reference_records(ref, got))
    assert got.matched >= ref_hits - own


@pytest.mark.parametrize("trace", TRACES, ids=[p.name for p in TRACES])
def test_rfc_v1_without_bump_differs_by_lazy_list_order_and_aligned_gaps(trace):
    ref, got, own = _check_named(trace, "rfc-v1", bump=False)
    assert set(got.misses_by_cause) & set(DESIGN_MISS_CAUSES) <= {"lazy-list-order", "exact-aligned-gap"}
    # with the lazy queue in address order, only the aligned-gap rule is left
    ref2, got2, own2 = _check_named(trace, "rfc-v1", bump=False, lazy_list=False)
    assert set(got2.misses_by_cause) & set(DESIGN_MISS_CAUSES) <= {"exact-aligned-gap"}
    assert own2 == got2.misses_by_cause.get("exact-aligned-gap", 0) <= own
    # and then its choices are exactly those of the sharded no-free-tree design
    assert got2.records == run(trace, "maple-nofree-sharded").records
    if trace.name.startswith(("large", "mixed", "long")):
        # workloads that reuse pooled areas: the free-order pools change many choices
        assert got.misses_by_cause.get("lazy-list-order", 0) > 0.1 * got.allocs


@pytest.mark.parametrize("trace", TRACES, ids=[p.name for p in TRACES])
def test_rfc_v1_as_posted_serves_the_vmalloc_range_from_bump_chunks(trace):
    ref, got, own = _check_named(trace, "rfc-v1")
    assert got.misses_by_cause.get("bump-chunk", 0) == own > 0.5 * got.allocs
    for g in got.records:
        if g[7] == "bump-chunk":
            assert g[2] >= 0 and g[3] % 4096 == 0


@pytest.mark.parametrize("design", ["rfc-maple-busy"] if FAST else ["rfc-maple-busy", "rfc-v1",
                                                                   "maple-nofree"])
def test_cli_json_has_the_keys_of_618(design):
    out = subprocess.run([sys.executable, "-m", "vmapsim", "replay", str(SMALLEST), "--design",
                          design, "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == JSON_KEYS
    assert data == json.loads(json.dumps(run(SMALLEST, design).as_json()))


def test_cli_unknown_design_lists_the_names():
    out = subprocess.run([sys.executable, "-m", "vmapsim", "replay", str(SMALLEST), "--design",
                          "maple"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    for name in ("rfc-maple-busy", "rfc-v1", "maple-nofree", "maple-nofree-sharded"):
        assert name in out.stderr


def test_replay_refuses_failure_rates():
    with pytest.raises(ParameterError, match="nowait_fail"):
        replay(SMALLEST, "rfc-v1", nowait_fail=0.1)
