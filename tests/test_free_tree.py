"""vmapsim.review.free_tree / free_tree_work: the experiments of notebook 01 on small inputs."""
import pytest

from vmapsim.errors import ParameterError
from vmapsim.review import free_tree as ft
from vmapsim.review import free_tree_work as fw
from vmapsim.traces.captures import trace_names


def test_bad_names_list_the_valid_ones():
    with pytest.raises(ParameterError, match="unknown trace 'nope'.*fork-s"):
        ft.replay_matrix(["nope"])
    with pytest.raises(ParameterError, match="unknown design 'rfc-v2'.*maple-nofree-sharded"):
        ft.run_trace("rfc-v2", trace_names(order="size")[0])
    with pytest.raises(ParameterError, match="workload"):
        fw.run_workload("linux-6.18", "fix_size", loops=1)


def test_workloads_give_the_same_addresses_where_the_policy_is_the_same():
    runs = {lab: fw.run_workload(lab, "random_size_alloc_test", cpus=2, loops=40)
            for lab in ("linux-6.18", "rfc-maple-busy", "maple-nofree", "maple-nofree-sharded",
                        "rfc-v1")}
    ref = runs["linux-6.18"]
    assert ref.ops == 2 * 2 * 40 and ref.failed == 0          # alloc + free per loop
    for lab in ("rfc-maple-busy", "maple-nofree", "maple-nofree-sharded"):
        assert fw.address_agreement(runs[lab], ref) == 1.0, lab
    assert fw.address_agreement(runs["rfc-v1"], ref) < 0.1      # the bump chunks
    # the lock records add up to the operations run
    w = runs["maple-nofree"].work
    assert w.ops["alloc_vmap_area"] == 80 and w.acquisitions("alloc_vmap_area") == 1.0
    assert runs["linux-6.18"].work.acquisitions("alloc_vmap_area", "free_vmap_area_lock") > 0.5
    assert runs["rfc-v1"].work.acquisitions("alloc_vmap_area", "free_vmap_area_lock") < 0.1


def test_trace_driven_run_keeps_invariants_and_counts_work():
    r = ft.run_trace("maple-nofree-sharded", trace_names(order="size")[0], limit=400)
    assert r.allocs > 50 and r.failed == 0
    rows = r.work.rows()
    assert any(op == "alloc_vmap_area" and lock == "occupied_mt.lock" for op, lock, *_ in rows)
    assert r.memory.index_node_bytes > 0


def test_sweep_rows_and_the_recipes_invariants():
    rows = fw.nodealloc_sweep(labels=("maple-nofree-sharded",), rates=(0.0, 0.2), loops=40)
    assert len(rows) == 6 and all(len(r) == len(fw.SWEEP_HEADER) for r in rows)
    by = {(r[1], r[2]): r for r in rows}
    assert by[("rezki", 0.2)][9] == 0 and by[("rezki", 0.2)][8] > 0      # nothing under a lock
    assert by[("wilcox", 0.0)][8] == 0 and by[("wilcox", 0.2)][8] > 0    # drops only on failure
    assert by[("series", 0.2)][5] > 0                                     # GFP_ATOMIC fallbacks


# -- notebook 01's performance runs (vmapsim.review.free_tree_perf) ------------------------------

def test_steady_configs_follow_the_scaling_rule_and_rerun_from_the_command_line(tmp_path,
                                                                               monkeypatch):
    import shlex

    from vmapsim.cli import build_parser
    from vmapsim.numbers import CONDITIONS
    from vmapsim.perf import warm
    from vmapsim.perf.simulate import simulate, steady_warmup_for
    from vmapsim.review import free_tree_perf as fperf

    monkeypatch.setenv("VMAPSIM_WARM_CACHE", str(tmp_path / "warm"))
    warm.clear_memory_cache()
    c = fperf.steady_config("linux-6.18", 4)
    w = steady_warmup_for("fix_size_alloc_test", 4, 4)
    assert (c["online_cpus"], c["warmup"], c["loops"]) == (4, w, max(200, w // 2))
    assert fperf.before_config("rfc-v1", 16)["warmup"] == 0
    with pytest.raises(ParameterError, match="machine"):
        fperf.steady_config("linux-6.18", 4, machine="pdp-11")
    # every condition is a Numbers condition, and the command line gives the same run
    small = dict(c, loops=20, warmup=30)
    assert set(fperf.conditions(small)) <= set(CONDITIONS)
    args = build_parser().parse_args(shlex.split(fperf.command(small))[3:])
    assert (args.design, args.cpus, args.online_cpus, args.loops, args.warmup) == (
        "linux-6.18", "4", "4", "20", "30")
    run = fperf.model_grid([small])[0]
    assert run.us_per_op == simulate(**small).us_per_op


def test_reader_runs_apply_protocols_where_they_exist(tmp_path, monkeypatch):
    from vmapsim.perf import warm
    from vmapsim.review import free_tree_perf as fperf

    monkeypatch.setenv("VMAPSIM_WARM_CACHE", str(tmp_path / "warm"))
    warm.clear_memory_cache()
    assert fperf.reader_protocols("linux-6.18", "vread") == ["locks"]
    assert fperf.reader_protocols("maple-nofree", "usercopy") == ["locks", "rcu", "rcu-readonce"]
    with pytest.raises(ParameterError, match="protocol"):
        fperf.reader_run("linux-6.18", "vread", "rcu", cpus=2, loops=5)
    kw = dict(cpus=2, loops=10, setup_scale=0.01)
    locked = fperf.reader_run("maple-nofree", "vmallocinfo", "locks", **kw)
    walked = fperf.reader_run("maple-nofree", "vmallocinfo", "rcu", **kw)
    # one tree: vmallocinfo under its lock stalls the allocators; under RCU it does not
    assert locked.alloc_ratio > 2 > walked.alloc_ratio
    assert locked.reads >= 1 and locked.read_us > 0 and locked.duty == 1.0
    assert "--reader vmallocinfo:rate=0" in fperf.command(locked.configs["both"])
    assert "--readers-only" in fperf.command(locked.configs["solo"])


def test_notebook_01_quotes_the_thread_verbatim():
    """The introduction's quotes are the stored passages, byte for byte."""
    from conftest import NOTEBOOK_DIR

    from vmapsim import thread

    src = (NOTEBOOK_DIR / "src" / "01-free-tree.py").read_text()
    intro = src.split("# %%\n", 1)[0]
    quoted = "\n".join(ln[len("# > "):] if ln.startswith("# > ") else ""
                       for ln in intro.splitlines() if ln.startswith("# >"))
    for qid in ("M14-text", "M17-text", "M18-rcu-safe"):
        assert thread.quote(qid).plain in quoted, qid
    assert "about 384 KB" not in src
