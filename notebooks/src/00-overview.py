# %% [markdown]
# # vmapsim: evidence for the review of "mm/vmalloc: migrate vmap_area indexing to the maple tree"
#
# This collection answers the questions the RFC thread (linux-mm, June 2026) left open, with a
# model of today's allocator that is checked against real kernel traces, a faithful maple tree,
# and an interleaving explorer that runs the real code paths. This page is the map.
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
# vmap-free-space manager ... So by splitting parts i minimize lock-contention." (15 Jun).
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
# many locks guard the index today. In 6.18 (`mm/vmalloc.c:vmap_init_nodes`) the number of
# `vmap_node`s is the number of *possible* CPUs clamped to 1..128; addresses are striped over
# the nodes in 16-page zones (`addr_to_node_id`), and each node has its own busy, lazy and pool
# locks. The free space stays one global tree under one lock, `free_vmap_area_lock`: that is
# the lock every allocation that misses the per-node pools takes. Lazily freed areas are
# purged once `lazy_max_pages() = fls(online CPUs) * 32 MiB / PAGE_SIZE` pages are pending.

# %%
sweep = overview.geometry_sweep(cpus=sweep_cpus, design=design)
report.table(("CPUs", "vmap_nodes", "lazy_max MiB", "index locks"), list(zip(*sweep.values())),
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
# ## A second live experiment: the shape of a maple-tree index
#
# The RFC's case rests partly on "shallower lookups": the maple tree has up to 16 slots per
# leaf and 10 per allocation-range internal node, where an rb-tree has 2 children per node.
# Below, vmalloc-sized areas (1..16 pages plus the guard page) are allocated lowest-first, a
# random fraction is freed, and the survivors are stored in `vmapsim.maple.MapleTree` the way
# the RFC's occupied tree holds them (`MT_FLAGS_ALLOC_RANGE`, `XA_ZERO_ENTRY` per busy range).
# The maple side is measured on the real tree (and `validate()`d); the rb-tree side is the
# exact height range of a red-black tree with the same number of nodes, not a simulation.

# %%
shapes = overview.index_sweep(areas=sweep_areas, free_fraction=free_fraction, seed=seed)
report.table(
    ("areas", "busy", "gaps", "maple height", "maple nodes", "rb busy height", "rb free height"),
    [(s.areas, s.busy, s.gaps, s.maple_height, s.maple_nodes,
      "%d..%d" % s.rb_busy_height, "%d..%d" % s.rb_free_height) for s in shapes])

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
claims.add("lazy_max_pages on 2 CPUs (trace: nr_lazy_max=16384)", g2.lazy_max_pages,
           "x == 16384", "mm/vmalloc.c:lazy_max_pages")
claims.add("free space has one lock whatever the CPU count",
           sum("free_vmap_area_lock" in lk for lk in g_big.locks), "x == 1",
           "mm/vmalloc.c:alloc_vmap_area")
claims.add("6.8 guards all busy areas with one lock", g68.nr_vmap_nodes, "x == 1",
           "v6.8 mm/vmalloc.c:vmap_area_lock")
s1k = overview.index_shape(areas=1024, free_fraction=0.3, seed=0)
claims.add("maple index of ~700 busy areas is at most 3 levels", s1k.maple_height, "x <= 3",
           "vmapsim.maple (measured)")
claims.add("... where any rb-tree of them needs at least 10", s1k.rb_busy_height[0], "x >= 10",
           "ceil(log2(n+1))")
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
    cond = dict(design=g.design, cpus=g.cpus)
    nums.add("vmap_nodes", g.nr_vmap_nodes, source="kernel-source", **cond)
    nums.add("zone", g.zone_bytes // 1024, "KiB", source="kernel-source", **cond)
    nums.add("lazy_max", g.lazy_max_bytes >> 20, "MiB", source="kernel-source", **cond)
    nums.add("index locks", len(g.locks), source="kernel-source", **cond)
report.summary(
    "00-overview",
    title="how today's vmalloc index is sharded",
    answers="M14",
    parts=[("M14-text",
            "In Linux 6.18 the busy and lazy trees are already sharded into up to 128 "
            "vmap_nodes with their own locks, but all free space is one augmented rb-tree "
            "under free_vmap_area_lock, taken by every allocation that misses the per-node "
            "pools. Any answer to the free-tree question has to say what happens to that "
            "one lock; notebooks 01 and 04 measure it per design.")],
    numbers=nums, rows="cpus",
    conclusion=f"For scale: a maple tree holding {s1k.busy} busy areas (measured on "
               f"vmapsim.maple) is {s1k.maple_height} levels deep where any rb-tree of them "
               f"needs at least {s1k.rb_busy_height[0]}, in {s1k.maple_nodes} nodes of 256 B.",
)
