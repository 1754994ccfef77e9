# %% [markdown]
# # vmapsim: evidence for the review of "mm/vmalloc: migrate vmap_area indexing to the maple tree"
#
# This collection answers the questions the RFC thread (linux-mm, June 2026) left open with
# three tools, each a model, not the kernel: a model of today's allocator whose address choices
# are checked against real kernel traces (notebook 05); a Python port of the kernel's maple tree
# (its node layouts and heights are checked against a kernel build, the store type each
# operation takes is not); and an interleaving explorer that runs Python models of the lookup
# and update protocols on small hand-built scenarios, under sequentially consistent memory
# (weak-memory ordering is not explored). This page is the map.
#
# ## The thread in brief
#
# Pranjal Arya posted a 12-patch RFC moving vmalloc's `vmap_area` indexing from augmented rb-trees
# to maple trees (a global occupied tree as the hot-path allocator index, per-node busy maple trees,
# a free maple tree kept for slow paths, per-CPU bump chunks). Three questions carry the review:
#
# **1. Is the separate free tree still needed?** Matthew Wilcox, 13 Jun 2026
# ([maple-tree archive](http://lists.infradead.org/pipermail/maple-tree/2026-June/005087.html)):
#
# > What I don't understand is why you maintain a separate "free" tree.
# > It should not be necessary any more, but maybe you tried removing it
# > already and found a performance problem?
#
# Uladzislau Rezki answered that the split "prevents interfering between allocated data and
# vmap-free-space manager ... So by splitting parts i minimize lock-contention." (M17, 15 Jun);
# Pranjal Arya replied that the next version removes the free tree (M20, M21).
#
# **2. Trylock and retry under RCU.** Matthew Wilcox, 16 Jun 2026
# ([maple-tree archive](http://lists.infradead.org/pipermail/maple-tree/2026-June/005092.html)):
#
# > - Write side has to RCU-free the objects that are stored in the tree
# > - Read side has to trylock the objects it finds (and retry the walk
# > if the trylock fails)
#
# **3. A lockless `find_vmap_area()`.** Pranjal Arya's plan, 26 Jun 2026
# ([lkml](https://lkml.iu.edu/hypermail/linux/kernel/2606.3/04735.html)), which has no reply:
#
# > find_vmap_area() will walk vn->busy.mt under rcu_read_lock()
# > using mas_walk() (RCU safe tree traversal) & will then validate
# > the found object using READ_ONCE before returning it.
# > [...]
# > Does it sound like a good plan ?

# %%
import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from vmapsim import report
from vmapsim.numbers import error_band
from vmapsim.review import overview

FAST = report.setup()

# %% tags=["parameters"]
# Parameters: `make report -p` / papermill / the test suite may override these.
cpus = 8                  # possible (= online) CPUs of the machine modelled
design = "linux-6.18"     # "linux-6.18" or "linux-6.8"
max_cpus = 64 if FAST else 1024   # right end of the CPU-count sweep
areas = 1024              # vmalloc areas allocated for the index-shape experiment
free_fraction = 0.3       # fraction of them freed again (at random, seeded)
seed = 0

# %%
# Validate the parameters first: a bad value stops here with one line naming it.
geometry = overview.vmap_node_geometry(cpus=cpus, design=design)
shape = overview.index_shape(areas=areas, free_fraction=free_fraction, seed=seed)
sweep_cpus = [c for c in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if c <= max_cpus]
sweep_areas = [a for a in (16, 64, 256, 1024, 4096, 16384) if a <= (1024 if FAST else 16384)]
print(f"cpus={cpus} design={design} areas={areas} free_fraction={free_fraction} seed={seed} "
      f"fast={FAST}")

# %% [markdown]
# ## The designs under review
#
# Every allocator design is created by name (`vmapsim.designs.make_design(name)`), and every
# notebook that compares designs takes the name as a parameter.

# %%
rows = overview.design_map()
table = "\n".join(f"| `{n}` | {t} |" for n, t in rows)
display(Markdown("| design | what it is |\n|---|---|\n" + table))

# %% [markdown]
# ## Map of the notebooks

# %%
rows = overview.notebook_map(".")
table = "\n".join(f"| `{n}` | {s} | {t} |" for n, s, t in rows)
display(Markdown("| notebook | status | answers |\n|---|---|---|\n" + table))

