"""Experiments and plots of notebook 04-scaling (and the performance cells of 01 and 03).

Experiments are plain functions with keyword parameters that return data; ``plot_*`` functions
draw them; the notebooks only call these.  All runs go through :func:`vmapsim.perf.sweep` /
:func:`vmapsim.perf.simulate.simulate` and are deterministic for their seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..designs import available_designs
from ..params import check_choice, check_int
from ..perf.calibrate import JOBS, REZKI_2023, calibration_points, error_band
from ..perf.lookup_cost import PROTOCOLS
from ..perf.mechanisms import contributions
from ..perf.rcu_cost import backlog_estimate
from ..perf.scaling import available_perf_designs, scaling, steady_warmup
from .figures import finished

__all__ = ["calibration", "plot_calibration", "calibration_rows", "contributions", "plot_mechanisms",
           "cover_letter_cases", "cover_letter_comparison",
           "scaling", "plot_scaling", "plot_protocols", "lock_breakdown", "plot_lock_breakdown", "rcu_backlog",
           "plot_rcu_backlog", "sensitivity", "contention_by_design", "lookup_speed",
           "COVER_LETTER_X86", "available_perf_designs", "steady_warmup"]
# scaling, steady_warmup and available_perf_designs live in vmapsim.perf.scaling (re-exported here
# for the notebooks that plot them)

# --------------------------------------------------------------------------- calibration
def calibration(designs=("linux-6.8", "linux-6.18"), *, jobs=JOBS, cycles: float = 1.0,
                processes: int | None = None, costs: dict | None = None) -> dict:
    """``design -> [CalibrationPoint]``: the model against Rezki's published numbers."""
    out = {}
    for d in designs:
        check_choice("design", d, REZKI_2023)
        out[d] = calibration_points(d, jobs=jobs, cycles=cycles, costs=costs,
                                    processes=processes or 1)
    return out


def calibration_rows(table: dict) -> dict:
    """``design -> [CalibrationPoint]`` of the v1 points of a calibration table
    (``calibrate.load_table()``), fitted and held-out alike (``p.fitted`` tells them apart)."""
    from ..perf.calibrate import CalibrationPoint
    out: dict = {}
    for r in table["points"]:
        if r["kind"] == "v1 us per pair":
            out.setdefault(r["design"], []).append(CalibrationPoint(
                r["design"], r["jobs"], r["published"], r["model"], {}, r["set"] == "fit"))
    return out


