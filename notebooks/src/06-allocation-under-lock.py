# %% [markdown]
# # 06 · Allocating maple nodes for stores made under a spinlock
#
# Uladzislau Rezki, 18 Jun 2026 ([lore](https://lore.kernel.org/all/ajPDDkV7yqWlhPIh@pc636/)),
# on the insert path of a maple-tree vmalloc:
#
# > If we are under spin-lock sleeping is not possible, using NOWAIT or ATOMIC is not a case
# > thus we should somehow pre-allocate outside the lock and store the range without any
# > allocation.
#
# He adds that finding a free range and publishing it must be serialised against other writers,
# and that a range chosen before preallocating must be re-checked. Pranjal Arya (26 Jun) keeps
# the posted scheme: `mas_preallocate(GFP_NOWAIT)`, then `mas_store_gfp(GFP_ATOMIC)`, then
# `vmap_retry_list`, all under the lock that also covers the gap search. Matthew Wilcox, the
# last message of the thread
# ([lkml](https://lkml.iu.edu/hypermail/linux/kernel/2606.3/05153.html)):
#
# > This isn't how you're supposed to use the maple tree.
# > The intent is that it's protected by its internal spinlock, and so it can drop the lock to
# > allocate memory if it needs to in order to balance the tree.
#
# These are the thread's open questions 6 and 7 (node allocation under a spinlock; serialising
# gap-find and publish). Nobody said how Wilcox's model, where the store may drop the lock,
# keeps the gap found by `mas_empty_area()` reserved. This notebook puts the three approaches
# side by side: what the interleaving explorer finds when two allocators race for one gap on
# the real maple tree (the I1 family, stepped through), how often each approach's fallback
# fires as `GFP_NOWAIT` node allocations fail more often, measured on the real tree with the
# node-allocation model of the designs (`vmapsim.designs.node_alloc`), and what happens to
# callers that cannot sleep.
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

from vmapsim import report
from vmapsim.review import allocation_under_lock, explore_tables, stepview

FAST = report.setup()

# %% tags=["parameters"]
# Parameters: `make report -p` / the test suite may override these.
rates = [0.0, 0.05, 0.2] if FAST else [0.0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.5]   # GFP_NOWAIT failure rates
atomic_fail = 0.1        # GFP_ATOMIC failure rate (the series' second try)
ops = 600 if FAST else 2000    # allocations + frees per churn run
live = 200               # areas kept live by the churn
seed = 0

# %%
# Validate the parameters first: a bad value stops here with one line naming it.
plain = allocation_under_lock.fallback_sweep(rates=rates, atomic_fail=atomic_fail, ops=ops,
                                        live=live, seed=seed)
print(f"rates={rates} atomic_fail={atomic_fail} ops={ops} live={live} fast={FAST}")

# %% [markdown]
# ## The three approaches
#
# | | posted (M24) | Rezki (M19) | Wilcox (M26) |
# |---|---|---|---|
# | lock | external `free_vmap_area_lock`, held from gap search to publish | external, dropped to allocate | the tree's internal spinlock, which may also protect the caller's state |
# | where nodes come from | `GFP_NOWAIT` under the lock, then `GFP_ATOMIC`, whatever the caller passed | outside the lock with the caller's flags: `GFP_KERNEL` for a blocking caller | `GFP_NOWAIT` under the lock; on failure `mas_nomem()` allocates with the caller's flags, dropping the lock only if they may block |
# | blocking caller (all of 6.18's), allocation fails | range parked on `vmap_retry_list` | cannot happen (sleeps) | cannot happen (sleeps with the lock dropped) |
# | non-blocking caller (6.19+), allocation fails | range parked on `vmap_retry_list`; the allocation succeeds | `alloc_vmap_area()` fails (`-ENOMEM`) | `alloc_vmap_area()` fails (`-ENOMEM`) |
# | what keeps the gap | the lock, plus the retry list as an exclusion set | a re-check after retaking the lock | `mtree_alloc_range` restarts the whole search |
#
# M19 and M26 say where nodes come from and which lock is used; the re-check (M19) is Rezki's,
# the restart is what `lib/maple_tree.c:mtree_alloc_range` does, and the non-blocking rows follow
# from `mas_nomem()` and the 6.19 gfp rules, not from either message. (`mas_nomem()` drops and
# retakes the lock only when the gfp may block and the tree's lock is its own; all trees in the
# series are `MT_FLAGS_LOCK_EXTERN`, so Wilcox's model means moving vmalloc's allocator state
# under the tree's lock.)
#
# ## Two allocators, one gap
#
# Two allocators want 8 KiB from the same window of the real maple tree
# (`alloc_range=True`); the first gap fits one of them. The property is that no two live areas
# overlap: the kernel would WARN in `vmap_pages_pte_range` on an already-mapped PTE, the splat
# Rezki reported against the series (M16). Each approach, and the variant that breaks it:

# %%
verdicts = allocation_under_lock.approach_verdicts()
print(report.text_table(allocation_under_lock.VerdictLine.HEADER, [v.cells() for v in verdicts],
                        width=None))
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
# ## How often each fallback fires
#
# A churn of allocations (1-16 pages plus the guard page, found with `mas_empty_area()`) and
# frees (erases) on the real maple tree, about `live` areas live, under each approach's node
# recipe from `vmapsim.designs.node_alloc` (the model of the thread's recipes). A store needs
# nodes when `mas_prealloc_calc()` (`MapleTree.nodes_needed`) says so; with `q` the fraction of
# allocations that need nodes, `p` the `GFP_NOWAIT` failure rate and `a` the `GFP_ATOMIC` one:
# the posted scheme falls back to `GFP_ATOMIC` at rate `q·p` and parks ranges on the retry list
# at `q·p·a`; Rezki's approach drops the lock for every store that needs nodes (`q`), whatever
# `p`; Wilcox's drops the tree lock and restarts at `q·p`. Per 1000 allocations:

# %%
print(report.text_table(allocation_under_lock.FallbackSweep.HEADER, plain.rows("alloc"), width=None))
print("\nfrees (erase; the series' erase helpers go to GFP_ATOMIC directly):")
print(report.text_table(allocation_under_lock.FallbackSweep.HEADER, plain.rows("free"), width=None))
allocation_under_lock.plot_fallbacks(plain)

# %% [markdown]
# In this churn only a few percent of allocations need nodes at all: most stores fit in the
# leaf they land in. That changes with the tree in RCU mode (`MT_FLAGS_USE_RCU`), which the
# lockless readers of notebooks 02 and 03 require: every store that changes a node copies it, so
# most stores need nodes, every recipe allocates under (or around) the lock far more often, and
# Rezki's approach drops the lock on most allocations.

# %%
rcu = allocation_under_lock.fallback_sweep(rates=rates, atomic_fail=atomic_fail, ops=ops, live=live,
                                      seed=seed, rcu=True)
print(report.text_table(allocation_under_lock.FallbackSweep.HEADER, rcu.rows("alloc"), width=None))
allocation_under_lock.plot_fallbacks(rcu)

# %% [markdown]
# ## Callers that cannot sleep (6.19 and later)
#
# The same churn with every allocation made by a non-blocking `GFP_NOWAIT` caller (the share of
# such callers on a real system is not known: 6.18 has none, and no trace of a later kernel
# ships with this project, so the table is per non-blocking allocation). The posted scheme
# never sleeps, so nothing changes for it; Rezki's preallocation and Wilcox's `mas_nomem()` can
# no longer fall back to `GFP_KERNEL`, and an allocation whose nodes cannot be had fails. For
# scale: a non-blocking `alloc_vmap_area()` already fails today when its `vmap_area` slab
# allocation fails (F3); the maple tree adds a second allocation that can fail, on the
# allocations that need nodes. Failures are drawn independently per attempt; under real memory
# pressure they are correlated, so Wilcox's second attempt under the lock fails more often than
# the model says.

# %%
nb_plain = allocation_under_lock.fallback_sweep(rates=rates, atomic_fail=atomic_fail, ops=ops,
                                                live=live, seed=seed, gfp="nowait")
nb_rcu = allocation_under_lock.fallback_sweep(rates=rates, atomic_fail=atomic_fail, ops=ops,
                                              live=live, seed=seed, gfp="nowait", rcu=True)