# %% [markdown]
# ## How to rerun, change parameters and export
#
# * **Open and run:** `make lab` opens JupyterLab on `notebooks/`; *Run > Run All Cells*.
#   Widgets redraw live; each widget output starts with a `controls:` line naming its values.
# * **Change parameters:** edit the cell marked *Parameters* (tagged `parameters`) and rerun,
#   or run the whole report with overrides: `.venv/bin/python tools/report.py 00-overview -p cpus=64`.
#   `VMAPSIM_FAST=1` selects the small variant the test suite uses.
# * **Export:** `make report` executes every notebook and writes `build/report/<name>.html`
#   (one self-contained page, no network, widgets frozen to what they showed),
#   `build/report/<name>.eml` (the notebook's plain-text reply to the message it answers, with
#   the thread's headers, for `git send-email` or `mutt -H`; vger lists reject HTML mail, so
#   send it and link the page: `make report REPORT_URL=...` says where the pages are
#   published), the same reply as `<name>.txt`, and the key numbers as `<name>.json`.
#
# ## A first live experiment: how 6.18 shards the vmalloc index
#
# Rezki's answer to question 1 is about lock contention, so the first thing to know is how
# many locks guard the index today. In 6.18 (`mm/vmalloc.c:vmap_init_nodes`, 64-bit kernels)
# the number of `vmap_node`s is the number of *possible* CPUs clamped to 1..128 (one node if
# the boot-time `kmalloc_array` of the nodes fails); with more than one node, addresses are
# striped over the nodes in 16-page zones (`addr_to_node_id`; with one node `vmap_zone_size`
# keeps its initial value, 1 byte, and nothing is striped). Each node has its own busy and lazy
# spinlocks, and a pool spinlock that is used only with more than one node (`node_alloc()`
# falls back to the free tree when there is one node). The free space stays one global
# augmented rb-tree under one spinlock, `free_vmap_area_lock`, taken by every allocation the
# per-node pools do not serve (among them: a miss on the CPU's node pool, whose size class is
# empty or whose first area is not aligned as asked, `node_pool_del_va`; sizes over the pools'
# largest class, 256 pages with the guard page; every request outside the standard vmalloc
# range; and all of them with one node), by every purge for the areas it does not return to a pool
# (`reclaim_list_global`), by every pool decay that releases areas (`decay_va_pool_node`; one
# that releases none takes no lock), by the pool shrinker and
# by `pcpu_get_vm_areas`. Purges are serialised by a mutex, `vmap_purge_lock`, which guards no
# index and is not counted below. Lazily freed areas are purged once `lazy_max_pages() =
# fls(online CPUs) * 32 MiB / PAGE_SIZE` pages are pending: that limit follows the *online*
# CPUs, the nodes the *possible* ones. The table assumes every possible CPU is online.

# %%
sweep = overview.geometry_sweep(cpus=sweep_cpus, design=design)
report.table(("possible (= online) CPUs", "vmap_nodes", "lazy_max MiB", "index spinlocks",
              "vmap_zone_size (B)"),
             list(zip(sweep["cpus"], sweep["nr_vmap_nodes"], sweep["lazy_max_mib"],
                      sweep["index_spinlocks"], sweep["zone_bytes"])),
             title=f"{design}: {len(sweep_cpus)} CPU counts, {sweep_cpus[0]} to {sweep_cpus[-1]}")

# %% [markdown]
# Move the slider: the plot and the line above it are recomputed by
# `vmapsim.review.overview.vmap_node_geometry` (the experiment) and drawn by `overview.plot_geometry`.

# %%
def show(g):
    print(g.line())
    return overview.plot_geometry(g, sweep=overview.geometry_sweep(design=g.design))


report.bind(
    overview.vmap_node_geometry, show,
    cpus=widgets.IntSlider(value=cpus, min=1, max=256, description="cpus"),
    design=widgets.Dropdown(options=overview.DESIGNS, value=design, description="design"),
)

# %% [markdown]
# ## A second live experiment: the shape of a maple-tree index (synthetic layout)
#
# The cover letter argues for "shallower walks under the same N" and, among its advantages,
# that the maple tree's fanout "replaces a binary rb-tree descent for indexed lookups, giving a
# shallower walk for the same allocation count" (M1, as M25 quotes it): the maple tree has up
# to 16 slots per leaf and 10 per allocation-range internal node, where an rb-tree has 2
# children per node. Below, on a **synthetic** layout (not a trace), vmalloc-sized areas
# (1..16 pages plus the guard page) are allocated lowest-first, a random fraction is freed, and
# the survivors are stored in the project's Python port of the maple tree,
# `vmapsim.maple.MapleTree`, the way the RFC's occupied tree holds them
# (`MT_FLAGS_ALLOC_RANGE`, `XA_ZERO_ENTRY` per busy range). The maple side is measured on the
# port (and `validate()`d); the rb-tree side is the exact height range of a red-black tree with
# the same number of nodes, not a simulation. One tree holds everything here; 6.18 splits the
# busy areas over its nodes' busy trees (so each is shallower than the "rb busy" column), and
# its allocator walks the free tree ("rb free"). Heights are not costs: a maple level scans up
# to 16 pivots in a 256-byte node, an rb level compares one key.

