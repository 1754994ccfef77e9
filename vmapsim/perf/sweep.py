"""Grids of performance-model runs: local processes by default, a Dask cluster on request.

>>> configs = grid(design=["linux-6.18"], cpus=[1, 2], workload=["fix_size_alloc_test"], loops=[50])
>>> [c["cpus"] for c in configs]
[1, 2]

``sweep(configs)`` runs :func:`vmapsim.perf.simulate.simulate` once per config (a dict of its keyword
arguments) and returns a :class:`SweepTable`: the records in config order, each the flat
``as_row()`` of a result, with ``.column(name)`` giving a numpy array (so a plot is
``plt.plot(t.column("cpus"), t.column("ops_per_sec"))``) and ``.where(**match)`` filtering.

Where the runs go:

* default: a local process pool (``processes`` workers, default the machine's CPU count);
  ``processes=1`` runs in this process (deterministic order, nothing to pickle);
* ``client=`` a ``dask.distributed.Client`` or a scheduler address (``"tcp://host:8786"``):
  the runs are submitted to that cluster (``pip install vmapsim[cluster]``).

Each run is deterministic for its config (the seed is part of it), so where it ran does not
change the table.  ``progress=True`` prints a counter on stderr; ``progress=callable`` is called
as ``callable(done, total)`` after each run (notebooks pass :func:`vmapsim.report.progress_bar`).
"""
from __future__ import annotations

import itertools
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

__all__ = ["sweep", "grid", "SweepTable", "row_of"]


def grid(**axes) -> list[dict]:
    """The cartesian product of keyword *axes* (each a list) as a list of config dicts."""
    for k, v in axes.items():
        if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
            raise ParameterError(f"grid axis {k} must be a list of values, got {v!r}")
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(list(axes[k]) for k in keys))]


def row_of(result) -> dict:
    """A flat record of a :class:`~vmapsim.perf.simulate.SimResult` (one table row)."""
    row = {"design": result.design, "lookup": result.lookup, "cpus": result.cpus,
           "workload": result.workload, "machine": result.machine, "seed": result.seed,
           "loops": result.loops, "settle": result.settle, "ops": result.ops, "sim_seconds": result.sim_seconds,
           "ops_per_sec": result.ops_per_sec, "us_per_op": result.us_per_op,
           "p50_us": result.latency_us["p50"], "p99_us": result.latency_us["p99"],
           "find_us": result.find_latency_us["mean"],
           "rcu_backlog_max": result.rcu_backlog_max, "rcu_bytes_max": result.rcu_bytes_max,
           "purges": result.purges, "failures": result.failures,
           "lock_wait_total": sum(result.lock_wait_fraction.values()),
           "lock_wait_fraction": dict(result.lock_wait_fraction),
           "spin_wait_fraction": result.spin_wait_fraction,
           "clear_fraction": result.clear_fraction, "drain_fraction": result.drain_fraction,
           "drain_max_us": result.drain_max_us, "zone_lock_trips": result.zone_lock_trips,
           "wall_seconds": result.wall_seconds}
    return row


def _run_one(config: dict) -> dict:
    from .simulate import simulate
    return row_of(simulate(**config))


@dataclass
class SweepTable:
    """Records of a sweep, in config order."""
    records: list

    def __len__(self) -> int:
        return len(self.records)

    def column(self, name: str) -> np.ndarray:
        if self.records and name not in self.records[0]:
            raise ParameterError(f"unknown column {name!r}; columns: {', '.join(self.records[0])}")
        vals = [r[name] for r in self.records]
        try:
            return np.asarray(vals, dtype=float)
        except (TypeError, ValueError):
            return np.asarray(vals, dtype=object)

    def where(self, **match) -> "SweepTable":
        return SweepTable([r for r in self.records if all(r.get(k) == v for k, v in match.items())])

    def lock_wait(self, lock: str) -> np.ndarray:
        """Wait fraction of lock family *lock* per record (0 where the lock was not taken)."""
        return np.asarray([r["lock_wait_fraction"].get(lock, 0.0) for r in self.records])

    def to_numpy(self) -> np.ndarray:
        """A structured array of the scalar columns."""
        if not self.records:
            return np.zeros(0)
        cols = [k for k, v in self.records[0].items() if not isinstance(v, dict)]
        dtype = []
        for k in cols:
            v = self.records[0][k]
            dtype.append((k, "U32") if isinstance(v, str) else (k, "f8"))
        return np.array([tuple(r[k] for k in cols) for r in self.records], dtype=dtype)


class _Progress:
    """Counts finished runs for *report*: ``True`` prints ``sweep n/total`` to stderr, a callable
    is called as ``report(n, total)`` (a notebook passes :func:`vmapsim.report.progress_bar`),
    ``False`` is silent.  The model never draws widgets itself."""

    def __init__(self, total: int, report):
        self.total, self.n = total, 0
        self.report = report if callable(report) else (self._print if report else None)

    @staticmethod
    def _print(n: int, total: int) -> None:
        print(f"\rsweep {n}/{total}", end="\n" if n == total else "", file=sys.stderr, flush=True)

    def step(self):
        self.n += 1
        if self.report is not None:
            self.report(self.n, self.total)


def sweep(configs, *, client=None, processes: int | None = None, progress=False) -> SweepTable:
    """Run every config (see the module docstring); returns a :class:`SweepTable`."""
    configs = [dict(c) for c in configs]
    for c in configs:
        if not isinstance(c, dict):
            raise ParameterError(f"each sweep config must be a dict of simulate() arguments, got {c!r}")
    _validate(configs)
    bar = _Progress(len(configs), progress)
    out = [None] * len(configs)
    if client is not None:
        return SweepTable(_dask(configs, client, bar))
    if processes is None:
        processes = min(len(configs), os.cpu_count() or 1)
    if processes <= 1 or len(configs) <= 1:
        for i, c in enumerate(configs):
            out[i] = _run_one(c)
            bar.step()
        return SweepTable(out)
    with ProcessPoolExecutor(max_workers=processes) as ex:
        futs = {ex.submit(_run_one, c): i for i, c in enumerate(configs)}
        for f in as_completed(futs):
            out[futs[f]] = f.result()
            bar.step()
    return SweepTable(out)


def _validate(configs) -> None:
    """Reject bad configs here, before any worker starts (errors name the parameter)."""
    import inspect

    from .simulate import simulate
    valid = set(inspect.signature(simulate).parameters)
    for c in configs:
        for k in c:
            if k not in valid:
                raise ParameterError(f"unknown simulate() parameter {k!r} in a sweep config; "
                                     f"valid: {', '.join(sorted(valid))}")


def _dask(configs, client, bar) -> list:
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise ParameterError("a Dask client was given but dask.distributed is not installed; "
                             "pip install 'vmapsim[cluster]'") from None
    own = False
    if isinstance(client, str):
        client = Client(client)
        own = True
    try:
        futs = client.map(_run_one, configs, pure=False)
        index = {f.key: i for i, f in enumerate(futs)}
        out = [None] * len(configs)
        for f in dask_completed(futs):
            out[index[f.key]] = f.result()
            bar.step()
        return out
    finally:
        if own:
            client.close()


class _CallableModule(type(sys)):
    """``vmapsim.perf.sweep`` is both this module and the function: ``vmapsim.perf.sweep(configs)``."""

    def __call__(self, configs, **kwargs):
        return sweep(configs, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
