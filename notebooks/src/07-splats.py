# %% [markdown]
# # 07 · The splats nobody answered: a range handed out twice, and a refill that recurses
#
# Uladzislau Rezki's stress run of the series with `test_vmalloc.sh` (M16, 14 Jun 2026; the
# message survives only quoted in M25,
# [lore](https://lore.kernel.org/all/403ad230-36ac-4837-8c08-8fad8c79000d@oss.qualcomm.com/)):
# a WARN in `vmap_small_pages_range_noflush()` during `long_busy_list_alloc_test`, then
#
# > vmalloc error: size 409600, failed to map pages
#
# and about a second later, with `vmap_bump_refill -> kvmalloc -> vmalloc -> alloc_vmap_area`
# repeating on the stack,
#
# > BUG: TASK stack guard page was hit
#
# The answer (M25) was "I'll fix these in the next patchset", with no diagnosis. The day
# before, syzbot ci had reported a WARN on the busy-tree insert of `alloc_vmap_area()`, reached
# from BPF execmem on a PREEMPT_RT kernel
# ([M15](https://lore.kernel.org/all/6a2e4ba8.8812e0fc.3c3fa4.000f.GAE@google.com/)); nobody
# replied. The review's open questions, as the thread index words them
# (`data/thread/questions.json`):
#
# > **Q8** WARN at `mm/vmalloc.c:545` in `vmap_small_pages_range_noflush` and "failed to map
# > pages" under `long_busy_list_alloc_test`.
# >
# > **Q9** Unbounded recursion `vmap_bump_refill -> kvmalloc -> vmalloc -> alloc_vmap_area ->
# > vmap_bump_refill`, ending in a stack-guard-page panic.
# >
# > **Q15** syzbot ci: `(*left)->va_end > start` WARN on the busy-tree insert in
# > `alloc_vmap_area()` (BPF execmem path, PREEMPT_RT, reproducer available).
#
# Q8 and Q15 say that a range was handed out twice, or while still mapped. This notebook looks
# for the operation sequence that does it in the model of the series (`rfc-v1` at patch 12
# with its per-CPU bump chunks, `vmapsim.designs.rfc_v1_bump`, whose code was read from the
# posting), shows it step by step, runs every interleaving of its threads, says which patch
# introduces it and what the model cannot check. For Q9 it shows when the recursion has no
# bound, how deep the kernel stack lets it go (frames measured on the running kernel, the
# rest estimated and labelled so), and a fix that the model shows holds.

# %%
import ipywidgets as widgets

from vmapsim import report, thread
from vmapsim.review import splats, splats_stack, stepview
from vmapsim.vmalloc.vmap_area import VMALLOC_END

FAST = report.setup()

# %% tags=["parameters"]
# Parameters: `make report -p` / the test suite may override these.
sequence = "pooled-pte"     # sequence shown first by the step-through widget
release = "series"          # chunk release as posted ("series") or the model's safe variant
cpus = 4                    # possible CPUs of the model (4 vmap nodes, so pools are used)
thread_size = 16384         # x86-64 THREAD_SIZE without KASAN (32768 with KASAN)
fail = 0.5                  # failure rate of the descriptor's order-6 kmalloc
chains = 300 if FAST else 3000   # refill chains per recursion run
seed = 0

# %%
# Validate the parameters first: a bad value stops here with one line naming it.
first = splats.run_sequence(sequence, release, cpus=cpus, seed=seed)
budget = splats_stack.stack_budget(thread_size)
splats_stack.recursion(fail, chains=1, seed=seed)
print(f"sequence={sequence} release={release} cpus={cpus} thread_size={thread_size} "
      f"fail={fail} chains={chains} seed={seed} fast={FAST}")
print(f"{sequence}: {first.first_warn or 'no kernel message'} after {len(first.steps)} steps")