def plot_calibration(cal: dict, band: float | None = None):
    """Published vs model, us per pair by jobs (log-log), with the error band around the
    published values; fitted points filled, held-out points open."""
    import matplotlib.pyplot as plt
    band = error_band() if band is None else band
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = {"linux-6.8": "tab:red", "linux-6.18": "tab:blue"}
    for d, pts in cal.items():
        col = colors.get(d, "grey")
        pts = sorted(pts, key=lambda p: p.jobs)
        j = [p.jobs for p in pts]
        pub = np.array([p.published_us for p in pts])
        ax.fill_between(j, pub * (1 - band), pub * (1 + band), color=col, alpha=0.12)
        ax.plot(j, pub, "--", color=col, lw=1, label=f"{d}: published (Rezki v1, 2023)")
        fit = [p for p in pts if p.fitted]
        held = [p for p in pts if not p.fitted]
        ax.plot([p.jobs for p in fit], [p.model_us for p in fit], "s", color=col,
                label=f"{d}: model, fitted points")
        if held:
            ax.plot([p.jobs for p in held], [p.model_us for p in held], "o", color=col,
                    mfc="none", label=f"{d}: model, held out")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("jobs (CPUs running fix_size_alloc_test)")
    ax.set_ylabel("us per 1-page pair per job (avg / loops)")
    ax.set_title(f"Calibration on threadripper-3970x (band: +-{band:.0%})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return finished(fig)


def plot_mechanisms(table):
    """What each mechanism adds to the time per op at each CPU count (a
    :class:`vmapsim.perf.mechanisms.MechanismTable`): one line per mechanism, the total
    for scale.  Returns the figure."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(table.cpus, table.total, "k-", lw=2, label="total (every mechanism on)")
    for m in table.without:
        ax.plot(table.cpus, [max(x, 1e-4) for x in table.contribution(m)], "o-", label=m)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("CPUs running the workload (64 online)")
    ax.set_ylabel("us per op: total, and removed when a mechanism is off")
    ax.set_title(f"What each mechanism contributes: {table.design}, {table.workload}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return finished(fig)


# --------------------------------------------------------------------------- cover letter
#: docs/perf-sources.md section 5: the cover letter's x86_64 KVM cases (test, smp, nt, claimed gain %)
COVER_LETTER_X86 = [
    ("full_fit_alloc_test", 16, 16, 64.9), ("long_busy_list_alloc_test", 16, 16, 62.9),
    ("full_fit_alloc_test", 16, 8, 51.7), ("long_busy_list_alloc_test", 16, 8, 49.3),
    ("long_busy_list_alloc_test", 8, 8, 43.6), ("full_fit_alloc_test", 8, 4, 40.4),
    ("full_fit_alloc_test", 8, 8, 40.0), ("full_fit_alloc_test", 16, 4, 38.2),
    ("full_fit_alloc_test", 8, 2, 31.2), ("long_busy_list_alloc_test", 8, 4, 29.3),
    ("long_busy_list_alloc_test", 16, 4, 28.2), ("full_fit_alloc_test", 4, 2, 26.5),
    ("full_fit_alloc_test", 8, 1, 20.4), ("long_busy_list_alloc_test", 8, 2, 17.7),
    ("long_busy_list_alloc_test", 4, 2, 15.3),
]


@dataclass
class CoverCase:
    test: str
    smp: int
    nt: int
    claimed_pct: float
    base_us: float
    rfc_us: float | None

    @property
    def model_pct(self) -> float | None:
        """Model's gain of rfc-v1 over linux-6.18 in time per op (positive = faster)."""
        if self.rfc_us is None:
            return None
        return 100.0 * (self.base_us - self.rfc_us) / self.base_us


def cover_letter_cases(limit: int | None = None):
    return COVER_LETTER_X86[:limit] if limit else list(COVER_LETTER_X86)


def cover_letter_comparison(*, cases=None, loops: int = 2000, setup_scale: float = 1.0,
                            machine: str = "kvm-guest-16", rfc: str = "rfc-v1",
                            base: str = "linux-6.18", seed: int = 0,
                            processes: int | None = None) -> list[CoverCase]:
    """Model time per op of *rfc* and *base* on the cover letter's test/smp/nt cases.

    smp = online CPUs of the guest, nt = test threads (simulated CPUs).  When *rfc* is not
    implemented in this build its column is None.
    """
    from ..perf.sweep import sweep
    cases = cases or cover_letter_cases()
    designs = [base] + ([rfc] if rfc in available_designs() else [])
    configs = [dict(design=d, cpus=nt, online_cpus=smp, workload=t, loops=loops,
                    machine=machine, setup_scale=setup_scale, seed=seed)
               for (t, smp, nt, _) in cases for d in designs]
    table = sweep(configs, processes=processes)
    rows = iter(table.records)
    out = []
    for (t, smp, nt, pct) in cases:
        b = next(rows)["us_per_op"]
        r = next(rows)["us_per_op"] if len(designs) > 1 else None
        out.append(CoverCase(t, smp, nt, pct, b, r))
    return out


# --------------------------------------------------------------------------- scaling plots
_Y_LABELS = {"ops_per_sec": "ops per second (all CPUs)", "us_per_op": "us per op",
             "find_us": "us per find_vmap_area()"}


def _cpu_counts(table) -> list[int]:
    return sorted({r["cpus"] for r in table.records})


def plot_scaling(table, *, y: str = "ops_per_sec", title: str = ""):
    """One line per design (and lookup protocol) over the CPU counts of a sweep, every point
    marked; the title says how many CPU counts the sweep has."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogFormatterSciNotation, NullLocator
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    keys = sorted({(r["design"], r["lookup"]) for r in table.records})
    one_lookup = len({p for _, p in keys}) == 1
    cpus = _cpu_counts(table)
    for d, p in keys:
        t = table.where(design=d, lookup=p)
        ax.plot(t.column("cpus"), t.column(y), "o-", label=d if one_lookup else f"{d} / {p}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(cpus, [str(c) for c in cpus])
    ax.xaxis.set_minor_locator(NullLocator())
    # label the minor ticks too: a sweep often spans less than a decade
    ax.yaxis.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False,
                                                         minor_thresholds=(2, 0.5)))
    ax.set_xlabel("CPUs")
    ax.set_ylabel(_Y_LABELS.get(y, y))
    ax.set_title(f"{title}\n{len(cpus)} CPU count{'s' if len(cpus) != 1 else ''} "
                 f"({', '.join(map(str, cpus))}) x {len(keys)} "
                 f"{'designs' if one_lookup else 'design/protocol pairs'}", fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return finished(fig)


def plot_protocols(table, *, title: str = ""):
    """The lookup-protocol grid as grouped bars: per CPU count (columns) and metric (rows: find
    time, time per iteration), one group per design, one bar per protocol."""
    import matplotlib.pyplot as plt
    designs = list(dict.fromkeys(r["design"] for r in table.records))
    protos = list(dict.fromkeys(r["lookup"] for r in table.records))
    cpus = _cpu_counts(table)
    metrics = (("find_us", "us per find_vmap_area()"), ("us_per_op", "us per iteration"))
    fig, axes = plt.subplots(len(metrics), len(cpus), figsize=(max(7.0, 4.2 * len(cpus)), 6.4),
                             squeeze=False)
    width = 0.8 / max(1, len(protos))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for col, n in enumerate(cpus):
        for row, (key, label) in enumerate(metrics):
            ax = axes[row][col]
            for k, p in enumerate(protos):
                vals = []
                for d in designs:
                    hit = [r[key] for r in table.records
                           if r["design"] == d and r["lookup"] == p and r["cpus"] == n]
                    vals.append(hit[0] if hit else np.nan)
                ax.bar(np.arange(len(designs)) + (k - (len(protos) - 1) / 2) * width, vals,
                       width, label=p, color=colours[k % len(colours)])
            ax.set_xticks(range(len(designs)), designs if row == len(metrics) - 1 else
                          [""] * len(designs), rotation=25, ha="right", fontsize=8)
            if col == 0:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title(f"{n} CPU{'s' if n != 1 else ''}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
    axes[0][-1].legend(fontsize=7, title="lookup protocol", title_fontsize=7,
                       loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{title}: {len(designs)} designs x {len(protos)} protocols at "
                 f"{len(cpus)} CPU count{'s' if len(cpus) != 1 else ''}", fontsize=10)
    fig.tight_layout()
    return finished(fig)


def lock_breakdown(table) -> dict:
    """``(design, lookup, cpus) -> {lock family: wait fraction}`` of a sweep."""
    return {(r["design"], r["lookup"], r["cpus"]): dict(r["lock_wait_fraction"])
            for r in table.records}


def plot_lock_breakdown(table, *, cpus: int):
    import matplotlib.pyplot as plt
    rows = [r for r in table.records if r["cpus"] == cpus]
    locks = sorted({k for r in rows for k in r["lock_wait_fraction"]})
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bottom = np.zeros(len(rows))
    for lk in locks:
        v = np.array([r["lock_wait_fraction"].get(lk, 0.0) for r in rows])
        ax.bar(range(len(rows)), v, bottom=bottom, label=lk)
        bottom += v
    ax.set_xticks(range(len(rows)), [f"{r['design']}\n{r['lookup']}" for r in rows],
                  fontsize=7, rotation=30)
    ax.set_ylabel("fraction of CPU time waiting")
    ax.set_title(f"Where the CPUs wait, {cpus} CPUs")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return finished(fig)


# --------------------------------------------------------------------------- RCU backlog
def rcu_backlog(*, rates=(1e4, 1e5, 1e6, 1e7), gp_ms=(2.0, 5.0, 10.0, 30.0),
                bytes_per_free: float = 72 + 16 + 256) -> dict:
    """Little's law (callbacks pending = vfree rate x grace period) against RCU's per-CPU
    thresholds ``qhimark`` 10,000 and ``qovld`` 20,000 (kernel/rcu/tree.c)."""
    rates = np.asarray(rates, dtype=float)
    out = {"rates": rates, "gp_ms": list(gp_ms), "callbacks": {}, "bytes": {}}
    for g in gp_ms:
        n, b = backlog_estimate(rates, g, bytes_per_free)
        out["callbacks"][g] = n
        out["bytes"][g] = b
    return out


def plot_rcu_backlog(bl: dict, measured=None):
    import matplotlib.pyplot as plt

    from ..perf.costs import make_costs
    c = make_costs()
    fig, ax = plt.subplots(figsize=(7, 4))
    for g, n in bl["callbacks"].items():
        ax.plot(bl["rates"], n, "-", label=f"grace period {g:g} ms")
    ax.axhline(c.rcu_qhimark, color="k", ls=":", label="qhimark (10,000)")
    ax.axhline(c.rcu_qovld, color="r", ls=":", label="qovld (20,000)")
    if measured:
        ax.plot([m[0] for m in measured], [m[1] for m in measured], "ks", label="model runs")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vfree() per second (whole machine)")
    ax.set_ylabel("callbacks waiting for a grace period")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return finished(fig)


# --------------------------------------------------------------------------- sensitivity
def sensitivity(*, design: str = "linux-6.18", cpus: int = 16, loops: int = 150,
                workload: str = "fix_size_alloc_test", line_scale: float = 1.0,
                node_visit_ns: float | None = None, grace_period_ms: float | None = None,
                counter_rmw_ns: float | None = None, smt_yield: float | None = None,
                lookup: str = "spinlock", machine: str = "threadripper-3970x", seed: int = 0,
                cold: bool = False):
    """One run with the main cost constants moved (the widget of the sensitivity panel).

    Steady state by default: the warm-up (two purge cycles) does not depend on the cost
    constants, so it is built once per design and CPU count and restored from the warm-state
    cache on every later move of a slider (:mod:`vmapsim.perf.warm`); *cold* shows the
    transient from empty pools instead."""
    from ..perf.simulate import simulate
    costs = {k: v for k, v in (("node_visit_ns", node_visit_ns), ("grace_period_ms", grace_period_ms),
                               ("counter_rmw_ns", counter_rmw_ns), ("smt_yield", smt_yield))
             if v is not None}
    return simulate(design=design, lookup=lookup, cpus=check_int("cpus", cpus, lo=1, hi=1024),
                    workload=workload, loops=loops, machine=machine, seed=seed, costs=costs,
                    machine_params={"line_scale": line_scale}, cold=cold)


# --------------------------------------------------------------------------- notebooks 01 and 03
def contention_by_design(*, designs=None, cpus=(1, 8, 32), workload: str = "fix_size_alloc_test",
                         loops: int = 500, machine: str = "threadripper-3970x", seed: int = 0,
                         processes: int | None = None):
    """For notebook 01: us/op and lock-wait fractions of each design (is the free tree's lock
    the contended one?)."""
    return scaling(designs=designs, cpus=cpus, workload=workload, loops=loops,
                   machine=machine, seed=seed, processes=processes)


def lookup_speed(*, design: str = "linux-6.18", protocols=PROTOCOLS, cpus: int = 16,
                 loops: int = 300, lookups: int = 8, owner_fraction: float = 0.5,
                 machine: str = "threadripper-3970x", seed: int = 0,
                 processes: int | None = None) -> dict:
    """For notebook 03: mean find_vmap_area() time of each lookup protocol on the lookup-heavy
    workload, and what it does to the writers (us per iteration, RCU backlog)."""
    from ..perf.sweep import sweep
    configs = [dict(design=design, lookup=p, cpus=cpus, workload="lookup", loops=loops,
                    lookups=lookups, owner_fraction=owner_fraction, machine=machine, seed=seed)
               for p in protocols]
    t = sweep(configs, processes=processes)
    return {r["lookup"]: {"find_us": r["find_us"], "us_per_iteration": r["us_per_op"],
                          "rcu_backlog_max": r["rcu_backlog_max"],
                          "lock_wait_total": r["lock_wait_total"]} for r in t.records}
