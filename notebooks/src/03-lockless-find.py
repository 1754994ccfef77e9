# %% [markdown]
# # 03 · The proposed lockless `find_vmap_area()`: safe, and for whom?
#
# Pranjal Arya, 26 Jun 2026, answering Matthew Wilcox's RCU rules
# ([lkml](https://lkml.iu.edu/hypermail/linux/kernel/2606.3/04735.html)); the message has no
# reply:
#
# > Write side:
# > Every vmap_area that was previously freed with kmem_cache_free() will
# > now be freed via call_rcu(&va->rcu, vmap_area_free_rcu).
# > Read side:
# > find_vmap_area() will walk vn->busy.mt under rcu_read_lock()
# > using mas_walk() (RCU safe tree traversal) & will then validate
# > the found object using READ_ONCE before returning it.
# > [...]
# > With these changes, find_vmap_area() which is called on every vfree(),
# > vmalloc_to_page(), vmalloc_to_pfn() will no longer acquire any
# > spinlock on the lookup path.
# > Does it sound like a good plan ?
#
# This notebook answers the question with the kernel's callers and the interleaving explorer
# (`vmapsim explore`), which runs the package's lookup protocols (`vmapsim.explore.lookup`, the same
# code the performance model prices) against `vfree()` on the real maple tree in RCU mode:
# which callers own the area they look up, the counterexample for a caller that does not, the
# case of an area recycled without a grace period, the `vm_struct` that `call_rcu()` does not
# cover, a step-through of each counterexample, what each protocol costs, and the recommendation
# the evidence supports.

# %%
import ipywidgets as widgets
from IPython.display import display

from vmapsim import report
from vmapsim.explore import explore
from vmapsim.perf.simulate import simulate
from vmapsim.review import explore_tables, lockless_find, stepview

FAST = report.setup()

# %% tags=["parameters"]
# Parameters: `make report -p` / the test suite may override these.
step_scenario = "C1"        # counterexample shown first by the step-through widget
tree_areas = 3              # other areas in the maple tree of the step-through scenarios
cost_areas = 1000           # areas in the tree used to count each protocol's operations
perf_cpus = [1, 4] if FAST else [1, 16]   # CPUs for the performance model's lookup workload
perf_loops = 60 if FAST else 200          # iterations per CPU (4 find_vmap_area() each)
# protocol columns of the safety matrix (FAST leaves out the slowest, seqcount copy-out)
matrix_protocols = [p[0] for p in explore_tables.MATRIX_PROTOCOLS][: 5 if FAST else 6]
seed = 0

# %%
# Validate the parameters first: a bad value stops here with one line naming it.
first = explore_tables.stepped(step_scenario, areas=tree_areas)
costs = lockless_find.protocol_costs(areas=cost_areas, seed=seed)
print(f"step_scenario={step_scenario} tree_areas={tree_areas} cost_areas={cost_areas} "
      f"perf_cpus={perf_cpus} perf_loops={perf_loops} fast={FAST}")
print(f"{step_scenario}: {first.verdict}, {len(first)} steps")

# %% [markdown]
# ## Who looks up an area, and do they own it?
#
# A caller *owns* an area when nothing can `vfree()` it while the caller uses it: the caller
# allocated it, or holds whatever keeps it alive. Today's `find_vmap_area()` already returns the
# pointer after dropping `vn->busy.lock`, and `find_vm_area()`'s kernel-doc says "It is up to the
# caller to do all required locking to keep the returned pointer valid", so for owners the lock
# only protects the walk. Checked against a linux-next `mm/vmalloc.c` of the 6.15+ era,
# `mm/usercopy.c` and `mm/kasan/report.c`:

# %%
report.table(("caller", "where", "owns it", "reads afterwards", "today"),
             [(c.name, c.where.split(";")[0], c.owner, c.uses, c.today)
              for c in lockless_find.KERNEL_CALLERS])

# %% [markdown]
# Three corrections to the plan's premise. `vfree()` does not call `find_vmap_area()`: it goes
# through `remove_vm_area()` -> `find_unlink_vmap_area()`, a find-and-erase that must stay under
# the lock (the RFC's own patch 09 keeps it there as one `mas_erase()`). `vmalloc_to_page()` and
# `vmalloc_to_pfn()` walk the kernel page tables and never touch the index. And KASAN's report no
# longer calls `find_vm_area()` (removed in July 2025 for a possible deadlock, commit
# 6ee9b3d84775); it uses `vmalloc_dump_obj()`, which trylocks the busy lock and copies out. The
# callers that would actually run the lockless walk are owners of their area (which need nothing
# but the RCU-safe tree), hardened usercopy (a non-owner that needs two numbers), and the
# introspection readers (non-owners that follow `va->vm`).

