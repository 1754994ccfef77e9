"""Sweeps of the performance model over CPU counts (the grid behind the scaling plots).

:func:`scaling` runs every design x lookup protocol at each CPU count, each on a machine with
exactly that many CPUs online; :func:`steady_warmup` is the warm-up that starts a run with the
pools filled.  Data only: the plots are in :mod:`vmapsim.review.scaling`.
"""
from __future__ import annotations

from ..designs import available_designs
from ..params import check_choice
from .lookup_cost import PROTOCOLS

__all__ = ["scaling", "steady_warmup", "available_perf_designs", "PERF_DESIGNS"]

PERF_DESIGNS = ("linux-6.8", "linux-6.18", "rfc-maple-busy", "rfc-v1", "maple-nofree")


def available_perf_designs() -> list[str]:
    """The designs of the review that this build implements."""
    have = set(available_designs())
    return [d for d in PERF_DESIGNS if d in have]


def steady_warmup(cpus: int, online: int | None = None, pages_per_op: int = 2) -> int:
    """Warm-up loops per CPU covering two lazy-purge cycles (``lazy_max_pages()`` of *online*
    CPUs, *pages_per_op* pages freed per loop), so a run starts with the pools filled."""
    from ..vmalloc.vmap_area import lazy_max_pages
    return 2 * lazy_max_pages(online or cpus) // pages_per_op // cpus


def scaling(*, designs=None, lookups=("spinlock",), cpus=(1, 2, 4, 8, 16, 32, 64, 128),
            workload: str = "fix_size_alloc_test", loops: int = 1000, steady: bool = True,
            machine: str = "threadripper-3970x", seed: int = 0, client=None,
            processes: int | None = None, progress=False, **extra):
    """A sweep of every design x lookup protocol over *cpus* on one workload (a SweepTable).

    Each run models a machine with exactly that many CPUs online (``online_cpus = cpus``:
    ``lazy_max_pages()`` and the vmap nodes follow); with *steady* the single-test workloads
    first run two untimed purge cycles (:func:`steady_warmup`) and then time at least one
    whole cycle, so a purge is amortised over the loops it serves (the warm-up is
    :func:`vmapsim.perf.simulate.steady_warmup_for`, the default of ``simulate()``; workloads
    without a loop to warm run cold).
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
                w = steady_warmup_for(workload, n, n, nr_pages=nr_pages) if steady else 0
                configs.append(dict(design=d, lookup=p, cpus=n, online_cpus=n, workload=workload,
                                    loops=max(loops, w // 2) if w else loops, warmup=w,
                                    machine=machine, seed=seed, **extra))
    return sweep(configs, client=client, processes=processes, progress=progress)
