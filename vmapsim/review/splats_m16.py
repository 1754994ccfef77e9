"""Notebook ``07-splats``: what M16's and M15's logs themselves say (``data/thread/m16-splat.json``,
``data/thread/m15-splat.json``: console lines copied byte for byte from the list archive).

Everything here is read off the logs; each function says which line it reads and what is an
inference.  Nothing here runs the model.

* :func:`pte_warn` -- the registers of M16's PTE WARN (``RAX`` has the form of a present
  kernel PTE; ``R13``/``R14`` and ``R09`` bound a 100-page range).  Which register holds what is
  an inference from the values, not something the log says.
* :func:`history` -- what the log says happened before: taint flags, ``warn_alloc``'s
  suppressed count, the kernel and its preemption model, the worker names.
* :func:`meminfo` -- the Mem-Info block printed with the "failed to map pages" report.
* :func:`recursion_trace` -- the frames of the stack-guard-page oops, counted.
* :func:`refills_per_call` -- how many refill chains one ``long_busy_list_alloc_test`` call
  makes (``lib/test_vmalloc.c``; docs/kernel-facts.md F6).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

from ..paths import DATA_DIR
from ..vmalloc.vmap_area import PAGE_SIZE

__all__ = ["load", "pte_warn", "history", "meminfo", "MemInfo", "recursion_trace",
           "RecursionTrace", "refills_per_call", "implied_level_bytes"]

#: VMAP_BUMP_CHUNK_SIZE in pages (patch 11)
CHUNK_PAGES = (64 << 20) // PAGE_SIZE


def load(label: str = "M16") -> dict:
    """The stored lines of M16 or M15 (``data/thread/m16-splat.json`` / ``m15-splat.json``)."""
    if label not in ("M15", "M16"):
        raise ValueError(f"no stored splat for {label!r}; valid: M15, M16")
    return json.loads((DATA_DIR / "thread" / f"{label.lower()}-splat.json").read_text())


def _line(doc: dict, needle: str) -> str:
    hits = [ln for ln in doc["lines"] if needle in ln]
    if not hits:
        raise KeyError(f"no stored line of {doc['message']} contains {needle!r}")
    return hits[0]


def _regs(doc: dict, *names: str) -> dict:
    out = {}
    for ln in doc["lines"]:
        for name, val in re.findall(r"\b(R[A-Z0-9]{1,2}): ([0-9a-f]{16})\b", ln):
            out.setdefault(name, int(val, 16))
    return {n: out[n] for n in names}


def pte_warn() -> dict:
    """M16's WARN at ``mm/vmalloc.c:545`` (50.662455): the registers read as a PTE value and a
    range.  ``RAX`` = 0x8000000938940163: bit 0 (present), 1 (RW), 5 (accessed), 6 (dirty),
    8 (global), 63 (NX) -- a present kernel data mapping, the ``-EBUSY`` branch of
    ``vmap_pages_pte_range`` (the ``-ENOMEM`` / ``-EINVAL`` branches have no PTE value to
    show).  ``R13`` = ``R14`` = the start, ``R09`` = start + 0x64000 (100 pages): the range being
    mapped, the size the ``warn_alloc`` line prints.  Inference: the log does not name the
    registers' roles."""
    doc = load("M16")
    r = _regs(doc, "RAX", "R09", "R13", "R14")
    pte = r["RAX"]
    start, end = r["R14"], r["R09"]
    size = int(re.search(r"size (\d+), failed to map pages", _line(doc, "failed to map")).group(1))
    return {"rax": pte, "present": bool(pte & 1), "rw": bool(pte & 2), "global": bool(pte & 0x100),
            "nx": bool(pte >> 63), "start": start, "end": end, "r13_is_start": r["R13"] == start,
            "range_bytes": end - start, "printed_size": size,
            "start_mod_64m": start % (64 << 20), "rsp": _rsp(doc, "Comm: vmalloc_test/41")}


def _rsp(doc: dict, task: str) -> int:
    """The stack pointer printed after the CPU line of *task* (first ``RSP: 0018:`` line)."""
    lines = doc["lines"]
    i = next(k for k, ln in enumerate(lines) if task in ln)
    return int(next(re.search(r"RSP: 0018:([0-9a-f]{16})", ln).group(1)
                    for ln in lines[i:] if "RSP: 0018:" in ln), 16)


def history() -> dict:
    """What M16's log says came before its PTE WARN: the WARN's task was already tainted W
    (an earlier WARN, not in the quoted part), ``warn_alloc`` had suppressed 15 reports since
    its last printed one (``mm/page_alloc.c:warn_alloc`` prints at most one per 10 s), the
    kernel and its preemption model, the highest worker number seen."""
    doc = load("M16")
    cpu_line = _line(doc, "Comm: vmalloc_test/41")
    sup = int(re.search(r"warn_alloc: (\d+) callbacks suppressed",
                        _line(doc, "callbacks suppressed")).group(1))
    workers = max(int(w) for w in re.findall(r"vmalloc_test/(\d+)", "\n".join(doc["lines"])))
    m15 = load("M15")
    return {"tainted_w_at_first_shown_warn": "Tainted: G        W" in cpu_line,
            "warn_alloc_suppressed": sup,
            "kernel": re.search(r"(\d+\.\d+\.\d+-rc\d+\+?)", cpu_line).group(1),
            "preempt": re.search(r"PREEMPT\(\w+\)", cpu_line).group(0),
            "min_workers": workers + 1,
            "m15_not_tainted": "Not tainted" in _line(m15, "Comm: syz"),
            "m15_preempt": re.search(r"PREEMPT_\{[^}]*\}", _line(m15, "Comm: syz")).group(0)}


