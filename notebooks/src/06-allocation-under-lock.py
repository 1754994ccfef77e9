# %% [markdown]
# # 06 · Allocating maple nodes for stores made under a spinlock
#
# Uladzislau Rezki, 18 Jun 2026 ([lore](https://lore.kernel.org/all/ajPDDkV7yqWlhPIh@pc636/)),
# on the insert path of a maple-tree vmalloc (the whole paragraph, as archived):
#
# > There are some drawback i am thinking of. One of them is maple insert path,
# > mas_store_gfp()? First we need to find an empty area, then set-range and do
# > mas_store_gfp() that uses gfp flag for its internal allocation. If we are
# > under spin-lock sleeping is not possible, using NOWAIT or ATOMIC is not a
# > case thus we should somehow pre-allocate outside the lock and store the range
# > without any allocation.
#
# He adds that finding a free range and publishing it must be serialised against other writers,
# and that a range chosen before preallocating must be re-checked. Pranjal Arya (26 Jun) keeps
# the posted scheme: `mas_preallocate(GFP_NOWAIT)`, then `mas_store_gfp(GFP_ATOMIC)`, then
# `vmap_retry_list`, all under the lock that also covers the gap search. Matthew Wilcox, the
# last message of the thread
# ([lkml](https://lkml.iu.edu/hypermail/linux/kernel/2606.3/05153.html)), two sentences the
# thread index quotes separately (whether anything stands between them is not known):
#
# > This isn't how you're supposed to use the maple tree.
#
# > The intent is that it's protected by its internal spinlock, and so it can drop the lock to allocate memory if it needs to in order to balance the tree.
#
# These are the thread's open questions 6 and 7 (node allocation under a spinlock; serialising
# gap-find and publish). Nobody said how Wilcox's model, where the store may drop the lock,
# keeps the gap found by `mas_empty_area()` reserved. This notebook puts the three approaches
# side by side: what the interleaving explorer finds when two allocators race for one gap on
# the real maple tree (the I1 family, stepped through), how often each approach allocates
# under or around a spinlock, from the share of the series' stores that need nodes on a real
# 6.18 trace (the failure probabilities of `GFP_NOWAIT` and `GFP_ATOMIC` were not measured
# anywhere, so they stay parameters), and what happens to callers that cannot sleep. The
# series itself already allocates with `GFP_KERNEL` under a spinlock: patch 09's `mas_erase()`
# under `vn->busy.lock` (notebook 07 section 5).
#
# Two baselines matter here. In **6.18** every `alloc_vmap_area()` caller may sleep (it calls
# `might_sleep()` unconditionally). Since **6.19** (Rezki's "__vmalloc()/kvmalloc() and no-block
# support", docs/kernel-facts.md F3) `__vmalloc()` and `kvmalloc()` accept `GFP_NOWAIT` and
# `GFP_ATOMIC`: such a caller gets `-EBUSY` without a purge when there is no space and must
# handle failure. The RFC is based on a 2026 linux-next tree, which has that support, and 7.3
# has callers that use it (drm coredumps, `lib/rhashtable.c:bucket_table_alloc` with
# `GFP_ATOMIC`). The approaches below are stated for blocking callers first and for
# non-blocking ones after.

# %%
import ipywidgets as widgets
from IPython.display import Markdown, display

from vmapsim import report
from vmapsim.review import allocation_under_lock, explore_tables, stepview

FAST = report.setup()

# %% tags=["parameters"]
# Parameters: `make report -p` / the test suite may override these.
trace = "fork-s71" if FAST else "mixed-s61"   # real 6.18 capture for the shares of stores
p_example = 0.01         # GFP_NOWAIT failure probability used in the tables (not measured)

# %%
# Validate the parameters first: a bad value stops here with one line naming it.
census = allocation_under_lock.store_census(trace)
if not 0.0 <= p_example <= 1.0:
    raise ValueError(f"p_example must be a probability, not {p_example!r}")
print(f"trace={trace} p_example={p_example} fast={FAST}")