# %% [markdown]
# ## 1. What the series does with a drained chunk (patches 10-12)
#
# Read from the posted patches (M11-M13), in the words of this project:
#
# * **Patch 10 (M11)** adds one bump chunk per CPU: 64 MB reserved as a single
#   `XA_ZERO_ENTRY` in the occupied tree; page-aligned requests of the standard range are cut
#   from it. Chunks are never given back ("chunks leak in this minimal form").
# * **Patch 11 (M12)** gives them back. `vmap_bump_unlink()`, called from
#   `find_unlink_vmap_area()` at `vfree()`, subtracts the area's pages from the chunk; when the
#   count reaches 0 and the chunk is no longer current, it erases **the chunk's whole
#   `[base, limit)`** from the occupied tree (`occupied_mt_erase_range_locked`) and frees the
#   descriptor with `kvfree_rcu()`. The same patch encodes a valid node id in every bump area
#   "so the existing per-node pool machinery ... see a valid id": after the lazy purge, a
#   freed bump area goes to a per-node pool, and `reclaim_list_global()` skips the occupied
#   erase of any `VA_FROM_BUMP_CHUNK` area.
# * **Patch 12 (M13)** compares the chunk with its owner CPU's current chunk instead of the
#   freeing CPU's, so a CPU's current chunk can no longer be released under it. It does not
#   change what a release erases.
#
# So when a chunk drains, everything else inside its 64 MB loses its reservation at once:
# bump areas that were freed, purged and are sitting in a pool; pool entries that were handed
# out again (the pool resets their flags, so they are ordinary busy areas now); and the areas
# whose unlink drained the chunk, which still wait for their TLB flush. In the series an
# eligible request reaches the pools only when the bump path fails, that is when
# `vmap_bump_refill()` gets NULL from `kvzalloc()` (memory pressure; or fault injection).
#
# The model has always counted these (`release_pooled_pages`, `release_live_pages`,
# `release_exposed_pages`) but erased only what nothing else occupied, to stay consistent;
# `chunk_release="series"` now erases the whole range as the patch does. A driver adds what an
# allocator model lacks: a page table (a PTE per mapped page, unmapped pages awaiting the TLB
# flush) and the two checks the splats come from: `mm/vmalloc.c:vmap_pages_pte_range` warns on
# a PTE that is not none and returns `-EBUSY`, which `__vmalloc_area_node()` reports as
# "vmalloc error: size N, failed to map pages" (N = the mapped pages); the series'
# `find_vmap_area_insert_neighbors_mt_locked()` warns `(*left)->va_end > start` when the area
# at or before the new start ends above it.

# %% [markdown]
# ## 2. Q8 and Q15 in the standard range: four sequences
#
# Each sequence runs on `rfc-v1` with 4 CPUs (4 vmap nodes; the first chunk starts at
# `VMALLOC_START`, whose pool node is node 0, served by CPU0). Sizes are those of
# `long_busy_list_alloc_test` (100 pages), 32 MB areas (8191 pages plus the guard page, the
# largest bump request) and a 40 MB area (not bump-eligible: tree path). Two controls per
# sequence: the same operations with the model's consistent release, and without the fault
# injection. A run stops at its first kernel message, as a kernel booted with `panic_on_warn`
# would; what the series does after a failed busy-insert check is not modelled.

# %%
runs = {name: splats.run_sequence(name, release, cpus=cpus, seed=seed) for name in splats.SEQUENCES}
controls = {name: (splats.run_sequence(name, "consistent", cpus=cpus, seed=seed).first_warn,
                   splats.run_sequence(name, release, cpus=cpus, seed=seed, inject=False).first_warn)
            for name in splats.SEQUENCES}
rows = [(name, f"patch {r.patch}", len(r.steps), r.first_warn or "none",
         controls[name][0] or "none", controls[name][1] or "none")
        for name, r in runs.items()]
print(report.text_table(("sequence", "introduced by", "steps", f"first message ({release})",
                         "consistent release", "no injection"), rows, width=None))
for name, r in runs.items():
    print(f"\n{name}: {r.title}")
    for w in r.warns[:1]:
        print("  ", w["text"])
    for h in r.hazards[:1]:
        print("   silent:", h)

# %% [markdown]
# The first sequence, step by step (`pooled-pte`, Rezki's message). CPU1 allocates `a` (100
# pages) and `b` from its first chunk, frees `a`; the purge flushes the TLB and puts `a` in
# node 0's 101-page pool, still inside the chunk's reservation. CPU1 fills the chunk with a
# 32 MB area and refills on the next one, so the first chunk is retired; freeing `b` and the
# 32 MB area drains it and the release erases all 64 MB, `a`'s pool entry included. CPU2's
# first vmalloc reserves the lowest free 64 MB, the same range, and maps `c` at its start.
# CPU0's refill fails, so its 100-page request goes to node 0's pool, gets `a`'s range back
# and maps it over `c`:

# %%
print(report.text_table(("step", "thread", "operation", "result"), runs["pooled-pte"].table(),
                        width=None))

# %% [markdown]
# Step through any of the sequences below: each step shows the threads' recent operations,
# what each runs next, and the state after it (chunks, pools, live areas and whether the
# occupied tree still reserves them, the page table). The last step carries the kernel
# message.

# %%
report.bind(
    splats.step_view, stepview.show_step,
    sequence=widgets.Dropdown(options=list(splats.SEQUENCES), value=sequence,
                              description="sequence"),
    step=widgets.IntSlider(value=len(first.steps) - 1, min=0, max=12, description="step"),
    release=widgets.Dropdown(options=["series", "consistent"], value=release,
                             description="release"),
)

# %% [markdown]
# ## 3. Every interleaving
#
# Are these orders contrived? Each sequence's operations belong to threads (CPU0, CPU1,
# CPU2, and the purge worker); below, every order that keeps each thread's own order is run
# (an injection stays glued to its thread's next allocation). The share that ends in a kernel
# message says how much of the ordering the splat needs; the consistent release is the
# control over the same orders.

# %%
inter = [splats.interleavings(name, rel, cpus=cpus)
         for name in ("pooled-pte", "pooled-busy", "live-pte", "live-busy")
         for rel in ("series", "consistent")]
print(report.text_table(("sequence", "release", "first message", "interleavings", "share"),
                        [row for r in inter for row in r.rows()], width=None))
splats.plot_interleavings(inter)

# %% [markdown]
# In every interleaving that ends in a message, the chunk's release comes before the
# allocation that lands on the pooled or recycled range, and a refill has failed before the
# pool is reached; with the consistent release no interleaving ends in a message. The
# mechanism is therefore the whole-range erase of patch 11 together with the per-node pools
# that patch 11 lets bump areas into; patch 12 does not change it. The trigger is a failed
# refill: under the memory pressure that also made the descriptor's order-6 `kmalloc` fail
# (section 5), `kvzalloc()` returns NULL when its vmalloc fallback cannot get pages either.

# %% [markdown]
# ## 4. Q15: syzbot's WARN is in the module area, where no chunk lives
#
# The published report (M15) gives the call chain `__sys_bpf -> bpf_prog_test_run_xdp ->
# bpf_dispatcher_change_prog -> execmem_vmalloc -> __vmalloc_node_range_noprof ->
# __get_vm_area_node -> alloc_vmap_area`, and registers RBX = `0xffffffffa0000000`,
# R13 = `0xffffffffa0002000`, R14 = `0xffffffffa0401000`. On x86-64 BPF execmem allocates from
# `[MODULES_VADDR + offset, MODULES_END)` (`arch/x86/mm/init.c:execmem_arch_setup`), far above
# `VMALLOC_END`, and bump chunks are only ever reserved from `[VMALLOC_START, VMALLOC_END]`
# (`vmap_bump_refill()` calls `__alloc_vmap_area()` with that window). The bump-chunk
# mechanism of sections 2-3 cannot put a range of the module area in two places.
#
# What can, in the model of the series: patch 09 (M10) makes `find_unlink_vmap_area()` one
# `mas_erase()` under `vn->busy.lock`. An erase may need new maple nodes; `mas_erase` tries
# `GFP_NOWAIT`, then `mas_nomem(GFP_KERNEL)` with the external spinlock held, and when both
# fail it skips the store and **still returns the entry**, so the caller cannot tell (the
# maple-tree list discussed exactly this in June 2026: "There is no propogation of ENOMEM, it
# returns success", Jason Gunthorpe, in the thread "iova: defer maple tree erase on
# GFP_ATOMIC failure",
# [maple-tree list](http://lists.infradead.org/pipermail/maple-tree/2026-June/005073.html);
# 7.3 later made the retry `__GFP_NOFAIL`, docs/kernel-facts.md F5).
# The area is freed and purged, its range leaves the occupied tree, and the next allocation
# there meets the stale busy entry. The `stale-erase` sequence does this with a 4 MB area
# (a BPF program pack on a two-node machine is `SZ_2M * num_possible_nodes()`) and a 1-page
# execmem allocation:

# %%
stale = runs["stale-erase"]
print(report.text_table(("step", "thread", "operation", "result"), stale.table(), width=None))
w = stale.warns[0]
print(f"\nmodel: new [{w['new'][0]:#x}, {w['new'][1]:#x}), existing area ends {w['existing'][1]:#x}")
print("M15 registers: RBX 0xffffffffa0000000  R13 0xffffffffa0002000  R14 0xffffffffa0401000")

# %% [markdown]
# The model's numbers match three registers of the splat, but which register held what is an
# inference, not something the report says, and the match does not prove the path. Against
# it: a `GFP_KERNEL` allocation under a spinlock (a sleeping lock on PREEMPT_RT, but one that
# holds `rcu_read_lock()`) should have printed "sleeping function called from invalid
# context" first on a kernel with `CONFIG_DEBUG_ATOMIC_SLEEP`, and syzkaller's usual fault
# injection fails one allocation, not the two this path needs. The full console log, the
# config and the reproducer on ci.syzbot.org were not read. **What the model cannot check**:
# concurrency (the design model runs one operation at a time, so a PREEMPT_RT-only race
# between the busy tree, the occupied tree, the retry list and the purge worker is out of its
# reach), the execmem/huge-vmap alignment paths, and the series' error paths after a failed
# busy insert. Confidence: the bump mechanism of section 2 is in the posted code (high, read
# from patches 11 and 12); that it is what Rezki hit is plausible but not shown (medium-low:
# it needs a failed refill); the cause of syzbot's WARN is open (patch 09's silent erase
# failure fits the registers; low-medium).

# %% [markdown]
# ## 5. Q9: when the refill recursion has no bound
#
# `vmap_bump_refill()` allocates the chunk descriptor, whose `page_va[16384]` makes it
# 131,136 bytes, with `kvzalloc(gfp_mask)` **before** it reserves the new chunk. Its kmalloc is
# an order-6 page allocation; for sizes above a page `kvmalloc` adds `__GFP_NOWARN` and drops
# `__GFP_DIRECT_RECLAIM` unless `__GFP_RETRY_MAYFAIL` (`mm/slub.c:kmalloc_gfp_adjust`), so it
# succeeds only if a free order-6 block exists right now. On failure it calls
# `__vmalloc_node_range_noprof(VMALLOC_START, VMALLOC_END, ...)` for 33 pages plus the guard
# page. That request is bump-eligible, this CPU's current chunk is still the exhausted one (the
# new chunk is installed only after the descriptor exists), so it refills again. The nesting
# ends only when an order-6 kmalloc succeeds. Conditions for no bound:
#
# 1. the kmalloc keeps failing: no order-6 block free, which outlasts the microseconds a chain
#    takes (kcompactd is only woken); independent 50 % failures are the wrong model;
# 2. the exhausted chunk cannot hold the nested 34 pages: true when the outer request was
#    small (`long_busy_list`'s 1-page and 2-page areas), or the CPU has no chunk yet;
# 3. the task does not migrate between levels (nothing sleeps before the nested
#    `alloc_vmap_area()`).
#
# How deep the stack lets it go: frames measured on the running kernel (6.18.44, gcc,
# no KASAN; `tools/frame_sizes.py` reads each function's prologue) for the functions the
# series does not change, estimates for the rest:

# %%
print(report.text_table(("frame", "bytes", "how known"), budget.rows(), width=None))
print(f"\nper level {budget.per_level[0]}..{budget.per_level[1]} B; "
      f"{budget.levels[0]}..{budget.levels[1]} levels fit in THREAD_SIZE {budget.thread_size} "
      f"(kernel {budget.kernel}; with KASAN THREAD_SIZE is 32 KiB but frames grow too)")

# %% [markdown]
# The recursion on the model's refill path (one CPU allocating 32 MB areas, so every third
# request finds its chunk exhausted; the depth taken as the stack's end is the low end of the
# estimate): independent failures as in the earlier experiment, failures that persist for a
# chain, and the two fixes.