# %%
shapes = overview.index_sweep(areas=sweep_areas, free_fraction=free_fraction, seed=seed)
report.table(
    ("areas", "busy", "gaps", "maple height", "maple nodes", "rb busy height", "rb free height"),
    [(s.areas, s.busy, s.gaps, s.maple_height, s.maple_nodes,
      "%d..%d" % s.rb_busy_height, "%d..%d" % s.rb_free_height) for s in shapes],
    title=f"synthetic layout, {free_fraction:.0%} freed, seed {seed} (not a trace)")

# %%
def show_shape(s):
    print(s.line())
    return overview.plot_index_shape(s, shapes)


report.bind(
    overview.index_shape, show_shape,
    areas=widgets.SelectionSlider(options=[16, 64, 256, 1024, 4096, 8192], value=areas,
                                  description="areas"),
    free_fraction=widgets.FloatSlider(value=free_fraction, min=0.0, max=0.9, step=0.1,
                                      description="freed"),
    seed=widgets.fixed(seed),
)

# %% [markdown]
# ## Claims checked in this run
#
# Every number below is recomputed by this run and checked; the notebook fails if one does not
# hold. The 2-CPU figure is the `nr_lazy_max=16384` that the `free_vmap_area_noflush` trace
# event reports on the 2-CPU Linux 6.18 machine this project was developed on.

# %%
g8 = overview.vmap_node_geometry(cpus=8)
g2 = overview.vmap_node_geometry(cpus=2)
g1 = overview.vmap_node_geometry(cpus=1)
g_big = overview.vmap_node_geometry(cpus=1024)
g68 = overview.vmap_node_geometry(cpus=1024, design="linux-6.8")
claims = report.Claims()
claims.add("6.18 has one vmap_node per possible CPU up to 128", g8.nr_vmap_nodes, "x == 8",
           "mm/vmalloc.c:vmap_init_nodes")
claims.add("... and never more than 128", g_big.nr_vmap_nodes, "x == 128",
           "mm/vmalloc.c:vmap_init_nodes")
claims.add("zones are 16 pages (64 KiB with 4 KiB pages)", g8.zone_bytes, "x == 65536",
           "mm/vmalloc.c:vmap_init_nodes")
claims.add("one CPU: one node, no per-node pools", (g1.nr_vmap_nodes, g1.pools),
           "x == (1, False)", "mm/vmalloc.c:node_alloc")
claims.add("... and vmap_zone_size keeps its initial value, 1 byte", g1.zone_bytes, "x == 1",
           "mm/vmalloc.c:vmap_zone_size")
claims.add("index spinlocks at 1 CPU: free_vmap_area_lock, busy.lock, lazy.lock", len(g1.locks),
           "x == 3", "mm/vmalloc.c:vmap_init_nodes, node_alloc")
claims.add("lazy_max_pages on 2 CPUs (trace: nr_lazy_max=16384)", g2.lazy_max_pages,
           "x == 16384", "mm/vmalloc.c:lazy_max_pages")
claims.add("free space has one lock whatever the CPU count",
           sum("free_vmap_area_lock" in lk for lk in g_big.locks), "x == 1",
           "mm/vmalloc.c:alloc_vmap_area")
claims.add("6.8 guards all busy areas with one lock", g68.nr_vmap_nodes, "x == 1",
           "v6.8 mm/vmalloc.c:vmap_area_lock")
s1k = overview.index_shape(areas=1024, free_fraction=0.3, seed=0)
per_node = overview.busy_per_node(areas=1024, free_fraction=0.3, seed=0, cpus=8)
rb_node = (overview.rb_height_bounds(min(per_node))[0], overview.rb_height_bounds(max(per_node))[1])
claims.add("maple index of ~700 busy areas is at most 3 levels", s1k.maple_height, "x <= 3",
           "vmapsim.maple (measured)")