# %% [markdown]
# ## The three approaches
#
# | | posted (M24, patches 04-05, 09) | Rezki (M19), as this project reads it | Wilcox (M26) |
# |---|---|---|---|
# | lock | external `free_vmap_area_lock`, held from gap search to publish; `vn->busy.lock` for the busy tree | external, dropped to allocate | the tree's internal spinlock, which may also protect the caller's state |
# | where nodes come from | stores: `GFP_NOWAIT` under the lock, then `GFP_ATOMIC`; occupied-tree erases: `mas_store_gfp(NULL, GFP_ATOMIC)`, which also allocates with `GFP_NOWAIT` under the lock first and with `GFP_ATOMIC` (lock kept) only when that fails; busy unlink (patch 09): `mas_erase()`, i.e. `GFP_NOWAIT`, then `mas_nomem(GFP_KERNEL)` **under `vn->busy.lock`** | outside the lock with the caller's flags: `GFP_KERNEL` for a blocking caller | `GFP_NOWAIT` under the lock; on failure `mas_nomem()` allocates with the caller's flags, dropping the lock only if they may block |
# | blocking caller (all of 6.18's), allocation fails | store: range parked on `vmap_retry_list`; busy unlink: a sleeping allocation in atomic context (and if it fails, the erase is skipped, notebook 07) | only where any small `GFP_KERNEL` allocation fails (an OOM victim once the memory reserves it may use are gone: `mm/page_alloc.c:__alloc_pages_slowpath`); the model never fails it | as for Rezki's |
# | non-blocking caller (6.19+), allocation fails | range parked on `vmap_retry_list`; the allocation succeeds | `alloc_vmap_area()` fails (`-ENOMEM`) | `alloc_vmap_area()` fails (`-ENOMEM`) |
# | what keeps the gap | the lock, plus the retry list as an exclusion set | a re-check after retaking the lock | `mtree_alloc_range` restarts the whole search |
#
# M19 says "pre-allocate outside the lock and store the range without any allocation" and that
# a range chosen before preallocating must be re-checked; it does not say how many nodes to
# preallocate. The recipe modelled here (find under the lock, drop it, preallocate what that
# store needs, retake, re-check) is this project's reading, and its lock-drop counts belong to
# that reading, not to Rezki. Another reading needs no drop at all: vmalloc already
# preallocates before it takes the lock (`preload_this_cpu_lock()`, one spare `vmap_area`), and
# a preload of the worst case for the tree's height would cover any store (its cost is below).
# M26 says where nodes come from and which lock is used; the restart is what
# `lib/maple_tree.c:mtree_alloc_range` does (this project's reading of M26), and the
# non-blocking rows follow from `mas_nomem()` and the 6.19 gfp rules, not from either message.
# (`mas_nomem()` drops and retakes the lock only when the gfp may block and the tree's lock is
# its own; all trees in the series are `MT_FLAGS_LOCK_EXTERN`, so Wilcox's model means moving
# vmalloc's allocator state under the tree's lock.) On the maple-tree list in June 2026 (notebook
# 07 section 5), Jason Gunthorpe's summary (18 Jun) was "External locks must be sleepable, add a
# might_alloc() to check for that and document"; Liam R. Howlett had proposed such a
# `might_alloc(GFP_KERNEL)` in `mas_erase()` for trees with an external lock, and his
# documentation patch of 29 Jun ("maple_tree: Document erase and allocations better") says
# that external locks "may interfere with allocations in a low memory situation". Patch 09's
# `vn->busy.lock` is a spinlock.
#
# ## Two allocators, one gap
#
# Two allocators want 8 KiB from the same window of the real maple tree
# (`alloc_range=True`); the first gap fits one of them. The property is that no two live areas
# overlap; mapping a range twice is what `mm/vmalloc.c:vmap_pages_pte_range` detects, in 6.18
# with a bare `WARN_ON(!pte_none(...))` that makes it return `-EBUSY`, after which
# `__vmalloc_area_node()` prints "vmalloc error: size N, failed to map pages" (N the mapped
# bytes). "remapping already mapped page" is not vmalloc's: it is the `dump_page()` text of
# `vmap_pte_range()`, the physical-range path (`vmap_page_range()`, ioremap), which then
# calls `BUG()`. The posted series cannot run into I1 (it never
# drops the lock). Notebook 07 reads the registers of Rezki's splat against the series (M16) as
# a page still mapped where a new area was being mapped (this project's reading of the
# registers; the log does not name their roles), and finds routes to that in the series' bump
# chunks (patches 10-12), not in I1; which route M16's kernel took, the log cannot decide.
# Each approach, and the variant that breaks it:

# %%
verdicts = allocation_under_lock.approach_verdicts()
display(report.table(allocation_under_lock.VerdictLine.HEADER, [v.cells() for v in verdicts]))
by_sid = {v.scenario: v for v in verdicts}