# %%
m23_hits = [n for n in lockless_find.M23_CLAIMED
            if any(n in c.name and c.lookup.startswith("find_vmap_area") for c in lockless_find.KERNEL_CALLERS)]
print(f"M23 names {len(lockless_find.M23_CLAIMED)} callers; "
      f"{len(m23_hits)} of them call find_vmap_area(): {m23_hits or 'none'}")

# %% [markdown]
# ## A non-owner racing `vfree()` (scenario C1)
#
# Usercopy's `check_heap_object()` looks up the area of a buffer that another task may free
# at any time, then reads `va_start` and `va_end` after the lookup has returned. Under the plan
# the walk and the `READ_ONCE` check happen inside the RCU read-side section, the uses after it.
# The explorer finds the interleaving with one preemption: the reader leaves its section, the
# owner's `vfree()` unlinks the area and `call_rcu()`s it, the grace period has nobody to wait
# for, the callback frees the area, and the reader's next read is a use-after-free. Here the
# busy index is the real maple tree in RCU mode (`explore_tables.on_maple_tree`), so the walk's
# node loads and the writer's copy-on-write are steps too:

# %%
c1 = explore_tables.stepped("C1", areas=tree_areas)
print(c1.violation)
print(c1.swimlane)

# %% [markdown]
# The `READ_ONCE` check is not a stabiliser: the bounds of an unlinked area do not change while
# it sits on the lazy list, in a pool or in the free tree, so the check passes for a dead area,
# and it is a check at one time for a use at another. Step through it (and the other
# counterexamples) below. Each step shows every thread's last operations and the operation it
# runs next, the open read-side sections, grace periods and the sections they still wait for,
# pending callbacks, locks, each object's state, and the maple tree's nodes (blue outline: the
# node this step touched; right: nodes replaced by copy-on-write and waiting for, or past,
# their grace period).

# %%
report.bind(
    stepview.step_view, stepview.show_step,
    scenario=widgets.Dropdown(options=["C1", "C3", "C4", "E2"], value=step_scenario,
                              description="scenario"),
    step=widgets.IntSlider(value=len(first) - 1, min=0, max=60, description="step"),
    maple=widgets.fixed(True),
)

# %% [markdown]
# (`step` is clamped to the scenario's last step. C3 and C4 are explained next; E2 is the
# maple tree's own rule, a replaced node freed without a grace period under an owner's walk,
# which the tree's RCU mode prevents.)
#
# ## The owner's lookup is safe (scenario C2)
#
# The same protocol used by the area's owner, whose `vfree()` comes after its last use, has no
# violating interleaving, exhaustively, on the slot model and on the real maple tree. The walk
# touches only maple nodes, which the tree already frees after a grace period in RCU mode; the
# area itself is pinned by ownership. This needs no `call_rcu()` on `vmap_area` at all.

# %%
c2_slot = explore("C2")
c2_tree = explore(explore_tables.on_maple_tree("C2", areas=tree_areas))
print(c2_slot.summary())
print(c2_tree.summary())

# %% [markdown]
# ## Reuse without a grace period (scenario C4)
#
# `call_rcu()` on the final `kmem_cache_free()` leaves the other exits open. The lazy purge puts
# freed areas of up to 256 pages into per-node pools and the next allocation of that size takes
# the same object, often with the same address, with no grace period in between
# (`node_pool_add_va`/`node_pool_del_va`; notebook 05 shows 40-50% of real allocations come from
# pools). A reader that walked to A before the `vfree()` then reads A's `vm` pointer and gets the
# new owner's `vm_struct`: no KASAN report, since nothing was freed. A grace period before the
# pool push (C4-gp: one `cond_synchronize_rcu()` per purge batch would do) closes it.

# %%
c4 = explore_tables.stepped("C4", areas=tree_areas)
print(c4.violation)
print(c4.swimlane)
c4gp = explore("C4-gp")
print(c4gp.summary())

