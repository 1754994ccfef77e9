"""What each mechanism of the performance model contributes, at 1..64 CPUs (data only).

Every constant of ``data/perf/costs.json`` belongs to a mechanism (its ``mechanism`` tag); a
mechanism is switched off by the overrides of :data:`SWITCH_OFF`, and its contribution at N CPUs
is the time per op (test_vmalloc's avg / loops) with everything on minus the time with that one
mechanism off.  Mechanisms interact (a slower CPU queues less on a lock), so the contributions
need not add up to the total: the experiment reports the total next to them.  The plot is
:func:`vmapsim.review.scaling.plot_mechanisms`.

>>> sorted(SWITCH_OFF)[:3]
['SMT', 'TLB-flush IPIs', 'counter lines']
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..params import check_choice

__all__ = ["SWITCH_OFF", "MechanismTable", "contributions"]

#: mechanism -> what it explains, and the cost overrides that switch it off
SWITCH_OFF = {
    "lock hand-off and shared lines": (
        "tree nodes and vmalloc-path lines last written by another CPU (coherence misses after "
        "a lock hand-off, remote_lines_per_op per pair); the hand-off RMW itself stays",
        {"coherence_overlap": 0.0, "remote_lines_per_op": 0.0}),
    "counter lines": (
        "nr_vmalloc_pages / vmap_lazy_nr RMWs served one at a time on their line(s)",
        {"counter_rmw_ns": 0.0}),
    "SMT": ("two busy hardware threads sharing a core above 32 CPUs", {"smt_yield": 1.0}),
    "page allocator": (
        "per-page allocation, clearing and freeing, and zone-lock trips when a per-CPU list "
        "runs dry or over its high mark",
        {"vmalloc_page_ns": 0.0, "vfree_page_ns": 0.0, "clear_page_ns": 0.0,
         "cold_page_ns": 0.0, "zone_page_ns": 0.0}),
    "lazy purge": ("the drain's per-area work and the lines it pulls from the freeing CPUs",
                   {"purge_per_area_ns": 0.0, "purge_remote_lines": 0.0}),
    "TLB-flush IPIs": ("one flush of every CPU per purge",
                       {"tlb_flush_base_ns": 0.0, "tlb_flush_per_cpu_ns": 0.0,
                        "tlb_ipi_handler_ns": 0.0}),
}


@dataclass
class MechanismTable:
    """``total[i]`` = us per op at ``cpus[i]`` with every mechanism on; ``without[m][i]`` the
    same with mechanism *m* off; ``contribution(m)`` their difference."""
    design: str
    workload: str
    cpus: list
    total: list
    without: dict = field(default_factory=dict)
    what: dict = field(default_factory=dict)

    def contribution(self, mechanism: str) -> list:
        return [t - w for t, w in zip(self.total, self.without[mechanism])]

    def pivot(self) -> tuple:
        """``(header, rows)``: one row per mechanism with its contribution (us, 2 decimals) at
        each CPU count, after a row with the total: a table that fits 80 columns."""
        header = ("us per op", *[str(n) for n in self.cpus])
        rows = [("total, all on", *[round(x, 2) for x in self.total])]
        rows += [(m, *[round(x, 2) for x in self.contribution(m)]) for m in self.without]
        return header, rows

    def rows(self) -> list:
        """``(mechanism, cpus, us with it, us without, contribution us, share of total)``."""
        out = []
        for m in self.without:
            for n, t, w in zip(self.cpus, self.total, self.without[m]):
                out.append((m, n, round(t, 3), round(w, 3), round(t - w, 3),
                            round((t - w) / t, 3) if t else 0.0))
        return out


def contributions(*, design: str = "linux-6.18", cpus=(1, 2, 4, 8, 16, 32, 64),
                  workload: str = "fix_size_alloc_test", mechanisms=None, cycles: float = 1.0,
                  online_cpus: int = 64, costs: dict | None = None,
                  machine: str = "threadripper-3970x", prefill: int | None = None, seed: int = 0,
                  processes: int | None = None, progress=False) -> MechanismTable:
    """Time per op of *design* at each CPU count with every mechanism on and with each of
    *mechanisms* (default: all of :data:`SWITCH_OFF`) switched off.

    Runs the calibration's set-up (:mod:`vmapsim.perf.calibrate`): *online_cpus* online, a
    prefilled address space, two untimed purge cycles, then *cycles* timed cycles of
    *workload* per run (the same warm-up as the calibration's: for ``linux-6.8`` one loop more
    or less can move the allocation frontier between a free block that bounds it and one that
    does not, see :func:`vmapsim.perf.calibrate.fit`).  *costs* override constants in every run (e.g. the pre-6.16 counter
    layout, ``{"counters_share_line": 1}``).
    """
    from ..vmalloc.vmap_area import lazy_max_pages
    from .calibrate import PREFILL
    from .sweep import sweep
    mechanisms = list(mechanisms or SWITCH_OFF)
    for m in mechanisms:
        check_choice("mechanism", m, SWITCH_OFF)
    per_loop = {"fix_size_alloc_test": 2, "fix_align_alloc_test": 6,
                "random_size_alloc_test": 51.5}.get(workload)
    if per_loop is None:
        raise ValueError(f"contributions() runs fix_size_alloc_test, fix_align_alloc_test or "
                         f"random_size_alloc_test, got {workload!r}")
    configs = []
    for off in [None] + mechanisms:
        c = dict(costs or {})
        if off:
            c.update(SWITCH_OFF[off][1])
        for n in cpus:
            cycle = int(lazy_max_pages(online_cpus) / per_loop / n)   # as calibrate.cycle_loops
            configs.append(dict(design=design, cpus=n, workload=workload, online_cpus=online_cpus,
                                loops=max(8, int(cycles * cycle)), warmup=2 * max(1, cycle),
                                machine=machine, seed=seed,
                                prefill=PREFILL if prefill is None else prefill, costs=c))
    recs = sweep(configs, processes=processes, progress=progress).records
    k = len(cpus)
    table = MechanismTable(design, workload, list(cpus), [r["us_per_op"] for r in recs[:k]],
                           what={m: SWITCH_OFF[m][0] for m in mechanisms})
    for i, m in enumerate(mechanisms, 1):
        table.without[m] = [r["us_per_op"] for r in recs[i * k:(i + 1) * k]]
    return table