# %% [markdown]
# * Preallocating outside the lock without the re-check (I1) is the race Rezki warned about:
#   T1 finds the gap, drops the lock to allocate, T2 takes the same gap and maps it, T1 stores the
#   stale range over T2's and maps it again. With the re-check (Rezki's request) it never happens.
# * Wilcox's model is safe only if the retry after `mas_nomem()` repeats the *search*, as
#   `mtree_alloc_range()` does; `mas_empty_area()` followed by `mas_store_gfp()` retries only the
#   store, for the range found before the lock was dropped (I1-store-gfp), the same bug as I1.
# * The posted scheme never drops the lock, so the race cannot happen, but its backstop makes
#   the retry list part of the allocator's state: a range whose publish failed is mapped yet
#   absent from the tree, so every gap search must also exclude the list. A search that
#   forgets it hands the range out twice, with no concurrency needed (0 preemptions).
#
# Step through the I1 counterexample (or the others) below: each step shows both threads'
# recent operations and next operation, the lock, and the occupied tree's node with its slots
# and pivots (the node the step touched is outlined).

# %%
i1 = explore_tables.stepped("I1")
print(i1.violation)
print(i1.swimlane)

# %%
report.bind(
    stepview.step_view, stepview.show_step,
    scenario=widgets.Dropdown(options=["I1", "I1-store-gfp"], value="I1", description="scenario"),
    step=widgets.IntSlider(value=len(i1) - 1, min=0, max=30, description="step"),
    maple=widgets.fixed(True),
)

# %% [markdown]
# ## How often the series' stores need nodes (patches 01-09, on a real trace)
#
# Every fallback rate below is the share `q` of stores that need new nodes times a failure
# probability. `q` is a property of the tree and the workload. Here it is inferred by the model
# from a real capture of 6.18.44 (`trace`): the trace supplies the operations and the addresses,
# replayed under `rfc-v1` without the bump overlay and with 6.18's pool order (`bump=False,
# lazy_list=False`: every allocation goes through the trees, at the address the kernel chose),
# and the model classifies every maple store the series makes. A store needs nodes when
# `mas_prealloc_calc()` says so, as the project's port computes it (node layouts and heights
# checked against the kernel's build; store types per operation are not, F5). So `q` is a
# model inference, not a kernel measurement; its error is the port's classification (not
# quantified) and the one trace's workload, not sampling, and it is given to the percent with
# no interval.
#
# **What it describes: the series up to patch 09.** Without the bump overlay of patches 10-12
# every allocation makes a busy insert and an occupied-tree store and every `vfree()` a busy
# unlink. At patch 12 a bump-eligible request (`vmap_bump_eligible()`: the standard range, a
# page-aligned size and an alignment up to 32 MB) takes a bump chunk and, while that succeeds,
# makes none of them (`vfree()` goes through `vmap_bump_unlink()`); its tree stores are one
# occupied-tree store per 64 MB chunk refill, one whole-range erase per chunk release, and the
# requests that fall through to the pools. The replay cannot run the overlay on the kernel's
# addresses, so the rates at patch 12 are not computed here; how many requests the overlay
# would take is a plain count on the trace:

# %%
elig = allocation_under_lock.bump_eligible(trace)
print(f"{trace}: {elig['eligible']} of {elig['allocs']} allocations are bump-eligible under "
      f"patch 12 ({100 * elig['eligible'] / elig['allocs']:.2f}%); the others: "
      + ("; ".join(f"{n} with vstart {vs}, vend {ve}" for (vs, ve), n in elig["other"].items())
         or "none"))

# %% [markdown]
# The trace itself: a 2-CPU machine (two `vmap_node`s), a synthetic workload of 30-40 s (fork
# and thread storms; `mixed` adds BPF maps and socket filters), starting right after
# `drop_caches` emptied the pools (data/traces/README.md); the largest trees any store met are
# printed with each table. Larger machines have larger trees, and the shares of splits,
# rebalances and spanning stores change with the tree's size.

# %%
def _trees(c):
    return "; ".join(f"{k} tree up to height {h}, {n} nodes" for k, (h, n) in sorted(c.trees.items()))


display(report.table(census.HEADER, census.rows(),
                     title=f"{trace}: {census.allocs} allocations, {census.frees} frees replayed "
                     f"under rfc-v1 (bump=False, lazy_list=False: patches 01-09), plain trees; "
                     f"{census.agreement:.2%} of addresses as the kernel chose; {_trees(census)}; "
                     "needing nodes as the port classifies it"))
