"""``vmapsim simulate``: one run of the multi-CPU performance model, as a function and a command.

>>> r = simulate(design="linux-6.18", cpus=4, workload="fix_size_alloc_test", loops=200)  # doctest: +SKIP
>>> r.ops, sorted(r.as_json())[:3]                                                         # doctest: +SKIP
(800, ['cpus', 'design', 'latency_us'])

``simulate()`` creates the design with ``make_design(design, possible_cpus=online_cpus)``,
runs ``cpus`` workers of *workload* on it (:mod:`vmapsim.perf.sim`) and returns a
:class:`SimResult`.  ``online_cpus`` defaults to the machine's hardware threads (the kernel's
``num_online_cpus()``, which sets ``lazy_max_pages()``, the number of vmap nodes and
``full_fit_alloc_test``'s junk length), or to ``cpus`` when more CPUs are simulated than the
machine has.  For the test_vmalloc workloads an op is one loop iteration (one
``vmalloc``+``vfree`` pair); ``loops`` is ``test_loop_count`` per worker.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError
from ..params import check_choice, check_float, check_int, check_seed
from .costs import machine_names, make_costs, make_machine
from .lookup_cost import PROTOCOLS
from .sim import Simulation, lock_family
from .warm import prepare, untimed_setup
from .workloads import LONG_BUSY_LIST, NR_PCPU_OBJECTS, XFAIL, make_spec

#: default limits of ``vmapsim simulate`` (``--max-ops``, ``--max-seconds``): a run estimated
#: above either is refused before it starts, naming both options
MAX_OPS = 50_000_000
MAX_SECONDS = 3600.0
#: simulated operations per second of wall time, the lowest of six workloads (fix_size at 1 and
#: 64 CPUs, long_busy_list, full_fit, the default test_vmalloc mask, lookup) measured on the
#: 2-core project machine while it was shared (16,600-60,000 per second); an estimate
OPS_PER_SECOND = 15_000
#: bytes the model keeps per counted operation (its latency sample and bookkeeping); the
#: estimate also shown in the refusal
BYTES_PER_OP = 100

__all__ = ["simulate", "SimResult", "add_arguments", "run", "summary_lines", "steady_warmup_for", "settle_for",
           "STEADY_WORKLOADS", "estimate_work", "check_work", "MAX_OPS", "MAX_SECONDS",
           "OPS_PER_SECOND"]

JSON_KEYS = ("design", "lookup", "cpus", "workload", "ops", "sim_seconds", "ops_per_sec",
             "latency_us", "lock_wait_fraction", "rcu_backlog_max")

#: what ``us_per_op`` (``latency_us["mean"]``) is -- the one time per op the calibration, the
#: sweeps and the notebooks use -- and what ``ops_per_sec`` is instead (printed next to them)
US_PER_OP_IS = (
    "test_vmalloc avg / loops: mean over workers of the time each worker spends in its counted "
    "loop iterations divided by their number (lib/test_vmalloc.c test_func times each worker's "
    "test function and prints it as 'avg: N usec'; for full_fit/long_busy_list the kernel's avg "
    "also holds the setup and teardown, which this leaves out: a few % at the kernel's 10^6 loops)")
OPS_PER_SEC_IS = (
    "all workers' counted ops divided by the longest worker's span (makespan throughput): it "
    "includes load imbalance, e.g. the lazy drain runs on one worker's CPU, and with few loops "
    "other workers' setup; not what test_vmalloc prints")
#: counter lines and the purge mutex: waits on them are not spent in the spinlock slow path
_NOT_SPINLOCKS = frozenset({"nr_vmalloc_pages", "vmap_lazy_nr", "nr_vmalloc_pages+vmap_lazy_nr",
                            "vmap_purge_lock"})


@dataclass
class SimResult:
    """What one run measured (times are simulated, not wall-clock, unless named ``wall``)."""
    design: str
    lookup: str
    cpus: int
    workload: str
    machine: str
    seed: int
    ops: int
    sim_seconds: float
    ops_per_sec: float
    latency_us: dict
    lock_wait_fraction: dict
    rcu_backlog_max: int
    rcu_bytes_max: int
    find_latency_us: dict
    purges: int
    failures: int
    seq_retries: int
    online_cpus: int
    loops: int
    extrapolated_topology: bool
    wall_seconds: float
    summaries: list = field(default_factory=list, repr=False)
    lock_detail: dict = field(default_factory=dict, repr=False)
    #: share of all CPUs' time waiting for spinlocks (counter lines and the purge mutex left
    #: out): what a profile shows as native_queued_spin_lock_slowpath
    spin_wait_fraction: float = 0.0
    #: share of all CPUs' time clearing pages (clear_page, init_on_alloc)
    clear_fraction: float = 0.0
    #: share of all CPUs' time in the lazy drain, and the longest drain (us)
    drain_fraction: float = 0.0
    drain_max_us: float = 0.0
    #: zone->lock trips of the per-CPU page lists (refills + drains)
    zone_lock_trips: int = 0
    warmup: int = 0                     # uncounted iterations per CPU before the timed ones
    steady: bool = False                # warmup > 0
    settle: int = 0                     # timed but uncounted iterations per CPU after the warm-up
    setup: dict = field(default_factory=dict, repr=False)
    readers: dict = field(default_factory=dict, repr=False)

    @property
    def us_per_op(self) -> float:
        """Mean time of one op as a worker sees it: test_vmalloc's avg / loops
        (:data:`US_PER_OP_IS`); the one figure the calibration and the notebooks use."""
        return self.latency_us["mean"]

    def as_json(self) -> dict:
        """The ``--json`` record: the issue's keys first, then extras."""
        d = {k: getattr(self, k) for k in JSON_KEYS}
        d.update(machine=self.machine, seed=self.seed, online_cpus=self.online_cpus,
                 loops=self.loops, rcu_bytes_max=self.rcu_bytes_max,
                 find_latency_us=self.find_latency_us, purges=self.purges,
                 failures=self.failures, seq_retries=self.seq_retries,
                 extrapolated_topology=self.extrapolated_topology,
                 wall_seconds=round(self.wall_seconds, 3),
                 summary=summary_lines(self),
                 us_per_op=self.us_per_op, us_per_op_is=US_PER_OP_IS,
                 ops_per_sec_is=OPS_PER_SEC_IS,
                 spin_wait_fraction=self.spin_wait_fraction,
                 clear_fraction=self.clear_fraction, drain_fraction=self.drain_fraction,
                 drain_max_us=self.drain_max_us, zone_lock_trips=self.zone_lock_trips,
                 warmup=self.warmup, steady=self.steady, settle=self.settle,
                 setup={k: v for k, v in self.setup.items()
                        if k not in ("cache", "state_bytes") and not k.endswith("_seconds")},
                 warm_cache={k: self.setup.get(k) for k in ("cache", "state_bytes",
                                                            "prepare_seconds", "build_seconds")})
        if self.readers:
            d["readers"] = self.readers
        return d

    def __repr__(self) -> str:
        top = max(self.lock_wait_fraction.items(), key=lambda kv: kv[1], default=("-", 0.0))
        return (f"{self.design}/{self.lookup}[{self.cpus} CPUs x {self.workload}] => "
                f"{self.latency_us['mean']:.3g} us/op (test_vmalloc avg/loops), "
                f"{self.ops_per_sec / 1e6:.3g} M ops/s (makespan), "
                f"top lock wait {top[0]} {top[1]:.0%}")