# %%
levels = budget.levels[0]
rec = [splats_stack.recursion(fail, "independent", "none", chains=chains, stack_levels=levels, seed=seed),
       splats_stack.recursion(fail, "persistent", "none", chains=chains, stack_levels=levels, seed=seed),
       splats_stack.recursion(fail, "persistent", "nested-tree", chains=chains, stack_levels=levels,
                        seed=seed),
       splats_stack.recursion(fail, "persistent", "no-fallback", chains=chains, stack_levels=levels,
                        seed=seed)]
print(report.text_table(
    ("kmalloc failures", "fix", "chains", "max depth", "overflows", "failed allocs",
     "tree path", "chunks alive"),
    [(f"p={r.fail} {r.mode}", r.guard, r.chains, r.max_depth, r.overflows, r.failed_allocs,
      r.tree_fallbacks, r.chunks) for r in rec], width=None))
print(f"\nindependent p={fail}: P(depth >= {levels}) = p^{levels} = {fail ** levels:.1e} per chain; "
      f"observed share reaching depth 3: {rec[0].share_reaching(3):.3f} (p^3 = {fail ** 3:.3f})")
splats_stack.plot_recursion(rec[:3])

# %% [markdown]
# With independent failures the depth is geometric and a stack overflow needs about
# 2^14 refill chains; a test run makes a few dozen, which is why the earlier 50 % experiment
# never overflowed. With failures that persist, every chain that starts in a fragmented state
# runs into the stack end: the share of overflows is the share of such chains. Each level that
# does unwind also reserves one more 64 MB chunk holding one descriptor.
#
# **The fix.** No GFP flag stops `kvmalloc` from falling back to vmalloc: `__GFP_NORETRY` is
# documented as not supported by kvmalloc, `__GFP_RETRY_MAYFAIL` only makes the kmalloc try
# harder, and since 6.19 non-blocking flags fall back too (docs/kernel-facts.md F3). What works
# is to keep the nested allocation off the bump path:
#
# * `refill_guard="nested-tree"`: the descriptor's vmalloc fallback takes the tree path. In
#   the kernel that is a per-task recursion flag set around the `kvzalloc()` (not per-CPU: the
#   refill may sleep and migrate, so a per-CPU flag could be cleared on the wrong CPU and stay
#   set on another), or calling `__vmalloc_node_range_noprof()` directly with a window the
#   bump path does not serve. Depth 1 at most, every allocation still succeeds.
# * `refill_guard="no-fallback"`: `kzalloc()` only; if the order-6 kmalloc fails, the refill
#   fails and the request takes the tree path. Depth 0; the bump path is skipped while memory
#   is fragmented. Better still, a descriptor that does not need 128 KB of `page_va[]`.
# * A preallocated spare descriptor per CPU moves the problem to where the spare is refilled;
#   it needs one of the two above there.

# %% [markdown]
# ## 6. Claims checked in this run

# %%
claims = report.Claims()
pte = runs["pooled-pte"].warns[0]
claims.add("pooled-pte: a pooled area of a released chunk is mapped over a live mapping",
           runs["pooled-pte"].first_warn, "x == 'pte_present'", "model, patch 11 (M12)")
claims.add("... and the message is the one in Rezki's log, with the same size",
           thread.quote("M16-map-error").text in pte["text"], "x == True",
           "M16 via M25 (data/thread/quotes.json)")
claims.add("409600 bytes = the 100-page vmalloc of long_busy_list_alloc_test", 100 * 4096,
           "x == 409600", "lib/test_vmalloc.c:long_busy_list_alloc_test (docs F6)")
claims.add("pooled-busy and live-busy: the busy-insert WARN condition of M15",
           {runs["pooled-busy"].warns[0]["warn"], runs["live-busy"].warns[0]["warn"]},
           "x == {'(*left)->va_end > start'}", "M15; mm/vmalloc.c:1371 of the series")
claims.add("the condition is the one the review's question 15 names",
           runs["pooled-busy"].warns[0]["warn"] in thread.question(15).title, "x == True",
           "data/thread/questions.json Q15")
