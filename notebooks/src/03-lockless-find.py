# %% [markdown]
# # 03 · The proposed lockless `find_vmap_area()`: what it changes, and for whom
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
# The baseline is today's kernel, read from source (docs/kernel-facts.md F1, F2, F4: 7.3.4
# source and the running 6.18.44 kernel's machine code): `mm/vmalloc.c:find_vmap_area` takes each
# node's `busy.lock`, walks, and **drops the lock before it returns the area**, so nothing pins
# the area it returns; `find_vm_area()`'s kernel-doc leaves keeping it valid to the caller. The
# plan has to be judged against that, not against a lock held until some `put()` that does not
# exist. This notebook runs the package's lookup protocols (`vmapsim.explore.lookup`: 6.18's
# `spinlock-6.18`, M23's `rcu-readonce` and the stabilised variants) against `vfree()` in the
# interleaving explorer (`vmapsim explore`), on the slot model and on the real maple tree in RCU
# mode, and counts what the plan's RCU-mode busy tree costs the writers on a real 6.18 trace.
#
# How to read the verdicts. **UNSAFE / violation** means the explorer found an interleaving that
# breaks a property a named caller needs: no use-after-free, and what the caller uses (the
# bounds usercopy checks against, the `vm_struct` `find_vm_area()` returns) describes an area
# that contains the address it looked up. A reader that meets the same object after a pool has
# handed it to a new owner (**generation changed**) is reported as an observation beside the
# verdict, not as a violation: the pool hands back the same object with the same bounds, so the
# reader's answer is right for its address.

# %%
import ipywidgets as widgets

from vmapsim import report, thread
from vmapsim.explore import explore
from vmapsim.explore.lookup import SequentialEnv, make_protocol
from vmapsim.explore.rcu import Obj
from vmapsim.explore.world import RangeIndex
from vmapsim.perf.lookup_cost import PROTOCOLS as PRICED
from vmapsim.perf.simulate import simulate
from vmapsim.review import explore_tables, lockless_find, stepview

FAST = report.setup()

# %% tags=["parameters"]
# Parameters: `make report -p` / the test suite may override these.
step_scenario = "C0"        # counterexample shown first by the step-through widget
tree_areas = 3              # other areas in the maple tree of the step-through scenarios
cost_areas = 1000           # areas in the tree used to count each protocol's operations
trace = "fork-s71" if FAST else "mixed-s61"   # real 6.18 capture for the writer-side cost
perf_cpus = [1, 4] if FAST else [1, 16]   # CPUs for the performance model's lookup workload
perf_loops = 60 if FAST else 200          # iterations per CPU (4 find_vmap_area() each)
seed = 0

# %%
# Validate the parameters first: a bad value stops here with one line naming it.
first = explore_tables.stepped(step_scenario, areas=tree_areas)
costs = lockless_find.protocol_costs(areas=cost_areas, seed=seed)
wc_rcu = lockless_find.writer_cost(trace, rcu=True)
print(f"step_scenario={step_scenario} tree_areas={tree_areas} cost_areas={cost_areas} "
      f"trace={trace} perf_cpus={perf_cpus} perf_loops={perf_loops} fast={FAST}")
print(f"{step_scenario}: {first.verdict}, {len(first)} steps")

# %% [markdown]
# ## Who looks up an area, and do they own it?
#
# A caller *owns* an area when nothing can `vfree()` it while the caller uses it: the caller
# allocated it, or holds whatever keeps it alive. The table says what protects each caller in
# 6.18, what the explorer finds for 6.18's own code, and what it finds for M23's plan
# (scenario ids in the last column).

# %%
print(report.text_table(("caller", "where", "owns it", "today (6.18)", "6.18, explored",
                         "M23's plan, explored", "scenarios"),
                        [(c.name, c.where.split(";")[0], c.owner, c.today, c.today_verdict,
                          c.lockless_verdict, c.scenario)
                         for c in lockless_find.KERNEL_CALLERS], width=None))

# %% [markdown]
# Three corrections to the plan's premise. `vfree()` does not call `find_vmap_area()`: it goes
# through `remove_vm_area()` -> `find_unlink_vmap_area()`, a find-and-erase that must stay under
# the lock (the RFC's own patch 09 keeps it there as one `mas_erase()`). `vmalloc_to_page()` and
# `vmalloc_to_pfn()` walk the kernel page tables and never touch the index. And KASAN's report no
# longer calls `find_vm_area()` (removed in July 2025 for a possible deadlock, commit
# 6ee9b3d84775); it uses `vmalloc_dump_obj()`, which trylocks the busy lock and copies out. In 7.3
# `find_vmap_area()` has exactly two callers (F1): `find_vm_area()`, whose callers own their
# area, and hardened usercopy.