def _pct(values) -> dict:
    if not len(values):
        return {"mean": 0.0, "p50": 0.0, "p99": 0.0}
    a = np.asarray(values, dtype=float) / 1000.0
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
            "p99": float(np.percentile(a, 99))}


def simulate(design: str = "linux-6.18", lookup: str = "spinlock", cpus: int = 1,
             workload: str = "fix_size_alloc_test", loops: int = 10_000,
             machine: str = "threadripper-3970x", *, seed: int = 0, online_cpus: int | None = None,
             costs: dict | None = None, run_test_mask: int | None = None, nr_pages: int = 0,
             test_repeat_count: int = 1, sequential_test_order: bool = False,
             setup_scale: float = 1.0, lookups: int = 4, owner_fraction: float = 0.5,
             live_per_cpu: int = 64, warmup: int | None = None, prefill: int = 0,
             machine_params: dict | None = None, cold: bool = False,
             cache: bool = True, readers=(), readers_only: bool = False,
             settle: int | None = None) -> SimResult:
    """Run the performance model once (see the module docstring); deterministic for *seed*.

    Steady state is the default: *warmup* None plays :func:`steady_warmup_for` uncounted
    iterations per CPU first (two lazy-purge cycles; 0 for workloads without a loop to warm,
    see :data:`STEADY_WORKLOADS`); *cold* (or ``warmup=0``) times the transient from empty
    pools.  The setup and warm-up are played once and kept (:mod:`vmapsim.perf.warm`; *cache*
    False builds them afresh and keeps nothing).

    *readers* (:mod:`vmapsim.perf.readers`) adds reader CPUs beside the *cpus* allocator CPUs,
    reading until the allocators are done; with *readers_only* the allocators' state is
    prepared (setup, warm-up) but they do not run, and each reader does its ``ops`` reads.
    The result's ``readers`` gives, per kind, the reads and their time.

    *settle*: iterations per CPU run on the clock but not counted, between the untimed warm-up
    and the counted loops.  The untimed warm-up plays each lazy drain at once; a timed drain
    takes as long as its work, and a node's pool is refilled only when the drain reaches that
    node (after every pool's decay and the TLB flush; the model drains on one CPU, without
    6.18's purge helpers), so the first timed purge cycle after the warm-up is still a
    transient for designs with pools (``linux-6.18``, fix_size_alloc_test, 64 CPUs of 64,
    prefill 4000, seed 0: 6.45 us per op over the first timed cycle, 15.5-16.3 us over each of
    the next three; 32 CPUs of 64: 3.25 against 7.0-7.5).  None (the
    default) settles one purge cycle (:func:`settle_for`) whenever the run is steady and its
    workload resumes warm (the single test_vmalloc tests, ``lookup``), else 0; 0 asks for the
    first timed cycle."""
    from ..designs import make_design
    cpus = check_int("cpus", cpus, lo=1, hi=1024)
    loops = check_int("loops", loops, lo=1)
    seed = check_seed("seed", seed)
    lookup = check_choice("lookup", lookup, PROTOCOLS)
    m = make_machine(check_choice("machine", machine, machine_names()), **(machine_params or {}))
    c = make_costs(**(costs or {}))
    from .readers import make_readers
    readers = make_readers(readers)
    if readers_only and not readers:
        raise ParameterError("readers_only needs readers")
    total = cpus + sum(r.cpus for r in readers)
    extrapolated = total > m.hw_threads
    if online_cpus is None:
        online_cpus = total if extrapolated else m.hw_threads
    online_cpus = check_int("online_cpus", online_cpus, lo=total, hi=65535)
    if warmup is None:
        warmup = 0 if cold else steady_warmup_for(workload, cpus, online_cpus, nr_pages=nr_pages)
    elif cold and warmup:
        raise ParameterError("cold runs have no warm-up: give warmup or cold, not both")
    spec = make_spec(workload, loops, run_test_mask=run_test_mask, nr_pages=nr_pages,
                     test_repeat_count=test_repeat_count,
                     sequential_test_order=sequential_test_order, online_cpus=online_cpus,
                     setup_scale=setup_scale, lookups=lookups, owner_fraction=owner_fraction,
                     live_per_cpu=live_per_cpu, warmup=warmup)
    prefill = check_int("prefill", prefill, lo=0, hi=10_000_000)

    def fresh():
        d = make_design(design, possible_cpus=online_cpus, online_cpus=online_cpus, seed=seed)
        _prefill(d, prefill, online_cpus)
        return d

    track = spec.name == "lookup" or any(r.kind != "vmallocinfo" for r in readers)
    start = prepare(fresh, spec, cpus, seed, dict(design=design, online_cpus=online_cpus,
                                                   prefill=prefill), cache=cache, track_live=track)
    d = fresh() if start is None else start.design
    if settle is None:
        settle = (settle_for(workload, cpus, online_cpus, nr_pages=nr_pages)
                  if start is not None and start.warmed and not readers_only else 0)
    settle = check_int("settle", settle, lo=0)
    run_spec = spec
    if settle:
        if start is None or not start.warmed:
            raise ParameterError("settle needs a warm-up (not --cold, warmup > 0) of a workload "
                                 "whose workers resume warm: a single test_vmalloc test or "
                                 "lookup")
        for st in start.workers:            # the workers run `settle` uncounted iterations
            st["warm_left"] = settle
        start.warmed = False                # ... on the clock: the window opens after them
        run_spec = dataclasses.replace(spec, warmup=settle)
    t0 = time.perf_counter()
    sim = (_Settled if settle else Simulation)(
        d, run_spec, cpus, m, c, seed=seed, lookup=lookup, online_cpus=online_cpus,
                     xfail=XFAIL, start=start, readers=readers, readers_only=readers_only)
    st = sim.run()
    wall = time.perf_counter() - t0
    if settle and readers and not readers_only:
        mark = sim.reader_mark or {}
        cut = {k: (mark.get(k, 0) if sim.reader_mark is not None else len(v))
               for k, v in st.reader_latencies.items()}
        st.reader_latencies = {k: v[cut[k]:] for k, v in st.reader_latencies.items()}
        st.reader_settle_reads = cut
    total = cpus * st.window_ns
    spin_wait = sum(ww for name, ww in zip(st.lock_names, st.window_wait_ns)
                    if name not in _NOT_SPINLOCKS)
    busy_total = sum(st.worker_ns) or max(total, 1e-9)     # every worker's clocked time
    clear_ns, clear_total = st.clear_ns, busy_total
    if st.window_clear_ns >= 0:                              # the counted phase only
        clear_ns, clear_total = st.window_clear_ns, max(total, 1e-9)
    fam_wait, detail = {}, {}
    for name, w, h, a, k, ww in zip(st.lock_names, st.lock_wait_ns, st.lock_hold_ns,
                                    st.lock_acq, st.lock_contended, st.window_wait_ns):
        if not a:
            continue
        f = lock_family(name)
        fam_wait[f] = fam_wait.get(f, 0.0) + ww
        e = detail.setdefault(f, {"acquisitions": 0, "contended": 0, "hold_ns": 0.0, "wait_ns": 0.0})
        e["acquisitions"] += a
        e["contended"] += k
        e["hold_ns"] += h
        e["wait_ns"] += w
    return SimResult(
        design=design, lookup=lookup, cpus=cpus, workload=workload, machine=m.id, seed=seed,
        ops=st.ops, sim_seconds=st.sim_ns / 1e9,
        ops_per_sec=st.ops / (st.sim_ns / 1e9) if st.sim_ns else 0.0,
        latency_us=_pct(st.latencies),
        lock_wait_fraction={k: v / total for k, v in sorted(fam_wait.items())},
        rcu_backlog_max=int(st.rcu_backlog_max), rcu_bytes_max=int(st.rcu_bytes_max),
        find_latency_us=_pct(st.find_latencies), purges=st.purges, failures=st.failures,
        seq_retries=st.seq_retries, online_cpus=online_cpus,
        loops=loops, extrapolated_topology=extrapolated, wall_seconds=wall,
        summaries=st.summaries, lock_detail=detail,
        spin_wait_fraction=spin_wait / total if total else 0.0,
        # the drain runs once a cycle, often after the counted window: over the whole run
        clear_fraction=clear_ns / clear_total, drain_fraction=st.drain_ns / busy_total,
        drain_max_us=st.drain_max_ns / 1000.0, zone_lock_trips=st.zone_refills,
        warmup=spec.warmup, settle=settle,
        steady=spec.warmup > 0, setup=_setup_info(spec, start),
        readers=_reader_info(st, readers))


