"""Experiments and plots of notebook 04-scaling (and the performance cells of 01 and 03).

Experiments are plain functions with keyword parameters that return data; ``plot_*`` functions
draw them; the notebooks only call these.  All runs go through :func:`vmapsim.perf.sweep` /
:func:`vmapsim.perf.simulate.simulate` and are deterministic for their seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..designs import available_designs
from ..params import check_choice, check_int
from ..perf.calibrate import JOBS, REZKI_2023, calibration_points, error_band
from ..perf.lookup_cost import PROTOCOLS
from ..perf.mechanisms import contributions
from ..perf.rcu_cost import backlog_estimate
from ..perf.scaling import (
    STEADY_RIG,
    available_perf_designs,
    lookup_costs,
    run_conditions,
    scaling,
    steady_warmup,
)
from .figures import finished

__all__ = ["calibration", "plot_calibration", "calibration_rows", "contributions", "plot_mechanisms",
           "cover_letter_cases", "cover_letter_comparison",
           "scaling", "plot_scaling", "plot_protocols", "lock_breakdown", "plot_lock_breakdown", "rcu_backlog",
           "plot_rcu_backlog", "sensitivity", "contention_by_design", "lookup_speed",
           "cover_letter_x86", "available_perf_designs", "steady_warmup", "lookup_costs",
           "design_comparison", "versus", "claimed_ratio_range", "STEADY_RIG",
           "sensitivity_widget", "seed_spread", "robustness", "sensitivity_config",
           "ROBUST_MOVES", "plot_versus", "cycle_spread", "borderline", "GRID_CYCLES", "cycle_loops"]
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
@lru_cache(maxsize=1)
def cover_letter_x86() -> tuple:
    """docs/perf-sources.md section 5: the cover letter's x86_64 KVM smp/nt cases from the thread data (M1's table,
    ``data/thread/messages.json`` series benchmark claims; the functional run left out), largest
    claimed gain first: ``(test, smp, nt, claimed gain %)``."""
    from ..thread import series
    cases = [(f"{c['test']}_alloc_test", c["smp"], c["nt"], c["gain_pct"])
             for c in series()["benchmark_claims"]["cases_x86_64"] if not c["functional"]]
    return tuple(sorted(cases, key=lambda c: -c[3]))


@dataclass
class CoverCase:
    test: str
    smp: int
    nt: int
    claimed_pct: float
    base_us: float
    rfc_us: float | None
    conditions: dict | None = None
    #: purges on the clock (the settle cycle's included) of the 6.18 and rfc-v1 runs
    purges: tuple = ()

    @property
    def model_pct(self) -> float | None:
        """Model's gain of rfc-v1 over linux-6.18 in time per op (positive = faster)."""
        if self.rfc_us is None:
            return None
        return 100.0 * (self.base_us - self.rfc_us) / self.base_us

    @property
    def comparison(self):
        """rfc-v1's time against 6.18's under the band rule (:func:`vmapsim.numbers.compare`)."""
        from ..numbers import compare
        return None if self.rfc_us is None else compare(self.rfc_us, self.base_us)


def cover_letter_cases(limit: int | None = None):
    cases = cover_letter_x86()          # read when asked: importing reads no data file
    return list(cases[:limit] if limit else cases)


def claimed_ratio_range(pct: float) -> tuple[float, float]:
    """The time ratio MT / RB a claimed gain of *pct* % stands for under the two readings the
    cover letter leaves open: a shorter time (ratio 1 - pct/100) or a higher rate (ratio
    1 / (1 + pct/100)).  Returned as (time reading, rate reading)."""
    return 1.0 - pct / 100.0, 1.0 / (1.0 + pct / 100.0)


