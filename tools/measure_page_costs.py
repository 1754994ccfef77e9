#!/usr/bin/env python3
"""Per-page cost of vmalloc()/vfree() on the running kernel, measured through bpf(2).

What it times (run as root; Linux x86-64 or arm64; no module, no tracing):

* ``array``: ``BPF_MAP_CREATE`` of a ``BPF_MAP_TYPE_ARRAY`` with ``BPF_F_MMAPABLE``,
  ``value_size = 4096`` and ``max_entries = pages - 1``.  kernel/bpf/syscall.c
  ``__bpf_map_area_alloc()`` always vmallocs an mmapable area (``VM_USERMAP``, align
  ``SHMLBA``) with ``__GFP_ZERO | __GFP_ACCOUNT``: the area is the map header page plus one
  page per entry, so ``pages`` is the number of pages vmalloc() allocates (plus one guard
  page of address space).  Creating it runs alloc_vmap_area(), the page allocator
  (alloc_pages_bulk, order 0), ``clear_page`` of every page (``__GFP_ZERO``), the memcg charge
  and the page-table population (vmap_pages_range); it also runs the bpf map set-up that
  does not depend on the size (the ``ref`` row measures that part alone).
  Closing the last fd queues ``bpf_map_free_deferred()`` on a workqueue; the kworker calls
  vfree(): unmap without TLB flush, free_vmap_area_noflush() (lazy), __free_page() of every
  page.  The tool waits, after each close, until ``VmallocUsed`` in /proc/meminfo (the
  kernel's ``nr_vmalloc_pages``) has dropped again, so ``cycle`` = create + close + that
  deferred vfree, including the workqueue hand-off.
  NOT included: the lazy purge (drain_vmap_area_work(), flush_tlb_kernel_range()) runs
  later in its own work item and is not waited for; it only shows as background noise.
* ``ringbuf``: ``BPF_MAP_CREATE`` of a ``BPF_MAP_TYPE_RINGBUF`` of ``pages`` data pages
  (a power of two): kernel/bpf/ringbuf.c allocates every page with alloc_pages_node()
  (one call per page, ``__GFP_ZERO``) and vmap()s the meta pages plus every data page twice.
  A different per-page profile: no bulk allocator, two PTEs per data page.  Its free is
  deferred too but does not change ``VmallocUsed``, so only the create is timed.
* ``ref``: ``BPF_MAP_CREATE`` of a one-entry, 8-byte array (kmalloc'ed, no vmalloc): the
  fixed cost of the syscall and of the bpf map object, measured in the same process.
* ``memset``: user-space memset of 4 KiB pages, cache-hot (the same 64 KiB) and cache-cold
  (a 256 MiB buffer), as a yardstick for the kernel's ``clear_page``.

It does NOT measure the Threadripper 3970X, nor contention: one process, one CPU at a time.

Output: a table and, with ``--json FILE`` (or ``-`` for stdout), the raw medians, spreads
and the per-repeat fits ``time = a + b * pages``.
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import json
import mmap
import os
import platform
import statistics
import sys
import time

SYS_BPF = {"x86_64": 321, "aarch64": 280}
BPF_MAP_CREATE = 0
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_RINGBUF = 27
BPF_F_MMAPABLE = 1 << 10
PAGE = 4096
ATTR_SIZE = 128
DEFAULT_SIZES = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: pages allocated per timed batch (the batch length in cycles is this / pages, clamped)
BATCH_PAGES = 16384
MIN_CYCLES, MAX_CYCLES = 16, 1000
DRAIN_TIMEOUT_S = 0.5

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class ToolError(Exception):
    """A one-line, user-facing error."""


def _bpf_nr() -> int:
    nr = SYS_BPF.get(platform.machine())
    if nr is None:
        raise ToolError(f"unsupported architecture {platform.machine()!r} (x86_64, aarch64)")
    return nr


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int,
               flags: int = 0) -> int:
    """bpf(BPF_MAP_CREATE); returns the fd or raises OSError."""
    attr = (ctypes.c_uint32 * (ATTR_SIZE // 4))()
    attr[0], attr[1], attr[2], attr[3], attr[4] = map_type, key_size, value_size, max_entries, flags
    fd = _libc.syscall(_bpf_nr(), BPF_MAP_CREATE, ctypes.byref(attr), ATTR_SIZE)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return fd


def make_creator(kind: str, pages: int):
    """A no-argument function creating one map of *kind* covering *pages* pages."""
    if kind == "array":
        if pages < 2:
            raise ToolError("array: an mmapable array map needs at least 2 pages (header + 1 entry)")
        return lambda: map_create(BPF_MAP_TYPE_ARRAY, 4, PAGE, pages - 1, BPF_F_MMAPABLE)
    if kind == "ringbuf":
        if pages & (pages - 1):
            raise ToolError(f"ringbuf: size must be a power of two pages, not {pages}")
        return lambda: map_create(BPF_MAP_TYPE_RINGBUF, 0, 0, pages * PAGE)
    if kind == "ref":
        return lambda: map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 1)
    raise ToolError(f"unknown kind {kind!r}")


class Meminfo:
    """Fast reads of VmallocUsed (kB) from /proc/meminfo."""

    def __init__(self):
        self.fd = os.open("/proc/meminfo", os.O_RDONLY)

    def vmalloc_used_kb(self) -> int:
        data = os.pread(self.fd, 8192, 0)
        i = data.index(b"VmallocUsed:")
        return int(data[i + 12:data.index(b"kB", i)])

    def close(self):
        os.close(self.fd)


def check_environment() -> None:
    """Raise ToolError with a one-line reason when the tool cannot run here."""
    if sys.platform != "linux":
        raise ToolError("needs Linux")
    _bpf_nr()
    if os.geteuid() != 0:
        raise ToolError("needs root (bpf(2) map creation with CAP_BPF/CAP_SYS_ADMIN): run as root")
    try:
        os.close(make_creator("ref", 1)())
    except OSError as e:
        raise ToolError(f"bpf(BPF_MAP_CREATE) refused: {e.strerror} "
                        "(kernel without CONFIG_BPF_SYSCALL, or bpf disabled by a LSM/sysctl)")


RINGBUF_META_PAGES = 3     # kernel/bpf/ringbuf.c: RINGBUF_PGOFF + RINGBUF_POS_PAGES


def expected_area_bytes(kind: str, pages: int) -> int:
    """Size /proc/vmallocinfo shows for one map (it includes the guard page)."""
    if kind == "array":
        return (pages + 1) * PAGE
    return (RINGBUF_META_PAGES + 2 * pages + 1) * PAGE


def vmallocinfo_check(kinds, sizes) -> list[dict]:
    """Create one map of each (kind, size), read /proc/vmallocinfo while it is open, and
    report the lines of exactly the expected size that are not bpf programs (several can
    match: maps freed a moment ago are still listed until their deferred free runs)."""
    out = []
    for kind in kinds:
        for pages in sizes:
            try:
                creator = make_creator(kind, pages)
            except ToolError:
                continue
            want = expected_area_bytes(kind, pages)
            fd = creator()
            try:
                with open("/proc/vmallocinfo") as f:
                    lines = f.readlines()
            finally:
                os.close(fd)
            found = []
            for ln in lines:
                parts = ln.split()
                if (len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) == want
                        and "bpf_prog" not in ln):
                    found.append(" ".join(parts[1:]))
            out.append({"kind": kind, "pages": pages, "expected_bytes": want,
                        "lines": sorted(set(found))})
    return out


def _quantiles(xs):
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def cycles_for(pages: int) -> int:
    return max(MIN_CYCLES, min(MAX_CYCLES, BATCH_PAGES // max(1, pages)))


def time_batch(kind: str, pages: int, cycles: int, meminfo: Meminfo) -> dict:
    """Run *cycles* create/close cycles; return per-cycle medians (ns) of create, close and,
    for ``array``, the whole cycle including the deferred vfree."""
    creator = make_creator(kind, pages)
    wait_free = kind == "array"
    half_kb = pages * PAGE // 1024 // 2
    create, close, cycle = [], [], []
    timeouts = 0
    clock = time.perf_counter_ns
    cpu0 = time.process_time_ns()
    w0 = clock()
    for _ in range(cycles):
        before = meminfo.vmalloc_used_kb() if wait_free else 0
        t0 = clock()
        fd = creator()
        t1 = clock()
        os.close(fd)
        t2 = clock()
        create.append(t1 - t0)
        close.append(t2 - t1)
        if wait_free:
            deadline = t2 + int(DRAIN_TIMEOUT_S * 1e9)
            while meminfo.vmalloc_used_kb() > before + half_kb:
                if clock() > deadline:
                    timeouts += 1
                    break
            else:
                cycle.append(clock() - t0)
    wall = clock() - w0
    cpu = time.process_time_ns() - cpu0
    r = {"kind": kind, "pages": pages, "cycles": cycles,
         "create_ns": statistics.median(create), "close_ns": statistics.median(close),
         "wall_per_cycle_ns": wall / cycles, "process_cpu_per_cycle_ns": cpu / cycles}
    if wait_free:
        r["cycle_ns"] = statistics.median(cycle) if cycle else None
        r["drain_timeouts"] = timeouts
    return r


def time_memset(repeat: int = 5) -> dict:
    """ns per 4 KiB memset() call, cache-hot (a 64 KiB region reused) and cache-cold (one
    pass over 256 MiB after writing another 256 MiB): the same loop with 0-byte calls is
    timed too and subtracted, so the Python call overhead cancels."""
    memset = _libc.memset
    memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
    out = {}
    for name, nbytes, calls in (("hot", 64 * 1024, 65536), ("cold", 256 * 1024 * 1024, 65536)):
        buf = mmap.mmap(-1, nbytes)
        base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        memset(base, 1, nbytes)                       # fault every page in first
        npages = nbytes // PAGE
        addrs = [base + (i % npages) * PAGE for i in range(calls)]
        samples = []
        for _ in range(repeat):
            if name == "cold":                        # evict: write another 256 MiB
                evict = mmap.mmap(-1, nbytes)
                eb = ctypes.addressof(ctypes.c_char.from_buffer(evict))
                memset(eb, 2, nbytes)
                del eb
                evict.close()
            t0 = time.perf_counter_ns()
            for ad in addrs:
                memset(ad, 0, PAGE)
            t1 = time.perf_counter_ns()
            for ad in addrs:
                memset(ad, 0, 0)
            t2 = time.perf_counter_ns()
            samples.append(((t1 - t0) - (t2 - t1)) / calls)
        del addrs, base
        buf.close()
        out[name] = dict(zip(("q1", "median", "q3"), _quantiles(samples)))
    return out


def fit_line(xs, ys):
    """Least squares ``y = a + b x`` with weights ``1 / y**2`` (relative errors: the sizes
    span three decades, so an unweighted fit would let the largest size decide ``a``);
    returns (a, b)."""
    w = [1.0 / (y * y) for y in ys]
    sw = sum(w)
    mx = sum(wi * x for wi, x in zip(w, xs)) / sw
    my = sum(wi * y for wi, y in zip(w, ys)) / sw
    sxx = sum(wi * (x - mx) ** 2 for wi, x in zip(w, xs))
    b = sum(wi * (x - mx) * (y - my) for wi, x, y in zip(w, xs, ys)) / sxx
    return my - b * mx, b


def run(kinds, sizes, repeat, *, progress=print) -> dict:
    check_environment()
    meminfo = Meminfo()
    result = {"kernel": platform.release(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "sizes": list(sizes), "repeat": repeat,
              "kinds": list(kinds), "batches": []}
    try:
        with open("/proc/cpuinfo") as f:
            result["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in f
                                        if ln.startswith("model name")), "?")
        result["vmallocinfo"] = vmallocinfo_check(kinds, sorted(set(sizes[:2] + sizes[-1:])))
        for kind in kinds:                             # warm-up: one pass, not kept
            for pages in sizes:
                try:
                    time_batch(kind, pages, MIN_CYCLES, meminfo)
                except ToolError:
                    pass
        for r in range(repeat):
            order = list(sizes[r % len(sizes):]) + list(sizes[:r % len(sizes)])
            rows = [time_batch("ref", 1, 200, meminfo)]
            for kind in kinds:
                for pages in order:
                    try:
                        rows.append(time_batch(kind, pages, cycles_for(pages), meminfo))
                    except ToolError:
                        continue
            rows.append(time_batch("ref", 1, 200, meminfo))
            for row in rows:
                row["repeat"] = r
            result["batches"].extend(rows)
            progress(f"repeat {r + 1}/{repeat} done", file=sys.stderr)
        result["memset"] = time_memset()
    finally:
        meminfo.close()
    result["summary"] = summarise(result)
    return result


def summarise(result) -> dict:
    b = result["batches"]
    summ = {"ref_create_ns": dict(zip(("q1", "median", "q3"),
                                      _quantiles([x["create_ns"] for x in b if x["kind"] == "ref"]))),
            "rows": [], "fits": {}}
    for kind in result["kinds"]:
        for pages in result["sizes"]:
            rows = [x for x in b if x["kind"] == kind and x["pages"] == pages]
            if not rows:
                continue
            row = {"kind": kind, "pages": pages}
            for key in ("create_ns", "close_ns", "cycle_ns"):
                vals = [x[key] for x in rows if x.get(key) is not None]
                if vals:
                    row[key] = dict(zip(("q1", "median", "q3"), _quantiles(vals)))
            summ["rows"].append(row)
        for key in ("create_ns", "cycle_ns"):
            per_rep = []
            for r in range(result["repeat"]):
                pts = [(x["pages"], x[key]) for x in b
                       if x["kind"] == kind and x["repeat"] == r and x.get(key) is not None]
                if len(pts) >= 3:
                    per_rep.append(fit_line(*zip(*pts)))
            if per_rep:
                summ["fits"][f"{kind}.{key}"] = {
                    "a_ns": dict(zip(("q1", "median", "q3"), _quantiles([a for a, _ in per_rep]))),
                    "b_ns_per_page": dict(zip(("q1", "median", "q3"),
                                              _quantiles([s for _, s in per_rep]))),
                    "repeats": len(per_rep)}
    return summ


def print_table(result, out=sys.stdout) -> None:
    s = result["summary"]
    p = lambda *a: print(*a, file=out)
    p(f"kernel {result['kernel']} ({result['machine']}, {result['cpus']} CPUs, "
      f"{result.get('cpu_model', '?')}); {result['repeat']} repeats; times in us, median [q1, q3]")
    ref = s["ref_create_ns"]
    p(f"ref (8-byte array, kmalloc'ed) create: {ref['median'] / 1e3:.2f} "
      f"[{ref['q1'] / 1e3:.2f}, {ref['q3'] / 1e3:.2f}]")
    p(f"{'kind':8s} {'pages':>6s}  {'create':>22s}  {'close':>8s}  {'create+close+vfree':>24s}")
    def f(row, key):
        v = row.get(key)
        return "-" if v is None else f"{v['median'] / 1e3:8.2f} [{v['q1'] / 1e3:.2f}, {v['q3'] / 1e3:.2f}]"

    for row in s["rows"]:
        c = row.get("close_ns")
        p(f"{row['kind']:8s} {row['pages']:6d}  {f(row, 'create_ns'):>22s}  "
          f"{(c['median'] / 1e3 if c else 0):8.2f}  {f(row, 'cycle_ns'):>24s}")
    p("fits time = a + b * pages (weights 1/time^2), one fit per repeat; median [q1, q3] over repeats:")
    for name, fit in s["fits"].items():
        a, b = fit["a_ns"], fit["b_ns_per_page"]
        p(f"  {name:18s} a = {a['median'] / 1e3:7.2f} us [{a['q1'] / 1e3:.2f}, {a['q3'] / 1e3:.2f}]   "
          f"b = {b['median']:7.1f} ns/page [{b['q1']:.1f}, {b['q3']:.1f}]")
    m = result.get("memset")
    if m:
        p(f"user-space memset of 4 KiB (call overhead subtracted): hot {m['hot']['median']:.0f} ns "
          f"[{m['hot']['q1']:.0f}, {m['hot']['q3']:.0f}], cold {m['cold']['median']:.0f} ns "
          f"[{m['cold']['q1']:.0f}, {m['cold']['q3']:.0f}]")
    for v in result.get("vmallocinfo", []):
        lines = "; ".join(v["lines"]) or "NONE FOUND"
        p(f"vmallocinfo, {v['kind']} of {v['pages']} pages open ({v['expected_bytes']} B expected): {lines}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                    help="comma-separated sizes in pages (array: >= 2; ringbuf: powers of two)")
    ap.add_argument("--repeat", type=int, default=5, help="full sweeps (default 5)")
    ap.add_argument("--kinds", default="array,ringbuf", help="array,ringbuf")
    ap.add_argument("--json", help="write the full result as JSON to this file ('-' = stdout)")
    a = ap.parse_args(argv)
    try:
        sizes = tuple(int(x) for x in a.sizes.split(",") if x)
        kinds = tuple(k for k in a.kinds.split(",") if k)
        if not sizes or a.repeat < 1:
            raise ToolError("--sizes must list at least one size and --repeat be >= 1")
        for k in kinds:
            if k not in ("array", "ringbuf"):
                raise ToolError(f"unknown kind {k!r} (array, ringbuf)")
            for pages in sizes:
                make_creator(k, pages)             # validates the size for this kind
        result = run(kinds, sizes, a.repeat)
    except ToolError as e:
        print(f"measure_page_costs: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno in (errno.ENOMEM, errno.E2BIG):
            print(f"measure_page_costs: error: map creation failed ({e.strerror}): "
                  "lower --sizes", file=sys.stderr)
            return 2
        raise
    print_table(result)
    if a.json:
        text = json.dumps(result, indent=1)
        if a.json == "-":
            print(text)
        else:
            with open(a.json, "w") as f:
                f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
