"""Plots of notebook ``01-free-tree`` (data from :mod:`vmapsim.review.free_tree` and
:mod:`vmapsim.review.free_tree_work`; each function returns a matplotlib Figure)."""
from __future__ import annotations

from ..vmalloc.vmap_area import VMALLOC_START
from .figures import finished

__all__ = ["plot_replay_matrix", "plot_address_differences", "plot_lock_work", "plot_memory",
           "plot_reader_interference", "CAUSE_COLORS"]

CAUSE_COLORS = {"bump-chunk": "tab:red", "exact-aligned-gap": "tab:blue",
                "lazy-list-order": "tab:orange", "exact-range-padding": "tab:purple",
                "matched-kernel": "tab:green", "unexplained": "black"}


def _plt():
    import matplotlib.pyplot as plt
    return plt


def plot_replay_matrix(matrix, labels=None):
    """Per trace and design: share of allocations where the design chooses differently from
    6.18 (stacked by cause; green = the design predicted the kernel where 6.18 did not)."""
    plt = _plt()
    traces = sorted({t for t, _ in matrix})
    labels = labels or sorted({lab for _, lab in matrix}, key=list(dict.fromkeys(
        lab for _, lab in matrix)).index)
    labels = [x for x in labels if x != "linux-6.18"]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / max(1, len(traces))
    causes = sorted({c for r in matrix.values() for c in r.own_by_cause})
    for ti, t in enumerate(traces):
        for li, lab in enumerate(labels):
            r = matrix.get((t, lab))
            if r is None:
                continue
            bottom = 0.0
            for c in causes:
                v = 100 * r.own_by_cause.get(c, 0) / max(1, r.allocs)
                if v:
                    ax.bar(li + ti * width, v, width, bottom=bottom,
                           color=CAUSE_COLORS.get(c, "gray"), edgecolor="white", linewidth=0.3,
                           label=c if (ti == 0 and li == 0) or c not in ax.get_legend_handles_labels()[1] else None)
                    bottom += v
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=15, fontsize=8)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylabel("% of allocations differing from 6.18")
    ax.set_title(f"choices that differ from linux-6.18, by named cause ({len(traces)} trace(s), "
                 "one bar per trace)", fontsize=9)
    handles, names = ax.get_legend_handles_labels()
    seen = dict(zip(names, handles))
    ax.legend(seen.values(), seen.keys(), fontsize=7, loc="upper right")
    fig.tight_layout()
    return finished(fig)


def plot_address_differences(tr, rows):
    """Kernel's addresses over time (grey) and the design's differing predictions (by cause)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3.6))
    t0 = tr.records[0][0] if tr.records else 0.0
    xs = [(g[0] - t0) for g in tr.records if g[2] >= VMALLOC_START]
    ys = [(g[2] - VMALLOC_START) / 2**20 for g in tr.records if g[2] >= VMALLOC_START]
    ax.scatter(xs, ys, s=2, color="0.75", label="kernel's address")
    by = {}
    for t, size, align, kaddr, ref, pred, cause in rows:
        if pred is None or pred < VMALLOC_START:
            continue
        by.setdefault(cause, ([], []))
        by[cause][0].append(t)
        by[cause][1].append((pred - VMALLOC_START) / 2**20)
    for cause, (x, y) in sorted(by.items()):
        ax.scatter(x, y, s=8, color=CAUSE_COLORS.get(cause, "gray"),
                   label=f"{tr.label}: {cause} ({len(x)})")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel("seconds into the trace")
    ax.set_ylabel("MiB above VMALLOC_START")
    ax.set_title(f"{tr.trace}: where {tr.label} places allocations differently from 6.18",
                 fontsize=9)
    ax.legend(fontsize=7, loc="lower right", markerscale=2)
    fig.tight_layout()
    return finished(fig)


def plot_lock_work(works: dict, op: str = "alloc_vmap_area", what: int = 1):
    """Per design: nodes visited (*what* = 1) or written (2) per *op*, stacked by lock."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3.6))
    locks = []
    for w in works.values():
        for (o, lk, k) in w.cells:
            if o == op and (lk, k) not in locks:
                locks.append((lk, k))
    cmap = plt.get_cmap("tab20")
    for i, (label, w) in enumerate(works.items()):
        bottom = 0.0
        n = w.ops[op] or 1
        for j, (lk, k) in enumerate(locks):
            v = w.cells.get((op, lk, k), [0] * 5)[what] / n
            if v:
                ax.bar(i, v, 0.6, bottom=bottom, color=cmap(j % 20),
                       label=f"{lk} ({k})")
                bottom += v
    ax.set_xticks(range(len(works)))
    ax.set_xticklabels(list(works), rotation=15, fontsize=8)
    ax.set_ylabel(("", "nodes visited", "nodes written")[what] + f" per {op}")
    handles, names = ax.get_legend_handles_labels()
    seen = dict(zip(names, handles))
    ax.legend(seen.values(), seen.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title(f"work per {op}, by the lock held while it is done", fontsize=9)
    fig.tight_layout()
    return finished(fig)


def plot_memory(mem: dict):
    """Per design: vmap_area objects and tree nodes, bytes per busy area (stacked)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    labels = list(mem)
    va = [mem[x].vmap_area_bytes / max(1, mem[x].busy_areas) for x in labels]
    nodes = [mem[x].index_node_bytes / max(1, mem[x].busy_areas) for x in labels]
    ax.bar(labels, va, 0.6, label="vmap_area objects")
    ax.bar(labels, nodes, 0.6, bottom=va, label="maple nodes (256 B)")
    ax.set_ylabel("index bytes per busy area")
    ax.tick_params(axis="x", labelrotation=15, labelsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finished(fig)


def plot_reader_interference(rows, *, title: str = ""):
    """Rows of :func:`vmapsim.perf.readers.reader_interference`: left, how much the readers
    slow the allocators (us per loop iteration, % over allocators alone); right, how much the
    allocators slow each kind of read (% over the same reads with no allocator running).
    One bar per design and reader protocol ("rcu": M22's walks under RCU)."""
    import numpy as np
    plt = _plt()
    labels = [f"{r['design']}" + (" / rcu" if r.get("rcu") else "")
              + (f" / {r['lookup']}" if r.get("lookup", "spinlock") != "spinlock" else "")
              for r in rows]
    kinds = [k for k in ("vread", "vmallocinfo", "usercopy", "dump_obj")
             if any(f"{k}_slowdown" in r for r in rows)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.arange(len(rows))
    a1.bar(x, [100 * r["alloc_slowdown"] for r in rows], color="tab:blue")
    a1.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
    a1.set_ylabel("allocators: % slower with readers")
    a1.set_title("readers slow the allocators")
    width = 0.8 / max(1, len(kinds))
    for i, k in enumerate(kinds):
        a2.bar(x + (i - (len(kinds) - 1) / 2) * width,
               [100 * r.get(f"{k}_slowdown", np.nan) for r in rows], width, label=k)
    a2.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
    a2.set_ylabel("reads: % slower with allocators")
    a2.set_title("allocators slow the readers")
    a2.legend(fontsize=7)
    for ax in (a1, a2):
        ax.axhline(0, color="k", lw=0.6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return finished(fig)