def cycle_loops(workload: str, cpus: int, online: int, cycles: float = 1.0) -> int:
    """Loops per CPU that free at least *cycles* x ``lazy_max_pages()`` pages (rounded up, so a
    counted window is never a few % short of a whole purge cycle).  The loops of one cycle on
    one CPU come from :func:`vmapsim.perf.simulate.steady_warmup_for` (two cycles, rounded
    down); when that rounding cut a fraction, half a loop is added back before rounding up."""
    import math

    from ..perf.simulate import steady_warmup_for
    from ..vmalloc.vmap_area import lazy_max_pages
    two = steady_warmup_for(workload, 1, online)           # floor(2 x lazy_max / pages)
    exact = (2 * lazy_max_pages(online)) % two == 0 if two else True
    per_cycle = (two if exact else two + 1) / 2
    return max(1, math.ceil(cycles * per_cycle / cpus))


def cover_letter_comparison(*, cases=None, loops: int = 1, setup_scale: float = 1.0,
                            machine: str = "kvm-guest-16", rfc: str = "rfc-v1",
                            base: str = "linux-6.18", seed: int = 0, cycles: float = 1.0,
                            processes: int | None = None) -> list[CoverCase]:
    """Model time per op of *rfc* and *base* on the cover letter's test/smp/nt cases, steady.

    smp = online CPUs of the guest, nt = test threads (simulated CPUs).  Each run plays its
    test's setup and two lazy-purge cycles untimed, one cycle on the clock uncounted (settle),
    then counts ``max(loops, cycles whole purge cycles)`` loops per thread, rounded up
    (:func:`cycle_loops`).  When *rfc* is not implemented in this build its column is None.
    """
    from ..perf.simulate import steady_warmup_for
    from ..perf.sweep import sweep
    cases = cases or cover_letter_cases()
    designs = [base] + ([rfc] if rfc in available_designs() else [])
    configs = []
    for (t, smp, nt, _) in cases:
        w = steady_warmup_for(t, nt, smp)
        for d in designs:
            configs.append(dict(design=d, cpus=nt, online_cpus=smp, workload=t,
                                loops=max(loops, cycle_loops(t, nt, smp, cycles)), warmup=w,
                                machine=machine, setup_scale=setup_scale, seed=seed))
    table = sweep(configs, processes=processes)
    rows = iter(zip(configs, table.records))
    out = []
    for (t, smp, nt, pct) in cases:
        cb, b = next(rows)
        rr = next(rows)[1] if len(designs) > 1 else None
        cond = run_conditions(cb)
        cond.pop("design")
        if b.get("settle"):
            cond["settle"] = b["settle"]
        out.append(CoverCase(t, smp, nt, pct, b["us_per_op"],
                             None if rr is None else rr["us_per_op"], cond,
                             (b.get("purges"), None if rr is None else rr.get("purges"))))
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