# %%
m23_hits = [n for n in lockless_find.M23_CLAIMED
            if any(n in c.name and c.lookup.startswith("find_vmap_area") for c in lockless_find.KERNEL_CALLERS)]
print(f"M23 names {len(lockless_find.M23_CLAIMED)} callers; "
      f"{len(m23_hits)} of them call find_vmap_area(): {m23_hits or 'none'}")

# %% [markdown]
# ## Today: hardened usercopy already races `vfree()` (scenario C0)
#
# `mm/usercopy.c:check_heap_object` calls `find_vmap_area(addr)` for a vmalloc address and then
# reads `va_end` from the returned pointer, after the node's lock was dropped (F2; the 6.18.44
# machine code reads offset 8 of the returned pointer with no lock held). If another task
# `vfree()`s the buffer meanwhile and the lazy purge merges the range into the free tree, the
# `vmap_area` goes back to the slab with a plain `kmem_cache_free()` and the read is a
# use-after-free. The explorer runs 6.18's protocol (`spinlock-6.18`) against that `vfree()`
# (unlink under the lock, `kfree(vm)`, and the purge's free folded into the writer's steps) and
# finds it with one preemption. In the kernel the `kmem_cache_free()` comes at the next lazy
# purge, not right after `vfree()`, so the reader must stay descheduled until a purge has run:
# the race is rare, not impossible, and no report of it failing was found (F2). It needs a
# caller that copies from a buffer another task is freeing, i.e. a bug the hardened-usercopy
# check exists to catch; Rezki called this use of
# `find_vmap_area()` "wrong" in August 2025 and proposed a helper that returns the bounds
# instead (F2). The swimlane below uses the slot index, since 6.18's busy index is an rb-tree
# (the step-through widget further down runs the same protocol on a maple busy tree).

# %%
c0 = explore_tables.stepped("C0", maple=False)
print(c0.violation)
print(c0.swimlane)
c0_pool = explore("C0-pool")
print(c0_pool.summary())

# %% [markdown]
# When the area leaves through a node pool instead (`node_pool_add_va()` at the purge,
# `node_alloc()` at the next allocation of that size), usercopy meets the same object with the
# same bounds: the generation changed, the check's answer for its address is still right.
#
# ## The plan, for the same caller (scenario C1)
#
# Under M23 the walk and the `READ_ONCE` check run inside an RCU read-side section and the
# caller's reads come after it. The explorer finds the same interleaving, again with one
# preemption:

# %%
c1 = explore_tables.stepped("C1", areas=tree_areas)
print(c1.violation)
print(c1.swimlane)

# %% [markdown]
# What the plan changes for usercopy, step by step (the two counterexamples side by side):

# %%
def _window(st):
    """Steps of the other threads between the reader's last protected step and its violating
    read (the interleaving that must fit into the window)."""
    steps = st.steps
    last = max(i for i, s in enumerate(steps) if s["thread"] == "R"
               and ("unlock" in s["op"]))
    return [f"{s['thread']}: {s['op']}" for s in steps[last + 1:-1] if s["thread"] != "R"]


c1_slot = explore_tables.stepped("C1", maple=False)
rows = []
for name, st in (("6.18 (C0)", c0), ("M23 (C1)", c1_slot)):
    w = _window(st)
    rows.append((name, st.preemptions, len(w), "; ".join(x.split(": ", 1)[1] for x in w)))
print(report.text_table(("code", "preemptions", "steps in the window", "what runs in it"),
                        rows, width=None))