claims.add("... where one rb-tree of them needs at least 10", s1k.rb_busy_height[0], "x >= 10",
           "ceil(log2(n+1))")
claims.add("6.18's busy trees at 8 CPUs hold fewer each (most per tree)", max(per_node),
           "x < 717 // 4", "addr_to_node over the same layout")
claims.add("maple nodes per busy area (256 B each)", s1k.maple_nodes / s1k.busy,
           "0.05 <= x <= 0.2", "vmapsim.maple (measured)")
claims.verify()

# %% [markdown]
# ## The key numbers, and the reply
#
# The numbers the reply states, each with where it comes from and the conditions that
# reproduce it (`make report` writes them to `build/report/00-overview.json`), then the reply
# itself (`00-overview.txt`, and `00-overview.eml` ready for `git send-email` or `mutt -H`).

# %%
nums = report.Numbers("00-overview")
for g in (g1, g2, g8, overview.vmap_node_geometry(cpus=64), g_big):
    cond = dict(design=g.design, cpus=g.cpus, online_cpus=g.online_cpus)
    nums.add("vmap_nodes", g.nr_vmap_nodes, source="kernel-source", **cond)
    nums.add("zone", g.zone_bytes, "B", source="kernel-source", **cond)
    nums.add("lazy_max", g.lazy_max_bytes >> 20, "MiB", source="kernel-source", **cond)
    nums.add("index spinlocks", len(g.locks), source="kernel-source", **cond)
report.summary(
    "00-overview",
    title="how today's vmalloc index is sharded",
    answers="M14",
    parts=[("M14-text",
            "Rezki answered why the free tree is kept (M17: lock contention), and Pranjal "
            "plans to remove it (M20, M21). What removing it touches, in 6.18's "
            "mm/vmalloc.c: the busy and lazy trees are sharded into one vmap_node per "
            "possible CPU (at most 128), each with its own spinlocks, while all free space is "
            "one augmented rb-tree under free_vmap_area_lock. That lock is taken by every "
            "allocation the per-node pools do not serve (among them: a miss because the "
            "CPU's node pool has no area of that size or its first one is not aligned as "
            "asked, sizes over the pools' largest class of 256 pages, requests outside the "
            "standard vmalloc range, and every request on a one-node machine), by each purge for the "
            "areas it does not return to a pool, by every pool decay that releases areas, by "
            "the pool shrinker "
            "and by pcpu_get_vm_areas(). Without a free tree, all of these meet whatever "
            "guards the gaps. This project offers no contention figure for that here: its "
            "performance model's times carry a band of "
            f"+-{error_band():.0%} (its largest held-out error of a time against Rezki's "
            "published Threadripper 3970X figures, rounded up; its held-out profile shares are "
            "off by more), too wide to settle it.")],
    numbers=nums, rows=("cpus", "online_cpus"),
    conclusion=f"The table: here cpus are possible CPUs (they set the nodes and the zones), "
               f"online_cpus the online ones (they set lazy_max); in the performance figures "
               f"of 01, 03 and 04, which run a workload, cpus are the CPUs running it and "
               f"online_cpus the CPUs online, the model's possible CPUs being the online ones "
               f"(so cpus=8 online_cpus=64 there is 8 of 64 CPUs busy); a zone of 1 B means no "
               f"striping; the index spinlocks are free_vmap_area_lock and each node's busy, "
               f"lazy and (with more than one node) pool locks. For scale, on a synthetic "
               f"layout ({s1k.areas} areas of 1-16 pages plus a guard page, allocated "
               f"lowest-first, {s1k.free_fraction:.0%} freed at random, seed {s1k.seed}) in "
               f"this project's Python port of the maple tree: one maple tree of the "
               f"{s1k.busy} busy ranges is {s1k.maple_height} levels deep in "
               f"{s1k.maple_nodes} nodes of 256 B. One rb-tree of them would take "
               f"{s1k.rb_busy_height[0]}-{s1k.rb_busy_height[1]} levels, but 6.18 splits them "
               f"over its nodes' busy trees ({min(per_node)}-{max(per_node)} per tree at 8 "
               f"CPUs: {rb_node[0]}-{rb_node[1]} levels), and its allocator walks the free "
               f"rb-tree of the {s1k.gaps} gaps ({s1k.rb_free_height[0]}-"
               f"{s1k.rb_free_height[1]} levels). Heights, not costs: a maple level scans up "
               f"to 16 pivots of a 256-byte node, an rb level compares one key.",
)