def plot_versus(table, *, base: str = "linux-6.18", threshold: float | None = None,
                title: str = ""):
    """Time per op of each design over the CPU counts of a sweep (log-log), with the zone this
    model cannot tell apart from *base* shaded: *base*'s time x/÷ *threshold*
    (:func:`vmapsim.numbers.ratio_threshold`).  A design whose line stays in the zone is not
    distinguishable from *base* by this model."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    from ..numbers import ratio_threshold
    threshold = ratio_threshold() if threshold is None else threshold
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    cpus = _cpu_counts(table)
    ref = table.where(design=base)
    x, y = ref.column("cpus"), ref.column("us_per_op")
    ax.fill_between(x, y / threshold, y * threshold, color="grey", alpha=0.18,
                    label=f"not distinguishable from {base} (x/÷{threshold:.2f})")
    for d in dict.fromkeys(r["design"] for r in table.records):
        t = table.where(design=d)
        ax.plot(t.column("cpus"), t.column("us_per_op"), "o-",
                lw=2.5 if d == base else 1.2, label=d)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(cpus, [str(c) for c in cpus])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("CPUs running the test")
    ax.set_ylabel("us per op (test_vmalloc avg / loops)")
    ax.set_title(title, fontsize=10)
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


# --------------------------------------------------------------------------- design comparison
#: whole purge cycles notebook 04's design grid counts (after the settle cycle): one cycle
#: alone can differ from the next by tens of % (:func:`cycle_spread` measures by how much)
GRID_CYCLES = 2


def design_comparison(*, designs=None, cpus=(1, 8, 32, 64), workload: str = "fix_size_alloc_test",
                      seed: int = 0, processes: int | None = None, progress=False,
                      cycles: float = 1.0, **rig):
    """Every design at each CPU count in steady state on :data:`STEADY_RIG` (the calibrated
    machine, 64 CPUs online, the calibration's prefilled address space; *rig* overrides),
    *cycles* whole purge cycles counted: a SweepTable whose records carry their
    ``conditions``."""
    kw = {**STEADY_RIG, **rig}
    machine = kw.pop("machine")
    online = kw.pop("online_cpus")
    return scaling(designs=designs, cpus=cpus, workload=workload, loops=1, machine=machine,
                   seed=seed, processes=processes, progress=progress, online_cpus=online,
                   cycles=cycles, **kw)


def cycle_spread(*, designs=("linux-6.18", "rfc-v1"), cpus: int = 32, cycles: int = 4,
                 workload: str = "fix_size_alloc_test", seed: int = 0,
                 processes: int | None = None, **rig) -> dict:
    """How much one counted purge cycle moves from the next, per design: runs counting 1, 2,
    .., *cycles* whole cycles after the settle cycle (same seed, so each run replays the
    shorter ones before going on), and each cycle's own time per op by difference, (loops_k x
    T_k - loops_k-1 x T_k-1) / (loops_k - loops_k-1).  Per design: ``cumulative`` (T_k, us per
    op over k cycles), ``per_cycle`` (us per op of cycle k alone), ``loops`` (loops_k) and
    ``spread`` ((max - min) / mean of ``per_cycle``); ``ratios``: per k, each design's T_k over
    the first design's."""
    cycles = check_int("cycles", cycles, lo=2, hi=16)
    kw = {**STEADY_RIG, **rig}
    machine, online = kw.pop("machine"), kw.pop("online_cpus")
    out = {d: {"cumulative": [], "loops": [], "per_cycle": []} for d in designs}
    for k in range(1, cycles + 1):
        t = scaling(designs=list(designs), cpus=(cpus,), workload=workload, loops=1,
                    machine=machine, seed=seed, processes=processes, online_cpus=online,
                    cycles=k, **kw)
        for r in t.records:
            o = out[r["design"]]
            o["cumulative"].append(r["us_per_op"])
            o["loops"].append(r["conditions"]["loops"])
    for o in out.values():
        prev_l, prev_t = 0, 0.0
        for lk, tk in zip(o["loops"], o["cumulative"]):
            o["per_cycle"].append((lk * tk - prev_l * prev_t) / (lk - prev_l))
            prev_l, prev_t = lk, tk
        pc = o["per_cycle"]
        o["spread"] = (max(pc) - min(pc)) / (sum(pc) / len(pc))
    base = designs[0]
    ratios = {k + 1: {d: out[d]["cumulative"][k] / out[base]["cumulative"][k] for d in designs}
              for k in range(cycles)}
    return {"designs": out, "ratios": ratios, "cpus": cpus, "online_cpus": online,
            "machine": machine, "seed": seed}


def borderline(factor: float, threshold: float, margin: float = 0.05) -> bool:
    """True when a verdict of the band rule rests on a few %: the factor (slower over faster,
    unrounded) lies within *margin* of the threshold either way."""
    return abs(factor / threshold - 1.0) < margin


def versus(table, base: str = "linux-6.18", band: float | None = None) -> list[dict]:
    """Each design's time per op against *base*'s at the same CPU count (same lookup) of a
    sweep, under the band rule (:func:`vmapsim.numbers.compare`): ``design``, ``cpus``,
    ``us_per_op``, ``base_us``, ``ratio`` (design / base), ``distinguishable``, ``verdict``."""
    from ..numbers import compare
    ref = {(r["lookup"], r["cpus"]): r["us_per_op"] for r in table.records if r["design"] == base}
    out = []
    for r in table.records:
        b = ref.get((r["lookup"], r["cpus"]))
        if r["design"] == base or b is None:
            continue
        c = compare(r["us_per_op"], b, band)
        out.append(dict(design=r["design"], lookup=r["lookup"], cpus=r["cpus"],
                        us_per_op=r["us_per_op"], base_us=b, ratio=c.ratio,
                        distinguishable=c.distinguishable, verdict=c.verdict()))
    return out


