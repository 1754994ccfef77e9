"""The error band applied to comparisons, key-number groups, and rerunning a key number with the
CLI from its JSON entry (vmapsim.numbers, vmapsim.perf.scaling, notebooks 03 and 04)."""
import contextlib
import io
import json
import shlex

import pytest

from vmapsim import report
from vmapsim.cli import main as cli_main
from vmapsim.errors import ParameterError
from vmapsim.numbers import (
    Numbers,
    band_evidence,
    compare,
    error_band,
    ratio_threshold,
)


def test_the_comparison_rule_is_ratio_minus_one_against_the_band():
    b = error_band()
    assert ratio_threshold() == pytest.approx(1 + b)
    assert ratio_threshold(0.36) == pytest.approx(1.36)
    # |ratio - 1| < band: not distinguishable; the ratio is the slower over the faster
    assert not compare(1.35, 1.0, band=0.36).distinguishable
    assert compare(1.37, 1.0, band=0.36).distinguishable
    assert compare(1.0, 1.37, band=0.36).distinguishable     # the faster named first
    assert not compare(1.0, 1.35, band=0.36).distinguishable
    thr = ratio_threshold()
    assert not compare(1.0, 1.0).distinguishable
    assert not compare(thr * 0.99, 1.0).distinguishable
    assert compare(thr * 1.01, 1.0).distinguishable
    assert compare(1.0, thr * 1.01).distinguishable          # either way
    c = compare(2.0, 1.0, band=1.15)
    assert c.ratio == 2.0 and c.factor == 2.0 and "not distinguishable" in c.text()
    c = compare(1.0, 2.2, band=1.15)
    assert c.factor == pytest.approx(2.2) and c.distinguishable and "2.15x" in c.text()
    for bad in (0.0, -1.0, float("nan"), True, "1"):
        with pytest.raises(ParameterError):
            compare(bad, 1.0)
    with pytest.raises(ParameterError):
        ratio_threshold(-0.1)


def test_the_calibrations_ratio_evidence_is_reported():
    ev = band_evidence()
    assert ev["band"] == error_band() and ev["threshold"] == ratio_threshold()
    assert ev["held_out_ratios"] >= 20              # v1 job counts held out for both designs
    assert ev["ratio_factor"] > 1.0 and "linux-6.8" in ev["ratio_point"]
    assert ev["time_factor"] > 1.0 and ev["time_point"]


def _nums():
    n = Numbers("04-scaling")
    cond = dict(design="linux-6.18", lookup="spinlock", cpus=8, online_cpus=64,
                workload="fix_size_alloc_test", loops=3584, warmup=7168,
                machine="threadripper-3970x", seed=0, prefill=4000)
    n.add("8 CPUs", 1.85, "us", source="model", steady=True, group="time", **cond)
    n.add("8 CPUs", 0.84, source="model", steady=True, ratio=True, group="ratio",
          **{**cond, "design": "rfc-v1"})
    n.add("claimed %", 64.9, source="published", group="cover", workload="full_fit_alloc_test",
          cpus=16, online_cpus=16)
    return n, cond


def test_ratio_numbers_carry_the_rule_and_time_numbers_a_rerun_command():
    n, cond = _nums()
    t, r, p = (e for e in n.as_json()["numbers"])
    assert t["error_band_applies"] == "time" and t["rerun_value"] == "us_per_op"
    argv = shlex.split(t["rerun"])
    assert argv[:4] == ["python", "-m", "vmapsim", "simulate"] and argv[-1] == "--json"
    assert "--online-cpus" in argv and "--prefill" in argv and "--warmup" in argv
    assert r["error_band_applies"] == "ratio" and "rerun" not in r
    assert r["distinguishable_beyond"] == pytest.approx(ratio_threshold(), abs=1e-4)
    assert "error_band" not in p and "rerun" not in p
    assert "apart only from x" in n.numbers[1].kind()
    with pytest.raises(ParameterError):
        n.add("x", 1.0, source="published", ratio=True)
    # a cold figure says so; several designs, or a trace, cannot be one command
    n2 = Numbers("x")
    n2.add("a", 1.0, "us", source="model", steady=False, design="linux-6.18", cpus=1,
           workload="fix_size_alloc_test", loops=10)
    n2.add("b", 1.0, "us", source="model", steady=True, design=["a", "b"], cpus=1,
           workload="fix_size_alloc_test")
    assert n2.numbers[0].command().endswith("--cold --json") and n2.numbers[1].command() is None
    n2.add("c", 1.0, "us", source="model", steady=True, design="linux-6.18", cpus=1,
           workload="fix_size_alloc_test", cost=["counters_share_line=1", "smt_yield=0"])
    assert n2.numbers[2].command().count("--cost ") == 2


def test_groups_print_one_table_each():
    n, _ = _nums()
    tables = n.tables({"time": "design", "ratio": "design", "cover": ("workload", "cpus")})
    assert [t for t, _ in tables] == ["time", "ratio", "cover"]
    with pytest.raises(ParameterError, match="no table"):
        n.tables({"time": "design"})
    with pytest.raises(ParameterError, match="no numbers in group"):
        n.table(group="nope")
    s = report.summary("04-scaling", title="t", answers="M17",
                       parts=[("M17-minimize-contention", "answer")], numbers=n,
                       rows={"time": "design", "ratio": "design",
                             "cover": ("workload", "cpus")}, conclusion="c")
    assert s.payload["title"] == "t"
    assert "time:" in s.payload["table"] and "cover:" in s.payload["table"]
    assert "8 CPUs us" in "\n".join(s.payload["table"])    # the title does not say "(us)"
    t = n.table("design", title="time per op (us)", group="time")
    assert t.header == ("design", "8 CPUs")
    assert all(e.get("group") for e in s.payload["numbers"]["numbers"])
    assert "<b>ratio</b>" in s._repr_mimebundle_()["text/html"]


def _simulate_json(command: str) -> dict:
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "vmapsim"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(argv[3:]) == 0
    return json.loads(out.getvalue())


def _value(data: dict, key: str):
    for part in key.split("."):
        data = data[part]
    return data


def test_a_sweep_record_reruns_with_the_cli():
    from vmapsim.perf.scaling import lookup_costs
    r = lookup_costs(cpus=2, protocols=("spinlock",))[0]
    n = Numbers("x")
    n.add("find", r["find_us"], "us", source="model", steady=True,
          measure="find_latency_us.mean", **r["conditions"])
    e = n.as_json()["numbers"][0]
    got = _simulate_json(e["rerun"])
    assert _value(got, e["rerun_value"]) == pytest.approx(e["value"], rel=1e-9)
    assert got["steady"] and got["warmup"] == r["conditions"]["warmup"]


@pytest.mark.notebook
@pytest.mark.parametrize("name", ["04-scaling", "03-lockless-find"])
def test_a_key_number_reruns_from_its_json_entry(name, executed_or_fail):
    """The model is deterministic for a seed: the entry's own command reproduces it exactly
    (the run-to-run spread of one seed is zero; notebook 04 prints the seed-to-seed one)."""
    from vmapsim.export import summary_payload
    payload = summary_payload(executed_or_fail(name))
    entries = [e for e in payload["numbers"]["numbers"] if e.get("rerun")]
    assert entries, f"{name} has no model time with a rerun command"
    e = min(entries, key=lambda e: e["conditions"]["cpus"] * e["conditions"].get("loops", 1))
    got = _simulate_json(e["rerun"])
    assert _value(got, e["rerun_value"]) == pytest.approx(e["value"], rel=1e-9)
