"""Calibration of the performance model: fitted on part of Rezki's published figures, checked on the rest.

``python -m vmapsim.perf.calibrate`` reruns every point with the constants in ``data/perf`` and
writes ``data/perf/calibration.json`` (published value, source, model value, error, and whether
the point was fitted or held out), together with the **error band** the notebooks use
(:func:`error_band`).  ``python -m vmapsim.perf.calibrate --fit`` first reruns the search
(:func:`fit`) and writes the fitted constants into ``data/perf/costs.json``.

What was published (all Uladzislau Rezki, AMD Threadripper 3970X, 32 cores / 64 threads, 64 CPUs
online; docs/perf-sources.md section 1, docs/perf-mechanisms.md section 1):

* **v1** "[PATCH 0/9] Mitigate a vmap lock contention", 2023-05-22, base v6.3: time per 1-page
  ``vmalloc()``+``vfree()`` pair seen by each of 1..32 jobs (``fix_size_alloc_test``), global
  vmap locks (v6.3) and the per-node design, 64 points (:data:`REZKI_V1`).
* **v2** (2023-08-29, base 6.5-rc6), ``run_test_mask=127 nr_threads=64``: share of cycles in
  ``native_queued_spin_lock_slowpath`` 93.05 % before, 6.11 % after; ``clear_page_orig``
  47.91 % after.
* **v3** (2024-01-02, 6.7.0-rc8), ``run_test_mask=7 nr_threads=64``: slow path 93.07 % ->
  16.51 %; after: ``clear_page_rep`` 21.67 %, ``purge_vmap_node`` 5.30 % (children); wall time
  of the whole run 10 m 51.3 s -> 51.3 s.
* Lazy-purge latency reports (2024-2026): ``drain_vmap_area_work`` "can take >10ms ... with high
  CPU count", workqueue "hogged CPU for >10000us": a bound, not a 3970X point.

**Fit / held-out split** (:data:`FIT_JOBS`): the constants marked ``fitted`` in ``costs.json``
are chosen on the v1 points at 1, 2, 4, 8, 16 and 32 jobs of both columns (12 points,
:func:`fit`).  Everything else is held out and only compared: the other 52 v1 points, every v2
and v3 figure (64 threads, several multi-page tests, other kernels: SMT, the page allocator, the
counter lines and the purge's remote lines act there and were never fitted), and the purge
reports.  (:func:`fit_purge` shows what fitting ``purge_remote_lines`` on v3's purge share would
take: more than 12 lines per area, because the model's 64-thread runs spend more time waiting
on the counter lines than v3's profile shows, which dilutes the share; so it is derived from the
kernel instead.)

Design mapping: ``linux-6.8`` (the last kernel with the global locks) stands for v6.3 /
6.5-rc6 / 6.7-rc8; ``linux-6.18`` (the merged ``vmap_node`` design) for the patched kernels,
although v1 and v2 differ from what was merged (v1 used per-CPU zones).  All published runs
predate 6.16, where ``nr_vmalloc_pages`` and ``vmap_lazy_nr`` still share one cache line:
every calibration run sets ``counters_share_line`` (:data:`CALIBRATION_COSTS`).

The counted phase is test_vmalloc's (``SimResult.us_per_op``: each worker's loop time / loops,
averaged over workers, :data:`vmapsim.perf.simulate.US_PER_OP_IS`).  Each v1 point runs
``fix_size_alloc_test`` on the ``threadripper-3970x`` profile with :data:`PREFILL` busy
kernel-stack-like areas, two untimed lazy-purge cycles of warm-up (steady pools) and exactly one
timed cycle (the kernel's 10^6 loops span many cycles).  Each v2/v3 figure runs every test of
the mask at 64 CPUs on its own (steady warm-up, ``setup_scale`` :data:`PROFILE_SETUP_SCALE`)
and weighs the tests by the time the kernel's 10^6 loops of each take; the kernel's workers
run the tests in shuffled order at the same time, and its setups run at full size and are
timed: both are simplified here, and the setups are left out of the wall time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..params import check_choice

__all__ = ["REZKI_V1", "REZKI_2023", "JOBS", "FIT_JOBS", "HOLDOUT_JOBS", "PROFILES",
           "PURGE_REPORTS", "CALIBRATION_COSTS", "calibration_points", "CalibrationPoint",
           "profile_runs", "worst_error", "fit", "fit_purge", "fit_params", "error_band", "warmup_for",
           "cycle_loops", "write_table", "load_table"]

V1_SOURCE = ('U. Rezki, "[PATCH 0/9] Mitigate a vmap lock contention" (v1), 2023-05-22, '
             'Message-ID 20230522110849.2921-1-urezki@gmail.com, base v6.3, AMD Threadripper '
             '3970X: us per 1-page vmalloc()+vfree() pair per job (docs/perf-sources.md section 1.1)')
V2_SOURCE = ('U. Rezki, "[PATCH v2 0/9] Mitigate a vmap lock contention v2", 2023-08-29, '
             'Message-ID 20230829081142.3619-1-urezki@gmail.com, base 6.5-rc6, 3970X, '
             'test_vmalloc.sh run_test_mask=127 nr_threads=64: perf self %')
V3_SOURCE = ('U. Rezki, "[PATCH v3 00/11] Mitigate a vmap lock contention v3", 2024-01-02, '
             'Message-ID 20240102184633.748113-1-urezki@gmail.com, 6.7.0-rc8, 3970X, '
             'run_test_mask=7 nr_threads=64: perf self % and time of the whole run')
REZKI_SOURCE = V1_SOURCE

#: v1 table, us per pair per job at 1..32 jobs (docs/perf-mechanisms.md section 7)
REZKI_V1 = {
    "linux-6.8": (0.576131, 2.68376, 4.26502, 6.04306, 8.04786, 9.38844, 9.53481, 10.4609,
                  10.6089, 11.7372, 11.5969, 13.053, 12.2973, 13.1429, 13.7348, 14.3687,
                  14.8823, 14.9571, 14.9127, 16.0786, 15.8055, 16.8087, 16.7298, 17.244,
                  17.8416, 18.8008, 18.5591, 19.761, 20.06, 20.4353, 20.9082, 21.0865),
    "linux-6.18": (0.555889, 1.07895, 1.01739, 1.28924, 1.57616, 1.78142, 2.00172, 2.15964,
                   2.484, 2.40443, 2.71635, 2.6162, 2.843, 2.85714, 2.90691, 3.0285,
                   3.05717, 2.98018, 3.0951, 3.19521, 3.24915, 3.2521, 3.25698, 3.36586,
                   3.39384, 3.40907, 3.5254, 3.55468, 3.59869, 3.6991, 3.73028, 3.82904),
}
FIT_JOBS = (1, 2, 4, 8, 16, 32)
HOLDOUT_JOBS = tuple(j for j in range(1, 33) if j not in FIT_JOBS)
JOBS = FIT_JOBS
#: the fitted points, design -> published us at FIT_JOBS (the earlier name of the table)
REZKI_2023 = {d: tuple(v[j - 1] for j in FIT_JOBS) for d, v in REZKI_V1.items()}
ONLINE = 64
#: busy areas present before the test (assumed: a 64-thread desktop has thousands of
#: /proc/vmallocinfo entries, mostly kernel stacks; the 2-CPU VM of data/traces/ has 460-3,250)
PREFILL = 4000
#: every published run predates 6.16: the two vmalloc counters share one cache line
CALIBRATION_COSTS = {"counters_share_line": 1}
#: test_vmalloc's default test_loop_count: how the kernel weighs each test of a mask
KERNEL_LOOPS = 1_000_000
#: setup of full_fit / long_busy_list in the v2/v3 runs (1.0 = kernel sizes: 11 M setup
#: allocations for full_fit and 0.96 M live areas for long_busy_list at 64 CPUs, minutes per
#: run here): 2,294 junk pairs per worker, 1,500 live areas per worker
PROFILE_SETUP_SCALE = {"full_fit_alloc_test": 0.04, "long_busy_list_alloc_test": 0.1}

#: the v2 / v3 figures: (id, source, design, mask, metric, published, what)
PROFILES = [
    ("v2 before: spinlock slow path", V2_SOURCE, "linux-6.8", 127, "spin_wait_fraction", 0.9305,
     "native_queued_spin_lock_slowpath 93.05 % self, 6.5-rc6"),
    ("v2 after: spinlock slow path", V2_SOURCE, "linux-6.18", 127, "spin_wait_fraction", 0.0611,
     "native_queued_spin_lock_slowpath 6.11 % self, v2 per-node design"),
    ("v2 after: page clearing", V2_SOURCE, "linux-6.18", 127, "clear_fraction", 0.4791,
     "clear_page_orig 47.91 % self"),
    ("v3 before: spinlock slow path", V3_SOURCE, "linux-6.8", 7, "spin_wait_fraction", 0.9307,
     "native_queued_spin_lock_slowpath 93.07 % self, 6.7.0-rc8"),
    ("v3 after: spinlock slow path", V3_SOURCE, "linux-6.18", 7, "spin_wait_fraction", 0.1651,
     "native_queued_spin_lock_slowpath 16.51 % self, v3 (the merged design)"),
    ("v3 after: page clearing", V3_SOURCE, "linux-6.18", 7, "clear_fraction", 0.2167,
     "clear_page_rep 21.67 % self"),
    ("v3 after: lazy purge", V3_SOURCE, "linux-6.18", 7, "drain_fraction", 0.0530,
     "purge_vmap_node 5.30 % children (4.73 % self)"),
    ("v3 before: wall time", V3_SOURCE, "linux-6.8", 7, "wall_s", 651.3,
     "time of the whole run 10 m 51.3 s"),
    ("v3 after: wall time", V3_SOURCE, "linux-6.18", 7, "wall_s", 51.3,
     "time of the whole run 51.3 s"),
]
#: lazy-purge latency reports: a lower bound on how long one drain can take on a large system
PURGE_REPORTS = [
    ("2026-03-31, Rezki, 'mm/vmalloc: Use dedicated unbound workqueues for vmap drain' (after "
     "Li RongQing's report): drain_vmap_area_work() 'can take >10ms to complete when there are "
     "many accumulated vmap areas in a system with high CPU count'", 10_000.0),
    ("2024-03, 6.6.21 (global design), nvme-tcp host: 'workqueue: drain_vmap_area_work hogged "
     "CPU for >10000us' 4, 8 and 16 times (Kamaljit Singh)", 10_000.0),
]


# --------------------------------------------------------------------------- v1 points
def cycle_loops(jobs: int, online: int = ONLINE) -> int:
    """Loops per job in one lazy-purge cycle of 1-page areas (2 pages with the guard page):
    ``lazy_max_pages() / 2 / jobs``."""
    from ..vmalloc.vmap_area import lazy_max_pages
    return max(1, lazy_max_pages(online) // 2 // jobs)


def warmup_for(jobs: int, online: int = ONLINE) -> int:
    """Uncounted loops per job covering two lazy-purge cycles."""
    return 2 * cycle_loops(jobs, online)


def error_band(path=None) -> float:
    """The model's error band (a fraction, e.g. 0.4 = +-40 %): the largest held-out error of a
    time per op or wall time in ``data/perf/calibration.json`` (see :func:`write_table`)."""
    return load_table(path)["error_band"]


@dataclass(frozen=True)
class CalibrationPoint:
    design: str
    jobs: int
    published_us: float
    model_us: float
    lock_wait: dict = field(default_factory=dict)
    fitted: bool = True

    @property
    def ratio(self) -> float:
        return self.model_us / self.published_us

    @property
    def error(self) -> float:
        """``model / published - 1``."""
        return self.ratio - 1.0

    def within(self, band: float) -> bool:
        """The model is within ``+-band`` of the published value."""
        return abs(self.error) <= band


def calibration_points(design: str = "linux-6.18", *, jobs=FIT_JOBS, cycles: float = 1.0,
                       costs: dict | None = None, machine_params: dict | None = None,
                       seed: int = 0, processes: int = 1,
                       prefill: int | None = None) -> list[CalibrationPoint]:
    """Run the v1 workload at each job count of *jobs* (1..32) for *design*.

    Each point counts *cycles* lazy-purge cycles (:func:`cycle_loops` loops per job), so the
    purge cost is amortised as in a long kernel run; the warm-up (two cycles) runs untimed.
    *costs* are added to :data:`CALIBRATION_COSTS`.
    """
    from .sweep import sweep
    check_choice("design", design, REZKI_V1)
    c = dict(CALIBRATION_COSTS)
    c.update(costs or {})
    configs = [dict(design=design, cpus=j, workload="fix_size_alloc_test",
                    loops=max(1, int(cycles * cycle_loops(j))), warmup=warmup_for(j),
                    machine="threadripper-3970x", online_cpus=ONLINE, seed=seed,
                    prefill=PREFILL if prefill is None else prefill,
                    costs=c, machine_params=dict(machine_params or {}))
               for j in jobs]
    table = sweep(configs, processes=processes)
    return [CalibrationPoint(design, j, REZKI_V1[design][j - 1], r["us_per_op"],
                             r["lock_wait_fraction"], j in FIT_JOBS)
            for j, r in zip(jobs, table.records)]


def worst_error(points) -> float:
    """Largest ``|log(model / published)|`` over *points* (0 = perfect)."""
    return max(abs(math.log(p.ratio)) for p in points)


# --------------------------------------------------------------------------- v2 / v3
def _lazy_pages_per_loop(test: str) -> float:
    """Pages (guard included) one loop of *test* frees lazily (for the steady warm-up)."""
    return {"fix_size_alloc_test": 2, "full_fit_alloc_test": 2,
            "long_busy_list_alloc_test": 103, "random_size_alloc_test": 51.5,
            "fix_align_alloc_test": 6, "random_size_align_alloc_test": 6.5}[test]


def profile_runs(design: str, mask: int, *, cpus: int = 64, costs: dict | None = None,
                 setup_scale: dict | None = None, min_loops: int = 64, seed: int = 0,
                 processes: int = 1, rows: dict | None = None) -> dict:
    """Every test of *mask* at *cpus* CPUs on its own, steady, and the mask's shares combined
    with the kernel's weights (each test's 10^6 loops).

    Returns ``{"tests": {test: row}, "spin_wait_fraction", "clear_fraction",
    "drain_fraction", "counter_wait_fraction", "wall_s", "drain_max_us"}``: shares of all CPUs'
    time, and the wall time of one worker's 10^6 loops of every test (setups left out).
    *rows* (``test -> row``) reuses runs already made (mask 7's tests are in mask 127).
    """
    from ..vmalloc.vmap_area import lazy_max_pages
    from .sweep import sweep
    from .workloads import TEST_BITS
    c = dict(CALIBRATION_COSTS)
    c.update(costs or {})
    tests = [n for b, n in TEST_BITS.items() if mask & b and n != "align_shift_alloc_test"]
    scale = dict(PROFILE_SETUP_SCALE)
    scale.update(setup_scale or {})
    rows = dict(rows or {})
    todo = [t for t in tests if t not in rows]
    configs = []
    for t in todo:
        cycle = lazy_max_pages(ONLINE) / _lazy_pages_per_loop(t) / cpus
        configs.append(dict(design=design, cpus=cpus, workload=t, online_cpus=ONLINE,
                            loops=max(min_loops, int(1.2 * cycle) + 1), warmup=int(2 * cycle) + 1,
                            machine="threadripper-3970x", seed=seed, prefill=PREFILL,
                            setup_scale=scale.get(t, 1.0), costs=c))
    if configs:
        rows.update(zip(todo, sweep(configs, processes=processes).records))
    out = {"tests": {t: rows[t] for t in tests}}
    weight = {t: rows[t]["us_per_op"] * KERNEL_LOOPS for t in tests}   # us per worker
    total = sum(weight.values())
    for key in ("spin_wait_fraction", "clear_fraction", "drain_fraction"):
        out[key] = sum(weight[t] * rows[t][key] for t in tests) / total
    out["counter_wait_fraction"] = sum(
        weight[t] * sum(v for k, v in rows[t]["lock_wait_fraction"].items()
                        if k in ("nr_vmalloc_pages", "vmap_lazy_nr",
                                 "nr_vmalloc_pages+vmap_lazy_nr"))
        for t in tests) / total
    out["wall_s"] = total / 1e6
    out["drain_max_us"] = max(rows[t]["drain_max_us"] for t in tests)
    return out


# --------------------------------------------------------------------------- the fit
def fit_params() -> dict:
    """``name -> (lo, hi)`` of the constants the calibration fits (``costs.json`` entries
    marked ``fitted`` with ``bounds``; ``node_write_ns`` and ``vfree_base_ns`` follow
    ``node_visit_ns`` and ``vmalloc_base_ns``)."""
    from .costs import cost_table
    return {k: tuple(v["bounds"]) for k, v in cost_table().items()
            if v.get("fitted") and v.get("bounds")}


#: the fit, group by group: (constant, grid of values, the fit points it is chosen on).  Each
#: constant mostly moves its own points: node_visit_ns the gap between the two 1-job points
#: (6.8 walks many more tree nodes), remote_lines_per_op the per-node column at 2-8 jobs,
#: counter_rmw_ns the per-node column at 16-32 jobs (where the counter line queues),
#: coherence_overlap the global-lock column.  vmalloc_base_ns then sets the 1-job level.
FIT_GROUPS = (
    ("node_visit_ns", (1.0, 1.5, 2.0, 3.0, 4.0), (("linux-6.8", 1), ("linux-6.18", 1))),
    ("remote_lines_per_op", (0.0, 2.0, 4.0, 6.0, 8.0, 10.0),
     (("linux-6.18", 2), ("linux-6.18", 4), ("linux-6.18", 8))),
    ("counter_rmw_ns", (24.0, 30.0, 36.0, 42.0, 50.0, 60.0, 75.0, 94.0),
     (("linux-6.18", 16), ("linux-6.18", 32))),
    ("coherence_overlap", (0.2, 0.4, 0.6, 0.8, 1.0),
     tuple(("linux-6.8", j) for j in FIT_JOBS[1:])),
)


def _rms_log(params: dict, points, processes: int = 1) -> tuple[float, dict]:
    """RMS of ``log(model / published)`` over *points* ((design, jobs) pairs) with *params*;
    also returns the points' ratios."""
    ratios = {}
    for d in REZKI_V1:
        jobs = tuple(j for dd, j in points if dd == d)
        if jobs:
            for p in calibration_points(d, jobs=jobs, costs=params, processes=processes):
                ratios[(d, p.jobs)] = p.ratio
    logs = [math.log(r) for r in ratios.values()]
    return math.sqrt(sum(x * x for x in logs) / len(logs)), ratios


def _with_ties(params: dict) -> dict:
    """Constants that follow fitted ones: node_write_ns = 1.5 x node_visit_ns (a written node
    was read first), vfree_base_ns = 2/3 x vmalloc_base_ns (the 60/40 split)."""
    out = dict(params)
    if "node_visit_ns" in out:
        out["node_write_ns"] = 1.5 * out["node_visit_ns"]
    if "vmalloc_base_ns" in out:
        out["vfree_base_ns"] = out["vmalloc_base_ns"] * 2 / 3
    return out


def fit(start: dict | None = None, *, passes: int = 2, processes: int = 1,
        verbose: bool = True) -> tuple[dict, float]:
    """Group-wise least squares (:data:`FIT_GROUPS`): for each constant in turn, the value of
    its grid that minimises the RMS log error over its own fit points, the others held; then
    ``vmalloc_base_ns`` so that the 1-job points are right on average (time at one job is
    linear in it).  *passes* times over.  Returns ``(params, RMS log error over all 12 fit
    points)``.  Slow (tens of minutes): run it from a terminal (``--fit``), not a notebook.

    A group-wise search rather than a joint one: one timed purge cycle per point leaves the
    global-lock points sensitive to where the allocation frontier sits in the free tree (a clip
    of the frontier block updates ~20 ancestors' ``subtree_max_size`` when that block is the
    largest of its side of the tree, 2 when a live area bounds it), which makes a joint
    objective too rough to descend.
    """
    from .costs import cost_table
    table = cost_table()
    names = [g[0] for g in FIT_GROUPS] + ["vmalloc_base_ns"]
    cur = {k: (start or {}).get(k, table[k]["value"]) for k in names}
    for _ in range(passes):
        for name, grid, points in FIT_GROUPS:
            best = None
            for v in grid:
                trial = _with_ties({**cur, name: v})
                err, _ = _rms_log(trial, points, processes)
                if verbose:
                    print(f"  {name}={v:g} -> rms {err:.4f}", flush=True)
                if best is None or err < best[0]:
                    best = (err, v)
            cur[name] = best[1]
            if verbose:
                print(f"{name} = {best[1]:g}", flush=True)
        one = (("linux-6.8", 1), ("linux-6.18", 1))
        _, ratios = _rms_log(_with_ties(cur), one, processes)
        pub = [REZKI_V1[d][0] for d, _ in one]
        # shift the 1-job times by the mean excess (us -> ns; base is split 60/40)
        excess = sum(pub[i] * (ratios[k] - 1) for i, k in enumerate(one)) / 2 * 1000
        cur["vmalloc_base_ns"] = max(0.0, cur["vmalloc_base_ns"] - 0.6 * excess)
        if verbose:
            print(f"vmalloc_base_ns = {cur['vmalloc_base_ns']:.4g}", flush=True)
    cur = _with_ties(cur)
    err, _ = _rms_log(cur, [(d, j) for d in REZKI_V1 for j in FIT_JOBS], processes)
    return cur, err


#: the v3 figure fit_purge() aims at (held out: purge_remote_lines is derived from the kernel)
PURGE_FIT_ID = "v3 after: lazy purge"


def fit_purge(lo: float = 0.0, hi: float = 12.0, *, processes: int = 1,
              verbose: bool = True) -> float:
    """``purge_remote_lines`` that brings ``linux-6.18``'s lazy-drain share at 64 threads,
    ``run_test_mask=7``, to v3's ``purge_vmap_node`` share (5.30 % with its callees): two runs
    at *lo* and *hi* lines and a linear interpolation (the share grows about linearly with the
    per-area cost), clamped to ``[lo, hi]``."""
    target = next(p[5] for p in PROFILES if p[0] == PURGE_FIT_ID)
    a = profile_runs("linux-6.18", 7, costs={"purge_remote_lines": lo},
                     processes=processes)["drain_fraction"]
    b = profile_runs("linux-6.18", 7, costs={"purge_remote_lines": hi},
                     processes=processes)["drain_fraction"]
    k = lo + (target - a) * (hi - lo) / (b - a) if b != a else lo
    if verbose:
        print(f"drain share {a:.4f} at {lo} lines, {b:.4f} at {hi}: {k:.3g} lines for {target}",
              flush=True)
    return min(hi, max(lo, k))


def write_fitted(params: dict) -> None:
    """Store *params* as the values of ``costs.json`` (the ``--fit`` step)."""
    import json
    from collections import OrderedDict

    from .costs import COSTS_FILE, reload_tables
    with open(COSTS_FILE) as f:
        d = json.load(f, object_pairs_hook=OrderedDict)
    for k, v in params.items():
        d[k]["value"] = round(float(v), 3)
    with open(COSTS_FILE, "w") as f:
        json.dump(d, f, indent=1)
        f.write("\n")
    reload_tables()


# --------------------------------------------------------------------------- the table
CALIBRATION_FILE = "perf/calibration.json"


def _row(kind, ident, source, design, published, model, unit, fitted, **extra) -> dict:
    err = model / published - 1.0 if published else float("nan")
    return {"kind": kind, "id": ident, "design": design, "published": published,
            "model": round(model, 4), "unit": unit, "error": round(err, 4),
            "set": "fit" if fitted else "held-out", "source": source, **extra}


def write_table(path=None, *, processes: int = 1, verbose: bool = False) -> dict:
    """Run every calibration point with the constants in ``data/perf`` and write the table
    (``python -m vmapsim.perf.calibrate``); returns it.

    ``error_band`` = the largest held-out ``|model / published - 1|`` among the times (v1
    time per pair, v3 wall time), rounded up to 5 %: the one number the notebooks quote.
    The shares of v2/v3 (fractions of cycles) are reported with their errors but kept out of
    the band, which is about times.
    """
    import json
    import time

    from ..paths import DATA_DIR
    from .costs import cost_table, status_of
    t0 = time.perf_counter()
    rows = []
    for d in REZKI_V1:
        for p in calibration_points(d, jobs=tuple(range(1, 33)), processes=processes):
            rows.append(_row("v1 us per pair", f"{d} {p.jobs} jobs", V1_SOURCE, d,
                             p.published_us, p.model_us, "us", p.fitted, jobs=p.jobs))
            if verbose:
                print(rows[-1]["id"], rows[-1]["model"], rows[-1]["error"], flush=True)
    runs, tests = {}, {}
    for ident, source, d, mask, metric, published, what in PROFILES:
        key = (d, mask)
        if key not in runs:
            runs[key] = profile_runs(d, mask, processes=processes, rows=tests.get(d))
            tests.setdefault(d, {}).update(runs[key]["tests"])
        r = runs[key]
        rows.append(_row("share" if metric != "wall_s" else "wall time", ident, source, d,
                         published, r[metric], "s" if metric == "wall_s" else "fraction",
                         False, mask=mask, metric=metric, what=what))
        if verbose:
            print(ident, rows[-1]["model"], rows[-1]["error"], flush=True)
    ratio_pub = 651.3 / 51.3
    ratio_mod = runs[("linux-6.8", 7)]["wall_s"] / runs[("linux-6.18", 7)]["wall_s"]
    rows.append(_row("ratio", "v3 wall time before / after", V3_SOURCE, "linux-6.8 / linux-6.18",
                     round(ratio_pub, 3), ratio_mod, "x", False, mask=7))
    drain_max = max(r["drain_max_us"] for r in runs.values())
    purge = [{"report": text, "lower_bound_us": us} for text, us in PURGE_REPORTS]
    fitted = [r for r in rows if r["set"] == "fit"]
    held = [r for r in rows if r["set"] == "held-out"]
    times = [r for r in held if r["kind"] in ("v1 us per pair", "wall time")]

    def worst(rs):
        return max(abs(r["error"]) for r in rs)

    band = math.ceil(worst(times) * 20 - 1e-9) / 20
    table = cost_table()
    out = {
        "_doc": ("Calibration of the performance model (vmapsim.perf.calibrate; "
                 "python -m vmapsim.perf.calibrate rewrites this file). 'points': every published "
                 "figure used, with its source, the model's value, error = model / published - 1, "
                 "and set = 'fit' (the fitted constants of data/perf/costs.json were chosen on it) "
                 "or 'held-out' (never used to choose anything). 'error_band' = the largest "
                 "held-out error of a time (v1 time per pair, v3 wall time), rounded up to 5 %: "
                 "the band notebooks quote. Time per op is test_vmalloc's avg / loops "
                 "(counted_phase)."),
        "counted_phase": "us_per_op: " + _us_per_op_is(),
        "machine": "threadripper-3970x", "online_cpus": ONLINE, "prefill": PREFILL,
        "calibration_costs": CALIBRATION_COSTS, "profile_setup_scale": PROFILE_SETUP_SCALE,
        "fit_set": "v1 (both columns) at jobs " + ", ".join(map(str, FIT_JOBS)),
        "held_out_set": ("v1 at the other 26 job counts of both columns; every v2 and v3 "
                         "share and wall time (64 threads, masks 127 and 7); "
                         "purge-latency reports"),
        "fitted_constants": {k: {"value": v["value"], "bounds": v.get("bounds")}
                             for k, v in table.items() if status_of(v) == "fitted"},
        "error_band": band,
        "error_band_detail": {
            "fit_worst": round(worst(fitted), 4),
            "held_out_worst_time": round(worst(times), 4),
            "held_out_worst_v1": {d: round(worst([r for r in times if r["design"] == d and
                                                  r["kind"] == "v1 us per pair"]), 4)
                                  for d in REZKI_V1},
            "held_out_worst_share": round(worst([r for r in held if r["kind"] == "share"]), 4),
        },
        "purge_latency": {"reports": purge, "model_longest_drain_us": round(drain_max, 1),
                          "note": ("the reports bound a drain from below on larger or busier "
                                   "systems; the model's longest drain at 64 CPUs, steady, is "
                                   "listed for comparison, not fitted")},
        "points": rows,
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    path = path or DATA_DIR / CALIBRATION_FILE
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    return out


def _us_per_op_is() -> str:
    from .simulate import US_PER_OP_IS
    return US_PER_OP_IS


def load_table(path=None) -> dict:
    import json

    from ..paths import DATA_DIR
    with open(path or DATA_DIR / CALIBRATION_FILE) as f:
        return json.load(f)


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m vmapsim.perf.calibrate",
                                 description="rerun the calibration and write data/perf/calibration.json")
    ap.add_argument("--fit", action="store_true", help="rerun the search first and write the "
                    "fitted constants into data/perf/costs.json (slow: tens of minutes)")
    ap.add_argument("--processes", type=int, default=1)
    args = ap.parse_args(argv)
    if args.fit:
        params, err = fit(processes=args.processes)
        print(f"fitted {params} (RMS log error {err:.4f})")
        write_fitted(params)
    t = write_table(processes=args.processes, verbose=True)
    for p in t["points"]:
        print(f"{p['set']:8s} {p['id']:40s} published {p['published']:>9} model {p['model']:>9} "
              f"({p['error']:+.0%})")
    print(f"error band +-{t['error_band']:.0%} (fit worst {t['error_band_detail']['fit_worst']:+.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