def seed_spread(*, design: str = "linux-6.18", cpus: int = 8, seeds=(0, 1, 2),
                workload: str = "fix_size_alloc_test", processes: int | None = None, **rig):
    """The run-to-run spread of one steady figure over *seeds* (the model is deterministic for a
    seed: the same seed reruns to the same value): ``(values, (max - min) / mean)``."""
    kw = {**STEADY_RIG, **rig}
    machine, online = kw.pop("machine"), kw.pop("online_cpus")
    vals = []
    for sd in seeds:
        t = scaling(designs=[design], cpus=(cpus,), workload=workload, loops=1, machine=machine,
                    seed=sd, processes=processes, online_cpus=online, **kw)
        vals.append(t.records[0]["us_per_op"])
    mean = sum(vals) / len(vals)
    return vals, (max(vals) - min(vals)) / mean


# --------------------------------------------------------------------------- sensitivity
def sensitivity(*, design: str = "linux-6.18", cpus: int = 16, loops: int | None = None,
                workload: str = "fix_size_alloc_test", line_scale: float = 1.0,
                node_visit_ns: float | None = None, grace_period_ms: float | None = None,
                counter_rmw_ns: float | None = None, smt_yield: float | None = None,
                lookup: str = "spinlock", machine: str = "threadripper-3970x", seed: int = 0,
                cold: bool = False, window: str = "cycle", prefill: int = STEADY_RIG["prefill"]):
    """One run with the main cost constants moved (the sensitivity panel and its widget).

    *window* says what is timed: ``"cycle"`` (default) two untimed lazy-purge cycles, then
    ``max(loops, one cycle)`` loops per CPU: the steady state with the purge amortised over the
    loops it serves; ``"between-purges"`` two and a half untimed cycles, then *loops* (default
    150, at most a quarter cycle) loops in the middle of the third cycle: the steady time per op
    *without* the purge (the widget's cheap view).  The warm-up does not depend on the cost
    constants: it is built once per design and CPU count and restored from the warm-state cache
    on every later move of a slider (:mod:`vmapsim.perf.warm`).  *cold* times the transient
    from empty pools instead (*loops* default 150).  The machine has all its CPUs online and
    *prefill* busy areas (the calibration's 4,000 by default), as in :data:`STEADY_RIG`."""
    from ..perf.simulate import simulate
    return simulate(**sensitivity_config(
        design=design, cpus=cpus, loops=loops, workload=workload, line_scale=line_scale,
        node_visit_ns=node_visit_ns, grace_period_ms=grace_period_ms,
        counter_rmw_ns=counter_rmw_ns, smt_yield=smt_yield, lookup=lookup, machine=machine,
        seed=seed, cold=cold, window=window, prefill=prefill))