census_rcu = allocation_under_lock.store_census(trace, rcu=True)
display(report.table(census_rcu.HEADER, census_rcu.rows(),
                     title=f"{trace}, the trees in RCU mode (MT_FLAGS_USE_RCU, which the lockless "
                     f"readers of 02 and 03 need); {_trees(census_rcu)}"))

# %% [markdown]
# In the port's classification about a quarter of every kind of store needs nodes on this trace
# with plain trees (splits, rebalances and spanning stores), and nearly all of them in RCU mode.
# In RCU mode every node store builds a new node and frees the old one after a grace period
# (`mas_wr_node_store`), where a plain tree rewrites the node in place; two store types still
# write in place in RCU mode and need no node: an exact fit (`wr_exact_fit`: the stored range
# is exactly an existing slot's, e.g. an erase between two occupied neighbours), and a slot
# store that moves the boundary between two adjacent ranges without changing the slot count
# (`wr_slot_store` with one slot touched; `lib/maple_tree.c:mas_wr_store_type`,
# `mas_wr_slot_store`; appends are not used in RCU mode). Those are the stores that still need
# nothing in RCU mode. An earlier version of this notebook took `q` from a synthetic churn
# of about 200 areas built from an empty tree and found 5-7 %; the real trees are larger and
# the share is several times higher. Allocations from a node pool make no occupied-tree store
# (the range stays reserved while pooled), which is why that row has fewer stores than there
# are allocations.
#
# ## What each recipe then does, per store
#
# With `p` the probability that a `GFP_NOWAIT` request for nodes fails: every store of the
# posted scheme that needs nodes first allocates them with `GFP_NOWAIT` under its spinlock
# (`free_vmap_area_lock` or `vn->busy.lock`), at `q` whatever `p` (the `q` column). Its stores
# then call `mas_store_gfp(GFP_ATOMIC)` at `q p` and park the range on `vmap_retry_list` when
# that fails too; `lib/maple_tree.c:mas_store_gfp` itself tries `GFP_NOWAIT` once more
# (`mas_wr_preallocate`) before `mas_nomem()` allocates with `GFP_ATOMIC`, so `q p` is an upper
# bound on the stores' `GFP_ATOMIC` allocations. Its occupied-tree erase helpers call
# `mas_store_gfp(NULL, GFP_ATOMIC)` with no preallocation (as `vmapsim.designs.node_alloc` reads
# patches 04-08), which is the same sequence: `GFP_NOWAIT` at `q`, `GFP_ATOMIC` at `q p`.
# Patch 09's busy unlink falls back to `mas_nomem(GFP_KERNEL)` **under `vn->busy.lock`** at
# `q p`; Wilcox's `mas_nomem()` drops the tree lock at `q p`; Rezki's preallocation as read
# here drops the lock at `q`, whatever `p`. Whether the `GFP_ATOMIC` retry fails too is not a
# second independent rate: `GFP_ATOMIC` may use reserves `GFP_NOWAIT` may not, and under real
# pressure the two failures are correlated. The parked column therefore gives the range from
# "every `GFP_ATOMIC` retry succeeds" to "every one fails". `p` is not known for any real
# system; the tables use `p_example`, and every rate but `q` and Rezki's lock drops scales
# linearly with it. Per 1000 stores of each kind:

# %%
display(report.table(allocation_under_lock.RATE_HEADER,
                     allocation_under_lock.expected_rates(census, p_example),
                     title=f"per 1000 stores of each kind, plain trees, p = {p_example} "
                     f"(assumed), {trace}"))
display(report.table(allocation_under_lock.RATE_HEADER,
                     allocation_under_lock.expected_rates(census_rcu, p_example),
                     title=f"per 1000 stores of each kind, RCU mode, p = {p_example} "
                     f"(assumed), {trace}"))
pair, pair_rcu = (allocation_under_lock.per_pair(c, p_example) for c in (census, census_rcu))
print(f"\nper 1000 vmalloc+vfree pairs of {trace} at p = {p_example} (plain / RCU mode; "
      "patches 01-09, the port's q):")
