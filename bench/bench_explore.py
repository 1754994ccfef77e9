"""Explorer benchmark: the issue-6 floor and the whole catalogue.

    python bench/bench_explore.py [--repeat N] [--strategy exhaustive]

Floor: exhaustive exploration of D2 (refcount_inc_not_zero protocol) with two
readers finishes in <= 5 s.  Then every catalogue scenario is explored with its default
strategy and its verdict, executions (completed; sleep-set-blocked ones in brackets) and
wall seconds are printed.  Exit status 1 if the floor is missed or a verdict differs from
the catalogue's expectation.
"""
from __future__ import annotations

import argparse
import sys
import time

from vmapsim.explore import explore, scenarios

FLOOR_SECONDS = 5.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="D2 repetitions (best is reported)")
    ap.add_argument("--strategy", default="exhaustive")
    args = ap.parse_args(argv)
    ok = True

    sc = scenarios.get("D2", readers=2)
    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        r = explore(sc)
        runs.append(time.perf_counter() - t0)
    best = min(runs)
    print(f"D2 exhaustive, 2 readers: verdict={r.verdict} exhaustive={r.exhaustive} "
          f"executions={r.executions} (+{r.blocked} sleep-set blocked) "
          f"best={best:.3f} s of {args.repeat} (floor {FLOOR_SECONDS} s)")
    if best > FLOOR_SECONDS or r.verdict != "never" or not r.exhaustive:
        print("  FLOOR MISSED")
        ok = False
    for n in (1, 3):
        t0 = time.perf_counter()
        r3 = explore(scenarios.get("D2", readers=n), max_seconds=120)
        print(f"D2 exhaustive, {n} reader(s): verdict={r3.verdict} exhaustive={r3.exhaustive} "
              f"executions={r3.executions} (+{r3.blocked}) {time.perf_counter() - t0:.2f} s"
              + (f" [{r3.limit_hit}]" if r3.limit_hit else ""))

    print()
    print(f"{'id':14s} {'verdict':10s} {'expected':10s} {'exh':4s} {'executions':>11s} "
          f"{'blocked':>8s} {'preempt':>7s} {'seconds':>8s}")
    total = 0.0
    for sid in scenarios.ids():
        r = explore(sid, strategy=args.strategy)
        total += r.seconds
        good = r.matches_expectation
        ok &= good
        print(f"{sid:14s} {r.verdict:10s} {r.expected:10s} {'yes' if r.exhaustive else 'no':4s} "
              f"{r.executions:11d} {r.blocked:8d} "
              f"{'' if r.preemptions is None else r.preemptions:>7} {r.seconds:8.3f}"
              + ("" if good else "   <-- differs from the catalogue"))
    print(f"{'total':14s} {'':38s} {total:29.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