# %% [markdown]
# ## The `vm_struct` is not RCU-freed (scenario C3)
#
# `find_vm_area()` returns `va->vm`, and vmallocinfo, `vread_iter` and `vmalloc_dump_obj` read
# `vm->caller`, `vm->nr_pages`, `vm->pages[]`. `vfree()` frees the pages, `kvfree()`s the pages
# array and `kfree()`s the `vm_struct` right after `remove_vm_area()`. RCU-freeing the
# `vmap_area` does not cover them: the reader below is still inside its read-side section (see
# the open section in the last step) when it reads freed memory.

# %%
c3 = explore_tables.stepped("C3", areas=tree_areas)
print(c3.violation)
print(c3.swimlane)
c3_open = c3.steps[-1]["rcu"]["open"]
print("read-side sections open at the violating step:", c3_open)

# %% [markdown]
# ## Which protocol is safe for which caller
#
# Every (caller, protocol) pair explored exhaustively with `vmapsim.explore.scenarios.lookup_race`:
# "UNSAFE" means the explorer found a use-after-free or a use of another owner's `vm_struct`.
# `rcu-readonce (M23)` is the plan as posted; "use inside RCU" keeps the read-side section open
# while the caller uses the area, the most generous reading of the plan.

# %%
matrix = explore_tables.protocol_matrix(protocols=matrix_protocols)
display(report.table(["caller"] + matrix.protocols, matrix.rows()))
for n in matrix.notes:
    print("*", n)

# %% [markdown]
# Owners are safe under every protocol. M23's plan is unsafe for every non-owner caller, and
# keeping the section open does not help callers that follow `va->vm`. A stabiliser
# (`rcu-trylock-retry` with a DEAD mark, or `rcu-refcount` with an identity recheck; notebook 02
# has what each demands of `vmap_area`) makes non-owner lookups safe as long as the pools wait for
# a grace period; copy-out under a sequence count is safe because it never dereferences anything
# after the check.
#
# ## What each protocol costs
#
# Operation counts of one `find` + `put` on a maple tree of `cost_areas` areas, from the same
# protocol code run through a counting context (no contention): the locked walk takes the
# node-wide busy lock twice; the RCU walks take no shared lock; trylock and refcount add two
# atomics on the area's own cache line; copy-out adds nothing but a sequence-count read.

# %%
display(report.table(lockless_find.ProtocolCost.HEADER, [r.cells() for r in costs]))
lockless_find.plot_protocol_costs(costs)

# %% [markdown]
# Times under contention come from the performance model (`vmapsim.perf.simulate`,
# notebook 04 for the full scaling study): its `lookup` workload runs 4 `find_vmap_area()` calls
# per iteration on every CPU, half of them by the area's owner, next to `vmalloc`/`vfree`. It
# prices `rcu-readonce` for non-owners too, i.e. the price of an unsafe protocol.

# %%
perf = [(p, c, simulate(lookup=p, workload="lookup", cpus=c, loops=perf_loops, seed=seed))
        for c in perf_cpus for p in lockless_find.PROTOCOLS]
display(report.table(("protocol", "cpus", "find us (mean)", "find us (p99)", "M ops/s",
                      "seq retries"),
                     [(p, c, round(r.find_latency_us["mean"], 3),
                       round(r.find_latency_us["p99"], 3), round(r.ops_per_sec / 1e6, 3),
                       r.seq_retries) for p, c, r in perf],
                     title=f"model, lookup workload, no warm-up (not steady state), {perf_loops} "
                     f"loops per CPU, {len(perf_cpus)} CPU counts: "
                     f"{', '.join(map(str, perf_cpus))}"))
perf_by = {(p, c): r for p, c, r in perf}
cn = perf_cpus[-1]
ratio = {p: perf_by[(p, cn)].find_latency_us["mean"] / perf_by[("spinlock", cn)].find_latency_us["mean"]
         for p in lockless_find.PROTOCOLS}
print(f"\nfind time relative to the locked walk at {cn} CPUs: "
      + ", ".join(f"{p} {v:.2f}" for p, v in ratio.items()))

