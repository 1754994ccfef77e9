# %% [markdown]
# # 04 · Scaling: the maple designs against 6.18 on 1..64 CPUs, and what the model can tell apart
#
# The free-tree question is, by Rezki's own account, a question about lock contention.
# Uladzislau Rezki, 15 Jun 2026
# ([maple-tree archive](http://lists.infradead.org/pipermail/maple-tree/2026-June/005090.html)):
#
# > [...] splitting parts i minimize lock-contention.
#
# and the series' case is speed. The cover letter (13 Jun 2026,
# [lore](https://lore.kernel.org/all/20260613-vmalloc_maple-v1-0-0aa740bb944b@oss.qualcomm.com/))
# claims, for QEMU/KVM guests running `lib/test_vmalloc`:
#
# > x86_64 KVM contention, smp=8: +5.1 % to +43.6 %, every nt x mask configuration;
# > x86_64 KVM saturation, smp=16: +28.2 % to +64.9 %, every configuration
#
# (docs/perf-sources.md section 5; the metric behind the percentages is not defined in the letter).
# Neither claim can be checked by counting tree nodes on one CPU. This notebook runs the real
# operations of each design on N simulated CPUs (`vmapsim.perf.simulate`), turns the locks each
# operation takes and the tree nodes it touches into time with a cost model whose constants
# are in `data/perf/` with their sources, and calibrates that model against the only
# published multi-job numbers for vmalloc before it says anything about the maple designs.
#
# Vocabulary:
#
# * *op* = one loop iteration of a test_vmalloc test (one `vmalloc` + `vfree` pair);
# * *us per op* = the time one worker spends per op, averaged over workers: test_vmalloc's
#   `avg: N usec` / loops (lib/test_vmalloc.c times each worker's test function; the model
#   times the counted loops and leaves a test's setup and teardown out). It is the one time the
#   calibration and every table here use (`SimResult.us_per_op`, named in its JSON as
#   `us_per_op_is`);
# * *M ops/s* = all workers' ops over the longest worker's span: it also holds load imbalance
#   (the lazy drain runs on one worker's CPU), so `cpus / ops_per_sec` is not the time per op;
# * *cpus* and *online_cpus* (in every condition printed here and in the key numbers) = the CPUs
#   running the test and the CPUs online; the model's possible CPUs are the online ones (its
#   vmap nodes and `lazy_max_pages()` follow `online_cpus`), so `cpus=8 online_cpus=64` is 8 of
#   64 CPUs running the test, not a machine with more CPUs online than possible (notebook 00's
#   geometry table, which runs nothing, uses `cpus` for the possible CPUs);
# * *lock wait* = share of all CPUs' time spent waiting for a lock (or a contended counter
#   line such as `vmap_lazy_nr`); per-node locks are summed as `vn[*]...`;
# * *steady state* = every performance figure here unless its text says otherwise: two
#   lazy-purge cycles of untimed warm-up (the pools filled, the lazy trees cycling), one cycle
#   on the clock but not counted (`settle`: the untimed warm-up plays each drain at once, so the
#   first timed cycle is still a transient, see below), then whole purge cycles counted, so that
#   a purge is amortised over the loops it serves: one counted cycle in the calibration and the
#   side panels, `grid_cycles` (2) in the design grid of section 2 and `cover_cycles` (2) in the
#   cover-letter comparison of section 3, because one cycle alone
#   can differ from the next (section 2 prints by how much, cycle by cycle). This is the
#   model's steady state, an average over a few cycles of a series that may still oscillate,
#   not a proof that it has converged; the conditions
#   (machine profile, CPUs running, CPUs online, warm-up and timed loops, setup scale, seed)
#   are printed next to each figure and kept with each key number;
# * *error band* = the model's calibration band (section 1); the project's rule for two model
#   times: **if |ratio - 1| < band, they are *not distinguishable by this model***, the ratio
#   taken as the slower over the faster (`vmapsim.numbers.compare`, stated in section 1).

# %%
import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from vmapsim import report
from vmapsim.numbers import band_evidence, compare, ratio_threshold
from vmapsim.perf import calibrate
from vmapsim.perf.simulate import simulate
from vmapsim.review import scaling

FAST = report.setup()

# %% tags=["parameters"]
# Parameters: `tools/report.py 04-scaling -p name=value` or the test suite may override these.
# The defaults (`make report`) run in about 2 minutes on a 2-core machine. Every CPU count
# 1..64 and the 7-point mechanism panel is one command (roughly twice as long):
#   tools/report.py 04-scaling -p "cpus_list=[1,2,4,8,16,32,64]" \
#       -p "mech_cpus=[1,2,4,8,16,32,64]" -p recalibrate=True
cpus_list = [8] if FAST else [1, 8, 32, 64]   # CPUs running the test (of 64 online)
machine = "threadripper-3970x"            # the calibrated machine profile (all comparisons)
recalibrate = False                       # True: rerun the 12 fitted v1 points (~2 min CPU);
                                          # False: the committed table, with check_points recomputed
                                          # (`python -m vmapsim.perf.calibrate` reruns all of it)
check_points = ([("linux-6.18", 32)] if FAST else
                [(d, j) for d in ("linux-6.8", "linux-6.18") for j in (1, 32)])
mech_cpus = [1, 8] if FAST else [1, 8, 32, 64]   # CPU counts of the mechanism panel
mech_cycles = 0.25 if FAST else 1.0       # timed purge cycles per run of the mechanism panel
cover_cases = 2 if FAST else 15           # cover-letter cases to model (largest claims first)
grid_cycles = 1 if FAST else scaling.GRID_CYCLES   # purge cycles counted per run of the design grid
spread_cpus = 8 if FAST else 64           # CPUs of the cycle-to-cycle spread (section 2)
spread_cycles = 2 if FAST else 3          # counted cycles it compares, one by one
cover_cycles = 1 if FAST else 2          # purge cycles counted per cover-letter case (rounded up)
cover_setup_scale = 0.01 if FAST else 0.02   # shrink full_fit/long_busy_list setup (1.0 = kernel
                                          # sizes: 1.3 M setup allocations for smp=16 nt=16, minutes per case)
lookup_cpus = 4 if FAST else 16           # CPUs of the lookup cost (the figure notebook 03 prints)
lookups = ["spinlock", "rcu-readonce"] if FAST else ["spinlock", "rcu-readonce", "rcu-trylock-retry", "rcu-refcount", "seqcount"]
robust_cpus = 8 if FAST else 32           # CPUs of the robustness table
robust_moves = 1 if FAST else 4           # how many of the main constants it moves (of 4)
trace = "mixed-s11"                       # a trace of data/traces/ for the trace-mix panel
trace_cpus = [4] if FAST else [8]         # CPU counts of the trace-mix panel
trace_designs = ["linux-6.18", "maple-nofree-sharded"] if FAST else None   # None: every design
seed = 0

# %%
# Validate the parameters (a bad value stops here with one line naming it).
designs = scaling.available_perf_designs()
probe = simulate(design="linux-6.18", cpus=max(cpus_list), loops=2, machine=machine, seed=seed,
                 cold=True)
