"""Widget update times of notebooks 02, 03 and 06 (the project's "< 1 s in default settings").

    python bench/bench_review_widgets.py [--repeat N]

Each line is one widget update as the notebook binds it: the experiment for the control values
plus the show function (text and a matplotlib figure rendered to PNG at the inline backend's
resolution), first for a value the notebook has not computed yet (cold) and then for one it has
(warm: the experiments are memoised).  Wall and CPU seconds are both printed: on a machine
shared with other jobs the process CPU time is the better estimate of an unloaded update.
Exit status 1 if a cold update of a default setting takes more than 1 s of CPU.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time

os.environ.setdefault("MPLBACKEND", "Agg")

FLOOR = 1.0


def _render(fig) -> None:
    import matplotlib.pyplot as plt

    if fig is not None:
        fig.savefig(io.BytesIO(), format="png", dpi=72)
        plt.close(fig)


def _time(update) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): on a shared, loaded machine the CPU time
    is what the update would take alone."""
    t0, c0 = time.perf_counter(), time.process_time()
    update()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (best is reported)")
    args = ap.parse_args(argv)
    from vmapsim.review import explore_tables, stepview, trylock_retry

    def retry(f, hold, max_retries, seed):
        def go():
            run = trylock_retry.retry_run(f=f, hold=hold, max_retries=max_retries, lookups=2000,
                                        seed=seed)
            run.line()
            _render(trylock_retry.plot_retry_run(run))
        return go

    def step(scenario, i):
        def go():
            v = stepview.step_view(scenario, step=i)
            v.text()
            _render(v.figure())
        return go

    # warm the explorer caches the notebooks fill before their widgets are shown
    for sid in ("C1", "C3", "C4", "E2", "I1", "I1-store-gfp"):
        explore_tables.stepped(sid)
    cases = [
        ("02 retry widget, default (f=0.5, hold 0.05, 3 retries)", True,
         lambda k: retry(0.5, 0.05, 3, 100 + k)),
        ("02 retry widget, f=0.9 (slowest point)", False, lambda k: retry(0.9, 0.05, 3, 200 + k)),
        ("03 step widget, C1 last step", True, lambda k: step("C1", 27 - k)),
        ("03 step widget, C4 middle step", True, lambda k: step("C4", 20 - k)),
        ("06 step widget, I1 last step", True, lambda k: step("I1", 17 - k)),
    ]
    ok = True
    print(f"machine: {platform.machine()} {platform.processor() or ''} "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    for label, default, make in cases:
        cold = min((_time(make(k)) for k in range(args.repeat)), key=lambda t: t[1])
        warm_fn = make(0)
        warm = min((_time(warm_fn) for _ in range(args.repeat)), key=lambda t: t[1])
        flag = ""
        if default and cold[1] > FLOOR:
            ok, flag = False, "  <-- over 1 s"
        print(f"{label:58s} cold {cold[1]:6.3f} s CPU ({cold[0]:6.3f} wall)   "
              f"warm {warm[1]:6.3f} s CPU ({warm[0]:6.3f} wall){flag}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