class _Settled(Simulation):
    """A run with *settle* timed, uncounted iterations per CPU.  Its lock, clearing and drain
    shares are measured from the moment the first worker starts counting (every worker has
    then run at least *settle* iterations on the clock) to the moment the first one is done:
    a worker that ran a long drain lags the others, and the window of the plain run (every
    worker counting) can shrink to nothing."""

    reader_mark: dict | None = None

    def _warm_done(self, c):
        self.warm_end[c] = self.iter_start[c]
        self.n_warm += 1
        if self.window[0] is None:
            self.window[0] = (self.iter_start[c], self._counters())
            # reads done so far fell in the settle: the readers' figures start here too
            self.reader_mark = {k: len(v) for k, v in self.stats.reader_latencies.items()}


def _reader_info(st, readers) -> dict:
    """Per reader kind: reads counted (``reads``; those done during the settle are left out and
    counted in ``settle_reads``), their time (us) and failed trylocks."""
    out = {}
    for r in readers:
        lat = st.reader_latencies.get(r.kind, [])
        e = _pct(lat)
        out[r.kind] = {"reads": len(lat),
                       "settle_reads": getattr(st, "reader_settle_reads", {}).get(r.kind, 0),
                       "mean_us": e["mean"], "p50_us": e["p50"],
                       "p99_us": e["p99"], "cpus": r.cpus, "rate": r.rate, "rcu": r.rcu,
                       "trylock_failed": st.trylock_failed.get(r.kind, 0)}
    return out


