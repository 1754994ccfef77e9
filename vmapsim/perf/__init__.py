"""The multi-CPU performance model: discrete events priced from the designs' lock records.

Rule: ``sim`` (event core: time, locks, cache lines) and ``worker`` (what one CPU runs between
shared steps), ``pricing`` (a lock record -> time), ``lookup_cost`` and ``rcu_cost``,
``workloads`` (test_vmalloc and the other op streams, ``trace_mix`` for mixes of real captures),
``costs`` (constants and machine profiles from ``data/perf/``), ``calibrate`` (fit, held-out
points, error band), ``mechanisms`` (what each mechanism contributes), ``simulate``
(``vmapsim simulate``), ``sweep`` (grids, locally or on Dask) and ``scaling`` (CPU sweeps).  It
runs designs through their interface and never imports plotting, widgets or ``review``.
"""