print(f"designs in this build: {designs}; cpus={cpus_list} machine={machine} fast={FAST}")

# %% [markdown]
# ## 1. Calibration: fitted on part of Rezki's figures, checked on the rest
#
# Uladzislau Rezki published three sets of figures on the same AMD Threadripper 3970X
# (32 cores / 64 threads): v1 of "Mitigate a vmap lock contention" (May 2023, base v6.3), the
# time per 1-page `vmalloc()`+`vfree()` pair seen by each of 1..32 jobs, with the global vmap
# locks and with his per-node design; v2 (Aug 2023, 6.5-rc6) and v3 (Jan 2024, 6.7-rc8), perf
# profiles of `test_vmalloc.sh nr_threads=64` with `run_test_mask=127` and `7`, before and
# after, and v3's wall time of the whole run. `linux-6.8` (the last kernel with the global
# locks) stands for the "before" kernels, `linux-6.18` (the merged `vmap_node` design) for the
# patched ones (v1's and v2's designs differ from what was merged).
#
# The constants marked *fitted* in `data/perf/costs.json` were chosen on the v1 points at 1,
# 2, 4, 8, 16 and 32 jobs of both columns. Everything else is **held out**: the other 52 v1
# points, and every v2 and v3 figure (64 threads, multi-page tests, other kernels), where SMT,
# the page allocator, the counter lines and the purge's remote lines act and were never fitted. The **error band** is the largest held-out error of
# a time (v1 time per pair, v3 wall time); the tables and claims of the notebooks quote it.
# `python -m vmapsim.perf.calibrate` reruns every point and writes
# `data/perf/calibration.json`; the v1 model runs `fix_size_alloc_test` with 64 CPUs online,
# 4,000 busy kernel-stack-sized areas, two untimed lazy-purge cycles, one timed uncounted
# cycle (settle) and one counted cycle, and
# both counters on one cache line (`--cost counters_share_line=1`: every published run predates
# 6.16, which gave them a line each).

# %%
committed = calibrate.load_table()
band = committed["error_band"]
cal = scaling.calibration_rows(committed)
if recalibrate:                           # the fitted points again, with the constants of now
    fresh = scaling.calibration(processes=2)
    for d in cal:
        by_jobs = {p.jobs: p for p in fresh[d]}
        cal[d] = [by_jobs.get(p.jobs, p) for p in cal[d]]
# some points are always recomputed, so a change to the model cannot hide behind the file
check = {}
for d, j in check_points:
    check.setdefault(d, []).extend(calibrate.calibration_points(d, jobs=(j,)))
print(f"error band (largest held-out error of a time): +-{band:.0%}; "
      f"worst fitted point {committed['error_band_detail']['fit_worst']:+.0%}")
rows = [(r["set"], r["id"], r["published"], r["model"], r["unit"], f"{r['error']:+.0%}")
        for r in committed["points"] if r["kind"] != "v1 us per pair" or r["jobs"] in
        (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)]
display(report.table(("set", "point", "published", "model", "unit", "error"), rows,
                     title=f"Rezki's v1, v2 and v3 figures against the model (band +-{band:.0%})"))
scaling.plot_calibration(cal, band=band)

# %% [markdown]
# ### How the band applies to a comparison of two designs
#
# One rule for every notebook (`vmapsim.numbers.compare`): for two designs' model times under
# the same conditions, with ratio r = slower / faster, **if r - 1 < band the two are not
# distinguishable by this model**; a design is told apart only when one takes at least
# (1 + band) times the other's time. The rule says nothing about whether two designs' errors
# cancel. The calibration's own evidence on ratios is printed below: the held-out ratio of
# `linux-6.8` (one global lock) to `linux-6.18` was off by more than the band at its worst
# point, so a verdict against `linux-6.8` near the threshold is weaker than one between
# per-node designs. A tighter band for a subset of designs would need held-out evidence for
# that subset; the only candidate, `linux-6.18`'s own held-out v1 points, is printed too, with
# why it is not used for the maple designs.

# %%
ev = band_evidence()
thr = ratio_threshold(band)
thr_raw = 1 + committed["error_band_detail"]["held_out_worst_time"]   # before rounding up


def edge_note(f):
    """The one borderline rule of this notebook (scaling.borderline: the unrounded factor, slower
    over faster, within 5 % of the threshold either way), printed beside the verdict."""
    return (f" (borderline: x{f:.3f} against x{thr:.2f}, x{thr_raw:.3f} before rounding)"
            if scaling.borderline(f, thr) else "")


held618 = [r["error"] for r in committed["points"] if r["kind"] == "v1 us per pair"
           and r["design"] == "linux-6.18" and r["set"] == "held-out"]
node_factor = max(1 + max(held618), 1 / (1 + min(held618)))
print(f"band +-{band:.0%}: a design must take at least x{thr:.2f} the other's time (or "
      f"1/{thr:.2f} of it) to be distinguishable: |ratio - 1| < {band:.2f} is not")
print(f"evidence: the worst held-out time is off by a factor {ev['time_factor']:.2f} "
      f"({ev['time_point']}); the worst of {ev['held_out_ratios']} held-out ratios of two "
      f"designs' times by a factor {ev['ratio_factor']:.2f} ({ev['ratio_point']}): "
      + ("within" if ev['ratio_factor'] < thr else "beyond") + f" the rule's x{thr:.2f}"
      + edge_note(ev['ratio_factor']))
print(f"per-node subset (not used): linux-6.18's held-out v1 errors "
      f"{min(held618):+.0%}..{max(held618):+.0%}, a factor {node_factor:.2f} each way "
      f"(threshold x{node_factor:.2f}); it covers one design, 1-page pairs and 1-32 jobs "
      f"only: no maple design was ever measured, and at 64 threads the per-node model's "
      f"spinlock share is off by a factor ten (v2 after, above)")