# %% [markdown]
# Read the model's numbers with its assumptions (`vmapsim/perf_lookup.py`): alone on one CPU an
# RCU walk saves the lock's two atomics; with `vmalloc`/`vfree` running on the other CPUs, every
# node a writer changed is a coherence miss for the next reader whatever the protocol, and the
# busy lock is not the bottleneck of this mix, so the lockless walk is not clearly faster in
# the mean. Trylock and refcount pay two more atomics on the area's line, last written by the
# CPU that allocated it. The gain the plan promises has to be shown with a profile where the
# busy lock is contended by lookups, which the thread never posted.

# %% [markdown]
# ## Recommendation
#
# The plan as posted should not go in: for every caller that does not own its area it returns a
# pointer nothing keeps alive, `READ_ONCE` validates nothing, `call_rcu()` does not cover the pool
# recycling or the `vm_struct`, and the callers it names do not call `find_vmap_area()`. What the
# evidence supports instead:
#
# 1. **An owner lookup**: `find_vmap_area()` / `find_vm_area()` for callers that own the area,
#    an RCU walk of the busy tree in RCU mode, with the ownership contract documented (it already
#    is for `find_vm_area()`). No `rcu_head` in `vmap_area`, no `call_rcu()` per `vfree()`.
# 2. **A copy-out lookup for non-owners** that need only the bounds: hardened usercopy (the
#    function Rezki proposed in August 2025 and Kees Cook agreed to), `vmalloc_dump_obj()` and so
#    the KASAN report. A per-node sequence count around the walk, the copy under RCU, retry on a
#    change, fall back to the lock: no per-area bytes, no reader stores. It still needs the
#    area's memory to stay readable during the walk (type-safe cache or the grace period before
#    recycling).
# 3. **Long readers keep the lock** (`vread_iter`, vmallocinfo), or take a VMA-style reference
#    that `vfree()` and `vrealloc()` wait for; M22's promise to make them lockless breaks the
#    teardown ordering they rely on today (scenario H).
# 4. If non-owners must dereference the area, Wilcox's rule 2 done fully: a shared stabiliser
#    (refcount, not an exclusive trylock), DEAD/identity recheck, bounded retries with the
#    locked fallback, and a grace period before pool recycling, for 8 to 24 bytes per area.

# %% [markdown]
# ## Claims checked in this run

# %%
rows = {r.protocol: r for r in costs}
owner_row = "owner reads va->vm->flags"
non_owner = [c for c in matrix.callers if c != owner_row]
m23 = "rcu-readonce (M23)"
claims = report.Claims()
claims.add("C1: non-owner + M23 plan + vfree on the RCU maple tree: use-after-free",
           (c1.verdict, c1.violation.split(":")[0]), "x == ('violation', 'use-after-free')",
           "mm/usercopy.c:check_heap_object")
claims.add("... found with one preemption", c1.preemptions, "x == 1", "vmapsim explore C1")
claims.add("C2: the owner's lookup has no violation (exhaustive, slot model and maple tree)",
           (c2_slot.verdict, c2_slot.exhaustive, c2_tree.verdict, c2_tree.exhaustive),
           "x == ('never', True, 'never', True)", "mm/vmalloc.c:find_vm_area kernel-doc")
claims.add("C3: vm_struct read after vfree's kfree(vm), inside the RCU section",
           (c3.verdict, bool(c3_open)), "x == ('violation', True)", "mm/vmalloc.c:vfree")
claims.add("C4: pool recycle without a GP gives the reader another owner's vm_struct",
           (c4.verdict, "another owner" in (c4.violation or "")), "x == ('violation', True)",
           "mm/vmalloc.c:node_pool_del_va")
claims.add("C4-gp: a grace period before pooling closes it (exhaustive)",
           (c4gp.verdict, c4gp.exhaustive), "x == ('never', True)", "vmapsim explore C4-gp")
claims.add("callers named in M23 that call find_vmap_area()", len(m23_hits), "x == 0",
           "mm/vmalloc.c:remove_vm_area, vmalloc_to_page")
claims.add("M23 plan unsafe for every non-owner caller kind in the matrix",
           sum(matrix.verdict(c, m23) == "violation" for c in non_owner),
           f"x == {len(non_owner)}", "explore_tables.protocol_matrix")
claims.add("every protocol is safe for the owner",
           all(matrix.verdict(owner_row, p) == "never" for p in matrix.protocols),
           "x == True", "explore_tables.protocol_matrix")
