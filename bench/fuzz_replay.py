"""Long fuzz run: mutate the real captures and check that the replay never changes a number silently.

    .venv/bin/python bench/fuzz_replay.py [--minutes 10] [--seed 1] [--trace NAME ...] [--show N]

Draws mutations (tests/fuzz_traces.py: delete, duplicate, copy, swap, edit numbers, control
characters, foreign events) with a seeded random generator, replays each mutated capture under
linux-6.18 and judges it: a file:line error, a warning naming the affected events, a result equal
to the unmutated one, a ``plausible`` variant (counted apart: a trace the kernel could have
written), or a silent change.  Prints the counts per kind and outcome and every silent change or
crash with the mutation tuple that reproduces it.  Exit status 1 if there was any.
"""
import argparse
import random
import shutil
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import fuzz_traces as fz  # noqa: E402
from vmapsim.traces.captures import trace_names  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trace", action="append", default=None,
                    help="capture(s) of data/traces/ to mutate (default: all)")
    ap.add_argument("--kind", action="append", default=None, choices=fz.KINDS)
    ap.add_argument("--show", type=int, default=3, help="examples printed per failing outcome")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    work = fz.workdir()
    names = args.trace or trace_names()
    kinds = args.kind or list(fz.KINDS)
    traces = {}
    counts: Counter = Counter()
    failures, plausible = [], []
    t0 = time.monotonic()
    deadline = t0 + args.minutes * 60
    try:
        while time.monotonic() < deadline:
            name = rng.choice(names)
            if name not in traces:
                traces[name] = fz.Trace(name, work)
                traces[name].baseline()
            m = (rng.choice(kinds), name) + tuple(rng.randrange(1 << 30) for _ in range(4))
            tr = traces[name]
            try:
                outcome, detail = fz.judge(tr, fz.mutate(tr, m[0], *m[2:]))
            except Exception:
                outcome, detail = "crash", traceback.format_exc(limit=3)
            counts[(m[0], outcome)] += 1
            counts[outcome] += 1
            if outcome in ("silent", "crash"):
                failures.append((m, detail))
            elif outcome == "plausible" and len(plausible) < args.show:
                plausible.append((m, detail))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = sum(v for k, v in counts.items() if isinstance(k, str))
    print(f"fuzz: {runs} runs in {time.monotonic() - t0:.0f} s, seed {args.seed}, traces "
          f"{', '.join(names)}")
    outcomes = ("error", "warning", "equal", "plausible", "silent", "crash")
    print("  " + " ".join(f"{o}={counts[o]}" for o in outcomes))
    print(f"  {'kind':12s} " + " ".join(f"{o:>9s}" for o in outcomes))
    for k in kinds:
        print(f"  {k:12s} " + " ".join(f"{counts[(k, o)]:9d}" for o in outcomes))
    for m, detail in plausible:
        print(f"plausible {m}: {detail}")
    shown = Counter()
    for m, detail in failures:
        key = m[0]
        if shown[key] < args.show:
            shown[key] += 1
            print(f"FAIL {m}: {detail}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