# %% [markdown]
# * **The window is the same one.** In both, it opens when the lookup returns (6.18: after
#   `spin_unlock(busy.lock)`; M23: after `rcu_read_unlock()`) and closes when usercopy reads
#   `va_end`. `call_rcu()` adds one grace period to the slab exit, and that grace period does
#   not wait for the reader, which has already left its section: the plan neither opens nor
#   closes the race. It narrows nothing either: the pool exit has no grace period in either
#   version, and there it does no harm (same bounds).
# * **What is new is where the walk runs.** Today the walk is serialised with
#   `find_unlink_vmap_area()` by `busy.lock`; under the plan a reader can return an area whose
#   erase is in progress. That is an ordering the reader could equally have seen just before the
#   erase, so it is no new failure; what makes the walk itself safe for a non-owner is the
#   `call_rcu()` (the `READ_ONCE` inside the section reads the area).
# * So the plan's `call_rcu()` per `vfree()` protects exactly one read: its own `READ_ONCE`
#   check inside the walk. Owners do not need it (next section), and usercopy's real hazard, the
#   read after the return, is today's and is fixed by the bounds helper proposed in August 2025,
#   with or without the plan.
#
# Step through the counterexamples below: each step shows every thread's last operations and
# the operation it runs next, open read-side sections, grace periods and the sections they still
# wait for, pending callbacks, locks, each object's state, and the maple tree's nodes (blue
# outline: the node this step touched; right: nodes replaced by copy-on-write and waiting for,
# or past, their grace period).

# %%
report.bind(
    stepview.step_view, stepview.show_step,
    scenario=widgets.Dropdown(options=["C0", "C1", "C3", "A2", "E2"], value=step_scenario,
                              description="scenario"),
    step=widgets.IntSlider(value=len(first) - 1, min=0, max=60, description="step"),
    maple=widgets.fixed(True),
)

# %% [markdown]
# (`step` is clamped to the scenario's last step. C0 here runs 6.18's locking on a maple busy
# tree in RCU mode, as `rfc-maple-busy` would have it. C3 and A2 are explained below; E2 is the
# maple tree's own rule, a replaced node freed without a grace period under an owner's walk,
# which the tree's RCU mode prevents.)
#
# ## The owner's lookup is safe, with or without `call_rcu()` (C2, C2-kfree)
#
# The same protocol used by the area's owner, whose `vfree()` comes after its last use, has no
# violating interleaving, exhaustively, on the slot model and on the real maple tree, and also
# when the area is freed at once (no `call_rcu()` at all): the walk touches only maple nodes,
# which the tree frees after a grace period in RCU mode, and the area itself is pinned by
# ownership. Every `find_vm_area()` caller in 7.3 is an owner (F1). The explorer models one
# `vmap_node`; 6.18's walk over the other nodes (an area is stored in the node of its start
# address) is not explored. An owner's walk of another node's tree can only find an area that
# contains its address, and the only such area is its own, published before its `vmalloc()`
# returned.

# %%
c2_slot = explore("C2")
c2_tree = explore(explore_tables.on_maple_tree("C2", areas=tree_areas))
c2_kfree = explore("C2-kfree")
for r in (c2_slot, c2_tree, c2_kfree):
    print(r.summary())

# %% [markdown]
# ## Pool reuse is a generation change, not a bug (C4, C4-gp)
#
# The lazy purge puts freed areas of up to 256 pages into per-node pools and `node_alloc()` hands
# the same object, with its own range, to the next allocation of that size, with no grace period
# in between. A reader that walked to A before the `vfree()` and reads `va->vm` afterwards can
# get the new owner's `vm_struct` (C4: the reader keeps its section open, as in the most generous
# reading of the plan). That `vm_struct` describes the area that now contains the address, so a
# caller that wants "the area at this address" has a correct answer; the explorer reports the
# generation change beside a `never` verdict. This is the argument behind `SLAB_TYPESAFE_BY_RCU`
# and behind M18's rule 2: a reader that stabilises the object and rechecks its key has a
# correct answer for its key. A grace period before pooling (C4-gp) removes the observation; no
# 6.18 caller needs that. Reuse at *another* address (a type-safe cache) is different: without a
# recheck the reader returns the `vm_struct` of an area that does not contain its address (D3).

# %%
c4, c4gp, d3 = explore("C4"), explore("C4-gp"), explore("D3")
for r in (c4, c4gp, d3):
    print(r.summary())

# %% [markdown]
# ## The `vm_struct` is not RCU-freed (scenario C3)
#
# `vfree()` frees the pages, `kvfree()`s the pages array and `kfree()`s the `vm_struct` right
# after `remove_vm_area()`. No `find_vmap_area()` caller follows `va->vm` as a non-owner today,
# but M22 proposes lockless `vread_iter` and `vmalloc_info_show`, which read `vm->caller`,
# `vm->nr_pages`, `vm->pages[]` and copy the mapping: RCU-freeing the `vmap_area` does not cover
# them. The reader below is still inside its read-side section (see the open section in the last
# step) when it reads freed memory.