for key, label in (("need", "stores needing nodes (posted: GFP_NOWAIT, any p)"),
                   ("nowait_erase", "posted: GFP_NOWAIT, occupied-tree erases (any p)"),
                   ("atomic_erase", "posted: GFP_ATOMIC, occupied-tree erases (q p)"),
                   ("atomic_store", "posted: GFP_ATOMIC, stores (at most q p)"),
                   ("atomic", "posted: GFP_ATOMIC tries, both"),
                   ("parked_max", "posted: ranges parked on vmap_retry_list, at most"),
                   ("kernel", "posted: GFP_KERNEL allocations under vn->busy.lock"),
                   ("wilcox", "Wilcox: tree-lock drops"),
                   ("rezki", "Rezki as read here: lock drops")):
    print(f"  {label:52s} {pair[key]:8.1f} / {pair_rcu[key]:8.1f}")
display(allocation_under_lock.plot_expected([census, census_rcu]))

# %%
_er = ("free_vmap_area_lock", "erase")
_e, _e_rcu = census.kinds.get(_er, {"n": 0, "need": 0}), census_rcu.kinds.get(_er, {"n": 0, "need": 0})
display(Markdown(
    "Two things do not depend on `p`. Every store of the posted scheme that needs nodes "
    "allocates them with `GFP_NOWAIT` under a spinlock, even with no memory pressure: "
    f"{pair['need']:.1f} per 1000 vmalloc+vfree pairs with plain trees, "
    f"{pair_rcu['need']:.1f} in RCU mode. The occupied-tree erases made at purge (for the purged "
    "areas that do not go back to a pool) are among them, under `free_vmap_area_lock`: on "
    f"{trace}, {_e['need']} of {_e['n']} occupied-tree erases ({100 * census.q(_er):.0f} %) "
    f"with plain trees, {_e_rcu['need']} of {_e_rcu['n']} ({100 * census_rcu.q(_er):.0f} %) in "
    f"RCU mode; per 1000 pairs {pair['nowait_erase']:.1f} (plain) and "
    f"{pair_rcu['nowait_erase']:.1f} (RCU mode), since only {_e['n']} of the trace's "
    f"{census.frees} freed areas reach the occupied tree's erase. Their helpers pass "
    "`GFP_ATOMIC` to `mas_store_gfp()`, but that is only the fallback: "
    "`lib/maple_tree.c:mas_store_gfp` allocates first with `GFP_NOWAIT` (`mas_wr_preallocate`) "
    "and calls `mas_nomem()` with the caller's flags only when that fails, so the erases take "
    f"atomic reserves at `q p`: {pair['atomic_erase']:.1f} (plain) and "
    f"{pair_rcu['atomic_erase']:.1f} (RCU mode) per 1000 pairs at p = {p_example}. "
    "If the `GFP_ATOMIC` try fails as well, `mas_store_gfp()` returns `-ENOMEM` and the erase "
    "is not done: in the model of the series the range then stays in the occupied tree and "
    "goes on `vmap_retry_list`, whose pass in the next purge retries the erase "
    "(`vmapsim.designs.rfc_v1`: `_erase_failed`, `drain_retry_list`); until then the gap "
    "search cannot offer it. That happens at most at `q p` times the (unknown) `GFP_ATOMIC` "
    "failure rate; the patches' handling of the helper's return value was not re-read for "
    "this page. "
    "And the reading of M19 modelled here drops the lock on every store that needs nodes (a "
    "quarter of all stores, nearly all in RCU mode). The worst-case preload reading would "
    "instead allocate, outside any lock, up to the largest request in the tables (a function of "
    "the tree's height in `mas_prealloc_calc()`) on every store and give back what the store "
    "did not use."))

# %% [markdown]
# ## Callers that cannot sleep (6.19 and later)
#
# A caller passing `GFP_NOWAIT` or `GFP_ATOMIC` (6.18 has none; since 6.19 `__vmalloc()` and
# `kvmalloc()` accept them, docs/kernel-facts.md F3) makes the same stores; what changes is that
# Rezki's preallocation and Wilcox's `mas_nomem()` must use the caller's flags. An allocation
# makes one busy insert and, when it does not come from a pool, one occupied-tree store. With
# `p_c` the probability that the caller's flags fail a node allocation, Rezki's approach fails
# about `p_c` per store that needs nodes (`q p_c` per store); Wilcox's fails when the
# `GFP_NOWAIT` attempt and then `mas_nomem()`'s attempt with the caller's flags both fail, per
# store between 0 and `q p` (the two are not independent); the posted scheme fails none and
# parks instead. For scale: a
# non-blocking `alloc_vmap_area()` already fails when its `vmap_area` slab allocation fails
# (F3). The share of non-blocking callers on a real system is not known (no trace of a later
# kernel ships with this project).