def _setup_info(spec, start) -> dict:
    """How the run's setup and warm-up were played (the JSON's ``setup``)."""
    if start is None:
        return {"played": "timed" if untimed_setup(spec) or spec.name == "test_vmalloc"
                else "no setup", "cache": None}
    i = dict(start.info)
    if not untimed_setup(spec):
        return {"played": "no setup" if spec.name != "lookup" else "with the warm-up",
                "cache": i.get("cache"), "prepare_seconds": i.get("prepare_seconds"),
                "build_seconds": i.get("build_seconds"), "state_bytes": i.get("bytes")}
    return {"played": i.get("setup", "steps"), "teardown": "not simulated",
            "cache": i.get("cache"), "prepare_seconds": i.get("prepare_seconds"),
            "build_seconds": i.get("build_seconds"), "state_bytes": i.get("bytes")}


#: workloads whose steady state is the default (a loop to warm); others run cold
STEADY_WORKLOADS = ("fix_size_alloc_test", "no_block_alloc_test", "full_fit_alloc_test",
                    "long_busy_list_alloc_test", "random_size_alloc_test",
                    "fix_align_alloc_test", "random_size_align_alloc_test", "lookup")

#: pages one loop iteration frees (guard pages included), on average
_PAGES_PER_ITERATION = {"full_fit_alloc_test": 2, "long_busy_list_alloc_test": 103,
                        "random_size_alloc_test": 51.5, "fix_align_alloc_test": 6,
                        "random_size_align_alloc_test": 6.5, "lookup": 3.5}


