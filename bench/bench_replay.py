"""Replay speed: the largest capture in data/traces/ under linux-6.18 (floor: <= 2 s).

    .venv/bin/python bench/bench_replay.py [--design linux-6.18] [--repeat 3] [--trace NAME]

Times the whole replay (reading the gzip'ed trace and snapshots, parsing, replaying, comparing
the final state) in-process, best of ``--repeat`` runs, both wall-clock and CPU time (the machine
may be shared: CPU time is the figure that does not depend on other load).  Exit status 1 if the
best wall time is above the floor.
"""
import argparse
import gzip
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmapsim.traces.captures import capture_dirs  # noqa: E402
from vmapsim.traces.replay import replay  # noqa: E402

FLOOR_SECONDS = 2.0


def _allocs(path: Path) -> int:
    p = path / "trace.txt.gz"
    opener = gzip.open if p.exists() else open
    p = p if p.exists() else path / "trace.txt"
    with opener(p, "rt") as f:
        return sum(1 for line in f if "alloc_vmap_area:" in line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default="linux-6.18")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trace", default=None, help="a data/traces name (default: the largest)")
    args = ap.parse_args()
    traces = capture_dirs()
    sizes = {n: _allocs(p) for n, p in traces.items()}
    name = args.trace or max(sizes, key=sizes.get)
    best_wall = best_cpu = float("inf")
    for _ in range(args.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        res = replay(traces[name], args.design)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    print(f"trace {name}: {res.allocs} allocations, {sum(sizes.values())} in all traces")
    print(f"design {args.design}: agreement {100 * res.agreement:.2f}%, "
          f"final state equal {res.final_state_equal}")
    print(f"replay time (best of {args.repeat}): wall {best_wall:.3f} s, cpu {best_cpu:.3f} s "
          f"(floor {FLOOR_SECONDS:.1f} s) -> {'ok' if best_wall <= FLOOR_SECONDS else 'ABOVE FLOOR'}")
    print(f"throughput: {res.allocs / best_wall:,.0f} allocations/s wall")
    return 0 if best_wall <= FLOOR_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
