"""Hash what the engine computes, to show that a refactoring changed no result.

``python tools/fingerprint.py [--out FILE]`` runs ``vmapsim simulate --json`` on eleven configs
(every registered design, every lookup protocol, each workload kind, cold and steady, readers)
and ``vmapsim replay --json`` on every capture of ``data/traces/`` (``captures.trace_names()``),
drops the wall-clock fields, and prints one
SHA-256 per run plus a digest of all of them.  Run it before and after a change that should
not move any number; the two outputs must be identical.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SIMULATE = [
    ["--design", "linux-6.18", "--cpus", "8", "--workload", "fix_size_alloc_test", "--loops", "300", "--cold"],
    ["--design", "linux-6.8", "--cpus", "4", "--workload", "full_fit_alloc_test", "--loops", "100",
     "--setup-scale", "0.05", "--cold"],
    ["--design", "rfc-maple-busy", "--lookup", "rcu-readonce", "--cpus", "4", "--workload", "lookup",
     "--loops", "200", "--cold"],
    ["--design", "rfc-v1", "--cpus", "4", "--workload", "test_vmalloc", "--mask", "0x7", "--loops", "40", "--cold"],
    ["--design", "maple-nofree", "--lookup", "rcu-trylock-retry", "--cpus", "6", "--workload", "lookup",
     "--loops", "200", "--cold"],
    ["--design", "maple-nofree-sharded", "--lookup", "rcu-refcount", "--cpus", "4",
     "--workload", "long_busy_list_alloc_test", "--loops", "60", "--setup-scale", "0.05", "--cold"],
    ["--design", "linux-6.18", "--lookup", "seqcount", "--cpus", "3", "--workload", "trace:mixed-s11",
     "--loops", "200", "--cold"],
    ["--design", "linux-6.18", "--cpus", "16", "--workload", "fix_size_alloc_test", "--loops", "400",
     "--warmup", "800"],
    # steady state by default (warm state restored), a bulk-built setup, readers beside allocators
    ["--design", "rfc-maple-busy", "--cpus", "4", "--loops", "50"],
    ["--design", "linux-6.18", "--cpus", "4", "--workload", "full_fit_alloc_test", "--loops", "40",
     "--setup-scale", "0.05"],
    ["--design", "linux-6.18", "--cpus", "4", "--workload", "long_busy_list_alloc_test",
     "--loops", "20", "--setup-scale", "0.05", "--reader", "vread:rate=0", "--reader",
     "dump_obj:rate=0", "--reader", "vmallocinfo:rate=100"],
]

WALL = {"wall_seconds", "wall_s", "elapsed_s", "warm_cache"}


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in WALL}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _run(args: list[str]) -> str:
    out = subprocess.run([sys.executable, "-m", "vmapsim", *args, "--json"], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        return "FAILED " + (out.stderr.strip().splitlines() or ["?"])[-1]
    data = _strip(json.loads(out.stdout))
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the lines to this file")
    ap.add_argument("--no-replay", action="store_true")
    ap.add_argument("--no-simulate", action="store_true")
    a = ap.parse_args(argv)
    lines = []
    if not a.no_simulate:
        for cfg in SIMULATE:
            lines.append(f"simulate {' '.join(cfg)}: {_run(['simulate', *cfg])}")
            print(lines[-1], flush=True)
    if not a.no_replay:
        sys.path.insert(0, str(ROOT))
        from vmapsim.traces.captures import capture_dirs
        for d in capture_dirs().values():
            for design in ("linux-6.18", "linux-6.8", "rfc-v1", "maple-nofree"):
                lines.append(f"replay {d.name} {design}: "
                             f"{_run(['replay', str(d.relative_to(ROOT)), '--design', design])}")
                print(lines[-1], flush=True)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    print(f"all: {digest}")
    if a.out:
        Path(a.out).write_text("\n".join(lines) + f"\nall: {digest}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