# %% [markdown]
# ### The first timed purge cycle is a transient
#
# The untimed warm-up plays each lazy drain at once. On the clock a drain takes as long as its
# work. In 6.18 the drain is also what refills the per-node pools
# (mm/vmalloc.c:__purge_vmap_area_lazy): it first decays every node's pool
# (decay_va_pool_node: each size class detached under `pool_lock`, about a quarter of it
# merged back into the free tree, the rest re-attached), then flushes the TLB, then purges the
# nodes one after another (purge_vmap_node), each handing its purged areas to its own pool. A
# node's pool is therefore refilled only when the drain reaches it, and until then
# allocations that miss it fall back to the free tree under `free_vmap_area_lock`
# (node_alloc). The first timed cycle ends just as the first timed drain starts, so it never
# pays for one: counting it alone gives a time per op that no later cycle shows. Every steady
# figure here therefore runs one purge cycle on the clock without counting it (`settle`, the
# default of `simulate()`), then counts whole cycles. The cell shows the two readings of one
# configuration; the calibration above was redone on the settled points (before the settle it
# counted the first cycle and its band was +-115 %).
#
# **Model assumptions, where the model is not 6.18 and later kernels.** The model runs the
# whole drain on one CPU, the freeing worker's, node after node with no helpers. That is
# 6.18.0 below 2 x `lazy_max_pages()` of backlog; above it 6.18 splits the nodes over
# `nr_purge_helpers` = clamp(backlog / `lazy_max_pages()`, 1, nodes) - 1 extra workers, which
# refill their nodes' pools in parallel, and the model records the helper count but does not
# time it. 6.18.0 queues the drain with `schedule_work()` (the per-CPU system workqueue, so on
# the CPU that freed past the limit, as the model does); the patch "mm/vmalloc: use dedicated
# unbound workqueues for vmap drain" (mm-hotfixes-unstable, Cc stable; in the 6.18.44 this
# project's machine runs, not in 7.3.4: docs/kernel-facts.md F11) queues the drain and its
# helpers on unbound workqueues, so with 32 of 64 CPUs running the test the drain could take an
# idle CPU and no test worker would run it. Both make the model's drain longer and keep it on a
# test CPU; that they also keep the pools dry longer than on a kernel with helpers or that
# patch is our reading, not a measurement (the model does not count its pool misses here). The
# model is furthest from Rezki's figures (printed below the cell) at 16-32 jobs, where it waits
# too long in `linux-6.18` (the published per-node times stop at 32 jobs; the unsettled first
# cycle was closer to the published time, but for the wrong reason), and at 64 threads, where
# only profile shares were published and its spinlock shares are off by factors. It is a
# limit of the model, not a finding about the kernel, and it is one-sided: `linux-6.18` is
# the denominator of every "x 6.18" below, so an overstated 6.18 time makes the designs that
# avoid the free-tree fallback (the maple designs) look faster.

