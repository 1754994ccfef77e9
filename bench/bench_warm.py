"""What the warm-state cache saves: the sensitivity widget of notebook 04, cold and steady.

    python bench/bench_warm.py [--designs linux-6.18,maple-nofree] [--cpus 16,64]

For each design and CPU count, one widget update (``vmapsim.review.scaling.sensitivity_widget``:
150 loops between two purges, after two and a half untimed purge cycles) is timed as CPU seconds of this process: a cold start (``cold=True``, the
widget before steady state became the default), the first steady update (the warm state is
built: a miss), a steady update whose warm state is on disk (a new process: the memory cache is
cleared), and one whose warm state is in memory (the widget moved a cost slider).  CPU seconds
are printed next to a pure-Python reference loop of the same process, so figures from
different loads compare as ratios.  The disk cache used is a temporary directory.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

BUDGET = 1.0


def reference_loop() -> float:
    t = time.process_time()
    x = 0
    for i in range(5_000_000):
        x += i
    return time.process_time() - t


def _cpu(fn):
    c0 = time.process_time()
    r = fn()
    return time.process_time() - c0, r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", default="linux-6.18,maple-nofree")
    ap.add_argument("--cpus", default="16,64")
    a = ap.parse_args(argv)
    os.environ["VMAPSIM_WARM_CACHE"] = tempfile.mkdtemp(prefix="vmapsim-warm-")
    from vmapsim.perf import warm
    from vmapsim.review.scaling import sensitivity, sensitivity_widget
    sensitivity(cpus=2, loops=2, cold=True)                     # imports
    ref = reference_loop()
    print(f"reference: 5M Python additions in {ref:.2f} CPU-s; load {os.getloadavg()[0]:.2f}")
    worst = 0.0
    for d in a.designs.split(","):
        for n in (int(x) for x in a.cpus.split(",")):
            cold, _ = _cpu(lambda: sensitivity(design=d, cpus=n, cold=True))
            warm.clear_memory_cache()
            miss, r = _cpu(lambda: sensitivity_widget(design=d, cpus=n))
            warm.clear_memory_cache()
            disk, r2 = _cpu(lambda: sensitivity_widget(design=d, cpus=n, line_scale=1.5))
            mem, r3 = _cpu(lambda: sensitivity_widget(design=d, cpus=n, node_visit_ns=12.0))
            assert r2.setup["cache"] == "disk" and r3.setup["cache"] == "memory"
            worst = max(worst, mem, disk)
            print(f"{d:22s} {n:3d} CPUs: cold {cold:5.2f} s | steady, warm-up {r.warmup} "
                  f"loops/CPU: built {miss:5.2f} s, from disk {disk:5.2f} s, from memory "
                  f"{mem:5.2f} s ({mem / ref:.1f} x reference) | state "
                  f"{r.setup['state_bytes'] or 0:,} bytes")
    print(f"slowest cached steady update: {worst:.2f} CPU-s (budget {BUDGET} s: "
          f"{'met' if worst <= BUDGET else 'NOT met'})")
    return 0 if worst <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
