"""Speed of the performance model (its floors), measured, not asserted.

1. Simulated operations per wall second for linux-6.18 on fix_size_alloc_test at 64 CPUs
   (no floor: a wall-clock rate on a shared machine is not a stable measure; the figure is also
   given as a ratio against the reference loop run in the same process, the time of one
   simulated op in Python additions).  One op = one vmalloc+vfree pair.  Also per CPU-second (the machine is
   shared; CPU time is the fairer figure) and a pure-Python reference loop, so numbers from
   different machines can be compared.  The run is repeated (``--repeat``, default 3) after
   one untimed warm-up run, which pays the imports (the machine sets
   PYTHONDONTWRITEBYTECODE, so every process compiles the package from source, about 0.3 s);
   each run's figure, the best (timeit's convention) and the median are printed.
2. Wall time of a 1..128-CPU sweep of one design (fix_size_alloc_test, 8 CPU counts): cold (as
   this bench always measured), then in steady state with the warm states built (a fresh
   warm-state cache) and again with them cached (on disk, for the sweep's worker processes).
3. With ``--instructions`` (needs valgrind): machine instructions per simulated op (cold, and
   in steady state; floor: at most 150,000 cold), from
   valgrind's count for two runs of different length (20 and 120 loops, the difference divided
   by the ops between them).  Unlike seconds, this does not move with the shared machine's
   speed, so it compares code versions across sessions (the same Python, with
   PYTHONHASHSEED=0 and address randomisation off; repeat runs agree within about 1 %).

    .venv/bin/python bench/bench_sim.py [--loops 2000] [--repeat 3] [--sweep-loops 1000]
                                        [--processes N] [--instructions]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

# The model does no linear algebra; OpenBLAS's idle worker threads would only compete with it
# for the two cores.  Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vmapsim.perf.simulate import simulate  # noqa: E402
from vmapsim.perf.sweep import grid, sweep  # noqa: E402

#: at most this many machine instructions per simulated op (cold, --instructions)
INSTRUCTION_FLOOR = 150_000


def reference_loop() -> float:
    t = time.process_time()
    x = 0
    for i in range(5_000_000):
        x += i
    return time.process_time() - t


def instructions_per_op(design: str, short: int = 20, long: int = 120, cold: bool = True) -> float:
    """valgrind (cachegrind, no cache simulation) instruction count per simulated op.

    *cold*: from empty pools (the figure this bench has always reported); otherwise in steady
    state (the default of ``simulate()``: the warm-up is built in both runs, without the
    warm-state disk cache, and cancels out in the difference)."""
    if not shutil.which("valgrind"):
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    prog = ("import sys; sys.path.insert(0, sys.argv[1]); from vmapsim.perf.simulate import simulate; "
            f"simulate(design={design!r}, cpus=64, workload='fix_size_alloc_test', "
            f"loops=int(sys.argv[2]), cold={cold!r})")
    env = dict(os.environ, PYTHONHASHSEED="0", VMAPSIM_WARM_CACHE="off")
    pre = ["setarch", os.uname().machine, "-R"] if shutil.which("setarch") else []
    procs = {n: subprocess.Popen(pre + ["valgrind", "--tool=cachegrind", "--cache-sim=no",
                                        "--cachegrind-out-file=/dev/null", sys.executable,
                                        "-c", prog, root, str(n)],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)
             for n in (short, long)}
    count = {}
    for n, p in procs.items():
        err = p.communicate()[1]
        m = re.search(r"I\s+refs:\s+([\d,]+)", err)
        if p.returncode or not m:
            raise SystemExit(f"valgrind run with {n} loops failed:\n{err[-2000:]}")
        count[n] = int(m.group(1).replace(",", ""))
    return (count[long] - count[short]) / (64 * (long - short))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loops", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sweep-loops", type=int, default=1000)
    ap.add_argument("--design", default="linux-6.18")
    ap.add_argument("--processes", type=int, default=None)
    ap.add_argument("--instructions", action="store_true",
                    help="also count machine instructions per op with valgrind (~30 s)")
    a = ap.parse_args(argv)
    ref = reference_loop()
    print(f"reference: 5M Python additions in {ref:.2f} CPU-s; load average {os.getloadavg()[0]:.2f}")
    if a.repeat < 1 or a.loops < 1:
        ap.error("--repeat and --loops must be >= 1")
    simulate(design=a.design, cpus=64, workload="fix_size_alloc_test", loops=2,
             cold=True)                                                              # imports
    rates, cpu_rates = [], []
    for i in range(a.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        r = simulate(design=a.design, cpus=64, workload="fix_size_alloc_test", loops=a.loops,
                     cold=True)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rates.append(r.ops / wall)
        cpu_rates.append(r.ops / cpu)
        print(f"run {i + 1}: {a.design} fix_size_alloc_test 64 CPUs x {a.loops} loops: {r.ops} "
              f"ops in {wall:.2f} s wall / {cpu:.2f} s CPU -> {rates[-1]:,.0f} ops per "
              f"wall-second, {cpu_rates[-1]:,.0f} per CPU-second "
              f"(load {os.getloadavg()[0]:.2f})")
    best, med = max(rates), statistics.median(rates)
    print(f"ops per wall-second: best {best:,.0f}, median {med:,.0f} of {a.repeat} runs "
          f"(per CPU-second: best {max(cpu_rates):,.0f}, median "
          f"{statistics.median(cpu_rates):,.0f}); one op takes the time of "
          f"{5_000_000 / (ref * med):,.0f} reference additions (median run)")
    if a.instructions:
        cold = instructions_per_op(a.design)
        print(f"valgrind: {cold:,.0f} machine instructions per op "
              f"({a.design}, fix_size_alloc_test, 64 CPUs, cold, loops 20 -> 120); floor "
              f"{INSTRUCTION_FLOOR:,}: {'met' if cold <= INSTRUCTION_FLOOR else 'NOT met'}")
        print(f"valgrind: {instructions_per_op(a.design, cold=False):,.0f} machine instructions "
              f"per op ({a.design}, fix_size_alloc_test, 64 CPUs, steady, loops 20 -> 120)")
    for label, warm in (("cold", [0]), ("steady, warm states built", [None]),
                        ("steady, warm states cached", [None])):
        if label.endswith("built"):
            import tempfile
            os.environ["VMAPSIM_WARM_CACHE"] = tempfile.mkdtemp(prefix="vmapsim-warm-")
        configs = grid(design=[a.design], cpus=[1, 2, 4, 8, 16, 32, 64, 128],
                       workload=["fix_size_alloc_test"], loops=[a.sweep_loops],
                       machine=["xeon-8176-8s"], warmup=warm)
        w0, c0 = time.perf_counter(), time.process_time()
        t = sweep(configs, processes=a.processes)
        wall = time.perf_counter() - w0
        ops = int(t.column("ops").sum())
        print(f"sweep 1..128 CPUs of {a.design}, {label} ({len(configs)} runs, {ops} ops, "
              f"{a.sweep_loops} loops per CPU): {wall:.1f} s wall"
              + (f", {time.process_time() - c0:.1f} s CPU" if a.processes == 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