# %%
c3 = explore_tables.stepped("C3", areas=tree_areas)
print(c3.violation)
print(c3.swimlane)
c3_open = c3.steps[-1]["rcu"]["open"]
print("read-side sections open at the violating step:", c3_open)

# %% [markdown]
# ## Wilcox's rules 3 and 4, and what they mean for vmalloc
#
# M18's last two rules, verbatim (the first two are notebook 02's subject):

# %%
for qid in ("M18-rule3", "M18-rule4"):
    print(thread.quote(qid).text, end="\n\n")
print(thread.cite("M18"))

# %% [markdown]
# M23 leans on rule 3 ("for any single index the reader will see either the old or the new
# object, not NULL"). The explorer checks both rules on the real maple tree, and two more
# things a lockless reader of a maple tree relies on:
#
# * **A1**: one store of B over A's exact range: the reader sees A or B, never NULL (rule 3).
# * **A2**: vmalloc's real pattern: `vfree()` erases A (`find_unlink_vmap_area`), and the range is
#   reused only after the lazy purge, by a separate insert of B: the reader sees NULL in between.
# * **B1/B2**: two stores C then D; the reader loads C's index then D's (B1), or D's first (B2):
#   the combinations of rule 4. B2's "D only" is allowed by the LKMM
#   (`MP+poonceonces`: no order between the reader's two loads) but cannot be shown by a
#   sequentially consistent explorer. That is an argument from the litmus test's own
#   `Result:` line, not a test: herd7 is not packaged for this machine's Debian release and
#   could not be installed here.
# * **F1-inplace/F1-cow**: X is stable while another range is inserted into X's leaf: without
#   RCU mode the node is rewritten in place and the reader can see NULL for X; in RCU mode
#   (copy-on-write) it always sees X.
# * **F2/F2-filter**: `mas_walk()` returns `XA_ZERO_ENTRY` for a reserved range (the RFC's
#   occupied tree holds them; `mtree_load()` filters them, the advanced API does not).

# %%
rules = explore_tables.verdicts(["A1", "A2", "B1", "B2", "F1-inplace", "F1-cow", "F2",
                                 "F2-filter"])
rule_of = {"A1": "3", "A2": "3 (vmalloc)", "B1": "4", "B2": "4", "F1-inplace": "3 (RCU mode)",
           "F1-cow": "3 (RCU mode)", "F2": "-", "F2-filter": "-"}
outc = {r: explore(r).outcomes for r in ("B1", "B2")}
print(report.text_table(("scenario", "rule", "verdict", "exhaustive", "executions",
                         "outcomes / counterexample"),
                        [(r.id, rule_of[r.id], r.verdict, "yes" if r.exhaustive else "no",
                          r.executions, ", ".join(outc[r.id]) if r.id in outc
                          else (r.violation or "")[:70]) for r in rules], width=None))

# %% [markdown]
# What this implies for vmalloc:
#
# * **Rule 3 does not cover vmalloc's writes to one index.** An address range leaves the busy
#   tree with an erase and comes back, after the lazy purge, with an insert (A2): a lockless
#   reader between the two sees NULL. M23's "not NULL" is true only for one overwriting store.
# * **No caller needs it.** An owner never looks up its area before `vmalloc()` returned (the
#   insert precedes the return) or after its `vfree()`; usercopy seeing NULL for a range being
#   freed gets `usercopy_abort("vmalloc", "no area")`, a correct diagnosis of a copy from freed
#   memory. What lockless readers do need from rule 3 is the *other* indexes: an insert or erase
#   next to a live area must not hide it, and that holds only in RCU mode (F1-inplace vs F1-cow).
#   So `MT_FLAGS_USE_RCU` is required for the owner lookup; the reason is F1, not A1.
# * **Rule 4 (B1/B2)** matters only to readers that look at more than one area: a lockless
#   `vread_iter` or vmallocinfo (M22) would see any mix of concurrent allocations and frees, not
#   a snapshot; `find_vmap_area()` looks at one address.
# * **Zero entries (F2)**: the series' busy trees hold only `vmap_area` pointers, but a design
#   that marks unlinked or reserved ranges with `XA_ZERO_ENTRY` (the occupied tree, or one tree
#   for everything) must filter them on every lockless walk.
#
# ## Which protocol is safe for which caller
#
# Every (caller, protocol) pair explored exhaustively with `vmapsim.explore.scenarios.lookup_race`.
# Each row names the caller and how the area leaves the busy tree; the two locked columns free a
# purged area with `kmem_cache_free()` (6.18), the RCU columns with `call_rcu()` (M23). "UNSAFE":
# a property that caller needs is violated (use-after-free, or an answer for another address);
# "safe, gen.": safe, and the reader can meet the object's next generation.

