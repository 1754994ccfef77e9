"""The overview notebook's live experiment: how today's vmalloc index is laid out for a CPU count.

These are closed-form facts of the kernel, not a simulation; the allocator itself is modelled
in ``linux618``/``linux68``.  Checked against ``mm/vmalloc.c`` of the 6.18 era:

* ``mm/vmalloc.c:vmap_init_nodes`` -- on 64-bit, ``nr_vmap_nodes = clamp(num_possible_cpus(),
  1, 128)``; with more than one node the address space is striped into zones of 16 pages
  (``vmap_zone_size``); with one node ``vmap_zone_size`` stays 1 and there is no striping.
* ``mm/vmalloc.c:addr_to_node_id`` -- an address belongs to node ``(addr / vmap_zone_size) %
  nr_vmap_nodes``: consecutive zones go round-robin over the nodes.
* ``mm/vmalloc.c:lazy_max_pages`` -- ``fls(num_online_cpus()) * (32 MiB / PAGE_SIZE)``: the
  lazily-freed pages allowed before ``free_vmap_area_noflush`` schedules a purge.
* ``mm/vmalloc.c:node_alloc`` -- the per-node size-class pools (requests up to 256 pages) are
  used only when there is more than one node.

Each node has its own ``busy.lock``, ``lazy.lock`` and ``pool_lock``; the free space is one
global augmented rb-tree under ``free_vmap_area_lock``.  ``linux-6.8`` (before the vmap_node
rework of 6.9) has one busy tree under ``vmap_area_lock``, the free tree under
``free_vmap_area_lock`` and one lazy purge tree under ``purge_vmap_area_lock``.

Deliberate simplification: possible and online CPUs are the same number unless
``online_cpus`` is given; 32-bit kernels (always one node) are not modelled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import check_choice, check_int
from ..vmalloc.vmap_area import VMAP_ZONE_PAGES, fls, nr_vmap_nodes_for  # noqa: F401 (fls re-exported)
from .figures import finished

DESIGNS = ("linux-6.18", "linux-6.8")
LAZY_UNIT = 32 << 20     # mm/vmalloc.c:lazy_max_pages, 32 MiB per fls() step
MAX_CPUS = 8192          # CONFIG_NR_CPUS upper bound of x86_64


@dataclass(frozen=True)
class Geometry:
    """The vmalloc index layout of one design on a machine with *cpus* CPUs."""

    design: str
    cpus: int
    online_cpus: int
    page_size: int
    nr_vmap_nodes: int
    zone_bytes: int           # 0 when there is no striping (one node)
    lazy_max_pages: int
    pools: bool
    locks: tuple              # names of the spinlocks/mutexes guarding the index

    @property
    def lazy_max_bytes(self) -> int:
        return self.lazy_max_pages * self.page_size

    def node_of(self, addr) -> np.ndarray:
        """Node id of each address (``addr_to_node_id``); all 0 with one node."""
        addr = np.asarray(addr, dtype=np.uint64)
        if self.nr_vmap_nodes == 1:
            return np.zeros(addr.shape, dtype=np.int64)
        return ((addr // np.uint64(self.zone_bytes)) % np.uint64(self.nr_vmap_nodes)).astype(np.int64)

    def line(self) -> str:
        """One line with the headline numbers (printed by the widget)."""
        zone = f"zone {self.zone_bytes // 1024} KiB" if self.zone_bytes else "no zones"
        return (f"{self.design} with {self.cpus} CPUs: {self.nr_vmap_nodes} vmap_node(s), {zone}, "
                f"lazy_max_pages {self.lazy_max_pages} ({self.lazy_max_bytes >> 20} MiB), "
                f"{len(self.locks)} index locks")


def vmap_node_geometry(cpus: int = 8, design: str = "linux-6.18", online_cpus: int | None = None,
                       page_size: int = 4096) -> Geometry:
    """The layout of *design*'s vmap_area index for *cpus* possible CPUs (see module docstring)."""
    design = check_choice("design", design, DESIGNS)
    cpus = check_int("cpus", cpus, lo=1, hi=MAX_CPUS)
    online = cpus if online_cpus is None else check_int("online_cpus", online_cpus, lo=1, hi=cpus)
    page_size = check_int("page_size", page_size, lo=4096, hi=65536)
    if page_size & (page_size - 1):
        from ..errors import ParameterError
        raise ParameterError(f"page_size must be a power of two (4096, 16384 or 65536), got {page_size}")
    lazy = fls(online) * (LAZY_UNIT // page_size)
    if design == "linux-6.8":
        return Geometry(design, cpus, online, page_size, 1, 0, lazy, False,
                        ("vmap_area_lock", "free_vmap_area_lock", "purge_vmap_area_lock",
                         "vmap_purge_lock"))
    nodes = nr_vmap_nodes_for(cpus)
    locks = ["free_vmap_area_lock", "vmap_purge_lock"]
    for n in range(nodes):
        locks += [f"vn[{n}].busy.lock", f"vn[{n}].lazy.lock", f"vn[{n}].pool_lock"]
    return Geometry(design, cpus, online, page_size, nodes,
                    VMAP_ZONE_PAGES * page_size if nodes > 1 else 0, lazy, nodes > 1, tuple(locks))


def geometry_sweep(cpus=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), design: str = "linux-6.18"):
    """:func:`vmap_node_geometry` over several CPU counts, as columns (dict of numpy arrays)."""
    rows = [vmap_node_geometry(cpus=c, design=design) for c in cpus]
    return {
        "cpus": np.array([g.cpus for g in rows]),
        "nr_vmap_nodes": np.array([g.nr_vmap_nodes for g in rows]),
        "lazy_max_mib": np.array([g.lazy_max_bytes >> 20 for g in rows]),
        "index_locks": np.array([len(g.locks) for g in rows]),
    }


