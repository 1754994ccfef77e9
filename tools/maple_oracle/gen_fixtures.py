"""Generate ``tests/data/maple_oracle.txt.gz``: operation scripts and the kernel's answers.

Runs each script through ``oracle`` (``oracle.c`` built against a kernel tree with
``build.sh``; the kernel's own ``lib/maple_tree.c`` in the userspace test harness of
``tools/testing/radix-tree``) and stores the script with the oracle's output: return values,
``mt_height``/node count after every operation, and full node-by-node dumps (type, range,
pivots, entries, gaps, largest-gap offset) at checkpoints.  ``tests/test_maple_oracle.py``
replays the scripts on :class:`vmapsim.maple.MapleTree` and requires identical output.

Usage: ``python tools/maple_oracle/gen_fixtures.py [--oracle PATH] [--out FILE]``.

Script language (one op per line; entry values: 0 = NULL, 1 = XA_ZERO_ENTRY, v = v - 2):
``T flags`` new tree (1 = MT_FLAGS_ALLOC_RANGE, 2 = RCU), ``S first last v`` store,
``I first last v`` insert, ``E index`` erase, ``A|R min max size v`` alloc_(r)range,
``F|B min max size`` empty_area(_rev), ``U 0|1`` RCU mode, ``H`` height and node count,
``D`` dump, ``V`` validate.
"""
from __future__ import annotations

import argparse
import gzip
import random
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
U64 = (1 << 64) - 1


def gen_random(seed: int) -> list[str]:
    """Random stores/inserts/erases/allocations over a random index scale."""
    rnd = random.Random(seed)
    n = rnd.choice([300, 300, 800, 1500])
    flags = rnd.choice([0, 1])
    lines = [f"T {flags}"]
    scale = rnd.choice([50, 500, 5000, 10 ** 6, 2 ** 40])
    maxlen = rnd.choice([1, 3, 20, scale // 10 + 1])
    for i in range(n):
        r = rnd.random()
        a = rnd.randrange(scale)
        b = a + rnd.randrange(maxlen)
        v = rnd.randrange(2, 1000)
        if r < 0.45:
            lines.append(f"S {a} {b} {v}")
        elif r < 0.6:
            lines.append(f"S {a} {b} 0")
        elif r < 0.72:
            lines.append(f"I {a} {b} {v}")
        elif r < 0.82:
            lines.append(f"E {a}")
        elif r < 0.86:
            lines.append(f"U {rnd.randrange(2)}")
        elif r < 0.9 and flags & 1:
            lines.append(f"{rnd.choice('AR')} {a} {b + rnd.randrange(scale)} {rnd.randrange(1, maxlen + 1)} {v}")
        elif r < 0.95:
            lines.append(f"{rnd.choice('FB')} {a} {b + rnd.randrange(scale)} {rnd.randrange(1, maxlen + 1)}")
        elif r < 0.97:
            lines.append(f"S {rnd.choice([0, a])} {rnd.choice([b, U64])} {rnd.choice([0, v])}")
        else:
            lines.append("S 0 0 %d" % rnd.choice([0, 1, v]))
        lines.append("H")
        if i % 50 == 49:
            lines.append("D")
    lines.append("D")
    return lines


def gen_vmalloc(seed: int) -> list[str]:
    """vmalloc-like use of an alloc tree: page-granular areas allocated bottom-up or top-down, random frees."""
    rnd = random.Random(seed)
    lines = ["T 1"]
    lo, hi = 0xffffc90000000000 >> 12, 0xffffe8ffffffffff >> 12
    for i in range(rnd.choice([600, 1200])):
        if rnd.random() < 0.4:
            probe = lo + rnd.randrange(8192) if rnd.random() < 0.5 else hi - rnd.randrange(8192)
            lines.append(f"E {probe}")
        else:
            size = rnd.choice([1, 1, 2, 4, 5, 16, 64, 512])
            lines.append(f"{rnd.choice('AAAR')} {lo} {hi} {size + 1} {rnd.randrange(2, 10 ** 6)}")
        if rnd.random() < 0.05:
            lines.append(f"U {rnd.randrange(2)}")
        lines.append("H")
        if i % 100 == 99:
            lines.append("D")
    lines.append("D")
    return lines


def gen_dense(seed: int) -> list[str]:
    """Sequential and reverse-sequential singletons and ranges, then NULL punching (split/rebalance paths)."""
    rnd = random.Random(seed)
    flags = seed % 2
    lines = [f"T {flags}"]
    n = rnd.choice([200, 700, 1300])
    step = rnd.choice([1, 5, 10])
    order = list(range(n)) if seed % 4 < 2 else list(range(n, -1, -1))
    for i in order:
        lines.append(f"S {i * step} {i * step + step - 1} {i + 2}")
        lines.append("H")
    for _ in range(n // 2):
        a = rnd.randrange(n * step)
        lines.append(f"S {a} {a + rnd.randrange(1, 3 * step + 2)} {rnd.choice([0, 0, a + 2])}")
        lines.append("H")
    lines.append("D")
    return lines


SCRIPTS = ([("random", s, gen_random) for s in range(24)]
           + [("vmalloc", s, gen_vmalloc) for s in range(6)]
           + [("dense", s, gen_dense) for s in range(8)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle", default=str(HERE / "oracle"))
    ap.add_argument("--out", default=str(HERE.parents[1] / "tests" / "data" / "maple_oracle.txt.gz"))
    args = ap.parse_args()
    chunks = []
    for kind, seed, fn in SCRIPTS:
        script = fn(seed)
        p = subprocess.run([args.oracle], input="\n".join(script) + "\n", capture_output=True,
                           text=True, check=True)
        chunks.append(f"# script {kind}-{seed}\n" + "\n".join(script) + "\n# expect\n" + p.stdout + "# end\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt") as f:
        f.write("".join(chunks))
    print(f"wrote {len(chunks)} scripts to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