# %%
matrix = explore_tables.protocol_matrix()
print(report.text_table(["caller"] + matrix.protocols, matrix.rows(), width=None))
for n in matrix.notes:
    print("*", n)

# %% [markdown]
# Owners are safe under every protocol. Usercopy is unsafe under today's code and under M23 alike,
# and safe wherever it reads inside a protection (the lock held through the use, an RCU section
# held through the use, a stabiliser, or a copy-out). Keeping the section open does not help
# callers that follow `va->vm`, because `vfree()` frees the `vm_struct` without a grace period.
#
# ## What the RCU-mode busy tree costs the writers (a real trace)
#
# The owner lookup needs no `rcu_head` in `vmap_area` and no `call_rcu()` per `vfree()`. It
# does need `vn->busy.mt` in RCU mode, and that is not free for the writers: in RCU mode a
# store that changes a node builds a new node and frees the old one with `kfree_rcu()`
# (`lib/maple_tree.c:mas_wr_node_store`, `ma_free_rcu`, F5; 6.18 batches them through the slab's
# per-CPU RCU sheaf, 32 nodes per `call_rcu()`). Counted on a real 6.18 capture (`trace`),
# replayed under `rfc-maple-busy` (6.18 with per-node busy maple trees; addresses are 6.18's by
# construction), for every busy insert (`alloc_vmap_area`) and every busy erase (`vfree`'s
# `find_unlink_vmap_area`):

# %%
wc_plain = lockless_find.writer_cost(trace, rcu=False)
for w in (wc_rcu, wc_plain):
    print(f"{trace}, busy trees {'in RCU mode' if w.rcu else 'not in RCU mode'} "
          f"({w.allocs} allocations replayed, {w.agreement:.2%} of addresses as the kernel chose):")
    print(report.text_table(w.HEADER, w.rows(), width=None))
pair_rcu = wc_rcu.per_op("insert") + wc_rcu.per_op("erase")
pair_plain = wc_plain.per_op("insert") + wc_plain.per_op("erase")
print(f"\nnodes to kfree_rcu per vmalloc+vfree pair: {pair_rcu:.2f} in RCU mode, "
      f"{pair_plain:.2f} without (6.18's rb-tree: 0); {256 * pair_rcu:.0f} bytes held for a "
      f"grace period per pair in RCU mode")

# %% [markdown]
# Most busy stores are node stores (a `vmap_area` lands next to a free range, so the slot count
# changes), which are written in place without RCU mode and copied in RCU mode: RCU mode roughly
# doubles the nodes retired per operation. The writer-side cost of the owner lookup is therefore
# about one more `kfree_rcu()`'d 256-byte node per insert and per erase than a maple busy tree
# without RCU mode (and 6.18's rb-tree retires none); M23 adds one `call_rcu()` per `vfree()` for
# the `vmap_area` on top. Replaced nodes are freed through `kfree_rcu()` outside RCU mode too
# (splits, rebalances; F5), so a maple busy tree is never free of them. docs/rcu-review.md
# section 4 has what the callbacks and the memory held during a grace period mean at a given
# `vfree()` rate.
#
# ## What each protocol costs
#
# Operation counts of one `find` + `put` on a maple tree of `cost_areas` areas, from the same
# protocol code run through a counting context (no contention): the locked walks take the
# node-wide busy lock once (lock and unlock); the RCU walks take no shared lock; trylock and
# refcount add two atomics on the area's own cache line; copy-out adds nothing but a
# sequence-count read.

# %%
print(report.text_table(lockless_find.ProtocolCost.HEADER, [r.cells() for r in costs]))
lockless_find.plot_protocol_costs(costs)