print("non-blocking (GFP_NOWAIT) callers, plain tree, per 1000 allocations:")
print(report.text_table(allocation_under_lock.FallbackSweep.HEADER, nb_plain.rows("alloc"),
                        width=None))
print("\n... in RCU mode:")
print(report.text_table(allocation_under_lock.FallbackSweep.HEADER, nb_rcu.rows("alloc"),
                        width=None))

# %% [markdown]
# With a non-blocking caller Rezki's approach fails about `q·p` of allocations (every one that
# needs nodes and whose preallocation fails), Wilcox's about `q·p·p'` (the `GFP_NOWAIT`
# preallocation and then `mas_nomem()`'s attempt with the caller's flags), and the posted scheme
# none, at the price of a range mapped but absent from the tree. In RCU mode `q` is most
# allocations, so the failure rates scale up with it.
#
# ## What this means for the reply
#
# * The posted scheme is correct only with the retry list treated as allocator state: scanned by
#   every search, drained by the purge worker, and sized for the `q·p·a` rate at which publishes
#   fail. Its `GFP_ATOMIC` fallback dips into the atomic reserves on `q·p` of allocations, and
#   the failure it is a backstop for is not rare under memory pressure, which is when `GFP_NOWAIT`
#   fails.
# * Rezki's preallocation needs the re-check (I1 vs I1-revalidate), and drops the lock on every
#   store that needs nodes: a few percent of allocations with a plain tree, most of them in RCU
#   mode. For blocking callers it cannot fail; for non-blocking callers (6.19+) it fails when
#   the preallocation does, which those callers must handle anyway.
# * Wilcox's model is the maple tree's intended use and needs no backstop, but only the
#   `mtree_alloc_range()` shape is safe (the search restarts after `mas_nomem()`); it means moving
#   the allocator's other state (pools, lazy lists) under the tree's internal lock, and is a
#   different series from the one posted. For non-blocking callers `mas_nomem()` keeps the lock
#   and may fail, as above.

# %% [markdown]
# ## Claims checked in this run

# %%
def _z(obs, n, p):
    """|observed - n p| in binomial standard deviations."""
    sd = (n * p * (1 - p)) ** 0.5
    return 0.0 if sd == 0 else abs(obs - n * p) / sd


top = max(r for r in rates)
s_top, w_top, r_top = plain.run("series", top), plain.run("wilcox", top), plain.run("rezki", top)
sa, wa, ra = s_top.counts["alloc"], w_top.counts["alloc"], r_top.counts["alloc"]
nb_r, nb_w, nb_s = (nb_plain.run(m, top).counts["alloc"] for m in ("rezki", "wilcox", "series"))
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
claims.add("posted: every NOWAIT failure falls back to GFP_ATOMIC (allocations)",
           sa.get("atomic_attempts", 0) == sa.get("nowait_fail", 0), "x == True",
           "restates the run (recipe 'prealloc')")
claims.add(f"posted, p={top}: NOWAIT failures within 4 sd of (allocations needing nodes) x p",
           round(_z(sa.get("nowait_fail", 0), sa.get("needing_nodes", 0), top), 2), "x <= 4",
           "restates the run (vmapsim.designs.node_alloc)")
claims.add(f"Wilcox, p={top}: tree-lock drops = NOWAIT failures (restart after mas_nomem)",
           (wa.get("lock_drops", 0), wa.get("restarts", 0)) == (wa.get("nowait_fail", 0),) * 2,
           "x == True", "restates the run; kernel-source: lib/maple_tree.c:mas_nomem")
claims.add("Rezki: the lock is dropped for every allocation needing nodes, at any p",
           len({plain.run("rezki", r).counts["alloc"].get("lock_drops", 0) for r in rates}) == 1
           and ra.get("lock_drops", 0) >= ra.get("needing_nodes", 0) > 0, "x == True",
           "restates the run; thread: M19")
claims.add("no recipe ever allocates with GFP_KERNEL under a spinlock in these runs",
           sum(r.counts[k].get("gfp_kernel_under_spinlock", 0)
               for sw in (plain, rcu, nb_plain, nb_rcu)
               for r in sw.runs for k in ("alloc", "free")), "x == 0",
           "restates the run (vmapsim.designs.node_alloc)")