claims.add("trylock-retry and refcount are safe for non-owners once pools wait for a GP",
           all(matrix.verdict(c, p) in ("never", None) for c in non_owner
               if "no GP" not in c for p in ("rcu-trylock-retry", "rcu-refcount")),
           "x == True", "explore_tables.protocol_matrix")
claims.add("locked walk: atomics on vn->busy.lock per lookup", rows["spinlock"].node_rmw,
           "x == 2", "mm/vmalloc.c:find_vmap_area")
claims.add("RCU protocols: no atomics on the node-wide lock",
           max(rows[p].node_rmw for p in lockless_find.PROTOCOLS if p != "spinlock"),
           "x == 0", "vmapsim.explore.lookup")
claims.add("trylock-retry / refcount: atomics on the area's own line per lookup",
           (rows["rcu-trylock-retry"].area_rmw, rows["rcu-refcount"].area_rmw),
           "x == (2.0, 2.0)", "vmapsim.explore.lookup")
claims.add("copy-out (seqcount) writes nothing shared",
           rows["seqcount"].node_rmw + rows["seqcount"].area_rmw + rows["seqcount"].reader_stores,
           "x == 0", "vmapsim.explore.lookup")
c1p = perf_cpus[0]
claims.add(f"perf model, {c1p} CPU: an uncontended RCU walk is faster than the locked one "
           "(find us, readonce / spinlock)",
           round(perf_by[("rcu-readonce", c1p)].find_latency_us["mean"]
                 / perf_by[("spinlock", c1p)].find_latency_us["mean"], 3), "x < 1",
           "vmapsim.perf.simulate")
claims.verify()

# %% [markdown]
# ## The key numbers, and the reply
#
# The numbers the reply states, with where each comes from and the conditions that reproduce it
# (`make report` writes them to `build/report/03-lockless-find.json`), then the reply
# (`03-lockless-find.txt`, and `03-lockless-find.eml` for `git send-email` or `mutt -H`).

# %%
nums = report.Numbers("03-lockless-find")
nums.add("C1 non-owner (usercopy) vs vfree", c1.verdict, source="explorer", scenario="C1")
nums.add("C1 preemptions", c1.preemptions, source="explorer", scenario="C1")
nums.add("C2 owner lookup (exhaustive)", c2_tree.verdict, source="explorer", scenario="C2")
nums.add("C3 vm_struct, inside RCU", c3.verdict, source="explorer", scenario="C3")
nums.add("C4 pool reuse without GP", c4.verdict, source="explorer", scenario="C4")
nums.add("C4 pool reuse with GP", c4gp.verdict, source="explorer", scenario="C4-gp")
nums.add("M23's callers that use find_vmap_area", len(m23_hits),
         f"of {len(lockless_find.M23_CLAIMED)}", source="kernel-source")
nums.add("non-owner kinds unsafe under the plan",
         sum(matrix.verdict(c, m23) == "violation" for c in non_owner), f"of {len(non_owner)}",
         source="explorer", scenario="lookup_race")
for p in ("spinlock", "rcu-readonce", "rcu-refcount", "seqcount"):
    r = perf_by[(p, cn)]
    nums.add(f"find, {p}", r.find_latency_us["mean"], "us", source="model", steady=False,
             fmt=".3f", **report.sim_conditions(r, warmup=0))
report.summary(
    "03-lockless-find",
    title="the proposed lockless find_vmap_area(), examined",
    answers="M23",
    parts=[("M23-write-side",
            "call_rcu misses the pool recycling (silent ABA) and the vm_struct, which "
            "vfree kfree()s at once."),
           ("M23-read-side",
            "The plan is safe only for callers that own the area, and for them the "
            "RCU-mode maple tree alone suffices: no rcu_head, no call_rcu per vfree. For "
            "non-owners (hardened usercopy, vmallocinfo, vread_iter, vmalloc_dump_obj) it is "
            "a use-after-free after rcu_read_unlock, and READ_ONCE validates nothing."),
           ("M23-no-spinlock",
            "vfree and vmalloc_to_page/pfn never call find_vmap_area."),
           ("M23-good-plan",
            "Not as posted. Suggested split: an owner lookup; a copy-out bounds lookup "
            "(seqcount) for usercopy and the dump path; long readers keep the lock or take a "
            "reference vfree waits for.")],
    numbers=nums,
    conclusion="",
)