# %% [markdown]
# Times under contention come from the performance model (`vmapsim.perf.simulate`, notebook 04
# for the scaling study), which is being reworked; its numbers are shown for reference and
# nothing below rests on them. Its `lookup` workload runs 4 `find_vmap_area()` calls per
# iteration on every CPU, half of them by the area's owner, next to `vmalloc`/`vfree`. Its
# `spinlock` lookup keeps the area's first reads inside the busy-lock hold; 6.18 reads them after
# the unlock (`spinlock-6.18`, not priced yet).

# %%
perf = [(p, c, simulate(lookup=p, workload="lookup", cpus=c, loops=perf_loops, seed=seed))
        for c in perf_cpus for p in PRICED]
print(report.text_table(("protocol", "cpus", "find us (mean)", "find us (p99)", "M ops/s",
                         "seq retries"),
                        [(p, c, round(r.find_latency_us["mean"], 3),
                          round(r.find_latency_us["p99"], 3), round(r.ops_per_sec / 1e6, 3),
                          r.seq_retries) for p, c, r in perf], width=None))
perf_by = {(p, c): r for p, c, r in perf}
cn = perf_cpus[-1]
ratio = {p: perf_by[(p, cn)].find_latency_us["mean"] / perf_by[("spinlock", cn)].find_latency_us["mean"]
         for p in PRICED}
print(f"\nfind time relative to the locked walk at {cn} CPUs (model, "
      f"online_cpus={cn}, warmup 0, loops={perf_loops}): "
      + ", ".join(f"{p} {v:.2f}" for p, v in ratio.items()))

# %% [markdown]
# ## Recommendation
#
# The plan as posted does not make any existing caller less safe than 6.18 is, and it does not
# make hardened usercopy safer: usercopy's read after the lookup returns is a race today (C0) and
# stays one (C1). Its claimed beneficiaries do not call `find_vmap_area()`. What the evidence
# supports:
#
# 1. **An owner lookup**: `find_vmap_area()` / `find_vm_area()` as an RCU walk of `vn->busy.mt`
#    in RCU mode, with the ownership contract documented (it already is for `find_vm_area()`).
#    No `rcu_head` in `vmap_area`, no `call_rcu()` per `vfree()` (C2-kfree). The writers pay for
#    RCU mode instead: about one more `kfree_rcu()`'d node per busy insert and per erase on the
#    real trace above. Whether the lookup gets faster is for a profile where lookups contend on
#    `busy.lock`, which the thread never posted.
# 2. **Fix usercopy independently of the plan**: the helper Rezki proposed in August 2025 (Kees
#    Cook agreed; F2) that returns the bounds instead of the pointer, copying them under the
#    lock today, or under RCU with a per-node sequence count if the walk goes lockless. It closes
#    C0 and C1 alike and needs nothing in `vmap_area`.
# 3. **Long readers keep the lock** (`vread_iter`, vmallocinfo), or take a reference that
#    `vfree()` and `vrealloc()` wait for; M22's promise to make them lockless breaks the teardown
#    ordering they rely on today (C3, H).
# 4. Only if a non-owner must dereference the area: M18's rule 2 done fully (notebook 02), a
#    shared stabiliser, a DEAD/identity recheck, bounded retries with the locked fallback. Pool
#    reuse needs no grace period for it: a stabilised, rechecked area is the right answer for its
#    address (C4).

# %% [markdown]
# ## Claims checked in this run
#
# The source column says what each check rests on: `kernel-source` (a fact read from the kernel,
# docs/kernel-facts.md), `real-trace` (a capture of 6.18.44), `thread` (the message text),
# `explorer` (an interleaving found or excluded on the package's protocols, which the
# kernel-source checks tie to the kernel's code), `restates the run` (the notebook agreeing with
# itself).

# %%
rows_c = {r.protocol: r for r in costs}
owner_row = "owner (every find_vm_area caller, F1): reads vm fields"
usercopy_row = "usercopy (check_heap_object): reads va_end; area purged to the slab"
non_owner = [c for c in matrix.callers if c != owner_row]
m23 = "rcu-readonce (M23)"
today = "spinlock-6.18 (today)"

# 6.18's find_vmap_area as the explorer runs it: does it return with busy.lock held?
_vn = Obj("vn", {"busy_lock": None, "seq": 0}, kind="vmap_node")
_A = Obj("A", {"va_start": 0x1000, "va_end": 0x3000, "vm": None, "lock": None,
               "state": "BUSY", "refcnt": 1}, kind="vmap_area")