# %%
allocs_needing = {c.rcu: 1000 * sum(c.q(k) * c.kinds[k]["n"] / max(1, c.allocs)
                                    for k in (("free_vmap_area_lock", "store"), ("busy", "store"))
                                    if k in c.kinds)
                  for c in (census, census_rcu)}
print("stores needing nodes per 1000 non-blocking allocations "
      f"(occupied store + busy insert): plain {allocs_needing[False]:.0f}, "
      f"RCU mode {allocs_needing[True]:.0f}")
print(f"at p = p_c = {p_example}: Rezki fails about {allocs_needing[False] * p_example:.1f} "
      f"(RCU mode {allocs_needing[True] * p_example:.1f}) per 1000; Wilcox between 0 and that; "
      "the posted scheme none")

# %% [markdown]
# ## What this means for the reply
#
# * The posted scheme is correct only with the retry list treated as allocator state: scanned by
#   every search, drained by the purge worker, and sized for the rate at which publishes fail
#   (`q p` times the unknown conditional failure of `GFP_ATOMIC`). Its stores and its
#   occupied-tree erase helpers (at purge, for purged areas not returned to a pool) allocate
#   with `GFP_NOWAIT` under the spinlock on `q` of them whatever `p`, and dip into the atomic
#   reserves (`GFP_ATOMIC`, through `mas_store_gfp()`'s `mas_nomem()`) on at most `q p`; its
#   busy unlink (patch 09) allocates with `GFP_KERNEL` under `vn->busy.lock` on `q p` of
#   `vfree()`s: the allocation under a spinlock that M24 says the scheme avoids.
# * Rezki's preallocation needs the re-check (I1 vs I1-revalidate). Read as "drop the lock and
#   preallocate what this store needs", it drops the lock on every store that needs nodes (a
#   quarter of them with plain trees on the real trace, nearly all in RCU mode); read as a
#   worst-case preload before the lock, it never drops it and allocates up to the height bound on
#   every store. For blocking callers it fails only where any small `GFP_KERNEL` allocation can;
#   for non-blocking callers (6.19+) it fails when the preallocation does, which those callers
#   must handle anyway.
# * Wilcox's model is the maple tree's intended use and needs no backstop, but only the
#   `mtree_alloc_range()` shape is safe (the search restarts after `mas_nomem()`); it means moving
#   the allocator's other state (pools, lazy lists) under the tree's internal lock, and is a
#   different series from the one posted. For non-blocking callers `mas_nomem()` keeps the lock
#   and may fail, as above.

# %% [markdown]
# ## Claims checked in this run
#
# The source column says what each check rests on: `kernel-source`, `real-trace` (a capture of
# 6.18.44), `thread`, `explorer`, or `restates the model` (the model agreeing with itself).

# %%
from vmapsim.designs.base import Accounting
from vmapsim.designs.node_alloc import NodeAlloc
from vmapsim.maple import MapleTree

# the design model's patch 09 unlink: one erase that needs nodes, GFP_NOWAIT failing
_t = MapleTree()
for _k in range(1, 40):
    _t.store_range(0x10000 * _k, 0x10000 * _k + 0xfff, f"va{_k}")
_victim = next(k for k in range(1, 40)
               if _t.nodes_needed(0x10000 * k, 0x10000 * k + 0xfff, None))
_na = NodeAlloc("series", nowait_fail=1.0, seed=0)
_acct = Accounting()
_acct.begin("vfree", 0)
_na.run(_acct, "vn[0].busy.lock", _t, lambda: (0x10000 * _victim, 0x10000 * _victim + 0xfff),
        None, kind="unlink")

k_os, k_bs, k_bu = ("free_vmap_area_lock", "store"), ("busy", "store"), ("busy", "unlink")
claims = report.Claims()
claims.add("I1: preallocating outside the lock without a re-check maps a range twice",
           (by_sid["I1"].verdict, by_sid["I1"].violation.split(":")[0]),
           "x == ('violation', 'overlap')",
           "explorer (real maple tree); thread: M19; kernel-source: mm/vmalloc.c:vmap_pages_pte_range")