# --------------------------------------------------------------------------- notebook map

#: the designs under review: name -> one-line description (attributions only where a quoted
#: message says it: docs/review-log.md)
DESIGN_NOTES = {
    "linux-6.8": "before the vmap_node rework (6.9): one busy rb-tree under vmap_area_lock, "
                 "one augmented free rb-tree under free_vmap_area_lock",
    "linux-6.18": "today: busy and lazy rb-trees per vmap_node (possible CPUs, at most 128; "
                  "16-page zones), per-node size-class pools, one global augmented free rb-tree",
    "rfc-maple-busy": "6.18 with each node's busy rb-tree replaced by a maple tree, the free "
                      "rb-tree kept: the first step of the split Rezki asked for (M16)",
    "rfc-v1": "the series as posted: global occupied maple tree as the hot-path index, free "
              "maple tree on slow paths, lazy list, retry list, per-CPU 64 MB bump chunks",
    "maple-nofree": "an extreme case built for this study (nobody proposed it): no free tree; "
                    "free space is the gaps of one maple tree whose own lock guards every "
                    "writer (ingredients from M14, M18, M26; not their combination)",
    "maple-nofree-sharded": "no free tree, with the lock layout of M22: a global allocator lock for "
                            "gap-find + publish, finer per-node busy locks",
}


def design_map() -> list[tuple[str, str]]:
    """(name, description) of every registered design (the registry fails loudly, so every
    registered design is in this build)."""
    from .. import designs

    return [(name, DESIGN_NOTES[name]) for name in designs.design_names()]


#: every notebook of the review, in reading order: (name, what it answers)
NOTEBOOKS = (
    ("00-overview", "this page: the thread in brief, the designs, how to run and export"),
    ("01-free-tree", "Q1: is a separate free tree still needed once the maple tree tracks gaps?"),
    ("02-trylock-retry", "Q2: what trylock-and-retry under RCU demands of vmap_area"),
    ("03-lockless-find", "Q3: is the proposed lockless find_vmap_area() safe, and for whom?"),
    ("04-scaling", "contention and throughput of every design on 1..128 CPUs"),
    ("05-real-traces", "today's allocator replayed against real kernel traces"),
    ("06-allocation-under-lock", "allocating maple nodes for stores made under a spinlock"),
    ("07-splats", "Q8, Q9, Q15: the WARNs of M15/M16 (a range handed out twice) and the "
                  "vmap_bump_refill recursion"),
)


def notebook_map(notebook_dir) -> list[tuple[str, str, str]]:
    """(name, status, topic) per notebook; status is "here" if the .ipynb exists, else "coming"."""
    from pathlib import Path

    d = Path(notebook_dir)
    return [(name, "here" if (d / f"{name}.ipynb").exists() else "coming", topic)
            for name, topic in NOTEBOOKS]