_env = SequentialEnv()
_found = make_protocol("spinlock-6.18").find(_env, _vn, RangeIndex("busy", [(0x1000, 0x2fff, _A)]),
                                             0x1800)
lock_after_return = _vn.fields["busy_lock"]

claims = report.Claims()
claims.add("6.18 find_vmap_area as explored returns with busy.lock released, nothing pinned",
           (lock_after_return, _found.pin), "x == (None, 'none')",
           "kernel-source: mm/vmalloc.c:find_vmap_area (F1; 6.18.44 machine code)")
claims.add("M23's three named callers that call find_vmap_area()",
           len(m23_hits), "x == 0",
           "kernel-source: mm/vmalloc.c:remove_vm_area, vmalloc_to_page (F1); thread: M23")
claims.add("C0: 6.18's code + usercopy + vfree: use-after-free, one preemption",
           (c0.verdict, c0.violation.split(":")[0], c0.preemptions),
           "x == ('violation', 'use-after-free', 1)",
           "explorer + kernel-source: mm/usercopy.c:check_heap_object reads va_end after "
           "the unlock (F2)")
claims.add("C1: M23's plan, same caller: use-after-free, one preemption",
           (c1.verdict, c1.violation.split(":")[0], c1.preemptions),
           "x == ('violation', 'use-after-free', 1)", "explorer: vmapsim explore C1")
claims.add("... the M23 counterexample needs a grace period to end inside the window, 6.18's "
           "does not", (any(s["thread"] == "CB" for s in c1_slot.steps),
                        any(s["thread"] == "CB" for s in c0.steps)), "x == (True, False)",
           "explorer: C0 / C1 swimlanes")
claims.add("C0-pool: pool recycling gives usercopy the same bounds (never; generation changes)",
           (c0_pool.verdict, c0_pool.exhaustive, c0_pool.observed),
           "x == ('never', True, ['R: generation changed'])",
           "explorer + kernel-source: mm/vmalloc.c:node_alloc keeps the pooled range")
claims.add("C2 / C2-kfree: the owner's lookup, with and without call_rcu (exhaustive)",
           (c2_slot.verdict, c2_tree.verdict, c2_kfree.verdict,
            c2_slot.exhaustive and c2_tree.exhaustive and c2_kfree.exhaustive),
           "x == ('never', 'never', 'never', True)",
           "explorer + kernel-source: mm/vmalloc.c:find_vm_area kernel-doc")
claims.add("C3: vm_struct read after vfree's kfree(vm), inside the RCU section",
           (c3.verdict, bool(c3_open)), "x == ('violation', True)",
           "explorer + kernel-source: mm/vmalloc.c:vfree")
claims.add("C4: pool reuse without a GP is an observation, not a violation; C4-gp removes it",
           (c4.verdict, c4.observed, c4gp.verdict, c4gp.observed),
           "x == ('never', ['R: generation changed'], 'never', [])", "explorer: C4, C4-gp")
claims.add("D3: reuse at another address without a recheck answers for the wrong address",
           (d3.verdict, "does not contain" in (d3.violation or "")), "x == ('violation', True)",
           "explorer: D3")
claims.add("rule 3 holds for one overwrite (A1) but vmalloc's erase + insert shows NULL (A2)",
           tuple(r.verdict for r in rules[:2]), "x == ('never', 'violation')",
           "explorer, real maple tree; thread: M18 rule 3, M23")
claims.add("rule 4: all four combinations reachable in B1; 'D only' not in B2 under SC",
           (outc["B1"], "D" in outc["B2"]), "x == (['C', 'CD', 'D', 'none'], False)",
           "explorer; B2's LKMM 'D only' is an argument (litmus test not run)")
claims.add("a stable entry beside an insert: NULL without RCU mode, never with it",
           (rules[4].verdict, rules[5].verdict), "x == ('violation', 'never')",
           "explorer, real maple tree (lib/maple_tree.c:mas_wr_node_store)")
claims.add("usercopy unsafe today and under M23; safe with the use under a protection",
           (matrix.verdict(usercopy_row, today), matrix.verdict(usercopy_row, m23),
            matrix.verdict(usercopy_row, "lock held through the use"),
            matrix.verdict(usercopy_row, "seqcount copy-out")),
           "x == ('violation', 'violation', 'never', 'never')", "explorer: protocol matrix")