# %%
settle_cpus = 8 if FAST else 32
first = simulate(design="linux-6.18", cpus=settle_cpus, machine=machine, online_cpus=64,
                 prefill=4000, seed=seed, settle=0,
                 loops=scaling.steady_warmup(settle_cpus, 64) // 2)
settled = simulate(design="linux-6.18", cpus=settle_cpus, machine=machine, online_cpus=64,
                   prefill=4000, seed=seed, loops=scaling.steady_warmup(settle_cpus, 64) // 2)
print(f"linux-6.18, fix_size_alloc_test, {settle_cpus} CPUs of 64 online, {machine}, prefill "
      f"4000, seed {seed}, warm-up {settled.warmup} untimed loops, {settled.loops} counted: "
      f"first timed cycle counted {first.us_per_op:.2f} us/op (spin wait "
      f"{first.spin_wait_fraction:.0%}); after a settle cycle of {settled.settle} loops "
      f"{settled.us_per_op:.2f} us/op (spin wait {settled.spin_wait_fraction:.0%})")
far = {p["id"]: p for p in committed["points"]
       if (p["design"], p.get("jobs")) == ("linux-6.18", 32) and p["kind"] == "v1 us per pair"
       or p["id"] in ("v2 after: spinlock slow path", "v3 after: spinlock slow path")}
print("where the model is furthest from Rezki's linux-6.18 figures (data/perf/calibration.json): "
      + "; ".join(f"{i}: model {p['model']:.3g} against {p['published']:.3g} published "
                  f"({p['error']:+.0%}, {p['set']})" for i, p in far.items()))

# %% [markdown]
# The model's mechanisms and their constants, from `data/perf/costs.json` (read now): each is
# *fitted* (within the bounds its sources allow), *sourced* (a published or measured figure),
# a *kernel* constant or layout, or *assumed* (no per-call figure found; the sensitivity panel
# moves them). No term stands for a stretch without a mechanism: the load stretch
# x(1 + 1.3 (sqrt(n) - 1)) and the short-queue hand-off correction of earlier versions are gone.
# Per-page costs are the per-CPU-list fast path (Brouer, 2021) and a cache-hot page clear
# measured on this project's 6.18 machine; pages fresh from the buddy lists are cleared cold
# (measured here as well). They do not include memcg charging (test_vmalloc does not charge)
# nor the cache misses of clearing 100-page areas on two SMT threads of one core, which v3's
# profile shows at 64 threads (its `clear_page_rep` share is a held-out point above).

# %%
import json  # noqa: E402
import textwrap  # noqa: E402

from vmapsim.perf.costs import MACHINES_FILE, cost_table, mechanisms, status_of  # noqa: E402

costs_now = cost_table()
for mech, names in mechanisms().items():
    print(f"{mech}:")
    for k in names:
        v = costs_now[k]
        b = f", bounds {v['bounds']}" if v.get("bounds") else ""
        if v.get("bounds") and status_of(v) == "fitted" and v["value"] in v["bounds"]:
            # a fit that ends on a bound wanted to go further: the bound, not the data, set it
            b += (", at its upper bound: the fit wanted more" if v["value"] == max(v["bounds"])
                  else ", at its lower bound: the fit wanted less")
        print(textwrap.fill(f"{k} = {v['value']} [{status_of(v)}{b}]: {v['source']}", width=100,
                            initial_indent="  ", subsequent_indent="      "))
tr = json.loads(MACHINES_FILE.read_text())["threadripper-3970x"]   # the calibration machine
print(textwrap.fill(f"threadripper-3970x transfer_ns = {tr['transfer_ns']} [sourced]: "
                    f"{tr['sources']['transfer_ns']}", width=100, subsequent_indent="    "))

# %% [markdown]
# ### What each mechanism contributes, 1..64 CPUs
#
# `linux-6.18` on the calibration workload and set-up (64 CPUs online, N running it, steady
# state: two untimed purge cycles, one settle cycle, `mech_cycles` counted): the time per op with every mechanism
# on, and how much of it goes when one mechanism is switched off (`vmapsim.perf.mechanisms`).
# Mechanisms interact, so the parts need not add up to the total. SMT acts only above 32 CPUs
# (the 3970X has 32 cores); the page allocator's zone lock is not reached in this steady loop
# (the per-CPU list takes back what it gave), only its per-page costs; the TLB flush is one per
# purge cycle.

# %%
mech = scaling.contributions(design="linux-6.18", cpus=mech_cpus, cycles=mech_cycles,
                             processes=2)
header, rows = mech.pivot()
display(report.table(header, rows, title="us per op removed when one mechanism is off, "
                     f"by CPUs running the workload (64 online, steady, {mech_cycles:g} timed "
                     f"purge cycle{'s' if mech_cycles != 1 else ''}, 6.18's counter lines)"))
scaling.plot_mechanisms(mech)

# %% [markdown]
# ## 2. The maple designs against 6.18: 1, 8, 32 and 64 CPUs, steady state
#
# Every design runs `fix_size_alloc_test` (the calibrated workload: one 1-page `vmalloc()` +
# `vfree()` per loop) on the calibrated machine with all 64 CPUs online and N of them running
# the test, after the calibration's prefill (4,000 busy kernel-stack-sized areas), two untimed
# lazy-purge cycles, one timed uncounted cycle (settle) and `grid_cycles` counted cycles (the
# calibration counted one: below, how much one cycle moves from the next); cost constants as
# of today (6.18's counters on a line each, `counters_share_line=0`, where the calibration ran
# with `counters_share_line=1`: that is why 6.18 at 32 CPUs takes a different time here than
# in the calibration table). A verdict whose factor lies within 5 % of the threshold is marked
# *borderline*: the band is the worst held-out error rounded up to 5 %, so such a verdict rests
# on that rounding. `maple-nofree-sharded` is the lock layout of M22 (Pranjal's plan 2: a global
# allocator lock for gap-find and publish, per-node busy locks); `maple-nofree` is this
# project's extreme case (one tree, one lock for every writer; nobody proposed it). The grey
# zone of the plot is what this model cannot tell apart from 6.18.

# %%
grid = scaling.design_comparison(designs=designs, cpus=cpus_list, seed=seed, machine=machine,
                                 cycles=grid_cycles, processes=2,
                                 progress=report.progress_bar("sweep"))
vs = {(v["design"], v["cpus"]): v for v in scaling.versus(grid)}


def factor_of(ratio):
    return max(ratio, 1 / ratio)


def verdict_of(ratio):
    """The band rule's verdict from the unrounded ratio, marked borderline within 5 %."""
    f = factor_of(ratio)
    return ("distinguishable" if f >= thr else "not dist.") + edge_note(f)


def claim_gap_of(c):
    """How far a claim (either reading) lies from the model's own ratio for its case."""
    return max(factor_of(c.comparison.ratio / x) for x in scaling.claimed_ratio_range(c.claimed_pct))


rig = grid.records[0]["conditions"]
print(f"conditions: machine={rig['machine']} online_cpus={rig['online_cpus']} "
      f"workload={rig['workload']} prefill={rig['prefill']} seed={rig['seed']} "
      f"cost=counters_share_line=0 (today's; the calibration's is 1; linux-6.8 keeps one "
      f"line whatever the setting), {grid_cycles:g} counted "
      f"purge cycle{'s' if grid_cycles != 1 else ''} after one settle cycle; per CPU count: "
      + ", ".join(f"cpus={r['conditions']['cpus']} warmup={r['conditions']['warmup']} "
                  f"settle={r['conditions'].get('settle', 0)} loops={r['conditions']['loops']} "
                  f"(purges on the clock {r['purges']})"
                  for r in grid.where(design="linux-6.18").records))
display(report.table(
    ("design", "cpus", "us/op", "x 6.18", "this model", "top wait"),
    [(r["design"], r["cpus"], round(r["us_per_op"], 3),
      "-" if r["design"] == "linux-6.18" else f"{vs[(r['design'], r['cpus'])]['ratio']:.2f}",
      "-" if r["design"] == "linux-6.18" else verdict_of(vs[(r["design"], r["cpus"])]["ratio"]),
      max(r["lock_wait_fraction"].items(), key=lambda kv: kv[1], default=("-", 0))[0]
      + f" {max(r['lock_wait_fraction'].values(), default=0):.0%}")
     for r in grid.records],
    title=f"fix_size_alloc_test, steady state, {machine}, 64 online: distinguishable only "
          f"from x{thr:.2f} (band +-{band:.0%})"))
scaling.plot_versus(grid, threshold=thr,
                    title=f"fix_size_alloc_test, steady, {machine}, 64 CPUs online")

# %% [markdown]
# How much a figure moves from one counted purge cycle to the next: runs counting 1, 2, ..
# `spread_cycles` cycles (same seed, so each replays the shorter ones first) of `linux-6.18` and
# `rfc-v1` at `spread_cpus` CPUs, each cycle's own time per op by difference, and each count's
# ratio. This is the run-to-run spread that matters here: a figure that counts one cycle can sit
# anywhere in that range. Then how much a figure moves from one seed to another (the model is
# deterministic for a seed; the seed moves the per-CPU order of events and the random choices
# of the workloads): one design and CPU count, three seeds.

# %%
spread_designs = [d for d in ("linux-6.18", "rfc-v1") if d in designs]
cyc = scaling.cycle_spread(designs=spread_designs, cpus=spread_cpus, cycles=spread_cycles,
                           seed=seed, machine=machine, processes=2)
for d, o in cyc["designs"].items():
    print(f"{d}, {spread_cpus} of {cyc['online_cpus']} CPUs online, seed {seed}: each counted "
          f"cycle alone {', '.join(f'{v:.2f}' for v in o['per_cycle'])} us/op (spread "
          f"{o['spread']:.0%} of their mean); over 1..{spread_cycles} cycles "
          f"{', '.join(f'{v:.2f}' for v in o['cumulative'])}")
if len(spread_designs) > 1:
    other = spread_designs[1]
    cyc_ratios = [cyc["ratios"][k][other] for k in sorted(cyc["ratios"])]
    print(f"{other} / linux-6.18 over 1..{spread_cycles} counted cycles: "
          f"{', '.join(f'{v:.2f}' for v in cyc_ratios)} (band +-{band:.0%}, threshold "
          f"x{thr:.2f}); the design grid above counts {grid_cycles:g}")
cycle_spread = max(o["spread"] for o in cyc["designs"].values())

spread_vals, spread = scaling.seed_spread(design="linux-6.18", cpus=8, seeds=(seed, seed + 1,
                                                                                seed + 2),
                                          machine=machine, processes=2)
print(f"linux-6.18, 8 CPUs, steady, seeds {seed}..{seed + 2}: "
      f"{', '.join(f'{v:.3f}' for v in spread_vals)} us per op: spread {spread:.1%} of the mean "
      f"(seed to seed; the cycle-to-cycle spread above is the larger one)")

# %% [markdown]
# ### Where the CPUs wait
#
# The share of CPU time each lock (or contended counter line) costs, at the largest CPU count,
# and the CPU counts at which 6.18 and every per-node maple design wait most on the same
# global counter line (`nr_vmalloc_pages`, one atomic add per `vmalloc()` and one subtract per
# `vfree()`, mm/vmalloc.c:__vmalloc_area_node and vfree; docs/kernel-facts.md F7) rather than
# on an index lock: at those counts the model cannot see the index at all.

# %%
top = max(cpus_list)
for key, waits in scaling.lock_breakdown(grid).items():
    if key[2] == top:
        print(key[0], {k: f"{v:.1%}" for k, v in sorted(waits.items()) if v >= 0.001})
by = {(r["design"], r["cpus"]): r for r in grid.records}
maple = [d for d in designs if d not in ("linux-6.8", "linux-6.18")]
per_node = [d for d in maple if d != "maple-nofree"]


def top_wait(r):
    return max(r["lock_wait_fraction"].items(), key=lambda kv: kv[1], default=("-", 0.0))


counter_bound = [n for n in cpus_list if all(top_wait(by[(d, n)])[0] == "nr_vmalloc_pages"
                                             for d in ["linux-6.18"] + per_node)]
counter_share = [top_wait(by[(d, n)])[1] for d in ["linux-6.18"] + per_node for n in counter_bound]
print(f"CPU counts where 6.18 and every per-node maple design wait most on nr_vmalloc_pages: "
      f"{counter_bound or 'none'}"
      + (f" ({min(counter_share):.0%}..{max(counter_share):.0%} of CPU time)" if counter_bound
         else ""))
scaling.plot_lock_breakdown(grid, cpus=top)

# %% [markdown]
# ## 3. The cover letter's claimed gains against the model
#
# Same test cases and thread counts as the letter's x86_64 KVM table (M1; smp = online CPUs of
# the guest, nt = test threads), on the `kvm-guest-16` profile (the host CPU was not stated),
# steady state (each test's setup and two purge cycles untimed, one settle cycle, then
# `cover_cycles` whole purge cycles counted, the loops rounded up so that the counted loops
# free at least that many times `lazy_max_pages()`: `long_busy_list` frees 103 pages a loop,
# and a count rounded down left the window a few % short of a cycle, with a purge in it or
# not depending on phase; the purges on the clock are printed). These conditions differ from
# notebook 01's figure for the same M1 case (01 runs the Threadripper profile with N CPUs
# online; here the `kvm-guest-16` profile with smp CPUs online and nt running), so the two
# notebooks' model values for one case need not agree. The model's
# gain is the relative change of the time per op from `linux-6.18` to `rfc-v1`. A claimed
# gain of p % means a time ratio MT / RB of 1 - p/100 if it is a shorter time, or 1 / (1 + p/100)
# if it is a higher rate: the letter does not say which, so both are printed.

# %%
cover = scaling.cover_letter_comparison(cases=scaling.cover_letter_cases(cover_cases),
                                        setup_scale=cover_setup_scale, cycles=cover_cycles,
                                        processes=2)
print(f"conditions: machine=kvm-guest-16 setup_scale={cover_setup_scale} seed={seed}, steady "
      f"(warm-up two purge cycles, one settle cycle, {cover_cycles:g} whole cycle"
      f"{'s' if cover_cycles != 1 else ''} counted, rounded up; loops and warm-up per case in "
      f"the key numbers; purges: on the clock, the settle cycle's included, 6.18 / rfc-v1)")
display(report.table(
    ("test", "smp", "nt", "claimed %", "claimed MT/RB", "6.18 us", "rfc-v1 us", "model MT/RB",
     "this model", "claim / model", "loops", "purges"),
    [(c.test.replace("_alloc_test", ""), c.smp, c.nt, c.claimed_pct,
      "{:.2f}..{:.2f}".format(*scaling.claimed_ratio_range(c.claimed_pct)), round(c.base_us, 3),
      "n/a" if c.rfc_us is None else round(c.rfc_us, 3),
      "n/a" if c.rfc_us is None else f"{c.comparison.ratio:.2f}",
      "n/a" if c.rfc_us is None else verdict_of(c.comparison.ratio),
      "n/a" if c.rfc_us is None else f"x{claim_gap_of(c):.2f}" + edge_note(claim_gap_of(c)),
      c.conditions["loops"], " / ".join(str(p) for p in c.purges if p is not None))
     for c in cover],
    title=f"x86_64 KVM cases of M1 against the model (kvm-guest-16, steady; distinguishable only "
          f"from x{thr:.2f})"))
if cover[0].rfc_us is None:
    print("rfc-v1 is not implemented in this build: only the 6.18 baseline is shown.")

# %% [markdown]
# What the model can and cannot say about these medians:
#
# * **It cannot confirm or refute any of them.** A claimed gain and the model's own are both
#   time ratios; the band separates two designs only at x(1 + band) or more (printed below with
#   the largest claim's two readings), and the `kvm-guest-16` profile was never calibrated at
#   all: its error, if one could be measured, is at least the Threadripper's.
# * **It cannot model what a QEMU guest adds**: vCPUs are host threads, so a lock holder can be
#   descheduled by the host (lock-holder preemption, which makes contended spinlocks far
#   costlier than on bare metal); pinned guests under `nice -n 5` compete with the host; and a
#   median of N runs without a spread says nothing of the run-to-run variation the letter itself
#   warns about ("sub-millisecond deltas may change rank or sign").
# * **It can say what its own difference is made of**: with one test thread (nt = 1) no other
#   CPU runs, so no lock is ever waited for and a gain there is work per operation, not
#   contention; `long_busy_list` allocates 100-page areas, whose per-page work both designs
#   share, so a change of index moves its time per op little.

# %%
big = max(cover, key=lambda c: c.claimed_pct)
t_read, r_read = scaling.claimed_ratio_range(big.claimed_pct)
print(f"largest claim +{big.claimed_pct} % ({big.test}, smp={big.smp} nt={big.nt}): MT/RB = "
      f"{t_read:.2f} as a shorter time or {r_read:.2f} as a higher rate; distinguishable by this "
      f"model only at {1 / thr:.2f} or below: "
      f"{'yes' if min(t_read, r_read) <= 1 / thr else 'no'}"
      + edge_note(1 / min(t_read, r_read)))
cv = [c for c in cover if c.rfc_us is not None]
if cv:
    gap_c = max(cv, key=claim_gap_of)
    gap = claim_gap_of(gap_c)
    print(f"largest factor between a claim (either reading) and the model's ratio for its case: "
          f"x{gap:.3f} ({gap_c.test}, smp={gap_c.smp} nt={gap_c.nt}, {cover_cycles:g} counted "
          f"cycle{'s' if cover_cycles != 1 else ''}, loops={gap_c.conditions['loops']}) against "
          f"the threshold x{thr:.2f} (x{thr_raw:.3f} before rounding): "
          + ("distinguishable" if gap >= thr else "not distinguishable") + edge_note(gap))
one = [c for c in cover if c.nt == 1 and c.rfc_us is not None]
for c in one:
    print(f"nt=1 case ({c.test}, smp={c.smp}): model gain {c.model_pct:+.1f} % with no lock wait "
          f"possible (one CPU running)")

# %% [markdown]
# ## 4. The lookup cost at 16 CPUs (the figure notebook 03 prints)
#
# One source for both notebooks: `vmapsim.perf.scaling.lookup_costs` (the same function, the
# same conditions, printed). The lookup workload runs, per iteration on every CPU, 4
# `find_vmap_area()` calls (half by the area's owner, half on another CPU's live area) and one
# `vfree()` + `vmalloc()`, on the calibrated machine with 64 CPUs online, steady. `linux-6.18`
# is today's allocator (its RCU protocols are priced on its rb-tree, which a real lockless walk
# could not use); `rfc-maple-busy` has the per-node busy maple tree an RCU walk needs.
# `spinlock` is the use under the lock (`vread_iter`, `vmalloc_dump_obj`); 6.18's
# `find_vmap_area()` drops the lock before returning (`spinlock-6.18`), which differs from it
# only by the area reads done after the unlock and is not priced separately.

# %%
lk = {d: scaling.lookup_costs(cpus=lookup_cpus, design=d, protocols=lookups, seed=seed,
                              processes=2)
      for d in ("linux-6.18", "rfc-maple-busy")}
c0 = lk["linux-6.18"][0]["conditions"]
print(f"conditions: cpus={c0['cpus']} online_cpus={c0['online_cpus']} workload={c0['workload']} "
      f"machine={c0['machine']} warmup={c0['warmup']} loops={c0['loops']} seed={c0['seed']}")
display(report.table(("design", "lookup", "find us", "x locked", "this model", "us/iter",
                      "RCU backlog"),
                     [(d, r["lookup"], round(r["find_us"], 3),
                       f"{compare(r['find_us'], rs[0]['find_us']).ratio:.2f}",
                       "distinguishable" if compare(r["find_us"], rs[0]["find_us"]).distinguishable
                       else "not dist.", round(r["us_per_op"], 3), r["rcu_backlog_max"])
                      for d, rs in lk.items() for r in rs],
                     title=f"lookup cost at {lookup_cpus} CPUs of 64 online, steady state "
                           f"(x locked: against the same design's spinlock lookup)"))

# %% [markdown]
# ## 5. The operation mix of a real trace
#
# The same designs replaying the mix of vmalloc sizes and lifetimes of a captured trace
# (`trace:` workloads: each event of the capture in turn), steady state, on the calibrated
# machine with 64 CPUs online.

# %%
from vmapsim.traces.captures import trace_names  # noqa: E402

if trace in trace_names() and trace_cpus:
    trace_grid = scaling.design_comparison(designs=trace_designs or designs, cpus=trace_cpus,
                                           workload=f"trace:{trace}", seed=seed, machine=machine,
                                           processes=2)
    tvs = {(v["design"], v["cpus"]): v for v in scaling.versus(trace_grid)}
    tc = trace_grid.records[0]["conditions"]
    print(f"conditions: machine={tc['machine']} online_cpus={tc['online_cpus']} seed={tc['seed']}"
          f" warmup={tc['warmup']} loops={tc['loops']} (per CPU, at {tc['cpus']} CPUs)")
    display(report.table(("design", "cpus", "us/op", "x 6.18", "this model"),
                         [(r["design"], r["cpus"], round(r["us_per_op"], 3),
                           "-" if r["design"] == "linux-6.18" else
                           f"{tvs[(r['design'], r['cpus'])]['ratio']:.2f}",
                           "-" if r["design"] == "linux-6.18" else
                           ("distinguishable" if tvs[(r["design"], r["cpus"])]["distinguishable"]
                            else "not dist."))
                          for r in trace_grid.records],
                         title=f"operation mix of trace {trace}, steady state"))
else:
    print(f"trace {trace!r} is not in data/traces/ of this checkout (traces: {trace_names()})")

# %% [markdown]
# ## 6. RCU backlog: vfree rate x grace period against RCU's callback thresholds
#
# Any lockless lookup makes writers free `vmap_area`s (and, for maple trees in RCU mode, the
# replaced nodes) through `call_rcu`. The backlog is the vfree rate times the grace period
# (Little's law); `qhimark` and `qovld` (kernel/rcu/tree.c) are where RCU starts batching
# harder and forcing quiescent states. Those thresholds are **per CPU**, while the curves and
# the model's backlogs are the whole machine's: a machine-wide backlog reaches them on one CPU
# only if that CPU queues all of it; spread over N CPUs it needs N times as many. The squares are measured by the model: the
# `kvfree_rcu_1_arg_vmalloc_test` run (pointers batched 509 to a page, then one grace period;
# **a transient**: this test has no loop state to warm, so the model plays it from a cold
# start, `warmup=0`) and the RCU lookup protocols of section 4 (steady).

# %%
bl = scaling.rcu_backlog()
kv = simulate(design="linux-6.18", cpus=max(cpus_list), workload="kvfree_rcu_1_arg_vmalloc_test",
              loops=600, machine=machine, seed=seed)
measured = [(kv.ops_per_sec, kv.rcu_backlog_max)]
measured += [(r["ops_per_sec"], r["rcu_backlog_max"]) for rs in lk.values() for r in rs
             if r["lookup"] != "spinlock" and r["rcu_backlog_max"] > 0]
print(f"kvfree_rcu test (transient, warmup={kv.warmup}, loops={kv.loops}, {kv.cpus} of "
      f"{kv.online_cpus} CPUs, {kv.machine}): {kv.ops_per_sec:,.0f} frees/s, backlog max "
      f"{kv.rcu_backlog_max} callbacks machine-wide ({kv.rcu_backlog_max / kv.cpus:,.0f} per "
      f"running CPU if spread evenly), {kv.rcu_bytes_max / 2**20:.1f} MiB waiting")
for d, rs in lk.items():
    for r in rs:
        if r["rcu_backlog_max"]:
            print(f"{d} {r['lookup']} at {r['cpus']} CPUs (steady): backlog max "
                  f"{r['rcu_backlog_max']} machine-wide, {r['rcu_backlog_max'] / r['cpus']:,.0f} "
                  f"per running CPU if spread evenly")
display(report.table(("vfree/s", *[f"GP {g:g} ms" for g in bl["gp_ms"]]),
                     [(f"{r:.0e}", *[int(bl["callbacks"][g][i]) for g in bl["gp_ms"]])
                      for i, r in enumerate(bl["rates"])]))
scaling.plot_rcu_backlog(bl, measured=measured)

# %% [markdown]
# ## 7. Sensitivity: which conclusions survive when the constants move
#
# The widget moves the main cost constants and shows one run **between two purges**: two and
# a half untimed lazy-purge cycles, then 150 loops per CPU in the middle of the third cycle
# (steady pools, but the purge itself is not in the timed window, and no settle cycle: the
# drain's aftermath is left out too, so the widget shows the cost between drains, not the
# steady average; the tables above count whole cycles after a settle cycle). The warm-up does not depend on
# the constants: it is built once per design and CPU count and restored from the warm-state
# cache on every later move, so an update stays under a second (`bench/bench_warm.py`). The
# table after it reruns the comparison of section 2 at `robust_cpus` CPUs, whole purge cycles,
# with each main constant moved well outside its fitted or assumed value.

# %%
def show_sensitivity(r):
    print(repr(r))
    print(f"between purges: warmup={r.warmup} loops={r.loops} cpus={r.cpus} of "
          f"{r.online_cpus} online, purges in the window: {r.purges}")
    print({k: f"{v:.1%}" for k, v in r.lock_wait_fraction.items() if v >= 0.001})
    fig, ax = plt.subplots(figsize=(5, 2.6))
    waits = {k: v for k, v in r.lock_wait_fraction.items() if v >= 0.001}
    ax.barh(list(waits) or ["(none)"], list(waits.values()) or [0])
    ax.set_xlabel("share of CPU time waiting")
    fig.tight_layout()
    return fig


report.bind(
    scaling.sensitivity_widget, show_sensitivity,
    design=widgets.Dropdown(options=designs, value="linux-6.18", description="design"),
    cpus=widgets.IntSlider(value=16, min=1, max=64, description="cpus"),
    line_scale=widgets.FloatSlider(value=1.0, min=0.25, max=4.0, step=0.25, description="line x"),
    node_visit_ns=widgets.FloatSlider(value=2.0, min=0.5, max=16.0, step=0.5, description="visit ns"),
    counter_rmw_ns=widgets.FloatSlider(value=cost_table()["counter_rmw_ns"]["value"], min=6.0,
                                       max=120.0, step=2.0, description="counter ns"),
    smt_yield=widgets.FloatSlider(value=cost_table()["smt_yield"]["value"], min=0.0, max=1.0,
                                  step=0.05, description="SMT yield"),
)

# %%
robust_designs = ("linux-6.8", "linux-6.18", "maple-nofree")
robust = scaling.robustness(designs=robust_designs, cpus=robust_cpus, machine=machine, seed=seed,
                            moves=scaling.ROBUST_MOVES[:robust_moves], processes=2)
display(report.table(
    ("constant", "value", *[f"{d} us" for d in robust_designs], "6.8 x", "nofree x"),
    [(r["constant"], r["value"], *[round(r[d], 3) for d in robust_designs],
      f"{r['linux-6.8 x']:.2f}", f"{r['maple-nofree x']:.2f}") for r in robust],
    title=f"steady state (whole purge cycles), {robust_cpus} CPUs of 64 online, {machine}: "
          f"x = against linux-6.18, distinguishable from x{thr:.2f}"))
r68 = [r["linux-6.8 x"] for r in robust]
rnf = [r["maple-nofree x"] for r in robust]
print(f"linux-6.8 / linux-6.18: x{min(r68):.2f}..x{max(r68):.2f}; maple-nofree / linux-6.18: "
      f"x{min(rnf):.2f}..x{max(rnf):.2f} over the moves")

# %% [markdown]
# ## Claims checked in this run

# %%
claims = report.Claims()
for d, pts in check.items():
    for p in pts:
        claims.add(f"{d}, {p.jobs} jobs, within the error band of Rezki v1 (recomputed)",
                   round(abs(p.error), 3), f"x <= {band}", calibrate.REZKI_SOURCE)
worst_fit = max(abs(p.error) for pts in cal.values() for p in pts if p.fitted)
claims.add("every fitted v1 point within the error band", round(worst_fit, 3), f"x <= {band}",
           "data/perf/calibration.json" if not recalibrate else "this run")
held_v1 = max(abs(p.error) for pts in cal.values() for p in pts if not p.fitted)
claims.add("every held-out v1 point within the error band", round(held_v1, 3), f"x <= {band}",
           "data/perf/calibration.json")
claims.add("SMT adds nothing up to 32 CPUs (one worker per core)",
           max(abs(x) for n, x in zip(mech.cpus, mech.contribution("SMT")) if n <= 32),
           "x <= 0.001", "vmapsim.perf.mechanisms")
claims.add("no per-node maple design is distinguishable from 6.18 at any CPU count (restates "
           "the run)", [round(vs[(d, n)]["ratio"], 2) for d in maple if d != "maple-nofree"
                        for n in cpus_list],
           f"all(1 / {thr:.4f} < v < {thr:.4f} for v in x)", "section 2 of this notebook")
claims.add("6.18 is faster than 6.8 per op at the robustness count under every constant moved",
           round(min(r68), 2), "x > 1", "section 7 of this notebook")
if len(spread_designs) > 1:
    claims.add(f"{spread_designs[1]}'s verdict against 6.18 at {spread_cpus} CPUs is the same "
               f"for 1..{spread_cycles} counted purge cycles",
               len({factor_of(v) >= thr for v in cyc_ratios}), "x == 1",
               "section 2 of this notebook")
claims.add("seed-to-seed spread of a steady figure is far inside the band",
           round(spread, 4), "x < 0.1", "section 2 of this notebook")
claims.add("the model is deterministic for a seed",
           simulate(design="linux-6.18", cpus=4, loops=50, seed=seed, cold=True).latency_us ==
           simulate(design="linux-6.18", cpus=4, loops=50, seed=seed, cold=True).latency_us,
           "x == True", "vmapsim.perf.sim")
claims.add("kvfree_rcu backlog is at least one 509-pointer block per CPU",
           kv.rcu_backlog_max, f"x >= {509 * kv.cpus}", "kernel/rcu/tree.c KVFREE_BULK_MAX_ENTR")
claims.verify()

# %% [markdown]
# ## The key numbers, and the reply
#
# The numbers the reply states, with where each comes from and the conditions that reproduce it
# (`make report` writes them to `build/report/04-scaling.json`; each model time has a `rerun`
# line, the `python -m vmapsim simulate` command that reproduces it), then the reply
# (`04-scaling.txt`, and `04-scaling.eml` for `git send-email` or `mutt -H`).

# %%
G_TIME, G_RATIO = "time per op, steady (us)", f"x linux-6.18 (apart only from x{thr:.2f})"
# both tables: one row per design, one column per count of CPUs running the test
G_COVER, G_CAL = "M1's x86_64 KVM gains against the model", "calibration: Rezki v1"
nums = report.Numbers("04-scaling")
for r in grid.records:
    col = f"{r['cpus']} CPU{'s' if r['cpus'] != 1 else ''}"
    cond = dict(r["conditions"], cost="counters_share_line=0")   # today's; calibration: 1
    cond.pop("lookup")
    nums.add(col, r["us_per_op"], "us", source="model", steady=True, fmt=".2f", group=G_TIME,
             **cond)
    if r["design"] != "linux-6.18":
        nums.add(col, vs[(r["design"], r["cpus"])]["ratio"], "", source="model", steady=True,
                 ratio=True, fmt=".2f", group=G_RATIO, **cond)
for c in cover:
    row = dict(workload=c.test, online_cpus=c.smp, cpus=c.nt)
    nums.add("claimed %", c.claimed_pct, source="published", fmt="+.1f", group=G_COVER, **row)
    if c.rfc_us is not None:
        nums.add("model %", c.model_pct, source="model", steady=True, ratio=True, fmt="+.1f",
                 group=G_COVER, design="rfc-v1", **{**c.conditions, **row})
for pts in check.values():
    for p in pts:
        rig = dict(workload="fix_size_alloc_test", machine="threadripper-3970x",
                   online_cpus=calibrate.ONLINE)
        nums.add("Rezki 2023", round(p.published_us, 3), "us", source="published", design=p.design,
                 cpus=p.jobs, group=G_CAL, **rig)
        nums.add("model", p.model_us, "us", source="model", steady=True, fmt=".2f",
                 design=p.design, cpus=p.jobs, loops=calibrate.cycle_loops(p.jobs),
                 warmup=calibrate.warmup_for(p.jobs), prefill=calibrate.PREFILL, seed=0,
                 cost="counters_share_line=1", group=G_CAL, **rig)

pn = [vs[(d, n)]["ratio"] for d in per_node for n in cpus_list]
nf = {n: vs[("maple-nofree", n)]["ratio"] for n in cpus_list}
old = {n: vs[("linux-6.8", n)] for n in cpus_list}
sep68 = [n for n in cpus_list if old[n]["distinguishable"]]
sep_maple = sorted({v["design"] for v in vs.values() if v["design"] in maple and v["distinguishable"]})
claims_within = all(min(scaling.claimed_ratio_range(c.claimed_pct)) > 1 / thr for c in cover)
claims_beyond = sorted(min(scaling.claimed_ratio_range(c.claimed_pct)) for c in cover
                       if min(scaling.claimed_ratio_range(c.claimed_pct)) <= 1 / thr)
model_within = all(not c.comparison.distinguishable for c in cv)
# how far a claim (either reading) lies from the model's own ratio for the same case
claim_gap = max(claim_gap_of(c) for c in cv) if cv else None
# verdicts of the grid within 5 % of the threshold (computed from the unrounded ratios)
edge = [(d, n, factor_of(vs[(d, n)]["ratio"])) for d in maple + ["linux-6.8"] for n in cpus_list
        if (d, n) in vs and scaling.borderline(factor_of(vs[(d, n)]["ratio"]), thr)]
def span(vals, fmt=".2f"):
    """``x0.61..x0.91`` (one value: ``x0.61``)."""
    lo, hi = min(vals), max(vals)
    return f"x{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"x{lo:{fmt}}..x{hi:{fmt}}"


if cv:
    cover_text = (
        f"({min(c.model_pct for c in cv):+.1f}..{max(c.model_pct for c in cv):+.1f} %, "
        f"kvm-guest-16 profile, never calibrated): "
        + ("the model's own ratios are all inside the band" if model_within else
           "some of the model's own ratios lie beyond the band: see the table")
        + (f"; every claim, read as a shorter time or as a higher rate, is within x{thr:.2f} "
           f"of 1" if claims_within else
           f"; the largest claims, read as shorter times "
           f"({', '.join(f'{x:.2f}' for x in claims_beyond)}), would be beyond it")
        + (f", and no claim differs from the model's ratio for its case by x{thr:.2f} or more "
           f"(largest x{claim_gap:.2f}, {cover_cycles:g} purge cycle"
           f"{'s' if cover_cycles != 1 else ''} counted per case"
           + (f"; borderline: within 5 % of the threshold x{thr:.2f} (x{thr_raw:.3f} before "
              f"rounding)"
              if scaling.borderline(claim_gap, thr) else "")
           + "), so the model can neither confirm nor refute them"
           if claim_gap < thr else
           f", and some claims differ from the model's ratio for their case by x{thr:.2f} or "
           f"more (largest x{claim_gap:.2f}{edge_note(claim_gap)}): see the table")
        + "; lock-holder preemption of vCPUs and the run-to-run spread of the medians are "
          "outside it.")
answer = (
    f"In steady state on the calibrated Threadripper 3970X (64 CPUs online, "
    f"{', '.join(map(str, cpus_list))} running fix_size_alloc_test, {grid_cycles:g} purge "
    f"cycles counted after one settle cycle), the per-node maple designs "
    f"({', '.join(per_node)}) take {span(pn)} of 6.18's time per op, and "
    f"maple-nofree (one lock for every writer) {span(nf.values())} (with 64 CPUs online; "
    f"notebook 01, on a machine with only the running CPUs online, has it distinguishable at "
    f"16 CPUs: its machine differs, with fewer vmap nodes and a smaller lazy_max_pages()). "
    f"The model's error band (+-{band:.0%}, from held-out points) separates two designs only "
    f"when one takes x{thr:.2f} the other's time or more, so "
    + ("none of them is distinguishable from 6.18 by this model" if not sep_maple else
       f"only {', '.join(sep_maple)} is distinguishable from 6.18 by this model, the others not")
    + ("" if not edge else
       " (borderline, within 5 % of the threshold, so resting on the band's rounding up from "
       f"+-{thr_raw - 1:.1%}: " + ", ".join(f"{d} at {n} CPUs x{f:.3f}" for d, n, f in edge)
       + ")")
    + (f". From one counted purge cycle to the next the time per op moves by up to "
       f"{cycle_spread:.0%} ({' and '.join(spread_designs)} at {spread_cpus} CPUs, cycles "
       f"1..{spread_cycles} each on its own), far inside the band, and {spread_designs[1]}'s "
       f"ratio to 6.18 counting 1..{spread_cycles} cycles runs {span(cyc_ratios)}; the "
       f"figures above count {grid_cycles:g}" if len(spread_designs) > 1 else "")
    + (f"; moving the constants puts maple-nofree at {span(rnf)} at "
       f"{robust_cpus} CPUs{edge_note(max(rnf))}, so a single lock may well be "
       f"distinguishably slower"
       if max(rnf) >= thr and "maple-nofree" not in sep_maple else "")
    + ". The model's 6.18 is furthest from your published figures at 16-32 jobs (times: the "
      "published per-node times stop at 32 jobs) and in its 64-thread profile shares (at 64 "
      "threads only shares were published, and the model's are off too); it waits too long, "
      "in the direction that makes the maple designs look faster. Our reading, not measured: "
      "it runs each lazy drain on one test CPU, node after node, without purge helpers or an "
      "unbound workqueue, so its pools may stay dry longer than 6.18's"
    + (". What it does resolve is 6.9's per-node sharding (your vmap_node series), not the "
       "free/busy split you describe here, which 6.8 already had: 6.8 with its global locks "
       "takes (at 1 CPU no lock is waited for: that is work per operation) "
       if sep68 else ". 6.8 with its global locks takes (at 1 CPU no lock is waited for) ")
    + ", ".join(f"x{old[n]['ratio']:.1f} at {n}" for n in cpus_list)
    + (f" (distinguishable at {', '.join(map(str, sep68))} CPUs, and at {robust_cpus} under "
       f"every constant moved: {span(r68, '.1f')}{edge_note(min(r68))})"
       if sep68 and min(r68) >= thr else
       f" (distinguishable at {', '.join(map(str, sep68))} CPUs)" if sep68 else
       " (not distinguishable at these counts either)")
    + (f". At {', '.join(map(str, counter_bound))} CPUs, 6.18 and the per-node maple designs "
       f"wait most on the same nr_vmalloc_pages counter line "
       f"({min(counter_share):.0%}..{max(counter_share):.0%} of CPU time), not on an index "
       f"lock: there the model cannot see the index at all" if counter_bound else "")
    + f". The cover letter's x86_64 gains ({min(c.claimed_pct for c in cover):+.1f}.."
      f"{max(c.claimed_pct for c in cover):+.1f} %, QEMU medians, metric not defined) against "
      f"the model's on the same cases "
    + (cover_text if cv else "(rfc-v1 not in this build).")
)
report.summary(
    "04-scaling",
    title="the maple designs against 6.18 on 1..64 CPUs (model)",
    answers="M17",
    parts=[("M17-minimize-contention", answer)],
    numbers=nums, rows={G_TIME: "design", G_RATIO: "design",
                        G_COVER: ("workload", "online_cpus", "cpus"), G_CAL: ("design", "cpus")},
    conclusion=f"Rule: two model times with |ratio - 1| < band (ratio = slower / faster) "
               f"are not distinguishable by this model; band +-{band:.0%} (the largest "
               f"held-out error of a time, data/perf/calibration.json), so distinguishable "
               f"means at least x{thr:.2f}. The held-out ratios of 6.8 to 6.18 were "
               f"themselves off by up to x{ev['ratio_factor']:.2f}. 'model %' is rfc-v1's "
               f"shorter time per op against 6.18, (6.18 - rfc-v1) / 6.18.",
)
