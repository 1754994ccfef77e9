#!/usr/bin/env python3
"""Stack frame sizes of the functions on the vmalloc recursion path, read from the running kernel.

Question behind it (thread M16, notebook ``07-splats``): how many levels of
``alloc_vmap_area -> vmap_bump_refill -> kvmalloc -> vmalloc -> alloc_vmap_area`` fit in the
kernel stack?  The functions the series does not change exist in the running kernel, so their
frames can be measured instead of guessed.

Method (run as root; x86-64; nothing is loaded into the kernel but one bpftrace ``BEGIN``
probe, no kernel setting is changed):

1. the address of each function from ``/proc/kallsyms`` (needs ``kptr_restrict`` <= 1 for
   root; the tool refuses otherwise and changes nothing);
2. the first ``--bytes`` bytes of each function, read by a bpftrace ``BEGIN`` probe that
   dereferences the kernel addresses (the probe runs under the machine-wide tracing lock
   ``/run/vmapsim-tracefs.lock`` when that file exists);
3. ``objdump -D -b binary -m i386:x86-64`` on those bytes; the prologue is the run of
   ``push`` instructions and the first ``sub $N,%rsp`` (ENDBR/NOP padding skipped).  The
   frame is ``8 x pushes + N + 8`` (the return address the caller's ``call`` pushed).

What it cannot see: the stack used by callees that return before the next level is entered
(the kmalloc attempt inside kvmalloc, for instance) matters only at the deepest level, and
functions inlined by the compiler have no frame of their own (their locals are in the
caller's).  The series' own functions (``vmap_bump_refill``, its ``alloc_vmap_area``) do not
exist in this kernel: the notebook estimates them and says so.

Usage: ``python tools/frame_sizes.py [--out data/kernel/stack-frames.json]``.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

FUNCTIONS = (
    # one level of the recursion in M16's trace, outermost first
    "alloc_vmap_area", "__kvmalloc_node_noprof", "__vmalloc_node_range_noprof",
    "__get_vm_area_node",
    # the entry of a plain vmalloc() and test_vmalloc's bottom of the chain
    "vmalloc_noprof", "__vmalloc_node_noprof",
    # the kmalloc attempt of kvmalloc (only the deepest level pays for it)
    "__kmalloc_node_noprof", "__kmalloc_large_node_noprof", "___kmalloc_large_node",
    "__alloc_pages_noprof", "__alloc_frozen_pages_noprof", "get_page_from_freelist",
    # what the mapping WARN of M16 sits in
    "vmap_small_pages_range_noflush", "vmap_pages_range_noflush",
)
LOCK = Path("/run/vmapsim-tracefs.lock")


def kallsyms(names) -> dict[str, int]:
    want, out = set(names), {}
    with open("/proc/kallsyms") as f:
        for line in f:
            addr, _, name = line.split()[:3]
            if name in want and name not in out:
                out[name] = int(addr, 16)
    missing = want - set(out)
    if missing:
        raise SystemExit(f"not in /proc/kallsyms: {', '.join(sorted(missing))}")
    if not any(out.values()):
        raise SystemExit("kallsyms shows zero addresses (kptr_restrict): nothing changed, "
                         "run as root with kptr_restrict <= 1")
    return out


def read_bytes(addrs: dict[str, int], nbytes: int) -> dict[str, bytes]:
    """One bpftrace BEGIN probe printing *nbytes* of each function as 64-bit words."""
    words = nbytes // 8
    lines = ["BEGIN {"]
    for name, a in addrs.items():
        for i in range(words):
            lines.append(f'  printf("{name} {i} %lx\\n", *(uint64 *)({a + 8 * i:#x}));')
    lines += ["  exit();", "}"]
    with tempfile.NamedTemporaryFile("w", suffix=".bt", delete=False) as f:
        f.write("\n".join(lines))
        script = f.name
    cmd = ["bpftrace", script]
    if LOCK.exists():
        cmd = ["flock", str(LOCK)] + cmd
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                             check=False).stdout
    finally:
        os.unlink(script)
    got: dict[str, dict[int, int]] = {}
    for line in out.splitlines():
        m = re.fullmatch(r"(\S+) (\d+) ([0-9a-f]+)", line.strip())
        if m:
            got.setdefault(m.group(1), {})[int(m.group(2))] = int(m.group(3), 16)
    res = {}
    for name in addrs:
        w = got.get(name, {})
        if len(w) != words:
            raise SystemExit(f"bpftrace returned {len(w)} of {words} words for {name}")
        res[name] = b"".join(w[i].to_bytes(8, "little") for i in range(words))
    return res


def prologue(code: bytes) -> dict:
    """Pushes and stack adjustment of the function's prologue, from objdump."""
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(code)
        path = f.name
    try:
        dis = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", path],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(path)
    insns = []
    for line in dis.splitlines():
        m = re.match(r"\s*[0-9a-f]+:\s+(?:[0-9a-f]{2} )+\s*(.*)$", line)
        if m and m.group(1).strip():
            insns.append(re.sub(r"\s+", " ", m.group(1).strip()))
    pushes, sub, seen = [], 0, []
    for ins in insns[:40]:
        seen.append(ins)
        op = ins.split(" ")[0]
        if op in ("endbr64", "nop", "nopl", "nopw", "xchg") or op.startswith("nop"):
            continue
        if op == "push":
            pushes.append(ins.split(" ", 1)[1])
            continue
        m = re.fullmatch(r"sub \$0x([0-9a-f]+),%rsp", ins)
        if m:
            sub = int(m.group(1), 16)
            break
        if op in ("mov", "lea", "xor", "test", "cmp", "and", "movzbl", "movl", "movq", "call",
                  "jmp", "je", "jne", "movabs", "movslq", "shl", "shr"):
            # the prologue may interleave argument moves with its pushes; keep looking for
            # the stack adjustment a little further
            continue
    return {"pushes": len(pushes), "pushed": pushes, "sub_rsp": sub,
            "frame_bytes": 8 * len(pushes) + sub + 8, "first_insns": seen[:12]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/kernel/stack-frames.json")
    ap.add_argument("--bytes", type=int, default=128)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("frame_sizes: needs root (bpftrace)", file=sys.stderr)
        return 2
    addrs = kallsyms(FUNCTIONS)
    code = read_bytes(addrs, args.bytes)
    frames = {name: prologue(code[name]) for name in FUNCTIONS}
    try:
        cfg = gzip.open("/proc/config.gz", "rt").read()
        config = {k: v for k, v in re.findall(r"^(CONFIG_(?:KASAN|FRAME_POINTER|UNWINDER_ORC|"
                                              r"VMAP_STACK|STACKPROTECTOR_STRONG|CC_IS_GCC|"
                                              r"GCC_VERSION|PREEMPT_RT))=(.*)$", cfg, re.MULTILINE)}
    except OSError:
        config = {}
    out = {
        "_doc": "Stack frame of each function = 8 x pushes + sub $N,%rsp + 8 (return address), "
                "read from the running kernel's machine code by tools/frame_sizes.py "
                "(bpftrace BEGIN probe + objdump). Inlined callees have no frame of their own.",
        "kernel": platform.release(),
        "config": config,
        "frames": frames,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for name, f in frames.items():
        print(f"{name:34s} pushes {f['pushes']}  sub {f['sub_rsp']:4d}  frame {f['frame_bytes']:4d} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
