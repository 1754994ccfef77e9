"""The test_vmalloc workloads under every design, for notebook ``01-free-tree``.

:func:`run_workload` executes the operation generators of :mod:`vmapsim.perf.workloads` (the performance model's
port of ``lib/test_vmalloc.c``: the same sizes, alignments, random draws, setup and cleanup) on
one design, worker by worker in a fixed round-robin (worker *w* is CPU *w*), and sums the lock
records of every operation (:class:`~vmapsim.review.free_tree.LockWork`).  This is the *work* side of
question 1: which locks each operation takes and how much it does under each.  How long the
locks are held and waited for on *n* CPUs is the performance model's answer
(:mod:`vmapsim.perf.simulate`), which prices exactly these records.

Operations: ``alloc`` -> ``alloc_vmap_area(pages + 1 guard page, align, cpu=w)``; ``free`` and
``kvfree_rcu`` -> ``find_unlink_vmap_area`` + ``free_vmap_area_noflush`` (+ the drain, run at
once, when it is scheduled); ``find`` / ``find_other`` -> ``find_vmap_area``; ``pcpu`` and the
markers are not address-space operations.

:func:`nodealloc_sweep` repeats a workload with maple-node allocations failing at given rates
under each node-allocation recipe (:mod:`vmapsim.designs.node_alloc`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..params import check_int
from ..vmalloc.vmap_area import PAGE_SIZE
from .free_tree import LockWork, add_counters, make_variant, record_op

__all__ = ["WorkloadRun", "run_workload", "nodealloc_sweep", "SWEEP_HEADER", "address_agreement"]


@dataclass
class WorkloadRun:
    """One workload on one design variant."""
    label: str
    workload: str
    cpus: int
    loops: int
    ops: int
    failed: int
    work: LockWork
    memory: object                       # IndexMemory near the peak of live areas (sampled
    #                                      every 512 new live areas, or at the end)
    peak_busy: int
    addrs: list = field(repr=False, default_factory=list)
    design: object = field(repr=False, default=None)

    def line(self) -> str:
        w = self.work
        return (f"{self.label} x {self.workload} on {self.cpus} CPUs: {self.ops} ops, "
                f"{self.failed} failed allocations; alloc: "
                f"{w.acquisitions('alloc_vmap_area'):.2f} locks, "
                f"{w.under_locks('alloc_vmap_area'):.1f} nodes visited under them per call")


def run_workload(label: str = "linux-6.18", workload: str = "fix_size_alloc_test", cpus: int = 2,
                 loops: int = 200, seed: int = 0, setup_scale: float = 1.0,
                 max_ops: int | None = None, online_cpus: int | None = None,
                 **design_params) -> WorkloadRun:
    """Run *workload* with *cpus* workers on design variant *label* (see module docstring).

    ``online_cpus`` (default *cpus*) sets the design's CPU count (vmap nodes,
    ``lazy_max_pages()``) and the workloads' ``num_online_cpus()``; ``max_ops`` bounds the run
    (the widgets use it); ``design_params`` go to the design (e.g. ``nodealloc``)."""
    from ..perf.workloads import make_spec, worker_ops
    cpus = check_int("cpus", cpus, lo=1, hi=1024)
    online = cpus if online_cpus is None else check_int("online_cpus", online_cpus, lo=cpus)
    spec = make_spec(workload, loops, online_cpus=online, setup_scale=setup_scale)
    d = make_variant(label, possible_cpus=online, online_cpus=online, seed=seed, **design_params)
    gens = [worker_ops(spec, w, seed) for w in range(cpus)]
    pending = [None] * cpus
    started = [False] * cpus
    live: list[set] = [set() for _ in range(cpus)]
    rng = random.Random(seed)
    work = LockWork()
    ops = failed = peak = busy = 0
    addrs = []
    peak_mem = None
    active = list(range(cpus))
    while active:
        for w in list(active):
            try:
                op = gens[w].send(pending[w]) if started[w] else next(gens[w])
            except StopIteration:
                active.remove(w)
                continue
            started[w] = True
            pending[w] = None
            kind = op[0]
            if kind == "alloc":
                a = d.alloc_vmap_area((op[1] + 1) * PAGE_SIZE, op[2], cpu=w)
                record_op(work, d, "alloc_vmap_area")
                addrs.append(a)
                if a is None:
                    failed += 1
                else:
                    live[w].add(a)
                    busy += 1
                    if busy > peak:
                        peak = busy
                        if peak % 512 == 0:          # index_memory() is O(areas): sample
                            peak_mem = d.index_memory()
                pending[w] = a
            elif kind in ("free", "kvfree_rcu"):
                live[w].discard(op[1])
                va = d.find_unlink_vmap_area(op[1], cpu=w)
                record_op(work, d, "find_unlink_vmap_area")
                busy -= 1
                if d.free_vmap_area_noflush(va, cpu=w):
                    record_op(work, d, "free_vmap_area_noflush")
                    d.purge_vmap_area_lazy(cpu=w)
                    record_op(work, d, "purge_vmap_area_lazy")
                else:
                    record_op(work, d, "free_vmap_area_noflush")
            elif kind == "find":
                d.find_vmap_area(op[1] + PAGE_SIZE // 2, cpu=w)
                record_op(work, d, "find_vmap_area")
            elif kind == "find_other":
                others = [x for v in range(cpus) if v != w for x in live[v]]
                if others:
                    d.find_vmap_area(others[rng.randrange(len(others))], cpu=w)
                    record_op(work, d, "find_vmap_area")
            else:
                continue
            ops += 1
            if max_ops is not None and ops >= max_ops:
                active = []
                break
    d.validate()
    add_counters(work, d)
    end = d.index_memory()
    if peak_mem is None or end.busy_areas >= peak_mem.busy_areas:
        peak_mem = end
    return WorkloadRun(label, workload, cpus, loops, ops, failed, work, peak_mem, peak, addrs, d)


def address_agreement(run, ref) -> float:
    """Fraction of allocations (in order) that got the same address in *run* as in *ref*."""
    n = min(len(run.addrs), len(ref.addrs))
    if not n:
        return 1.0
    return sum(a == b for a, b in zip(run.addrs, ref.addrs)) / n


SWEEP_HEADER = ("design", "recipe", "fail rate", "allocs failed", "NOWAIT fails", "ATOMIC tries",
                "retry list", "GFP_KERNEL under spinlock", "lock drops", "node KiB under locks",
                "node KiB outside")


def nodealloc_sweep(labels=("rfc-v1 -bump", "maple-nofree", "maple-nofree-sharded"),
                    modes=("series", "wilcox", "rezki"), rates=(0.0, 0.01, 0.1),
                    workload: str = "random_size_alloc_test", cpus: int = 2, loops: int = 300,
                    seed: int = 0) -> list[tuple]:
    """Rows of :data:`SWEEP_HEADER`: each design under each recipe with ``GFP_NOWAIT`` (and,
    for the series, ``GFP_ATOMIC``) node allocations failing at each rate."""
    rows = []
    for label in labels:
        for mode in modes:
            for rate in rates:
                r = run_workload(label, workload, cpus, loops, seed, nodealloc=mode,
                                 nowait_fail=rate, atomic_fail=rate)
                ev = r.work.events
                under = sum(v[3] for (op, lk, k), v in r.work.cells.items() if k == "spin")
                outside = sum(v[3] for (op, lk, k), v in r.work.cells.items() if lk == "(no lock)")
                outside_nodes = ev["na.lock_drops"] and outside
                rows.append((label, mode, rate, r.failed, ev["na.nowait_fail"],
                             ev["na.atomic_attempts"], ev["retry_list#"],
                             ev["na.gfp_kernel_under_spinlock"], ev["na.lock_drops"],
                             round(under / 1024, 1), round(outside_nodes / 1024, 1)))
    return rows