claims.add("blocking callers: no allocation fails under Rezki's or Wilcox's recipe",
           sum(r.counts["alloc"].get("failed", 0) for sw in (plain, rcu) for r in sw.runs
               if r.mode != "series"), "x == 0", "restates the run")
claims.add(f"non-blocking callers, p={top}: Rezki fails allocations, within 4 sd of "
           "(allocations needing nodes) x p",
           (nb_r.get("failed", 0) > 0,
            round(_z(nb_r.get("failed", 0), nb_r.get("needing_nodes", 0), top), 2)),
           "x[0] and x[1] <= 4",
           "restates the run; kernel-source: mm/vmalloc.c:alloc_vmap_area (6.19+, F3)")
claims.add(f"non-blocking callers, p={top}: Wilcox fails only after a failed NOWAIT attempt; "
           "the posted scheme fails none (it parks)",
           (nb_w.get("failed", 0) <= nb_w.get("nowait_fail", 0), nb_s.get("failed", 0)),
           "x == (True, 0)", "restates the run; kernel-source: lib/maple_tree.c:mas_nomem")
claims.add("share of allocations needing nodes, plain tree (rezki run)",
           round(plain.run("rezki", 0.0).need_fraction("alloc"), 3), "x < 0.2",
           "restates the run (lib/maple_tree.c:mas_prealloc_calc)")
claims.add("... and in RCU mode (copy-on-write)", round(rcu.run("rezki", 0.0).need_fraction("alloc"), 3),
           "x > 0.5", "restates the run (lib/maple_tree.c:mas_prealloc_calc)")
claims.verify()

# %%
report.summary(
    "06-allocation-under-lock",
    title="maple nodes for stores under a spinlock",
    who="Uladzislau Rezki (18 Jun 2026)",
    question="If we are under spin-lock sleeping is not possible, using NOWAIT or ATOMIC is not "
             "a case thus we should somehow pre-allocate outside the lock and store the range "
             "without any allocation.",
    header=("approach", "race", "variant", "per 1000 allocs"),
    rows=[("posted (M24)", by_sid["posted"].verdict,
           f"no scan: {by_sid['posted-noscan'].verdict}",
           f"ATOMIC {s_top.per_k('atomic_attempts'):.0f}, list {s_top.per_k('retry_list'):.1f}"),
          ("Rezki (M19)", by_sid["I1-revalidate"].verdict, f"no check: {by_sid['I1'].verdict}",
           f"lock drops {r_top.per_k('lock_drops'):.0f}"),
          ("Wilcox (M26)", by_sid["I1-mas-nomem"].verdict,
           f"store_gfp: {by_sid['I1-store-gfp'].verdict}",
           f"lock drops {w_top.per_k('lock_drops'):.0f}"),
          ("need nodes, RCU mode", "", "",
           f"{1000 * rcu.run('rezki', 0.0).need_fraction('alloc'):.0f} "
           f"(plain {1000 * plain.run('rezki', 0.0).need_fraction('alloc'):.0f})"),
          ("non-blocking caller (6.19+)", "", "Rezki / Wilcox",
           f"fail {nb_plain.run('rezki', top).per_k('failed'):.1f} / "
           f"{nb_plain.run('wilcox', top).per_k('failed'):.1f}")],
    conclusion=f"(Fallbacks at GFP_NOWAIT failure rate {top}, GFP_ATOMIC {atomic_fail}.) All "
               "three can be made safe, each at a price. Preallocating outside the lock needs "
               "Rezki's re-check, or two allocators map the same range. Wilcox's internal lock "
               "is safe only in mtree_alloc_range's shape, where the gap search restarts "
               "after mas_nomem(); mas_empty_area plus mas_store_gfp is not. The posted scheme "
               "never drops the lock but turns vmap_retry_list into allocator state that "
               "every search must exclude. In RCU mode, which lockless readers need, most "
               "allocations need new nodes, so every fallback fires far more often. For callers "
               "that may sleep (all of 6.18's) Rezki's and Wilcox's schemes cannot fail; for "
               "the non-blocking callers 6.19 added, both fail when node allocation fails.",
    claims=claims,
)