claims.add("I1-revalidate (Rezki) and I1-mas-nomem (Wilcox) never do (exhaustive)",
           (by_sid["I1-revalidate"].verdict, by_sid["I1-revalidate"].exhaustive,
            by_sid["I1-mas-nomem"].verdict, by_sid["I1-mas-nomem"].exhaustive),
           "x == ('never', True, 'never', True)",
           "explorer; kernel-source: lib/maple_tree.c:mtree_alloc_range")
claims.add("mas_empty_area + mas_store_gfp keeps the stale range (I1-store-gfp)",
           by_sid["I1-store-gfp"].verdict, "x == 'violation'",
           "explorer; kernel-source: lib/maple_tree.c:mas_store_gfp")
claims.add("posted scheme with the retry list scanned: safe (exhaustive)",
           (by_sid["posted"].verdict, by_sid["posted"].exhaustive), "x == ('never', True)",
           "explorer; thread: M24, patch 05")
claims.add("... a search that skips the retry list hands the range out twice, 0 preemptions",
           (by_sid["posted-noscan"].verdict, by_sid["posted-noscan"].preemptions),
           "x == ('violation', 0)", "explorer; thread: M24, patch 05")
claims.add(f"replay of {trace} under rfc-v1 (bump=False, lazy_list=False) follows the kernel's "
           "addresses", round(census.agreement, 4), "x >= 0.99", f"real-trace: {trace}")
claims.add("plain trees: share of busy inserts needing nodes (the port's mas_prealloc_calc; "
           "several times the old churn's 5-7 %)", round(census.q(k_bs), 2), "x > 0.15",
           f"model on real-trace operations: {trace} (patches 01-09); kernel-source: "
           "lib/maple_tree.c:mas_prealloc_calc (F5; store types per operation not checked)")
claims.add("... and of vfree's busy unlinks (patch 09 mas_erase)", round(census.q(k_bu), 2),
           "x > 0.15", f"model on real-trace operations: {trace}; thread: M10 (patch 09)")
claims.add("RCU mode: busy inserts needing nodes", round(census_rcu.q(k_bs), 2), "x > 0.8",
           f"model on real-trace operations: {trace}; kernel-source: "
           "lib/maple_tree.c:mas_wr_node_store (F5)")
claims.add("patch 12's vmap_bump_eligible() takes nearly all of the trace's allocations (so "
           "the rates above are those of patches 01-09)", round(elig["eligible"] / elig["allocs"], 3),
           "x > 0.9", f"real-trace: {trace} (alloc_vmap_area vstart, vend, size, align); "
           "thread: patch 12 vmap_bump_eligible")
claims.add("the model's patch 09 unlink allocates with GFP_KERNEL under vn->busy.lock when "
           "GFP_NOWAIT fails", (_na.counts["gfp_kernel_under_spinlock"],
                                [e[0] for e in _acct.events]),
           "x == (1, ['gfp_kernel_under_spinlock'])",
           "restates the model (vmapsim.designs.node_alloc 'erase'); kernel-source: "
           "lib/maple_tree.c:mas_erase, mas_nomem (F5); thread: M10 (patch 09)")
claims.verify()

# %% [markdown]
# ## The key numbers, and the reply
#
# The numbers the reply states, with where each comes from and the conditions that reproduce it
# (`make report` writes them to `build/report/06-allocation-under-lock.json`), then the reply
# (`06-allocation-under-lock.txt`, and `.eml` for `git send-email` or `mutt -H`).

# %%
q_bs, q_bu = census.q(k_bs), census.q(k_bu)
nums = report.Numbers("06-allocation-under-lock")
for label, sid in (("posted M24: race, retry list scanned", "posted"),
                   ("posted M24: race, no scan", "posted-noscan"),
                   ("Rezki M19 (as read): race, with re-check", "I1-revalidate"),
                   ("Rezki M19 (as read): race, no re-check", "I1"),
                   ("Wilcox M26: race, mtree_alloc_range", "I1-mas-nomem"),
                   ("Wilcox M26: race, mas_store_gfp", "I1-store-gfp")):
    nums.add(label, by_sid[sid].verdict, source="explorer", scenario=sid)
nums.add("allocations bump-eligible at patch 12", elig["eligible"], f"of {elig['allocs']}",
         source="real-trace", trace=trace)