def sensitivity_config(*, design: str = "linux-6.18", cpus: int = 16, loops: int | None = None,
                       workload: str = "fix_size_alloc_test", line_scale: float = 1.0,
                       node_visit_ns: float | None = None, grace_period_ms: float | None = None,
                       counter_rmw_ns: float | None = None, smt_yield: float | None = None,
                       lookup: str = "spinlock", machine: str = "threadripper-3970x",
                       seed: int = 0, cold: bool = False, window: str = "cycle",
                       prefill: int = STEADY_RIG["prefill"]) -> dict:
    """The ``simulate()`` arguments of :func:`sensitivity` (same parameters)."""
    from ..perf.costs import make_machine
    from ..perf.simulate import steady_warmup_for
    check_choice("window", window, ("cycle", "between-purges"))
    cpus = check_int("cpus", cpus, lo=1, hi=1024)
    costs = {k: v for k, v in (("node_visit_ns", node_visit_ns), ("grace_period_ms", grace_period_ms),
                               ("counter_rmw_ns", counter_rmw_ns), ("smt_yield", smt_yield))
             if v is not None}
    kw = dict(design=design, lookup=lookup, cpus=cpus, workload=workload, machine=machine,
              seed=seed, costs=costs, machine_params={"line_scale": line_scale}, prefill=prefill)
    if cold:
        return dict(kw, loops=loops or 150, cold=True)
    hw = make_machine(machine).hw_threads
    online = cpus if cpus > hw else hw
    w = steady_warmup_for(workload, cpus, online)
    if window == "cycle":
        return dict(kw, loops=max(loops or 1, w // 2), warmup=w)
    # between purges: a quarter cycle past the untimed warm-up, counted at once (no settle: a
    # settled cycle would put a purge in the window; the widget says what it shows)
    return dict(kw, loops=min(loops or 150, max(1, w // 8)), warmup=w + w // 4, settle=0)


#: the constants the robustness table moves, and to what (each well outside its fitted or
#: assumed value; counter_rmw_ns to the ends of its sourced bounds)
ROBUST_MOVES = (("line_scale", (0.5, 2.0)), ("node_visit_ns", (1.0, 8.0)),
                ("counter_rmw_ns", (24.0, 94.0)), ("smt_yield", (0.0, 1.0)))


def robustness(*, designs=("linux-6.8", "linux-6.18", "maple-nofree"), cpus: int = 32,
               base: str = "linux-6.18", moves=ROBUST_MOVES, processes: int | None = None,
               **kw) -> list[dict]:
    """The design comparison again with each main constant moved (:func:`sensitivity`, whole
    purge cycles): one row per (constant, value) with each design's time per op and its ratio
    to *base* (``<design>`` and ``<design> x``)."""
    from ..numbers import compare
    from ..perf.sweep import sweep
    cells = [(name, v, d) for name, values in moves for v in values for d in designs]
    configs = [sensitivity_config(design=d, cpus=cpus, **{name: v}, **kw) for name, v, d in cells]
    recs = sweep(configs, processes=processes).records
    rows: dict = {}
    for (name, v, d), r in zip(cells, recs):
        rows.setdefault((name, v), {"constant": name, "value": v})[d] = r["us_per_op"]
    out = list(rows.values())
    for row in out:
        for d in designs:
            if d != base:
                row[f"{d} x"] = compare(row[d], row[base]).ratio
    return out


def sensitivity_widget(**kw):
    """The widget's update: :func:`sensitivity` between purges (150 loops), within the widget
    budget of a second once the warm state is cached."""
    return sensitivity(window="between-purges", **kw)


# --------------------------------------------------------------------------- notebooks 01 and 03
def contention_by_design(*, designs=None, cpus=(1, 8, 32), workload: str = "fix_size_alloc_test",
                         loops: int = 500, machine: str = "threadripper-3970x", seed: int = 0,
                         processes: int | None = None):
    """For notebook 01: us/op and lock-wait fractions of each design (is the free tree's lock
    the contended one?)."""
    return scaling(designs=designs, cpus=cpus, workload=workload, loops=loops,
                   machine=machine, seed=seed, processes=processes)


def lookup_speed(*, cpus: int = 16, protocols=PROTOCOLS, seed: int = 0,
                 processes: int | None = None) -> dict:
    """``protocol -> {find_us, us_per_iteration, rcu_backlog_max, lock_wait_total, conditions}``
    of :func:`vmapsim.perf.scaling.lookup_costs` (the one source notebooks 03 and 04 print)."""
    return {r["lookup"]: {"find_us": r["find_us"], "us_per_iteration": r["us_per_op"],
                          "rcu_backlog_max": r["rcu_backlog_max"],
                          "lock_wait_total": r["lock_wait_total"],
                          "conditions": r["conditions"]}
            for r in lookup_costs(cpus=cpus, protocols=protocols, seed=seed,
                                  processes=processes)}
