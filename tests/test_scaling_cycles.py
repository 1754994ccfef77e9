"""Counted purge cycles of notebook 04: the cycle-to-cycle spread, windows rounded up to whole
cycles, and borderline verdicts (vmapsim.review.scaling)."""
import pytest

from vmapsim.review import scaling
from vmapsim.vmalloc.vmap_area import lazy_max_pages


def test_borderline_is_within_five_percent_of_the_threshold_either_way():
    assert scaling.borderline(2.5215, 2.55)          # x2.52 against x2.55: rests on rounding
    assert scaling.borderline(2.60, 2.55)
    assert not scaling.borderline(2.37, 2.55)
    assert not scaling.borderline(1.0, 2.55)


@pytest.mark.parametrize("workload,smp,nt", [("long_busy_list_alloc_test", 16, 16),
                                             ("long_busy_list_alloc_test", 8, 8),
                                             ("fix_size_alloc_test", 64, 32)])
def test_cover_letter_windows_free_at_least_one_whole_cycle(workload, smp, nt):
    from vmapsim.perf.simulate import _PAGES_PER_ITERATION
    pages = _PAGES_PER_ITERATION.get(workload, 2)
    for cycles in (1, 2):
        loops = scaling.cycle_loops(workload, nt, smp, cycles)
        assert loops * nt * pages >= cycles * lazy_max_pages(smp)      # rounded up
        assert (loops - 2) * nt * pages < cycles * lazy_max_pages(smp)  # by at most a loop
    # the floored count of before was short of a cycle: smp 16, nt 16, 24 loops of 103 pages
    assert scaling.cycle_loops("long_busy_list_alloc_test", 16, 16) == 25


def test_cycle_spread_differences_add_up_to_the_longer_runs():
    s = scaling.cycle_spread(designs=("linux-6.18", "rfc-maple-busy"), cpus=2, cycles=2,
                             online_cpus=2, prefill=0)
    for o in s["designs"].values():
        assert len(o["per_cycle"]) == len(o["cumulative"]) == 2
        assert o["per_cycle"][0] == pytest.approx(o["cumulative"][0])
        l1, l2 = o["loops"]
        assert l2 > l1
        mean = (l1 * o["per_cycle"][0] + (l2 - l1) * o["per_cycle"][1]) / l2
        assert mean == pytest.approx(o["cumulative"][1])
        assert o["spread"] >= 0
    assert s["ratios"][1]["linux-6.18"] == 1.0


def test_notebook_04_counts_two_cycles_per_cover_letter_case_and_flags_its_claim_gap():
    """R5-A2: the cover-letter comparison counts >= 2 purge cycles outside FAST, and x2.46 (its
    largest claim gap with one cycle) would be flagged borderline by the notebook's one rule."""
    import re
    from pathlib import Path
    src = (Path(__file__).resolve().parents[1] / "notebooks/src/04-scaling.py").read_text()
    m = re.search(r"^cover_cycles = 1 if FAST else (\d+)", src, re.M)
    assert m and int(m.group(1)) >= 2
    assert "edge_note(claim_gap_of(c))" in src and "scaling.borderline(claim_gap, thr)" in src
    assert scaling.borderline(2.46, 2.55)
