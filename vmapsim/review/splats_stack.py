"""Notebook ``07-splats``, question 9 (M16): the ``vmap_bump_refill`` recursion.

``vmap_bump_refill()`` allocates the chunk descriptor with ``kvzalloc()`` before it reserves
the new chunk; when the descriptor's order-6 kmalloc fails, kvmalloc's vmalloc fallback is
itself bump-eligible and meets the same exhausted chunk, so it refills again.  :func:`recursion`
runs refill chains on the design's refill path (:mod:`vmapsim.designs.rfc_v1_bump`:
``kvzalloc_fail``, ``kvzalloc_fail_mode``, ``refill_guard``); :func:`stack_budget` says how many
levels fit in the kernel stack from frame sizes measured on the running kernel
(``data/kernel/stack-frames.json``, written by ``tools/frame_sizes.py``) and labelled estimates
for the functions that kernel does not contain.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from ..designs import make_design
from ..designs.rfc_v1_bump import CHUNK_SIZE, DESC_VMALLOC_SIZE, FAIL_MODES, GUARDS
from ..params import check_choice, check_float, check_int
from ..paths import DATA_DIR
from ..vmalloc.vmap_area import PAGE_SIZE
from .figures import finished

__all__ = ["recursion", "RecursionRun", "stack_budget", "StackBudget", "plot_recursion",
           "NESTED_PAGES"]

#: the vmalloc fallback of the descriptor: PAGE_ALIGN(sizeof(struct vmap_bump_chunk)) + guard
NESTED_PAGES = DESC_VMALLOC_SIZE // PAGE_SIZE

def _frames() -> dict:
    path = DATA_DIR / "kernel" / "stack-frames.json"
    return json.loads(path.read_text())


@dataclass
class StackBudget:
    """How many nested refill levels fit in the kernel stack (bytes; ``low``/``high`` are the
    two ends of the estimate)."""
    thread_size: int
    measured: dict
    estimates: dict
    per_level: tuple
    base: tuple
    leaf: tuple
    levels: tuple
    kernel: str

    def rows(self) -> list[tuple]:
        rows = [(k, v, "measured") for k, v in self.measured.items()]
        rows += [(k, f"{lo}..{hi}", "estimate") for k, (lo, hi) in self.estimates.items()]
        return rows


def stack_budget(thread_size: int = 16384) -> StackBudget:
    """Levels of ``alloc_vmap_area -> vmap_bump_refill -> __kvmalloc_node_noprof ->
    __vmalloc_node_range_noprof -> __get_vm_area_node -> alloc_vmap_area`` that fit in
    ``THREAD_SIZE`` (16 KiB on x86-64 without KASAN, 32 KiB with it).

    Measured (running kernel, ``data/kernel/stack-frames.json``): the frames of the functions
    the series does not change, and of today's ``alloc_vmap_area``.  Estimated: the series'
    ``alloc_vmap_area`` (today's frame up to +240 B for the inlined bump and maple-state
    code), ``vmap_bump_refill`` (48..128 B), the bottom of the stack below the first
    ``alloc_vmap_area`` (a test_vmalloc kthread: 600..1000 B) and the deepest level's
    failing kmalloc attempt (the page allocator without reclaim: 800..1200 B)."""
    check_int("thread_size", thread_size, lo=4096, hi=1 << 20)
    f = _frames()
    fr = {k: v["frame_bytes"] for k, v in f["frames"].items()}
    chain = ("__kvmalloc_node_noprof", "__vmalloc_node_range_noprof", "__get_vm_area_node")
    measured = {k: fr[k] for k in ("alloc_vmap_area",) + chain}
    fixed = sum(fr[k] for k in chain) + 8        # __kvmalloc realigns its stack: up to 8 B
    est = {"alloc_vmap_area (series)": (fr["alloc_vmap_area"], fr["alloc_vmap_area"] + 240),
           "vmap_bump_refill (series)": (48, 128),
           "stack below the first alloc_vmap_area": (600, 1000),
           "deepest failing kmalloc attempt": (800, 1200)}
    lo = fixed + est["alloc_vmap_area (series)"][0] + est["vmap_bump_refill (series)"][0]
    hi = fixed + est["alloc_vmap_area (series)"][1] + est["vmap_bump_refill (series)"][1]
    base, leaf = est["stack below the first alloc_vmap_area"], est["deepest failing kmalloc attempt"]
    most = (thread_size - base[0] - leaf[0]) // lo
    least = (thread_size - base[1] - leaf[1]) // hi
    return StackBudget(thread_size, measured, est, (lo, hi), base, leaf, (least, most),
                       f.get("kernel", "?"))


@dataclass
class RecursionRun:
    """Refill chains on one CPU: the nesting depth each chain reached."""
    fail: float
    mode: str
    guard: str
    stack_levels: int
    chains: int
    depths: Counter
    overflows: int
    failed_allocs: int
    tree_fallbacks: int
    chunks: int
    counts: dict

    @property
    def max_depth(self) -> int:
        return max(self.depths, default=0)

    def share_reaching(self, level: int) -> float:
        return sum(v for k, v in self.depths.items() if k >= level) / max(1, self.chains)


def recursion(fail: float = 0.5, mode: str = "independent", guard: str = "none",
              chains: int = 500, stack_levels: int = 14, seed: int = 0) -> RecursionRun:
    """Refill chains on the posted refill path (or a fixed one): one CPU allocates 32 MB areas
    (two fill a chunk), so every third allocation finds the chunk exhausted and refills; the
    descriptor's kmalloc fails at rate *fail* (``mode`` independent or persistent).  Each
    chain's depth is the number of nested vmalloc fallbacks it made; ``stack_levels`` is the
    depth taken as the stack's end (:func:`stack_budget`)."""
    check_float("fail", fail, lo=0.0, hi=1.0)
    check_choice("mode", mode, FAIL_MODES)
    check_choice("guard", guard, GUARDS)
    check_int("chains", chains, lo=1, hi=1_000_000)
    check_int("stack_levels", stack_levels, lo=1, hi=1000)
    d = make_design("rfc-v1", possible_cpus=1, kvzalloc_fail=fail, kvzalloc_fail_mode=mode,
                    refill_guard=guard, stack_levels=stack_levels, seed=seed)
    c = d.bump.counts
    depths: Counter = Counter()
    failed = tree = 0
    done = 0
    size = CHUNK_SIZE // 2                          # 32 MB: the largest bump-eligible request
    while done < chains:
        r0, f0 = c["refills"], c["kvzalloc_vmalloc_fallback"]
        b0 = c["bump_allocs"]
        addr = d.alloc_vmap_area(size)
        if addr is None:
            failed += 1
        elif c["bump_allocs"] == b0:
            tree += 1                               # served by the tree path
        if c["refills"] > r0:
            done += 1
            depths[c["kvzalloc_vmalloc_fallback"] - f0] += 1
        if addr is not None:
            d.vfree(addr)
    return RecursionRun(fail, mode, guard, stack_levels, chains, depths, c["stack_overflow"],
                        failed, tree, len(d.bump.chunks), dict(c))


def plot_recursion(runs):
    """Share of refill chains reaching each nesting depth (log scale), one line per run (a
    figure not registered with pyplot: shown once, as the cell's value)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    for r in runs:
        top = max(r.max_depth, 1)
        xs = list(range(top + 1))
        ys = [r.share_reaching(x) for x in xs]
        ax.step(xs, [max(y, 1e-4) for y in ys], where="post",
                label=f"p={r.fail} {r.mode}, guard={r.guard}")
    if runs:
        ax.axvline(runs[0].stack_levels, color="#c0392b", ls="--", lw=1)
        ax.text(runs[0].stack_levels, 0.5, " stack end (estimate)", color="#c0392b", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("nested vmalloc fallbacks in one refill chain")
    ax.set_ylabel("share of chains reaching it")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return finished(fig)