claims.add("controls: consistent release, no message in any bump sequence",
           sum(controls[n][0] is not None for n in ("pooled-pte", "pooled-busy", "live-pte",
                                                     "live-busy")), "x == 0", "model")
claims.add("controls: without the fault injection, no message in any sequence",
           sum(c[1] is not None for c in controls.values()), "x == 0", "model")
claims.add("all interleavings, consistent release: none ends in a message",
           sum(r.total - r.first.get("none", 0) for r in inter if r.release == "consistent"),
           "x == 0", "model (exhaustive over each sequence's threads)")
claims.add("all interleavings, series release: some end in a message, in every sequence",
           min(r.total - r.first.get("none", 0) for r in inter if r.release == "series"),
           "x > 0", "model (exhaustive)")
claims.add("syzbot's addresses lie above VMALLOC_END, so no bump chunk covers them",
           min(0xffffffffa0000000, splats.MODULES_VADDR) > VMALLOC_END, "x == True",
           "M15 registers; arch/x86/include/asm/pgtable_64_types.h; arch/x86/mm/init.c")
claims.add("stale-erase reproduces three register values of the M15 splat",
           (w["new"][0], w["new"][1], w["existing"][1]),
           "x == (0xffffffffa0000000, 0xffffffffa0002000, 0xffffffffa0401000)",
           "M15 (published splat text): RBX, R13, R14")
claims.add("Q9 posted, persistent failures: overflows = chains whose kmalloc failed",
           (rec[1].overflows, rec[1].counts.get("kvzalloc_vmalloc_fallback", 0) // levels),
           "x[0] == x[1] and x[0] > 0", "model")
claims.add("Q9 posted, independent failures: no overflow (depth geometric)", rec[0].overflows,
           "x == 0", "model")
claims.add("Q9 nested-tree guard: depth <= 1, no overflow, no failed allocation",
           (rec[2].max_depth, rec[2].overflows, rec[2].failed_allocs), "x == (1, 0, 0)", "model")
claims.add("Q9 no-fallback: depth 0, no failed allocation",
           (rec[3].max_depth, rec[3].failed_allocs), "x == (0, 0)", "model")
claims.add("frames read from the running kernel (bytes, one level without the series' own)",
           sum(budget.measured.values()), "200 <= x <= 2000", "data/kernel/stack-frames.json")
claims.add("levels that fit in 16 KiB (low end of the estimate)", budget.levels[0],
           "8 <= x <= 40", "estimate: measured frames + labelled allowances")
claims.verify()

# %%
report.summary(
    "07-splats",
    title="the splats of M15 and M16",
    who="Uladzislau Rezki (M16, 14 Jun 2026, via M25)",
    question=thread.quote("M16-map-error").text + " / " + thread.quote("M16-guard-page").text,
    header=("question", "in the model of the series", "patch", "confidence"),
    rows=[("Q8 PTE present", f"yes, {len(runs['pooled-pte'].steps)} ops, size 409600", "11",
           "exists; cause?"),
          ("Q15 std range", "yes, busy-insert WARN", "11", "exists"),
          ("Q15 module area", "only via silent mas_erase", "09", "open"),
          ("Q9 recursion", f"{rec[1].overflows}/{rec[1].chains} chains overflow", "11", "high"),
          ("Q9 fix", f"nested-tree: depth <= {rec[2].max_depth}", "-", "model")],
    conclusion="Patch 11 erases a drained chunk's whole 64 MB from the occupied tree while "
               "its freed areas sit in per-node pools or were handed out again. After a failed "
               "refill the pool returns such a range over a live one: the model gives M16's "
               "PTE WARN with size 409600 and M15's (*left)->va_end > start in the standard "
               "range; with the erase limited to unoccupied parts, no interleaving does. "
               "syzbot's WARN is in the module area, which no chunk covers; patch 09's "
               "mas_erase(), which returns the entry when it could not erase, fits its "
               "registers but is not shown to be the cause. The refill recursion has no bound "
               "while order-6 kmalloc keeps failing (14-23 levels fit in 16 KiB); no GFP flag "
               "stops kvmalloc's vmalloc fallback, a per-task guard that keeps the nested "
               "vmalloc off the bump path bounds it at depth 1.",
    claims=claims,
)
