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