replay_cond = dict(design="rfc-v1", trace=trace, bump=False, lazy_list=False)
for c, mode in ((census, "plain"), (census_rcu, "RCU mode")):
    for key, name in ((k_bs, "busy inserts"), (k_bu, "busy unlinks (09)"),
                      (k_os, "occupied stores")):
        if key in c.kinds:
            nums.add(f"{name} needing nodes, {mode}", round(100 * c.q(key)), "% (port)",
                     source="model", rcu=c.rcu, **replay_cond)
_p_ctx = {"p": p_example, "p_is": "GFP_NOWAIT node-allocation failure probability, assumed "
          "(not measured)", "rerun": "allocation_under_lock.per_pair(store_census(trace), p)"}
_any_p = {"p": None, "p_is": "not used: this number does not depend on p",
          "rerun": "allocation_under_lock.per_pair(store_census(trace), p), any p"}
_what = {"nowait_erase": "occupied-tree erases' GFP_NOWAIT node allocations under "
                        "free_vmap_area_lock (mas_store_gfp's first attempt)",
         "atomic_erase": "occupied-tree erases' GFP_ATOMIC fallbacks (mas_store_gfp's "
                         "mas_nomem, lock kept), q p",
         "atomic_store": "stores' mas_store_gfp(GFP_ATOMIC) fallbacks, q p: an upper bound on "
                         "their GFP_ATOMIC allocations (mas_store_gfp tries GFP_NOWAIT again first)"}
for key, name in (("nowait_erase", "posted: GFP_NOWAIT erases, any p"),
                  ("atomic_erase", "posted: GFP_ATOMIC erases"),
                  ("atomic_store", "posted: GFP_ATOMIC stores (max)"),
                  ("kernel", "09: GFP_KERNEL under busy.lock"),
                  ("wilcox", "Wilcox: tree-lock drops"),
                  ("rezki", "Rezki (as read): lock drops, any p")):
    any_p = key in ("rezki", "nowait_erase")
    ctx = dict(_any_p if any_p else _p_ctx, **({"what": _what[key]} if key in _what else {}))
    nums.add(name if any_p else f"{name}, p={p_example}", pair[key], "/1000 pairs",
             source="model", fmt=".1f", context=ctx, rcu=False, **replay_cond)
report.summary(
    "06-allocation-under-lock",
    title="maple nodes for stores under a spinlock",
    answers="M19",
    parts=[("M19-no-alloc-under-lock",
            "All three approaches can be made safe, each at a price. Preallocating outside "
            "the lock needs Rezki's re-check, or two allocators map the same range. Wilcox's "
            "internal lock is safe only in mtree_alloc_range's shape, where the gap search "
            "restarts after mas_nomem(); mas_empty_area plus mas_store_gfp is not. The posted "
            "scheme never drops the lock but turns vmap_retry_list into allocator state that "
            "every search must exclude, and its patch 09 mas_erase() allocates with "
            "GFP_KERNEL under vn->busy.lock whenever the erase needs nodes and GFP_NOWAIT "
            "fails. How many nodes to preallocate is not in M19: read as a worst-case preload "
            "before the lock, it needs no lock drop at all.")],
    numbers=nums,
    conclusion=f"The rates are for patches 01-09: {trace} (a 6.18.44 capture on 2 CPUs, "
               "starting from drained pools) replayed with every allocation through the trees "
               "(rfc-v1, bump=False, lazy_list=False). In the model's classification about a "
               "quarter of those stores need nodes with plain trees and nearly all in RCU "
               "mode, which the lockless readers need; that share is a model inference (the "
               "port's store types are not checked against the kernel), and every fallback "
               "scales with it. At patch 12, "
               f"{elig['eligible']} of the trace's {elig['allocs']} allocations are "
               "bump-eligible and, while the bump path succeeds, make none of these stores; "
               "those rates were not computed. The GFP_NOWAIT failure probability "
               f"p={p_example} is an assumption (nobody measured it). What does not depend on "
               "it: the posted scheme's GFP_NOWAIT node allocations under its spinlocks (the "
               "occupied-tree erases' under free_vmap_area_lock included; their helpers' "
               "mas_store_gfp(GFP_ATOMIC) tries GFP_NOWAIT first and GFP_ATOMIC only at q p) "
               "and the lock drops of M19 as read here. Whether the GFP_ATOMIC retry also "
               "fails is left as a range, not a second rate.",
    glossary={sid: f"explorer scenario ({a.who}: {a.name}): {what}"
              for a in allocation_under_lock.APPROACHES for sid, what in a.scenarios},
)
