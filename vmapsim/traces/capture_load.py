"""Real workloads that make the running kernel call vmalloc, for ``vmapsim capture``.

Each primitive is a thing user space can do that ends in ``alloc_vmap_area()``/``vfree()``:

* fork / thread storms: every new task gets a vmalloc'ed kernel stack (16 KiB + guard page,
  aligned 16 KiB; kernel/fork.c alloc_thread_stack_node(), with a small per-CPU stack cache);
* classic BPF socket filters of random length (``SO_ATTACH_FILTER``): net/core/filter.c
  bpf_prog_create_from_user() -> bpf_prog_alloc() (vmalloc of the program, reallocated while
  it is converted to eBPF; freed from a kworker when the socket closes);
* BPF array maps of 36 KiB .. 4 MiB (``bpf(BPF_MAP_CREATE)``): kernel/bpf/syscall.c
  bpf_map_area_alloc() uses vmalloc above 32 KiB.

Workloads (``--workload``): ``fork`` (stacks only), ``large`` (maps, plus a few filters),
``mixed`` (all three interleaved), ``long`` (mixed at a gentler pace with pauses, default 60 s),
``none`` (sleep: record the machine's own load).  Every random choice comes from ``seed``.
"""
from __future__ import annotations

import ctypes
import os
import random
import socket
import struct
import threading
import time

__all__ = ["WORKLOADS", "DEFAULT_SECONDS", "run_workload"]

WORKLOADS = ("mixed", "fork", "large", "long", "none")
DEFAULT_SECONDS = {"mixed": 10, "fork": 10, "large": 10, "long": 60, "none": 10}

SO_ATTACH_FILTER = 26
BPF_MAXINSNS = 4096
SYS_BPF = 321                     # x86-64
BPF_MAP_CREATE = 0
BPF_MAP_TYPE_ARRAY = 2


def _fork_storm(rng: random.Random) -> int:
    pids = []
    for _ in range(rng.randint(4, 40)):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    return len(pids)


def _thread_storm(rng: random.Random) -> int:
    n = rng.randint(4, 48)
    hold = rng.random() * 0.004
    ts = [threading.Thread(target=time.sleep, args=(hold,)) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return n


def _attach_filter(n: int) -> socket.socket:
    """A UDP socket with a classic BPF program of *n* instructions (n-1 loads, then ``ret``)."""
    prog = b"".join(struct.pack("HBBI", 0x00, 0, 0, i) for i in range(n - 1))
    prog += struct.pack("HBBI", 0x06, 0, 0, 0xFFFF)
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = struct.pack("HxxxxxxQ", n, ctypes.addressof(buf))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError:
        s.close()
        raise
    return s


_libc = None


def _map_create(total: int) -> int:
    """An array map of about *total* bytes of values (8-byte values); returns its fd."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    attr = struct.pack("IIIII", BPF_MAP_TYPE_ARRAY, 4, 8, max(1, total // 8), 0) + bytes(108)
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = _libc.syscall(SYS_BPF, BPF_MAP_CREATE, buf, len(attr))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf(BPF_MAP_CREATE): {os.strerror(err)}")
    return fd


class _Live:
    """A bounded random live set of sockets / map fds (closing one frees its vmalloc area)."""

    def __init__(self, rng, cap):
        self.rng, self.cap, self.items = rng, cap, []

    def add(self, item):
        self.items.append(item)
        while len(self.items) > self.cap:
            self.drop()

    def drop(self):
        if self.items:
            item = self.items.pop(self.rng.randrange(len(self.items)))
            item.close() if hasattr(item, "close") else os.close(item)

    def close_all(self):
        while self.items:
            self.drop()


def run_workload(name: str, seconds: float, seed: int, log=None) -> dict:
    """Run workload *name* for *seconds*; returns counts of what it did."""
    rng = random.Random(seed)
    counts = {"forks": 0, "threads": 0, "filters": 0, "maps": 0, "errors": 0}
    socks, maps = _Live(rng, 200), _Live(rng, 24)
    deadline = time.monotonic() + seconds
    if name == "none":
        while time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        return counts
    steps = {
        "fork": [("forks", 3), ("threads", 2)],
        "large": [("maps", 6), ("filters", 1)],
        "mixed": [("forks", 2), ("threads", 2), ("filters", 3), ("maps", 2)],
        "long": [("forks", 2), ("threads", 2), ("filters", 3), ("maps", 2)],
    }[name]
    kinds = [k for k, w in steps for _ in range(w)]
    try:
        while time.monotonic() < deadline:
            kind = rng.choice(kinds)
            try:
                if kind == "forks":
                    counts["forks"] += _fork_storm(rng)
                elif kind == "threads":
                    counts["threads"] += _thread_storm(rng)
                elif kind == "filters":
                    for _ in range(rng.randint(1, 20)):
                        n = rng.randint(1, BPF_MAXINSNS)
                        socks.add(_attach_filter(n))
                        counts["filters"] += 1
                    for _ in range(rng.randint(0, 20)):
                        socks.drop()
                else:
                    total = int(36 * 1024 * (4 * 1024 / 36) ** rng.random())   # log-uniform 36K..4M
                    maps.add(_map_create(total))
                    counts["maps"] += 1
                    if rng.random() < 0.5:
                        maps.drop()
            except OSError as exc:
                counts["errors"] += 1
                if log and counts["errors"] <= 3:
                    log(f"workload {kind}: {exc}")
            if name == "long":
                time.sleep(rng.random() * 0.05)
    finally:
        socks.close_all()
        maps.close_all()
    return counts