claims.add("every protocol is safe for the owner",
           all(matrix.verdict(owner_row, p) == "never" for p in matrix.protocols),
           "x == True", "explorer: protocol matrix")
claims.add(f"replay of {trace} under rfc-maple-busy reproduces the kernel's addresses",
           round(wc_rcu.agreement, 4), "x >= 0.99", f"real-trace: data/traces/{trace}")
claims.add("RCU mode: nodes replaced per busy insert / per erase (kfree_rcu each)",
           (round(wc_rcu.per_op("insert"), 2), round(wc_rcu.per_op("erase"), 2)),
           "x[0] > 1 and x[1] > 1",
           f"real-trace: {trace}; kernel-source: lib/maple_tree.c:mas_wr_node_store, ma_free_rcu (F5)")
claims.add("RCU mode retires more nodes per vmalloc+vfree pair than a plain maple tree",
           round(pair_rcu - pair_plain, 2), "x > 0.5", f"real-trace: {trace}")
claims.add("locked walks: atomics on vn->busy.lock per lookup (today's and the held shape)",
           (rows_c["spinlock-6.18"].node_rmw, rows_c["spinlock"].node_rmw), "x == (2.0, 2.0)",
           "restates the run (protocol code); kernel-source: find_vmap_area lock/unlock")
claims.add("RCU protocols: no atomics on the node-wide lock",
           max(rows_c[p].node_rmw for p in lockless_find.PROTOCOLS if not p.startswith("spinlock")),
           "x == 0", "restates the run: vmapsim.explore.lookup")
claims.add("trylock-retry / refcount: atomics on the area's own line per lookup",
           (rows_c["rcu-trylock-retry"].area_rmw, rows_c["rcu-refcount"].area_rmw),
           "x == (2.0, 2.0)", "restates the run: vmapsim.explore.lookup")
c1p = perf_cpus[0]
claims.add(f"perf model, {c1p} CPU: an uncontended RCU walk is faster than the locked one "
           "(find us, readonce / spinlock)",
           round(perf_by[("rcu-readonce", c1p)].find_latency_us["mean"]
                 / perf_by[("spinlock", c1p)].find_latency_us["mean"], 3), "x < 1",
           "restates the run: vmapsim.perf.simulate (model being reworked)")
claims.verify()

# %%
report.summary(
    "03-lockless-find",
    title="lockless find_vmap_area(), against 6.18",
    who="Pranjal Arya (26 Jun 2026)",
    question="find_vmap_area() will walk vn->busy.mt under rcu_read_lock() using mas_walk() "
             "(RCU safe tree traversal) & will then validate the found object using READ_ONCE "
             "before returning it. [...] Does it sound like a good plan ?",
    header=("finding", "result"),
    rows=[("C0 usercopy vs vfree, 6.18 today", f"{c0.verdict}, {c0.preemptions} preemption"),
          ("C1 usercopy vs vfree, M23's plan", f"{c1.verdict}, {c1.preemptions} preemption"),
          ("C2 owner lookup (and without call_rcu)",
           f"{c2_tree.verdict} / {c2_kfree.verdict} (exhaustive)"),
          ("C3 vm_struct, reader inside RCU", c3.verdict),
          ("C4 pool reuse without a GP", f"{c4.verdict}; generation changes"),
          ("A2 vmalloc erase + insert: NULL seen", rules[1].verdict),
          ("M23's callers that use find_vmap_area", f"{len(m23_hits)} of 3"),
          (f"kfree_rcu nodes / alloc+vfree, {trace}",
           f"{pair_rcu:.2f} RCU mode, {pair_plain:.2f} plain")],
    conclusion="Today's find_vmap_area() drops busy.lock before returning, so hardened "
               "usercopy's read of va_end already races vfree (C0); the plan keeps that window "
               "as it is (C1): call_rcu delays the slab free by a grace period the reader does "
               "not hold, and pool reuse hands back the same bounds (a generation change, not "
               "a bug). Owners, every find_vm_area caller, are safe with an RCU walk and need no "
               "call_rcu at all; the RCU-mode busy tree costs the writers about one more "
               "kfree_rcu'd node per insert and per erase. vfree and vmalloc_to_page/pfn never "
               "call find_vmap_area, and M23's 'never NULL' does not hold for vmalloc's erase "
               "then insert (A2). Suggested: an owner lookup; the bounds helper for usercopy "
               "(fixes today's race too); long readers keep the lock.",
    claims=claims,
)