# --------------------------------------------------------------------------- plots

def plot_geometry(g: Geometry, sweep=None, zones: int = 48):
    """Two panels: nodes and lazy limit against CPU count (current point marked), and which node
    owns each of the first *zones* 16-page zones of the address space.  Returns the Figure."""
    import matplotlib.pyplot as plt

    sweep = sweep or geometry_sweep(design=g.design)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    ax1.step(sweep["cpus"], sweep["nr_vmap_nodes"], where="post", label="nr_vmap_nodes")
    ax1.plot([g.cpus], [g.nr_vmap_nodes], "o", color="C0")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log", base=2)
    ax1.set_xlabel("possible CPUs")
    ax1.set_ylabel("vmap_nodes")
    ax1b = ax1.twinx()
    ax1b.plot(sweep["cpus"], sweep["lazy_max_mib"], color="C1", label="lazy_max (MiB)")
    ax1b.plot([g.cpus], [g.lazy_max_bytes >> 20], "s", color="C1")
    ax1b.set_ylabel("lazy_max_pages (MiB)", color="C1")
    ax1.set_title(f"{g.design}: {g.cpus} CPUs -> {g.nr_vmap_nodes} nodes, "
                  f"lazy {g.lazy_max_bytes >> 20} MiB", fontsize=10)
    zone = g.zone_bytes or VMAP_ZONE_PAGES * g.page_size
    owners = g.node_of(np.arange(zones) * zone)
    ax2.imshow(owners[None, :], aspect="auto", cmap="tab20", vmin=0, vmax=max(19, owners.max()))
    ax2.set_yticks([])
    ax2.set_xlabel(f"zone index ({zone // 1024} KiB each)")
    ax2.set_title("owner node of each zone" if g.nr_vmap_nodes > 1 else
                  "one node owns everything", fontsize=10)
    fig.tight_layout()
    return finished(fig)


# --------------------------------------------------------------------------- the index's shape

RB_NODE_BYTES = 24       # sizeof(struct rb_node) on 64-bit (include/linux/rbtree_types.h)
MAPLE_NODE_BYTES = 256   # sizeof(struct maple_node) on 64-bit (include/linux/maple_tree.h)
MAX_AREAS = 100_000


@dataclass(frozen=True)
class IndexShape:
    """One vmalloc-like address space indexed two ways (see :func:`index_shape`)."""

    areas: int                # areas allocated
    free_fraction: float
    seed: int
    busy: int                 # areas still allocated after the frees
    gaps: int                 # free ranges between them (what 6.18's free rb-tree holds)
    maple_height: int         # of the maple tree holding the busy ranges (gaps implicit)
    maple_nodes: int
    rb_busy_height: tuple     # (min, max) height of a red-black tree of `busy` nodes
    rb_free_height: tuple     # (min, max) for the `gaps` nodes of the free tree

    @property
    def maple_bytes(self) -> int:
        return self.maple_nodes * MAPLE_NODE_BYTES

    @property
    def rb_bytes(self) -> int:
        """rb_node bytes of the busy tree plus the free tree (embedded in struct vmap_area)."""
        return (self.busy + self.gaps) * RB_NODE_BYTES

    def line(self) -> str:
        return (f"{self.areas} areas, {self.free_fraction:.0%} freed: maple height "
                f"{self.maple_height} ({self.maple_nodes} nodes, {self.maple_bytes / 1024:.1f} KiB) "
                f"vs rb-tree height {self.rb_busy_height[0]}..{self.rb_busy_height[1]} busy + "
                f"{self.rb_free_height[0]}..{self.rb_free_height[1]} free")


