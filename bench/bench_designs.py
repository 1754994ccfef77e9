"""Figures of the maple designs: replays of every trace under every design variant,
trace-driven lock work and memory, the test_vmalloc workloads, the node-allocation sweep.

    .venv/bin/python bench/bench_designs.py [--quick] [--json out.json]

Prints one table per experiment (the numbers the notebooks quote) and the wall
time of each.  ``--quick`` uses the smallest trace and short workloads.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmapsim.report import text_table  # noqa: E402
from vmapsim.review import free_tree as ft  # noqa: E402
from vmapsim.review import free_tree_work as fw  # noqa: E402
from vmapsim.traces.captures import trace_names  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    out = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs"}
    print(out["machine"])
    traces = trace_names(order="size")
    traces = traces[:1] if args.quick else traces

    t = time.time()
    m = ft.replay_matrix(traces)
    rows = [(tr, lab, r.allocs, f"{100 * r.agreement:.2f}", r.own,
             ", ".join(f"{k} {v}" for k, v in r.own_by_cause.most_common()) or "-",
             f"+{r.gained}/-{r.lost}", "yes" if r.final_state_equal else "NO")
            for (tr, lab), r in m.items()]
    print(f"\nreplays ({time.time() - t:.0f} s)")
    print(text_table(("trace", "design", "allocs", "agree %", "differ", "causes", "vs 6.18",
                      "final"), rows, width=None))
    out["replays"] = {f"{tr}|{lab}": {"allocs": r.allocs, "matched": r.matched, "own": dict(r.own_by_cause),
                                      "gained": r.gained, "lost": r.lost,
                                      "misses_by_cause": r.misses_by_cause,
                                      "final_state_equal": r.final_state_equal}
                      for (tr, lab), r in m.items()}

    t = time.time()
    big = traces[-1]
    rows, mem = [], []
    for lab in ft.VARIANTS:
        r = ft.run_trace(lab, big)
        w = r.work
        rows.append((lab, round(w.acquisitions("alloc_vmap_area"), 2),
                     round(w.under_locks("alloc_vmap_area"), 1),
                     round(w.under_locks("alloc_vmap_area", 3)), round(w.under_locks("find_unlink_vmap_area"), 1),
                     round(w.under_locks("purge_vmap_area_lazy"), 1), w.ops["purge_vmap_area_lazy"]))
        mem.append(ft.memory_row(lab, r.memory))
    print(f"\ntrace-driven run of {big} ({time.time() - t:.0f} s): per operation")
    print(text_table(("design", "alloc locks", "alloc visited", "alloc B under lock",
                      "unlink visited", "purge visited", "purges"), rows, width=None))
    print(text_table(ft.MEMORY_HEADER, mem, width=None))
    out["trace_run"] = {"trace": big, "rows": rows, "memory": mem}

    t = time.time()
    loops = 100 if args.quick else 1000
    rows = []
    for wl in ("fix_size_alloc_test", "full_fit_alloc_test", "long_busy_list_alloc_test",
               "random_size_align_alloc_test"):
        ref = None
        for lab in ft.VARIANTS:
            r = fw.run_workload(lab, wl, cpus=2, loops=loops, setup_scale=0.1 if args.quick else 1.0)
            ref = ref or r
            w = r.work
            rows.append((wl, lab, r.ops, r.failed, f"{100 * fw.address_agreement(r, ref):.1f}",
                         round(w.acquisitions("alloc_vmap_area"), 2),
                         round(w.under_locks("alloc_vmap_area"), 1),
                         round(w.under_locks("find_unlink_vmap_area"), 1),
                         round(r.memory.total_bytes / 1024), r.memory.busy_areas))
    print(f"\ntest_vmalloc workloads, 2 CPUs ({time.time() - t:.0f} s)")
    print(text_table(("workload", "design", "ops", "failed", "same addr %", "alloc locks",
                      "alloc visited", "unlink visited", "index KiB", "busy"), rows, width=None))
    out["workloads"] = rows

    t = time.time()
    rows = fw.nodealloc_sweep(loops=100 if args.quick else 400)
    print(f"\nnode-allocation sweep ({time.time() - t:.0f} s)")
    print(text_table(fw.SWEEP_HEADER, rows, width=None))
    out["sweep"] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