@dataclass
class MemInfo:
    """The Mem-Info of M16 at 50.74 s (pages of 4 KiB unless said)."""
    free_pages: int
    ram_pages: int
    slab_unreclaimable: int
    pagetables: int
    anon_file: int
    buddy: dict          # zone -> {order: free blocks}

    def blocks(self, zone: str, min_order: int) -> int:
        return sum(n for o, n in self.buddy[zone].items() if o >= min_order)

    def order6_equivalents(self, zone: str) -> int:
        """How many order-6 (256 KiB) allocations the zone's free blocks of order >= 6 serve."""
        return sum(n << (o - 6) for o, n in self.buddy[zone].items() if o >= 6)

    @property
    def gib(self) -> dict:
        g = PAGE_SIZE / (1 << 30)
        return {"free": self.free_pages * g, "slab_unreclaimable": self.slab_unreclaimable * g,
                "pagetables": self.pagetables * g}

    @property
    def ptes_cover_tib(self) -> float:
        """Address span whose PTE pages exist (one 4 KiB PTE page maps 2 MiB); vmalloc never frees
        PTE pages, so this bounds the vmalloc space ever mapped from below -- if nearly all
        page-table pages are vmalloc's (no user processes: anon and file are 0)."""
        return self.pagetables * (2 << 20) / (1 << 40)


def meminfo() -> MemInfo:
    doc = load("M16")
    text = "\n".join(doc["lines"])

    def num(key):
        return int(re.search(rf"\b{key}:(\d+)", text).group(1))
    buddy = {}
    for zone in ("DMA", "DMA32", "Normal"):
        ln = _line(doc, f"Node 0 {zone}: ")
        buddy[zone] = {(int(kb) // 4).bit_length() - 1: int(n)
                       for n, kb in re.findall(r"(\d+)\*(\d+)kB", ln)}
    anon_file = sum(num(k) for k in ("active_anon", "inactive_anon", "active_file",
                                     "inactive_file"))
    ram = int(re.search(r"(\d+) pages RAM", text).group(1))
    return MemInfo(num("free"), ram, num("slab_unreclaimable"), num("pagetables"), anon_file,
                   buddy)


@dataclass
class RecursionTrace:
    """The reliable frames of M16's stack-guard-page oops (51.818117..51.818853)."""
    counts: Counter
    frames: list
    stack: tuple          # (low, high) of the task's stack
    guard_hit: int

    @property
    def thread_size(self) -> int:
        return self.stack[1] - self.stack[0]

    @property
    def refills(self) -> int:
        return self.counts["vmap_bump_refill"]

    @property
    def nested_fallbacks(self) -> int:
        """kvmalloc's vmalloc fallbacks on the stack (``__kvmalloc_node_noprof+0x2fd``): the
        nesting depth reached."""
        return sum(1 for _, f in self.frames if f.startswith("__kvmalloc_node_noprof+0x2fd/"))

    @property
    def innermost_in_kmalloc(self) -> bool:
        """The innermost refill was in kvmalloc's kmalloc attempt (``+0x5c0``, under
        ``__kmalloc_large_node_noprof``), inside ``__alloc_pages_slowpath``."""
        names = [f.split("+")[0] for _, f in self.frames]
        return ("__alloc_pages_slowpath.constprop.0" in names
                and self.frames[names.index("__kvmalloc_node_noprof")][1].startswith(
                    "__kvmalloc_node_noprof+0x5c0/"))

    @property
    def lockdep(self) -> bool:
        return any(f.startswith("lock_acquire+") for _, f in self.frames)

    @property
    def outer(self) -> str:
        return next(f.split("+")[0] for _, f in self.frames if f.endswith("_test+0x68/0xf0"))


def recursion_trace() -> RecursionTrace:
    doc = load("M16")
    frames = [tuple(x) for x in doc["overflow_trace"]]
    counts = Counter(f.split("+")[0] for _, f in frames)
    ln = _line(doc, "stack guard page was hit")
    hit, lo, hi = (int(x, 16) for x in re.search(
        r"hit at ([0-9a-f]+) \(stack is ([0-9a-f]+)\.\.([0-9a-f]+)\)", ln).groups())
    return RecursionTrace(counts, frames, (lo, hi), hit)


def refills_per_call(loops: int = 1_000_000) -> dict:
    """Refill chains one ``long_busy_list_alloc_test`` call makes on its worker: each iteration
    takes 100 + 1 pages and 1 + 1 pages of forward-only bump space (the guard pages included),
    a chunk is 16384 pages; plus the setup's 15000 one-page areas and the 15000-entry array."""
    per_iter = (100 + 1) + (1 + 1)
    setup = 15000 * 2 + (-(-15000 * 8 // PAGE_SIZE) + 1)
    iters_per_chunk = CHUNK_PAGES // per_iter
    return {"pages_per_iteration": per_iter, "iterations_per_chunk": iters_per_chunk,
            "refills": -(-loops // iters_per_chunk) + -(-setup // CHUNK_PAGES)}


def implied_level_bytes(trace: RecursionTrace, below: tuple, leaf: tuple, top: tuple) -> tuple:
    """Bytes per nesting level on M16's kernel: the stack minus the part below the first
    ``alloc_vmap_area`` (*below*), the innermost kmalloc attempt (*leaf*) and the innermost
    level's ``alloc_vmap_area`` + ``vmap_bump_refill`` (*top*), divided by the completed levels
    (each ``(low, high)`` allowance is the notebook's estimate, not a measurement)."""
    n = trace.nested_fallbacks
    rest_hi = trace.thread_size - below[0] - leaf[0] - top[0]
    rest_lo = trace.thread_size - below[1] - leaf[1] - top[1]
    return rest_lo // n, rest_hi // n