def _rb_min_nodes(h: int) -> int:
    """Fewest nodes of a red-black tree whose longest root-to-leaf path has *h* nodes."""
    return (1 << (h // 2 + 1)) - 2 if h % 2 == 0 else 3 * (1 << ((h - 1) // 2)) - 2


def rb_height_bounds(n: int) -> tuple:
    """(min, max) height of a red-black tree of *n* nodes: a perfectly balanced tree has
    ceil(log2(n+1)); the tallest valid one is the largest h whose sparsest red-black tree
    (alternating red and black on the longest path) has at most n nodes (about 2*log2(n))."""
    if n <= 0:
        return (0, 0)
    hi = 1
    while _rb_min_nodes(hi + 1) <= n:
        hi += 1
    return (n.bit_length(), hi)


def index_shape(areas: int = 1024, free_fraction: float = 0.3, seed: int = 0) -> IndexShape:
    """Allocate *areas* vmalloc-sized areas lowest-first, free a random *free_fraction* of them,
    and index the survivors in a real :class:`vmapsim.maple.MapleTree` the way the RFC's
    occupied tree does (``MT_FLAGS_ALLOC_RANGE``, ``XA_ZERO_ENTRY`` over each busy range).

    Sizes are 1..16 pages plus the guard page, so busy areas are adjacent until freed, as in
    ``__get_vm_area_node``.  The rb-tree side is the textbook height bound for the same number
    of nodes, not a simulation (the real augmented rb-tree is ``vmapsim.vmalloc.rbtree``).
    Deliberately simpler than the kernel: one tree (no per-node sharding), no lazy freeing.
    """
    from ..maple import XA_ZERO_ENTRY, MapleTree
    from ..params import check_float, check_seed
    from ..vmalloc.vmap_area import PAGE_SIZE, VMALLOC_START

    areas = check_int("areas", areas, lo=1, hi=MAX_AREAS)
    free_fraction = check_float("free_fraction", free_fraction, lo=0.0, hi=0.95)
    seed = check_seed("seed", seed)
    rng = np.random.default_rng(seed)
    sizes = (rng.integers(1, 17, size=areas) + 1) * PAGE_SIZE
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).tolist()
    starts = [VMALLOC_START + off for off in offsets]          # Python ints: above 2**63
    mt = MapleTree(alloc_range=True)
    for s, z in zip(starts, sizes.tolist()):
        mt.store_range(s, s + z - 1, XA_ZERO_ENTRY)
    freed = np.zeros(areas, dtype=bool)
    freed[rng.choice(areas, size=int(round(areas * free_fraction)), replace=False)] = True
    for s, f in zip(starts, freed.tolist()):
        if f:
            mt.erase(s)
    mt.validate()
    busy = int(areas - freed.sum())
    # free ranges below the last busy area: runs of freed areas; plus the space above it
    runs = int(np.count_nonzero(freed & ~np.concatenate(([False], freed[:-1]))))
    gaps = runs + (0 if freed[-1] else 1)
    return IndexShape(areas, free_fraction, seed, busy, gaps, mt.height(), mt.node_count(),
                      rb_height_bounds(busy), rb_height_bounds(gaps))


def index_sweep(areas=(16, 64, 256, 1024, 4096), free_fraction: float = 0.3, seed: int = 0):
    """:func:`index_shape` for several area counts."""
    return [index_shape(areas=a, free_fraction=free_fraction, seed=seed) for a in areas]


def plot_index_shape(shape: IndexShape, sweep):
    """Height of each index against the number of areas (left) and index bytes (right)."""
    import matplotlib.pyplot as plt

    x = [s.areas for s in sweep]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    ax1.fill_between(x, [s.rb_busy_height[0] for s in sweep], [s.rb_busy_height[1] for s in sweep],
                     alpha=0.25, color="C1", label="rb-tree of busy areas (bounds)")
    ax1.plot(x, [s.maple_height for s in sweep], "o-", color="C0", label="maple tree (measured)")
    ax1.plot([shape.areas], [shape.maple_height], "o", ms=11, mfc="none", color="C0")
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("areas allocated")
    ax1.set_ylabel("height (levels walked by a lookup)")
    ax1.legend(fontsize=8, loc="upper left")
    ax1.set_title(f"{shape.areas} areas: maple height {shape.maple_height}, rb "
                  f"{shape.rb_busy_height[0]}..{shape.rb_busy_height[1]}", fontsize=10)
    ax2.plot(x, [s.maple_bytes / 1024 for s in sweep], "o-", color="C0", label="maple nodes x 256 B")
    ax2.plot(x, [s.rb_bytes / 1024 for s in sweep], "s-", color="C1",
             label="rb_node x 24 B (busy + free trees)")
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("areas allocated")
    ax2.set_ylabel("index memory (KiB)")
    ax2.legend(fontsize=8, loc="upper left")
    ax2.set_title(f"{shape.free_fraction:.0%} of the areas freed", fontsize=10)
    fig.tight_layout()
    return finished(fig)
