"""tools/measure_page_costs.py: the parts that need neither root nor bpf(2)."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import measure_page_costs as mpc


def test_fit_line_recovers_a_line():
    xs = [2, 4, 8, 16, 1024]
    a, b = mpc.fit_line(xs, [5000 + 300 * x for x in xs])
    assert a == pytest.approx(5000) and b == pytest.approx(300)


@pytest.mark.parametrize("kind, pages", [("array", 1), ("ringbuf", 3), ("nope", 4)])
def test_sizes_a_kind_cannot_make_are_refused(kind, pages):
    with pytest.raises(mpc.ToolError):
        mpc.make_creator(kind, pages)


def test_expected_area_sizes_include_the_guard_page():
    assert mpc.expected_area_bytes("array", 1024) == 1025 * 4096
    assert mpc.expected_area_bytes("ringbuf", 4) == (3 + 8 + 1) * 4096


def test_committed_results_summarise_to_what_the_doc_says():
    data = json.loads((ROOT / "data/perf/measured_page_costs.json").read_text())
    fits = data["pooled"]["fits"]
    assert len(data["runs"]) == 3
    assert fits["array.create_ns"]["n"] == 27
    assert 290 < fits["array.create_ns"]["b_ns_per_page"]["median"] < 460
    assert fits["array.cycle_ns"]["b_ns_per_page"]["median"] > fits["array.create_ns"]["b_ns_per_page"]["median"]
    for run in data["runs"]:
        again = mpc.summarise(run)
        assert again["fits"].keys() == run["summary"]["fits"].keys()


def test_main_refuses_bad_arguments_with_one_line(capsys):
    assert mpc.main(["--sizes", "1", "--kinds", "array"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("measure_page_costs: error:")
