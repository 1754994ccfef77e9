"""Sweeps of the performance model over CPU counts (the grid behind the scaling plots).

:func:`scaling` runs every design x lookup protocol at each CPU count; :func:`steady_warmup` is
the warm-up that starts a run with the pools filled.  :func:`lookup_costs` is the one source of
the lookup cost "at N CPUs" that notebooks 03 and 04 both print (same function, same
conditions).  Data only: the plots are in :mod:`vmapsim.review.scaling`.

Steady state, in every function here: two lazy-purge cycles of untimed warm-up, then whole
purge cycles timed (at least one), so that each purge is amortised over the loops it serves.
A shorter timed window right after the warm-up holds the purge the warm-up made due and
charges it to too few loops (``linux-6.18`` at 16 CPUs: 4.1 us per op with 150 loops against
1.7 us over a whole cycle).
"""
from __future__ import annotations

from ..designs import available_designs
from ..params import check_choice, check_int
from .lookup_cost import PROTOCOLS

__all__ = ["scaling", "steady_warmup", "available_perf_designs", "PERF_DESIGNS", "lookup_costs",
           "LOOKUP_RIG", "STEADY_RIG", "run_conditions"]

#: the designs notebook 04 compares (``maple-nofree-sharded``: the lock layout of M22)
PERF_DESIGNS = ("linux-6.8", "linux-6.18", "rfc-maple-busy", "rfc-v1", "maple-nofree",
                "maple-nofree-sharded")
#: the conditions of the headline comparisons: the calibrated machine with all its 64 CPUs online
#: and N of them running the test, and the calibration's prefilled address space (4,000 busy
#: kernel-stack-sized areas); the cost constants are today's (6.18's counter lines)
STEADY_RIG = {"machine": "threadripper-3970x", "online_cpus": 64, "prefill": 4000}
#: the conditions of the lookup cost at N CPUs (notebooks 03 and 04): the lookup workload (4
#: find_vmap_area() per iteration, half by the area's owner, beside one vfree + vmalloc) on
#: the calibrated machine, 64 CPUs online, linux-6.18's allocator
LOOKUP_RIG = {"design": "linux-6.18", "machine": "threadripper-3970x", "online_cpus": 64,
              "workload": "lookup"}
#: condition names (vmapsim.numbers.CONDITIONS) a sweep record keeps in ``conditions``
_KEPT = ("design", "lookup", "cpus", "online_cpus", "workload", "loops", "warmup", "machine",
         "setup_scale", "seed", "prefill")


def available_perf_designs() -> list[str]:
    """The designs of the review that this build implements."""
    have = set(available_designs())
    return [d for d in PERF_DESIGNS if d in have]


def steady_warmup(cpus: int, online: int | None = None, pages_per_op: int = 2) -> int:
    """Warm-up loops per CPU covering two lazy-purge cycles (``lazy_max_pages()`` of *online*
    CPUs, *pages_per_op* pages freed per loop), so a run starts with the pools filled."""
    from ..vmalloc.vmap_area import lazy_max_pages
    return 2 * lazy_max_pages(online or cpus) // pages_per_op // cpus


def run_conditions(config: dict) -> dict:
    """The conditions of one run (its ``simulate()`` config) under the names of
    :data:`vmapsim.numbers.CONDITIONS`: what ``vmapsim simulate`` needs to rerun it."""
    return {k: config[k] for k in _KEPT if k in config}


def scaling(*, designs=None, lookups=("spinlock",), cpus=(1, 2, 4, 8, 16, 32, 64, 128),
            workload: str = "fix_size_alloc_test", loops: int = 1000, steady: bool = True,
            machine: str = "threadripper-3970x", seed: int = 0, client=None,
            processes: int | None = None, progress=False, online_cpus: int | None = None,
            cycles: float = 1.0, **extra):
    """A sweep of every design x lookup protocol over *cpus* on one workload (a SweepTable).

    *online_cpus* None models a machine with exactly that many CPUs online (``online_cpus =
    cpus``: ``lazy_max_pages()`` and the vmap nodes follow); a number keeps that many online
    whatever runs (:data:`STEADY_RIG`: the calibrated 64).  With *steady* the workloads with a
    loop to warm first run two untimed purge cycles
    (:func:`vmapsim.perf.simulate.steady_warmup_for`, the default of ``simulate()``) and then
    time ``max(loops, cycles x one cycle)`` loops, so a purge is amortised over the loops it
    serves; workloads without a loop to warm run cold.  Each record carries ``conditions``
    (:func:`run_conditions`) and ``steady``.
    """
    from .simulate import steady_warmup_for
    from .sweep import sweep
    designs = list(designs or available_perf_designs())
    for p in lookups:
        check_choice("lookup", p, PROTOCOLS)
    nr_pages = extra.get("nr_pages", 0)
    configs = []
    for d in designs:
        for p in lookups:
            for n in cpus:
                online = n if online_cpus is None else max(n, online_cpus)
                w = steady_warmup_for(workload, n, online, nr_pages=nr_pages) if steady else 0
                configs.append(dict(design=d, lookup=p, cpus=n, online_cpus=online,
                                    workload=workload,
                                    loops=max(loops, int(cycles * w / 2)) if w else loops,
                                    warmup=w, machine=machine, seed=seed, **extra))
    table = sweep(configs, client=client, processes=processes, progress=progress)
    for c, r in zip(configs, table.records):
        r["conditions"] = run_conditions(c)
        if r.get("settle"):                 # the timed, uncounted cycle simulate() settled
            r["conditions"]["settle"] = r["settle"]
        r["steady"] = bool(c["warmup"])
    return table


def lookup_costs(*, cpus: int = 16, protocols=PROTOCOLS, design: str = LOOKUP_RIG["design"],
                 online_cpus: int = LOOKUP_RIG["online_cpus"], machine: str = LOOKUP_RIG["machine"],
                 seed: int = 0, processes: int | None = None, cycles: float = 1.0) -> list[dict]:
    """The lookup cost at *cpus* CPUs, one record per protocol: ``find_us`` (mean time of one
    ``find_vmap_area()`` + put), ``us_per_op`` (us per iteration of the lookup workload, the
    writers' view), ``rcu_backlog_max`` and ``conditions`` (what ``vmapsim simulate`` reruns).

    Steady state (two untimed purge cycles, one timed but uncounted, then *cycles* whole
    purge cycles counted) on :data:`LOOKUP_RIG`; the one function
    notebooks 03 and 04 call for this figure, so that they print the same number under the same
    conditions."""
    cpus = check_int("cpus", cpus, lo=1, hi=online_cpus)
    t = scaling(designs=[design], lookups=tuple(protocols), cpus=(cpus,), workload="lookup",
                loops=1, machine=machine, seed=seed, online_cpus=online_cpus,
                processes=processes, cycles=cycles)
    return t.records
