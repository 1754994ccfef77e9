"""Plots of notebook ``01-free-tree`` (data from :mod:`vmapsim.review.free_tree` and
:mod:`vmapsim.review.free_tree_work`; each function returns a matplotlib Figure)."""
from __future__ import annotations

from ..vmalloc.vmap_area import VMALLOC_START
from .figures import finished

__all__ = ["plot_replay_matrix", "plot_address_differences", "plot_lock_work", "plot_memory",
           "plot_reader_interference", "plot_steady", "plot_readers", "plot_reader_run",
           "CAUSE_COLORS"]

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


def plot_steady(runs: dict, designs, cpus, workload: str, band: float, *, title: str = ""):
    """us per loop against CPUs (= CPUs online) per design, steady state, from ``{(workload,
    cpus, design): ModelRun}``; the shaded area is what the model cannot tell from linux-6.18:
    a time within ``(1 - band, 1 + band)`` times 6.18's."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    base = [runs[(workload, n, "linux-6.18")].us_per_op for n in cpus]
    ax.fill_between(cpus, [max(0.0, 1 - band) * b for b in base], [(1 + band) * b for b in base],
                    color="0.88", label=f"within +-{band:.0%} of linux-6.18 (not distinguishable)")
    for d in designs:
        ax.plot(cpus, [runs[(workload, n, d)].us_per_op for n in cpus], marker="o", label=d)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(cpus), [str(n) for n in cpus])
    ax.set_xlabel("CPUs running the test (= CPUs online)")
    ax.set_ylabel("us per loop (test_vmalloc avg / loops)")
    ax.set_title(title or f"{workload}, steady state", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return finished(fig)


def plot_readers(rows, band: float, *, title: str = ""):
    """:class:`~vmapsim.review.free_tree_perf.ReaderRun` rows: left, the allocators' time with
    the reader over without; right, the reader's time per read with the allocators over
    without; one bar per design and protocol, grouped by reader kind, log scale; the dashed
    line is ``1 + band``: bars below it are not distinguishable by the model."""
    import numpy as np
    plt = _plt()
    kinds = list(dict.fromkeys(r.kind for r in rows))
    series = list(dict.fromkeys((r.design, r.protocol) for r in rows))
    cmap = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(1, len(series))
    for ax, what, label in ((axes[0], "alloc_ratio", "allocators: time with the reader / alone"),
                            (axes[1], "read_ratio", "reader: time per read with allocators / alone")):
        for j, key in enumerate(series):
            xs, ys = [], []
            for i, k in enumerate(kinds):
                hit = [r for r in rows if (r.design, r.protocol) == key and r.kind == k]
                if hit:
                    xs.append(i + (j - (len(series) - 1) / 2) * width)
                    ys.append(getattr(hit[0], what))
            ax.bar(xs, ys, width, color=cmap(j % 10), label=f"{key[0]} / {key[1]}")
        ax.axhline(1 + band, color="k", ls="--", lw=0.8)
        ax.axhline(1, color="k", lw=0.5)
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(kinds)), kinds)
        ax.set_ylabel(label, fontsize=8)
    axes[0].legend(fontsize=6, loc="upper right")
    axes[0].set_title("readers slow the allocators", fontsize=9)
    axes[1].set_title(f"allocators slow the readers (dashed: 1 + band = {1 + band:.2f})",
                      fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return finished(fig)


def plot_reader_run(run, band: float):
    """One :class:`~vmapsim.review.free_tree_perf.ReaderRun`: the allocators' us per loop and the
    reader's us per read, each alone and together."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 2.8))
    a1.bar(["alone", "with reader"], [run.alloc_us, run.alloc_us_with], color=["0.6", "tab:blue"])
    a1.set_ylabel("allocators: us per loop")
    a2.bar(["alone", "with allocators"], [run.read_us, run.read_us_with],
           color=["0.6", "tab:orange"])
    a2.set_ylabel(f"{run.kind}: us per read")
    a2.set_yscale("log")
    fig.suptitle(f"{run.design} / {run.protocol}, {run.kind} at "
                 f"{'back to back' if run.rate <= 0 else f'{run.rate:g}/s'} "
                 f"(band +-{band:.0%})", fontsize=9)
    fig.tight_layout()
    return finished(fig)