def settle_for(workload: str, cpus: int, online: int, *, nr_pages: int = 0) -> int:
    """Timed, uncounted iterations per CPU of the steady-state default: one lazy-purge cycle
    (half of :func:`steady_warmup_for`), 0 where there is no warm-up."""
    w = steady_warmup_for(workload, cpus, online, nr_pages=nr_pages)
    return max(1, w // 2) if w else 0


def steady_warmup_for(workload: str, cpus: int, online: int, *, nr_pages: int = 0) -> int:
    """Warm-up iterations per CPU of the steady-state default: two lazy-purge cycles
    (``2 * lazy_max_pages()`` pages freed by all CPUs), at least one iteration; 0 for workloads
    not in :data:`STEADY_WORKLOADS` (``trace:`` workloads count 2 pages per event)."""
    from ..vmalloc.vmap_area import lazy_max_pages
    if workload.startswith("trace:"):
        pages = 2.0
    elif workload in ("fix_size_alloc_test", "no_block_alloc_test"):
        pages = (nr_pages or 1) + 1
    elif workload in _PAGES_PER_ITERATION:
        pages = _PAGES_PER_ITERATION[workload]
    else:
        return 0
    return max(1, int(2 * lazy_max_pages(online) // pages) // cpus)


def estimate_work(spec, cpus: int, prefill: int = 0) -> int:
    """Operations (allocations, frees, lookups) a run of *spec* on *cpus* CPUs will simulate,
    counted from the workload's parameters before anything runs: per worker the loop iterations
    (``loops``, ``warmup``, ``test_repeat_count``) times the operations of one iteration, plus the
    setup of full_fit (``junk_length``) and long_busy_list (15,000 areas), both scaled by
    ``setup_scale``, plus ``prefill``."""
    from ..vmalloc.vmap_area import PAGE_SIZE, fls
    if spec.trace is not None:
        per = (spec.loops + spec.warmup) * 2
    elif spec.name == "lookup":
        per = spec.live_per_cpu * 2 + (spec.loops + spec.warmup) * (spec.lookups + 2)
    else:
        iters = spec.loops + spec.warmup
        per = 0
        for t in spec.tests:
            if t == "full_fit_alloc_test":
                junk = max(1, int(fls(spec.online_cpus) * (32 << 20) // PAGE_SIZE * spec.setup_scale))
                one = 4 * junk + 2 * iters
            elif t == "long_busy_list_alloc_test":
                one = 2 * max(1, int(LONG_BUSY_LIST * spec.setup_scale)) + 4 * iters
            elif t == "align_shift_alloc_test":
                one = 128
            elif t == "pcpu_alloc_test":
                one = NR_PCPU_OBJECTS // 16
            else:
                one = 2 * iters
            per += spec.test_repeat_count * one
    return cpus * per + prefill


def check_work(ops: int, counted: int, max_ops: float, max_seconds: float) -> None:
    """ParameterError if *ops* simulated operations exceed *max_ops* or their estimated time
    (:data:`OPS_PER_SECOND`) exceeds *max_seconds*; the message names both limits."""
    seconds = ops / OPS_PER_SECOND
    if ops > max_ops or seconds > max_seconds:
        gb = counted * BYTES_PER_OP / 1e9
        raise ParameterError(
            f"this run would simulate about {ops:,} operations (~{_duration(seconds)} at "
            f"{OPS_PER_SECOND:,}/s on a 2-core machine, ~{gb:.3g} GB for its samples): above "
            f"--max-ops {max_ops:,.0f} or --max-seconds {max_seconds:,.0f}; lower --cpus, --loops "
            "or --setup-scale, or raise those limits")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _prefill(design, n: int, online: int) -> None:
    """Occupy the address space as a running system does before the test starts: *n*
    kernel-stack-like areas (16 KiB + guard page, aligned 16 KiB: THREAD_SIZE/THREAD_ALIGN on
    x86-64; kernel_clone() stacks are the most common vmallocinfo entry in every trace of
    data/traces/), allocated round-robin from the online CPUs.  Untimed."""
    from ..vmalloc.vmap_area import PAGE_SIZE
    for i in range(n):
        if design.alloc_vmap_area(5 * PAGE_SIZE, 4 * PAGE_SIZE, cpu=i % online) is None:
            raise ParameterError(f"prefill {n} does not fit in the address space")


def summary_lines(r: SimResult) -> list[str]:
    """test_vmalloc-style lines: ``Summary: <test> passed: .. failed: .. xfailed: .. repeat: ..
    loops: .. avg: .. usec`` per worker and test (the kernel's pr_info format)."""
    out = []
    for worker, name, p, f, x, runs, usec in sorted(r.summaries):
        out.append(f"Summary: {name} passed: {p} failed: {f} xfailed: {x} repeat: {runs} "
                   f"loops: {r.loops} avg: {int(round(usec))} usec")
    return out


# ----------------------------------------------------------------------------- CLI
def add_arguments(parser) -> None:
    parser.add_argument("--design", default="linux-6.18", help="design name (make_design)")
    parser.add_argument("--lookup", default="spinlock", help=f"lookup protocol: {', '.join(PROTOCOLS)}")
    parser.add_argument("--cpus", default="1", help="simulated CPUs running the workload (1..1024)")
    parser.add_argument("--workload", default="fix_size_alloc_test",
                        help="test_vmalloc test name, test_vmalloc (uses --mask), lookup, trace:<name>")
    parser.add_argument("--loops", default="10000", help="test_loop_count per CPU (default 10000)")
    parser.add_argument("--machine", default="threadripper-3970x",
                        help=f"machine profile: {', '.join(machine_names())}")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--mask", default=None, help="run_test_mask for --workload test_vmalloc")
    parser.add_argument("--nr-pages", default="0", help="test_vmalloc nr_pages")
    parser.add_argument("--online-cpus", default=None, help="num_online_cpus() of the simulated machine")
    parser.add_argument("--setup-scale", default="1.0",
                        help="shrink the setup of full_fit/long_busy_list (1.0 = kernel sizes)")
    parser.add_argument("--prefill", default="0",
                        help="busy kernel-stack-like areas present before the test (a running system's)")
    parser.add_argument("--warmup", default=None,
                        help="uncounted loop iterations per CPU before the counted ones (default: "
                             "two lazy-purge cycles, the steady state)")
    parser.add_argument("--cold", action="store_true",
                        help="no warm-up: time the transient from empty pools")
    parser.add_argument("--settle", default=None,
                        help="iterations per CPU run on the clock, uncounted, after the warm-up "
                             "(default in steady state: one purge cycle, so that the first timed "
                             "drain's transient passes; 0 times the first cycle)")
    parser.add_argument("--reader", action="append", default=[], metavar="KIND[:k=v,...]",
                        help="reader CPUs beside the allocators (repeatable): vread, vmallocinfo, "
                             "usercopy or dump_obj, options cpus=, rate= (reads/s per CPU), "
                             "chunk= (pages per vread), rcu=1 (M22's walks), e.g. vread:rate=500")
    parser.add_argument("--readers-only", action="store_true",
                        help="with --reader: prepare the allocators' state (setup, warm-up) but "
                             "do not run them; each reader does its ops= reads (default 20)")
    parser.add_argument("--no-cache", action="store_true",
                        help="build the setup and warm-up afresh and keep nothing (build/warm/)")
    parser.add_argument("--cost", action="append", default=[], metavar="NAME=VALUE",
                        help="override a cost constant of data/perf/costs.json (repeatable)")
    parser.add_argument("--max-ops", default=str(MAX_OPS),
                        help="refuse a run estimated to simulate more operations (default %(default)s)")
    parser.add_argument("--max-seconds", default=str(int(MAX_SECONDS)),
                        help="refuse a run estimated to take longer (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _cost_overrides(items) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ParameterError(f"--cost expects NAME=VALUE, got {item!r}")
        out[name] = value                   # checked (ASCII, finite, in range) by make_costs
    return out


def run(args) -> int:
    mask = None if args.mask is None else check_int("run_test_mask", args.mask, lo=1,
                                                    hex_ok=True)
    scale = check_float("setup_scale", args.setup_scale, lo=1e-6, hi=1.0)
    cpus = check_int("cpus", args.cpus, lo=1, hi=1024)
    loops = check_int("loops", args.loops, lo=1)
    online = None if args.online_cpus is None else check_int("online_cpus", args.online_cpus, lo=1)
    warmup = None if args.warmup is None else check_int("warmup", args.warmup, lo=0)
    prefill = check_int("prefill", args.prefill, lo=0)
    settle = None if args.settle is None else check_int("settle", args.settle, lo=0)
    nr_pages = check_int("nr_pages", args.nr_pages, lo=0)
    costs = _cost_overrides(args.cost)
    make_costs(**costs)                     # a bad --cost before anything is estimated or run
    from .readers import make_readers
    readers = make_readers(args.reader)
    # the work, estimated before anything runs: as simulate() sizes the run (the steady-state
    # warm-up included; readers read while the allocators run and add no iterations)
    hw = make_machine(check_choice("machine", args.machine, machine_names())).hw_threads
    total = cpus + sum(r.cpus for r in readers)
    online_eff = online or (total if total > hw else hw)
    if warmup is None and not args.cold:
        warm = steady_warmup_for(args.workload, cpus, online_eff, nr_pages=nr_pages)
    else:
        warm = warmup or 0
    settle_est = settle if settle is not None else (
        settle_for(args.workload, cpus, online_eff, nr_pages=nr_pages) if warm else 0)
    spec = make_spec(args.workload, loops + settle_est, run_test_mask=mask, nr_pages=nr_pages,
                     online_cpus=online_eff, setup_scale=scale, warmup=warm)
    check_work(estimate_work(spec, cpus, prefill), cpus * spec.counted_per_worker,
               check_float("max_ops", args.max_ops, lo=1),
               check_float("max_seconds", args.max_seconds, lo=1))
    r = simulate(design=args.design, lookup=args.lookup, cpus=cpus, workload=args.workload,
                 loops=loops, machine=args.machine, seed=args.seed, online_cpus=online,
                 costs=costs, run_test_mask=mask, nr_pages=nr_pages, setup_scale=scale,
                 warmup=warmup, prefill=prefill, cold=args.cold, cache=not args.no_cache,
                 readers=args.reader, readers_only=args.readers_only, settle=settle)
    if args.json:
        print(json.dumps(r.as_json(), indent=1, sort_keys=False))
    else:
        print(repr(r))
        print(f"ops {r.ops}  simulated {r.sim_seconds * 1e3:.3f} ms  {r.ops_per_sec:,.0f} ops/s "
              f"(makespan)  us/op {r.us_per_op:.3f} (test_vmalloc avg/loops)  "
              f"latency us mean {r.latency_us['mean']:.3f} p50 {r.latency_us['p50']:.3f} "
              f"p99 {r.latency_us['p99']:.3f}  rcu_backlog_max {r.rcu_backlog_max}")
        for k, v in r.lock_wait_fraction.items():
            print(f"  lock wait {k}: {v:.1%}")
        for kind, e in r.readers.items():
            print(f"  reader {kind}: {e['reads']} reads, {e['mean_us']:.3f} us mean, "
                  f"p99 {e['p99_us']:.3f} us, failed trylocks {e['trylock_failed']}")
        for line in summary_lines(r)[:8]:
            print(line)
        if len(r.summaries) > 8:
            print(f"  ... {len(r.summaries) - 8} more Summary lines (--json has all)")
    return 0
