# %% [markdown]
# # 07 · The splats nobody answered: a range handed out twice, and a refill that recurses
#
# Uladzislau Rezki's stress run of the series with `test_vmalloc.sh` (M16, 14 Jun 2026; the
# message survives only quoted in M25,
# [lore](https://lore.kernel.org/all/403ad230-36ac-4837-8c08-8fad8c79000d@oss.qualcomm.com/);
# kernel 7.1.0-rc7+, `PREEMPT(full)`, lockdep on, at least 49 test workers). Two lines of his
# log, each quoted whole:
#
# > vmalloc_test/41: vmalloc error: size 409600, failed to map pages,
# > mode:0xcc2(GFP_KERNEL|__GFP_HIGHMEM), nodemask=(null),cpuset=/,mems_allowed=0
#
# printed at 50.715 s after a WARN at `mm/vmalloc.c:545` in `vmap_small_pages_range_noflush()`
# during `long_busy_list_alloc_test`, and, one second later on another worker, with
# `vmap_bump_refill -> kvmalloc -> vmalloc -> alloc_vmap_area` repeating on the stack,
#
# > BUG: TASK stack guard page was hit at ffffcd36cc25fff8 (stack is
# > ffffcd36cc260000..ffffcd36cc264000)
#
# (each line is one console line, wrapped here). The answer (M25) was "Thanks for testing in
# extreme conditions. I'll fix these in the next patchset.", with no diagnosis. The day
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
# This project reads Q8 and Q15 as a range handed out twice, or mapped while still mapped (an
# inference from the two WARN conditions, section 4 says what the registers add). The notebook
# looks for the operation sequences that do it in the model of the series (`rfc-v1` at patch 12
# with its per-CPU bump chunks, `vmapsim.designs.rfc_v1_bump`, whose code was read from the
# posting), shows them step by step, runs every interleaving of their threads, and says which
# patch introduces them; it reads what M16's own log says (registers, taint, Mem-Info, the
# recursion's frames) and what that log cannot decide. For Q9 it shows when the recursion has
# no bound, compares the stack estimate with the 12 levels M16 actually reached, and a fix that
# the model shows holds.

# %%
import ipywidgets as widgets
from IPython.display import display

from vmapsim import report, thread
from vmapsim.designs import make_design
from vmapsim.review import splats, splats_m16, splats_stack, stepview
from vmapsim.vmalloc.vmap_area import PAGE_SIZE, VMALLOC_END

FAST = report.setup()

# %% tags=["parameters"]
# Parameters: `make report -p` / the test suite may override these.
sequence = "pooled-pte"     # sequence shown first by the step-through widget
release = "series"          # chunk release as posted ("series") or the model's safe variant
cpus = 4                    # possible CPUs of the model (4 vmap nodes, so pools are used)
thread_size = 16384         # x86-64 THREAD_SIZE without KASAN (32768 with KASAN)
fail = 0.5                  # failure rate of the descriptor's order-6 kmalloc (illustration)
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
#   change what a release erases, nor when.
#
# So when a chunk drains, everything else inside its 64 MB loses its reservation at once:
# bump areas that were freed, purged and are sitting in a pool; pool entries that were handed
# out again (the pool resets their flags, so they are ordinary busy areas now); and the area
# whose unlink drained the chunk. That last one is released **before it is unmapped**:
# `mm/vmalloc.c:remove_vm_area` calls `find_unlink_vmap_area()` first and only then
# `free_unmap_vmap_area()`, whose `vunmap_range_noflush()` clears the PTEs; in between, the
# range is free in the occupied tree and its pages are still mapped.
#
# An eligible request reaches the per-node pools when its bump path gives up. After patch 12,
# `alloc_vmap_area()` tries `vmap_bump_alloc()`, on a miss `vmap_bump_refill()`, then a second
# `vmap_bump_alloc()`, and falls through to `node_alloc()` (the pool of
# `raw_smp_processor_id() % nr_vmap_nodes`) when that returns NULL. Ways there:
#
# 1. the refill fails: `kvzalloc()` of the descriptor returns NULL, or `__alloc_vmap_area()`
#    cannot reserve 64 MB (`vmap_bump_refill()` has both `-ENOMEM` returns);
# 2. the refill succeeds and the retry still returns NULL, **without any failure**: the refill
#    runs with preemption enabled (only the install of the new chunk, `owner_cpu` and the
#    `this_cpu_write()`, is under `preempt_disable()`) and the retry starts with a
#    `GFP_KERNEL` `kmem_cache_alloc_node()`, so on `PREEMPT(full)` the task can be preempted
#    and migrated to a CPU whose current chunk is NULL or too full for the request;
# 3. the retry's own `kmem_cache_alloc_node()` fails.
#
# The model has always counted what a release exposes (`release_pooled_pages`,
# `release_live_pages`, `release_exposed_pages`) but erased only what nothing else occupied,
# to stay consistent; `chunk_release="series"` erases the whole range as the patch does. A
# driver adds what an allocator model lacks: a page table (a PTE per mapped page, unmapped
# pages awaiting the TLB flush), `vfree()` in one step or in `remove_vm_area()`'s two
# (`vfree_unlink`, `vfree_unmap`), a migration event for way 2, and the two checks the splats
# come from: `mm/vmalloc.c:vmap_pages_pte_range` warns on a PTE that is not none and returns
# `-EBUSY`, which `__vmalloc_area_node()` reports as "vmalloc error: size N, failed to map
# pages" (N = the mapped bytes); the series' `find_vmap_area_insert_neighbors_mt_locked()` warns
# `(*left)->va_end > start` when the area at or before the new start ends above it.

# %% [markdown]
# ## 2. Q8 and Q15 in the standard range: six sequences
#
# Each sequence runs on `rfc-v1` with 4 CPUs (4 vmap nodes; the first chunk starts at
# `VMALLOC_START`, whose pool node is node 0, served by CPU0). Sizes are those of
# `long_busy_list_alloc_test` (100 pages), 32 MB areas (8191 pages plus the guard page, the
# largest bump request) and a 40 MB area (not bump-eligible: tree path). Four sequences reach
# the pool through a failed refill (way 1, injected); `migrate-pte` reaches it through a
# migration (way 2, nothing fails); `window-pte` needs no pool at all: another CPU's refill
# takes a chunk released between `find_unlink_vmap_area()` and `vunmap_range_noflush()`.
# Controls: the same operations with the model's consistent release, and the sequences that
# inject a failure without it. The model stops a run at its first kernel message; that is a
# choice of the model (what the series does after a failed busy-insert check is not
# modelled), not what Rezki's kernel did: it ran on after its WARN (section 4).

# %%
runs = {name: splats.run_sequence(name, release, cpus=cpus, seed=seed) for name in splats.SEQUENCES}
controls = {name: (splats.run_sequence(name, "consistent", cpus=cpus, seed=seed).first_warn,
                   splats.run_sequence(name, release, cpus=cpus, seed=seed, inject=False).first_warn)
            for name in splats.SEQUENCES}
rows = [(name, f"patch {r.patch}", "yes" if splats.needs_failure(name) else "no", len(r.steps),
         r.first_warn or "none", controls[name][0] or "none",
         (controls[name][1] or "none") if splats.needs_failure(name) else "(none injected)")
        for name, r in runs.items()]
display(report.table(("sequence", "introduced by", "failure", "steps",
                      f"first message ({release})", "consistent release", "no injection"), rows))
for name, r in runs.items():
    print(f"\n{name}: {r.title}")
    for w in r.warns[:1]:
        print("  ", w["text"])
    for h in r.hazards[:1]:
        print("   silent:", h)

# %% [markdown]
# The first sequence, step by step (`pooled-pte`). CPU1 allocates `a` (100 pages) and `b` from
# its first chunk, frees `a`; the purge flushes the TLB and puts `a` in node 0's 101-page pool,
# still inside the chunk's reservation. CPU1 fills the chunk with a 32 MB area and refills on
# the next one, so the first chunk is retired; freeing `b` and the 32 MB area drains it and the
# release erases all 64 MB, `a`'s pool entry included. CPU2's first vmalloc reserves the lowest
# free 64 MB, the same range, and maps `c` at its start. CPU0's refill fails (injected), so its
# 100-page request goes to node 0's pool, gets `a`'s range back and maps it over `c`:

# %%
display(report.table(("step", "thread", "operation", "result"), runs["pooled-pte"].table(),
                     fold=200))

# %% [markdown]
# The same end without a failure (`migrate-pte`): CPU3's first vmalloc refills (a new chunk at
# the next free 64 MB), the task is preempted and migrated to CPU0, whose current chunk is NULL
# (it never refilled; a chunk with fewer free pages than the request takes the same branch of
# `vmap_bump_alloc()`), the retry returns NULL and `node_alloc()` serves node 0's pool:

# %%
display(report.table(("step", "thread", "operation", "result"), runs["migrate-pte"].table(),
                     fold=200))

# %% [markdown]
# And without a pool (`window-pte`): CPU1's chunk holds two 32 MB areas, a third request refills
# and retires it; `vfree(big2)` leaves only `big1`, at the chunk's start; `vfree(big1)` unlinks
# it, the chunk drains and is released, and before `vunmap_range_noflush()` clears `big1`'s PTEs
# CPU2's first refill takes the lowest free 64 MB, the same range, and maps `c` at its start. In
# the kernel this needs the last area to leave a retired chunk to lie where the next chunk's
# first allocation lands (an area at the chunk's start that outlives the rest: a long-lived
# allocation of another task on the same CPU, or `long_busy_list_alloc_test`'s own pointer
# array, section 4), and a refill on another CPU inside the window, which
# `debug_check_no_locks_freed()` (lockdep), `kasan_poison_vmalloc()` and a preemption widen:

# %%
display(report.table(("step", "thread", "operation", "result"), runs["window-pte"].table(),
                     fold=200))

# %% [markdown]
# Step through any of the sequences below: each step shows the threads' recent operations,
# what each runs next, and the state after it (chunks, pools, live areas and whether the
# occupied tree still reserves them, unlinked areas whose PTEs are still present, the page
# table). The last step carries the kernel message.

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
# Are these orders contrived? Each sequence's operations belong to threads (CPU0..CPU3 and the
# purge worker); below, every order that keeps each thread's own order is run (an injection or
# a migration stays glued to its thread's next allocation). The counts are numbers of orders,
# not probabilities: the orders are not equally likely in a kernel, and a sequence with a
# narrow window (one order of seven in `window-pte`) says which order is needed, not how often
# it happens. "silent" counts orders without a message in which a page was mapped again before
# the TLB flush of its previous mapping (nothing in the kernel reports that). The consistent
# release is the control over the same orders.

# %%
bump_seqs = [n for n in splats.SEQUENCES if n != "stale-erase"]
inter = [splats.interleavings(name, rel, cpus=cpus) for name in bump_seqs
         for rel in ("series", "consistent")]
display(report.table(("sequence", "release", "first message", "orders", "of all"),
                     [row for r in inter for row in r.rows()]))
print("\nsilent (no message, a page remapped before its TLB flush): "
      + ", ".join(f"{r.name}/{r.release} {r.silent}" for r in inter if r.silent))
splats.plot_interleavings(inter)

# %% [markdown]
# In the pooled and live sequences the orders that end in a message have the chunk's release
# before the allocation that lands on the pooled or recycled range and, for the pool, a refill
# that gave up before it (injected failure, or in `migrate-pte` a migration). In `window-pte`
# the other CPU's vmalloc has to fall between `find_unlink_vmap_area()` and
# `vunmap_range_noflush()`; after the unmap the same order is silent (the TLB may still hold
# the old translation). With the consistent release no order ends in a message. What all six
# share is patch 11's whole-range erase at unlink time; patch 12 does not change it.
#
# What the model shows is that these routes exist in the posted code. It does not show which
# one Rezki's run took; section 4 looks at what his log can and cannot say about that.

# %% [markdown]
# ## 4. What M16's log says, and what it cannot decide
#
# Lines of M16 as quoted in M25 are kept byte for byte in `data/thread/m16-splat.json`
# (`vmapsim.review.splats_m16` reads them). Four things in them bear on the diagnosis.

# %%
pw, hist, mi, trace = (splats_m16.pte_warn(), splats_m16.history(), splats_m16.meminfo(),
                       splats_m16.recursion_trace())
g = mi.gib
print(f"PTE WARN registers: RAX {pw['rax']:#018x} (present {pw['present']}, RW {pw['rw']}, "
      f"global {pw['global']}, NX {pw['nx']}); range R14 {pw['start']:#x} .. R09 {pw['end']:#x} "
      f"= {pw['range_bytes']} bytes (printed size {pw['printed_size']}); R13 = R14: "
      f"{pw['r13_is_start']}; start mod 64 MiB = {pw['start_mod_64m']}")
print(f"before it: WARN task already tainted W: {hist['tainted_w_at_first_shown_warn']}; "
      f"warn_alloc: {hist['warn_alloc_suppressed']} callbacks suppressed; kernel "
      f"{hist['kernel']} {hist['preempt']}; workers >= {hist['min_workers']}")
print(f"Mem-Info at 50.74 s: free {g['free']:.1f} GiB of {mi.ram_pages * PAGE_SIZE / 2**30:.0f} "
      f"GiB; anon + file pages {mi.anon_file}; slab_unreclaimable {g['slab_unreclaimable']:.2f} "
      f"GiB; pagetables {g['pagetables']:.2f} GiB (PTE pages covering {mi.ptes_cover_tib:.2f} TiB)")
print("free blocks of order >= 6 (in order-6 units): "
      + ", ".join(f"{z} {mi.order6_equivalents(z)}" for z in ("Normal", "DMA32", "DMA"))
      + f"; order-5 blocks in Normal {mi.buddy['Normal'][5]}")
print(f"distance from the WARN task's stack (RSP {pw['rsp']:#x}) to the range it mapped: "
      f"{(pw['start'] - pw['rsp']) / 2**40:.2f} TiB")

# %% [markdown]
# **The WARN is the `-EBUSY` branch.** "size 409600" alone does not say much: any failed
# 100-page vmalloc prints it, and `vmap_pages_pte_range()` returns to "failed to map pages"
# from three WARNs (`-EBUSY`, `-ENOMEM`, `-EINVAL`). `RAX` does: it has the form of a present
# kernel PTE (present, writable, global, NX), the value the `-EBUSY` check reads, and `R13`,
# `R14`, `R09` bound exactly the 100 pages being mapped. Which register holds what is this
# project's reading of the values, not something the log states; on that reading, a page was
# still mapped where a new 100-page area was being mapped, which is what every route of
# sections 2-3 produces. The range starts on a 64 MiB boundary, as a chunk's first area would if
# chunks are 64 MiB-aligned on that kernel (not known: it depends on what was allocated before
# the first chunk), so this does not pick a route either.
#
# **It was not the first message.** The WARN's task is already `Tainted: G W`: a WARN had
# fired before, in the part Rezki snipped. `warn_alloc: 15 callbacks suppressed` means fifteen
# allocation-failure reports were dropped since the last one printed (`mm/page_alloc.c:warn_alloc`
# prints at most one per 10 s): at least sixteen earlier reports, of unknown kind. The kernel
# did not panic on the WARN; it ran for another second. So the model's "first message" of a
# sequence is not M16's first message, and which failure or WARN came first is unknown.
#
# **The Mem-Info does not show memory pressure.** At 50.74 s the machine had 48.7 GiB free of
# 64 GiB, and 851 (Normal) plus 1,304 (DMA32) order-6 blocks' worth of free blocks of order 6
# or more. A `GFP_KERNEL` vmalloc of 34 order-0 pages does not fail there for lack of pages;
# the earlier text of this notebook ("`kvzalloc()` returns NULL when its vmalloc fallback
# cannot get pages either") is not supported by the log and is withdrawn. What the Mem-Info
# does show: no anonymous or file pages at all (nothing movable, so compaction cannot assemble
# order-6 blocks), 6.9 GiB of unreclaimable slab (large kmallocs count there,
# `mm/slub.c:___kmalloc_large_node`, so it includes the series' 131,136-byte descriptors, each
# an order-6 block of 256 KiB), and 2.3 GiB of page tables. Since vunmap does not free PTE
# pages, 610,948 of them cover 1.17 TiB of address space, and the distance from the test task's
# stack (vmalloc'd when the workers started) to the range it was mapping is 1.17 TiB too. This
# project's reading (an inference, not shown): the series walked about 19,000 chunks' worth of
# address space forward, and kept their descriptors. One cause is in the model: a refill that
# retires a chunk whose areas are all unlinked already (`alloced == 0`) leaves it on the list
# forever, since only an unlink releases a chunk; with alloc/free pairs that is every chunk.
# Below, on the model, first with 1-page pairs (the shape of `fix_size_alloc_test`, the simplest
# case), then with the loop of `long_busy_list_alloc_test`, M16's test, whose 100-page + 1-page
# pairs behave the same.
#
# **The order-6 shortage came later.** One second later, the innermost refill's kmalloc was
# in `__alloc_pages_slowpath()`; the allocator goes there only after its fast path found no
# zone able to serve order 6 at the low watermark, which with ~48 GiB free means no free block
# of order 6 or more (reading of `mm/page_alloc.c:get_page_from_freelist` and
# `__zone_watermark_ok`; inference). About 2,150 order-6 allocations would use up what the
# Mem-Info shows; never-freed descriptors would do that.
#
# **What the log cannot decide**: which route gave the PTE WARN (a failed refill, a migration,
# the unlink-before-unmap window, or something this model does not contain), and what the
# earlier WARN and the sixteen earlier allocation-failure reports were.

# %%
leak = make_design("rfc-v1", possible_cpus=1)
for _ in range(3 * 8192 + 1):                    # 1 page + guard, alloc/free (fix_size's shape)
    addr = leak.alloc_vmap_area(2 * PAGE_SIZE)
    leak.vfree(addr)
lk = leak.bump.counts
print(f"model, 1 CPU, {3 * 8192 + 1} alloc/free pairs of 1 page (fix_size_alloc_test's "
      f"shape): {lk['refills']} refills, "
      f"{lk['leaked_chunks']} chunks retired with nothing left to unlink (never released), "
      f"{leak.bump.memory()['bump_desc_bytes'] >> 10} KiB of descriptors held")

# %% [markdown]
# That seems to leave no room for the routes of sections 2-3, which all need a chunk to be
# released. The pairs are not all that `long_busy_list_alloc_test` does (lib/test_vmalloc.c,
# docs/kernel-facts.md F6): it first vmallocs a pointer array (15,000 pointers, 30 pages), then
# 15,000 one-page areas that stay busy through the loop, runs the loop of 100-page + 1-page
# pairs, and at the end frees the 15,000 areas and then the array. The same model, one CPU, one
# call with the loop cut to three chunks' worth of iterations:

# %%
lb = make_design("rfc-v1", possible_cpus=1)
lb_arr = lb.alloc_vmap_area(31 * PAGE_SIZE)                     # the pointer array + guard
lb_setup = [lb.alloc_vmap_area(2 * PAGE_SIZE) for _ in range(15000)]
lb_loops = 3 * splats_m16.refills_per_call()["iterations_per_chunk"]
for _ in range(lb_loops):
    _a, _b = lb.alloc_vmap_area(101 * PAGE_SIZE), lb.alloc_vmap_area(2 * PAGE_SIZE)
    lb.vfree(_a)
    lb.vfree(_b)
lb_loop = dict(lb.bump.counts)
for _x in lb_setup:
    lb.vfree(_x)
lb_mid = dict(lb.bump.counts)
lb.vfree(lb_arr)
lb_end = dict(lb.bump.counts)
print(f"model, 1 CPU, one long_busy_list_alloc_test call (loop cut to "
      f"{lb_loops} iterations): "
      f"{lb_end.get('refills', 0)} refills; after the loop {lb_loop.get('leaked_chunks', 0)} "
      f"loop chunks retired and never released; chunks released while the setup areas are "
      f"freed {lb_mid.get('releases', 0)}, at the vfree() of the pointer array "
      f"{lb_end.get('releases', 0) - lb_mid.get('releases', 0)} (the array was the first "
      f"allocation of the CPU's first chunk, at its start)")

# %% [markdown]
# So the two statements fit together. The loop's pairs leave every loop chunk unreleased (the
# address space and descriptors the Mem-Info suggests); the setup areas and the pointer array
# outlive the loop, so the chunks holding them are released at the end of each call, and the
# last release of a call comes at the `vfree()` of an area that, when it was the first
# allocation in its chunk, lies at the chunk's start: `window-pte`'s shape, with the next
# refill on any CPU (lowest fit) landing on the released range. Releases also come from the
# other test cases the workers run. This is the model and this project's reading of
# lib/test_vmalloc.c; M16's log does not show which chunk was released before its WARN.

# %% [markdown]
# ## 5. Q15: syzbot's WARN is in the module area, where no chunk lives
#
# The published report (M15) gives the call chain `__sys_bpf -> bpf_prog_test_run_xdp ->
# bpf_dispatcher_change_prog -> execmem_vmalloc -> __vmalloc_node_range_noprof ->
# __get_vm_area_node -> alloc_vmap_area`, the kernel line "Not tainted syzkaller #0
# PREEMPT_{RT,(full)}", and registers RBX = `0xffffffffa0000000`, R13 = `0xffffffffa0002000`,
# R14 = `0xffffffffa0401000`. On x86-64 BPF execmem allocates from
# `[MODULES_VADDR + offset, MODULES_END)` (`arch/x86/mm/init.c:execmem_arch_setup`), far above
# `VMALLOC_END`, and bump chunks are only ever reserved from `[VMALLOC_START, VMALLOC_END]`
# (`vmap_bump_refill()` calls `__alloc_vmap_area()` with that window). The bump-chunk
# mechanism of sections 2-3 cannot put a range of the module area in two places.
#
# One path in the model can: patch 09 (M10) makes `find_unlink_vmap_area()` one `mas_erase()`
# under `vn->busy.lock`. An erase may need new maple nodes; `lib/maple_tree.c:mas_erase` tries
# `GFP_NOWAIT`, then `mas_nomem(mas, GFP_KERNEL)` with the external spinlock held, and if that
# also comes back without nodes it skips the store and still returns the entry. The maple-tree
# list discussed exactly this in June 2026 (thread "[PATCH v3 3/3] iova: defer maple tree erase
# on GFP_ATOMIC failure",
# [005073](http://lists.infradead.org/pipermail/maple-tree/2026-June/005073.html),
# [005098](http://lists.infradead.org/pipermail/maple-tree/2026-June/005098.html)), and what
# was said there is not what this notebook first drew from it:
#
# * Rik van Riel: "The mas_erase() function calls mas_nomem(mas, GFP_KERNEL), which is not safe
#   to call while holding a spinlock."
# * Jason Gunthorpe: "There is no propogation of ENOMEM, it returns success."
# * Liam R. Howlett: "It \_can\_ fail, but right now that error will not be propagated to the
#   caller." (emphasis as posted)
# * Jason Gunthorpe's summary (18 Jun): "mas_erase, mtree_erase cannot fail with ENOMEM. The
#   check for ENOMEM inside should be changed to a WARN_ON to document this." (reason: "in a
#   GFP_KERNEL context it will sleep forever until it gets memory "too small to fail"") and
#   "External locks must be sleepable, add a might_alloc() to check for that and document."
# * Liam R. Howlett's reply to that summary: "The ENOMEM check inside mas_nomem() is still
#   possible because we try NOWAIT first, so it is possible that we hit a retry." and "The
#   return from mas_nomem() without allocations should be impossible. So if (!mas->sheaf &&
#   !mas->alloc) should be a WARN_ON_ONCE()."; earlier in the same exchange he had proposed
#   adding `might_alloc(GFP_KERNEL)` to `mas_erase()` for trees with an external lock.
#
# (Quotes are single passages of the archived messages; their line breaks are not kept.) So the
# reading in that thread (Liam R. Howlett maintains the maple tree) of a `mas_erase()` under a
# spinlock, which is what patch 09 does, is a sleep-in-atomic bug: a `GFP_KERNEL` allocation
# under a spinlock (on PREEMPT_RT a sleeping lock that holds `rcu_read_lock()`), which
# `might_alloc()` reports on a kernel with `CONFIG_DEBUG_ATOMIC_SLEEP`, and not a silent
# failure; the erase is silently skipped only if the `GFP_KERNEL` retry also gets nothing,
# an empty return of `mas_nomem()` that Liam R. Howlett says "should be impossible" (this
# project's remark: fault injection can still force it, and notebook 06 names a real case, an
# OOM victim past its reserves; 7.3 made the retry `__GFP_NOFAIL`, docs/kernel-facts.md F5). The `stale-erase` sequence forces both failures (a 4 MB area: a BPF
# program pack on a two-node machine is `SZ_2M * num_possible_nodes()`; then a 1-page execmem
# allocation):

# %%
stale = runs["stale-erase"]
display(report.table(("step", "thread", "operation", "result"), stale.table(), fold=200))
w = stale.warns[0]
m15 = (0xffffffffa0000000, 0xffffffffa0002000, 0xffffffffa0401000)
model_regs = (w["new"][0], w["new"][1], w["existing"][1])
any_overlap = (splats.MODULES_VADDR, splats.MODULES_VADDR + 2 * PAGE_SIZE,
               splats.MODULES_VADDR + (4 << 20) + PAGE_SIZE)
print(f"\nmodel: new [{w['new'][0]:#x}, {w['new'][1]:#x}), existing area ends {w['existing'][1]:#x}")
print("M15 registers: RBX {:#x}  R13 {:#x}  R14 {:#x}".format(*m15))
print(f"equal to the model's: {model_regs == m15}; equal to what ANY 4 MiB area at the module "
      f"area's start overlapped by a new 1-page area gives: {any_overlap == m15}")

# %% [markdown]
# The three values do not discriminate: `RBX` is the start of the module area (any first
# allocation there), `R13` is that start plus one page and its guard page (any 1-page
# allocation), `R14` is the start plus 4 MiB and a guard page (any 4 MiB pack, the size chosen
# here by setting two possible nodes). A live pack whose occupied-tree reservation was lost
# gives the same three values as a stale busy entry; which register held what is an inference
# in any case. And the report counts against the stale-erase path: M15 is "Not tainted", so no
# WARN and no sleep-in-atomic report had fired in that boot before it, whereas the `GFP_KERNEL`
# retry under `vn->busy.lock` that the path needs would have tainted the kernel if the config
# has `CONFIG_DEBUG_ATOMIC_SLEEP` (syzbot's config, console log and reproducer on ci.syzbot.org
# were not read). **What the model cannot check**: concurrency outside the sequences above (a
# PREEMPT_RT race between the busy tree, the occupied tree, the retry list and the purge
# worker), the execmem/huge-vmap alignment paths, and the series' error paths after a failed
# busy insert. The standard-range busy-insert WARN of `pooled-busy` / `live-busy` is a
# prediction of the model; nobody reported it. The cause of syzbot's WARN is open.

# %% [markdown]
# ## 6. Q9: when the refill recursion has no bound
#
# `vmap_bump_refill()` allocates the chunk descriptor, whose `page_va[16384]` makes it
# 131,136 bytes, with `kvzalloc(gfp_mask)` **before** it reserves the new chunk. Its kmalloc is
# an order-6 page allocation; for sizes above a page `kvmalloc` adds `__GFP_NOWARN` and drops
# `__GFP_DIRECT_RECLAIM` unless `__GFP_RETRY_MAYFAIL` (`mm/slub.c:kmalloc_gfp_adjust`), so it
# succeeds only if a free order-6 block exists right now. On failure it calls
# `__vmalloc_node_range_noprof(VMALLOC_START, VMALLOC_END, ...)` for 33 pages plus the guard
# page. That request is bump-eligible; if the task still runs on the CPU whose current chunk
# is the exhausted one (the new chunk is installed only after the descriptor exists), it
# refills again. The nesting ends when an order-6 kmalloc succeeds. Conditions for no bound:
#
# 1. the kmalloc keeps failing: no free block of order 6 or more at each attempt (kcompactd is
#    only woken, and with no movable pages compaction has nothing to move);
# 2. the exhausted chunk cannot hold the nested 34 pages: true when the outer request was
#    small, or after `long_busy_list`'s 159 iterations of 103 pages, which leave 7 pages when
#    one worker has the chunk to itself;
# 3. a scheduling assumption: between levels the task runs on CPUs whose current chunk cannot
#    hold 34 pages. Nothing keeps it on one CPU (`__get_vm_area_node()`'s `GFP_KERNEL`
#    `vm_struct` allocation and `vmap_bump_alloc()`'s `kmem_cache_alloc_node()` may sleep, and on
#    `PREEMPT(full)` a preemption suffices); a migration to a CPU with room ends the recursion,
#    and is the same event as way 2 of section 1.
#
# M16's trace shows all three holding for one chain:

# %%
print(f"M16 oops (51.818 s): reliable frames {dict((k, v) for k, v in trace.counts.items() if v > 1)}")
print(f"  vmap_bump_refill frames {trace.refills}, nested vmalloc fallbacks "
      f"(__kvmalloc_node_noprof+0x2fd) {trace.nested_fallbacks}, innermost refill inside its "
      f"kmalloc's __alloc_pages_slowpath: {trace.innermost_in_kmalloc}; lockdep frames: "
      f"{trace.lockdep}; outermost caller {trace.outer}; stack {trace.thread_size} bytes")

# %% [markdown]
# Twelve levels completed and the thirteenth refill's kmalloc was in the page allocator's slow
# path when the 16 KiB stack ran out; the outermost vmalloc is `long_busy_list_alloc_test`'s.
# How deep a stack lets it go was first estimated from frames measured on the running kernel
# (6.18.44, gcc, no lockdep, no KASAN; `tools/frame_sizes.py` reads each function's prologue)
# for the functions the series does not change, plus allowances for the rest:

# %%
display(report.table(("frame", "bytes", "how known"), budget.rows()))
top = tuple(a + b for a, b in zip(budget.estimates["alloc_vmap_area (series)"],
                                  budget.estimates["vmap_bump_refill (series)"]))
implied = splats_m16.implied_level_bytes(trace, budget.base, budget.leaf, top)
print(f"\nestimate for kernel {budget.kernel}: per level {budget.per_level[0]}..{budget.per_level[1]} B, "
      f"{budget.levels[0]}..{budget.levels[1]} levels in {budget.thread_size} B")
print(f"M16 (7.1.0-rc7+, lockdep): {trace.nested_fallbacks} levels in {trace.thread_size} B, so "
      f"{implied[0]}..{implied[1]} B per level with the same allowances")

# %% [markdown]
# The estimate does not describe Rezki's kernel: its low end (14 levels) is above the 12 his
# kernel completed, and his levels cost about 1.1-1.2 KiB each, not 0.6-1.0 KiB (a different
# kernel, compiler and configuration: lockdep deepens the innermost allocation, the series'
# `alloc_vmap_area` is an 8 KiB function). Below, the model's stack end is M16's: 12 levels.
#
# The recursion on the model's refill path (one CPU allocating 32 MB areas, so every third
# request finds its chunk exhausted), with the descriptor's kmalloc failing at rate `fail`
# (an illustration: the real rate is not known) independently per attempt, or once per chain
# ("persistent": the first attempt draws, the nested ones get the same answer), and the two
# fixes:

# %%
levels = trace.nested_fallbacks
rec = [splats_stack.recursion(fail, "independent", "none", chains=chains, stack_levels=levels, seed=seed),
       splats_stack.recursion(fail, "persistent", "none", chains=chains, stack_levels=levels, seed=seed),
       splats_stack.recursion(fail, "persistent", "nested-tree", chains=chains, stack_levels=levels,
                        seed=seed),
       splats_stack.recursion(fail, "persistent", "no-fallback", chains=chains, stack_levels=levels,
                        seed=seed)]
display(report.table(
    ("kmalloc failures", "fix", "chains", "max depth", "overflows", "failed allocs",
     "tree path", "chunks alive"),
    [(f"p={r.fail} {r.mode}", r.guard, r.chains, r.max_depth, r.overflows, r.failed_allocs,
      r.tree_fallbacks, r.chunks) for r in rec]))
one = splats_stack.recursion(1.0, "persistent", "none", chains=1, stack_levels=levels, seed=seed)
print(f"\none chain whose every kmalloc fails, stack end {levels}: {one.counts['refills']} refills, "
      f"{one.counts['kvzalloc_vmalloc_fallback']} nested fallbacks, overflow {one.overflows} "
      f"(M16: {trace.refills} refill frames, {trace.nested_fallbacks} fallbacks)")
splats_stack.plot_recursion(rec[:3])

# %% [markdown]
# The overflow count of the "persistent" row is the number of chains whose first draw failed:
# it restates the coin (about `fail` x chains) and says nothing about the kernel. What decides
# between the two failure models is how many refill chains a run makes, and the failure rate:

# %%
calls = splats_m16.refills_per_call()
smoke = splats_m16.refills_per_call(10_000)        # test_vmalloc.sh smoke: test_loop_count=10000
n_chains = calls["refills"] * hist["min_workers"]
n_smoke = smoke["refills"] * hist["min_workers"]
print(f"long_busy_list_alloc_test (test_loop_count 1,000,000): {calls['pages_per_iteration']} pages "
      f"per iteration, {calls['iterations_per_chunk']} iterations per chunk, "
      f"{calls['refills']} refill chains per worker per call; x {hist['min_workers']} workers = "
      f"{n_chains:,}")
print(f"smoke mode (test_vmalloc.sh, test_loop_count=10000): {smoke['refills']} per worker, "
      f"{n_smoke:,} over {hist['min_workers']} workers")
display(report.table(
    ("kmalloc failure rate p", f"P(depth >= {levels}) = p^{levels}",
     "expected overflows per call, default loops", "..., smoke mode"),
    [(p, f"{p ** levels:.1e}", f"{n_chains * p ** levels:.3g}", f"{n_smoke * p ** levels:.3g}")
     for p in (0.1, 0.3, 0.5, 0.7)]))

# %% [markdown]
# With the default `test_loop_count` (1,000,000: what test_vmalloc.sh's stress and performance
# modes use) one `long_busy_list_alloc_test` call makes about 6,300 refill chains per worker,
# some 3·10^5 over 49 workers (the earlier text said "a few dozen": wrong by four orders of
# magnitude); in smoke mode (`test_loop_count=10000`) about 65 per worker, some 3,200. M16 does
# not say which mode ran, nor that every worker ran this test. With the default loop count and
# independent failures at 50 % that alone predicts tens of overflows per call; at 30 % a
# fraction of one; in smoke mode a hundred times fewer. The failure rate is not known, so M16's overflow does not tell
# independent from persistent failures, and neither does the model: both produce it. What the
# trace does show is twelve consecutive failed order-6 attempts in one chain, with a thirteenth
# in the slow path, about a second after the Mem-Info showed some 2,150 order-6 blocks' worth
# free (section 4). Each level that does unwind also reserves one more 64 MB chunk holding one
# descriptor.
#
# **The fix.** No GFP flag stops `kvmalloc` from falling back to vmalloc: `__GFP_NORETRY` is
# documented as not supported by kvmalloc, `__GFP_RETRY_MAYFAIL` only makes the kmalloc try
# harder, and since 6.19 non-blocking flags fall back too (docs/kernel-facts.md F3). What works
# is to keep the nested allocation off the bump path:
#
# * `refill_guard="nested-tree"`: the descriptor's vmalloc fallback takes the tree path. In
#   the kernel that is a per-task recursion flag set around the `kvzalloc()` (per task, not per
#   CPU, because the refill may sleep and migrate: a per-CPU flag could be cleared on the wrong
#   CPU and stay set on another), or calling `__vmalloc_node_range_noprof()` directly with a
#   window the bump path does not serve. Depth 1 at most, every allocation still succeeds.
# * `refill_guard="no-fallback"`: `kzalloc()` only; if the order-6 kmalloc fails, the refill
#   fails and the request takes the tree path. Depth 0; the bump path is skipped while memory
#   is fragmented. Better still, a descriptor that does not need 128 KB of `page_va[]`.
# * A preallocated spare descriptor per CPU moves the problem to where the spare is refilled;
#   it needs one of the two above there.
#
# Neither fix touches the routes of sections 2-4: the whole-range erase at unlink time has to
# change for those (erase only what no area, pool entry or unmapped-but-not-yet-unlinked area
# still covers, as the model's consistent release does, and release after the unmap).

# %% [markdown]
# ## 7. Claims checked in this run
#
# Each source starts with what the claim rests on: `thread` (M15/M16 lines kept byte for byte),
# `kernel-source`, `model` (the model of the series, which can disagree with itself only if the
# code changes), `model vs thread`, or `restates the run` (arithmetic on the run's own numbers).

# %%
claims = report.Claims()
pte = runs["pooled-pte"].warns[0]
claims.add("pooled-pte: a pooled area of a released chunk is mapped over a live mapping",
           runs["pooled-pte"].first_warn, "x == 'pte_present'", "model: patch 11 (M12), injected refill failure")
claims.add("M16's WARN is the -EBUSY branch: RAX has the form of a present kernel PTE",
           (pw["present"], pw["nx"]), "x == (True, True)", "thread: M16 50.677198 (register roles inferred)")
claims.add("M16's R14..R09 span the printed size (100 pages); the model's message has it too "
           "(a size match alone does not discriminate)",
           (pw["range_bytes"], pw["printed_size"], thread.quote("M16-map-error").text in pte["text"]),
           "x == (409600, 409600, True)", "model vs thread: M16 50.680313, 50.683459, 50.715339")
claims.add("pooled-busy and live-busy: the busy-insert WARN condition of M15 (a prediction in "
           "the standard range; not reported)",
           {runs["pooled-busy"].warns[0]["warn"], runs["live-busy"].warns[0]["warn"]},
           "x == {'(*left)->va_end > start'}", "model: M15 condition, mm/vmalloc.c:1371 of the series")
claims.add("without any failed allocation, migrate-pte and window-pte still give M16's WARN",
           {controls[n][1] for n in ("migrate-pte", "window-pte")}, "x == {'pte_present'}",
           "model: patch 11-12 alloc_vmap_area, mm/vmalloc.c:remove_vm_area order")
claims.add("controls: consistent release, no message in any bump sequence",
           sum(controls[n][0] is not None for n in bump_seqs), "x == 0", "model")
claims.add("controls: the sequences that inject a failure give no message without it",
           sum(controls[n][1] is not None for n in splats.SEQUENCES if splats.needs_failure(n)),
           "x == 0", "model")
claims.add("all interleavings, consistent release: none ends in a message",
           sum(r.total - r.first.get("none", 0) for r in inter if r.release == "consistent"),
           "x == 0", "model (exhaustive over each sequence's threads)")
claims.add("all interleavings, series release: some end in a message, in every bump sequence",
           min(r.total - r.first.get("none", 0) for r in inter if r.release == "series"),
           "x > 0", "model (exhaustive)")
win = next(r for r in inter if r.name == "window-pte" and r.release == "series")
claims.add("window-pte: only the order with the other CPU's vmalloc between unlink and unmap "
           "gives the message", (win.first.get("pte_present", 0), win.total), "x == (1, 7)",
           "model (exhaustive)")
claims.add("M16's WARN was not the first: its task was tainted W, 15 warn_alloc reports were "
           "suppressed before it", (hist["tainted_w_at_first_shown_warn"],
                                    hist["warn_alloc_suppressed"]),
           "x[0] and x[1] >= 1", "thread: M16 50.665454, 50.715336")
claims.add("M16's Mem-Info: > 40 GiB free, no anon or file pages",
           (round(g["free"], 1), mi.anon_file), "x[0] > 40 and x[1] == 0",
           "thread: M16 50.743128")
claims.add("M16's Mem-Info: free blocks of order >= 6 existed at 50.7 s (order-6 units, "
           "Normal + DMA32)", mi.order6_equivalents("Normal") + mi.order6_equivalents("DMA32"),
           "x > 0", "thread: M16 50.781534, 50.788250")
claims.add("PTE pages cover about the distance from the test task's stack to the WARN's range "
           "(TiB; agreement within 5 %, an inference about address-space growth)",
           (round(mi.ptes_cover_tib, 3), round((pw["start"] - pw["rsp"]) / 2**40, 3)),
           "abs(x[0] - x[1]) <= 0.05 * x[1]", "thread: M16 50.743128, 50.676003, 50.683459")
claims.add("model: alloc/free pairs leave every retired chunk unreleased (leaked chunks = "
           "refills - 1)", (lk["leaked_chunks"], lk["refills"]), "x[0] == x[1] - 1 and x[0] > 0",
           "model: patch 11-12 vmap_bump_unlink / vmap_bump_refill")
claims.add("syzbot's addresses lie above VMALLOC_END, so no bump chunk covers them",
           min(0xffffffffa0000000, splats.MODULES_VADDR) > VMALLOC_END, "x == True",
           "kernel-source: arch/x86/include/asm/pgtable_64_types.h, arch/x86/mm/init.c; M15")
claims.add("M15 was not tainted (no earlier WARN or sleep-in-atomic report in that boot)",
           (hist["m15_not_tainted"], hist["m15_preempt"]), "x == (True, 'PREEMPT_{RT,(full)}')",
           "thread: M15 CPU line")
claims.add("M15's three registers: the model's stale-erase gives them, and so does any 4 MiB "
           "area at the module area's start overlapped by a 1-page one (non-discriminating)",
           (model_regs == m15, any_overlap == m15), "x == (True, True)",
           "model vs thread: M15 RBX, R13, R14")
claims.add("M16's oops: 13 refill frames, 12 nested fallbacks, the 13th refill in its kmalloc's "
           "slow path, lockdep on, 16 KiB stack",
           (trace.refills, trace.nested_fallbacks, trace.innermost_in_kmalloc, trace.lockdep,
            trace.thread_size), "x == (13, 12, True, True, 16384)",
           "thread: M16 51.818069..51.818853")
claims.add("model: a chain whose every kmalloc fails, stack end at M16's depth, has M16's shape "
           "(refills, nested fallbacks, overflows)",
           (one.counts["refills"], one.counts["kvzalloc_vmalloc_fallback"], one.overflows),
           f"x == ({trace.refills}, {trace.nested_fallbacks}, 1)",
           "restates the run (the stack end is taken from M16's trace, so the shape matches by "
           "construction)")
claims.add("the 6.18 stack estimate's low end lies beyond the depth M16 reached (the estimate "
           "does not describe M16's kernel)", (budget.levels[0], trace.nested_fallbacks),
           "x[0] > x[1]", "thread + estimate: data/kernel/stack-frames.json")
claims.add("refill chains per worker per long_busy_list_alloc_test call (default "
           "test_loop_count)", calls["refills"], "6000 <= x <= 6500",
           "restates the arithmetic (lib/test_vmalloc.c defaults, docs F6; patch 11 chunk "
           "size)")
claims.add("model, one long_busy_list_alloc_test call: the loop's chunks are never released, "
           "the setup's are, the last at the vfree() of the pointer array",
           (lb_loop.get("leaked_chunks", 0) > 0, lb_mid.get("releases", 0) >= 1,
            lb_end.get("releases", 0) - lb_mid.get("releases", 0)), "x == (True, True, 1)",
           "model: patch 11-12 vmap_bump_unlink / vmap_bump_refill; lib/test_vmalloc.c order")
claims.add("Q9 nested-tree guard: every allocation still succeeds (depth 1 is the guard's "
           "definition)", (rec[2].max_depth, rec[2].failed_allocs), "x == (1, 0)",
           "model (tests/test_splats.py also validates the design)")
claims.add("Q9 no-fallback: depth 0, no failed allocation",
           (rec[3].max_depth, rec[3].failed_allocs), "x == (0, 0)", "model")
claims.verify()
from collections import Counter
kinds = Counter(c.source.split(":")[0].split(" (")[0] for c in claims.claims)
print("claims by what they rest on: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common())
      + ". Two of those that compare with M15/M16's lines are declared non-discriminating "
      "(the printed size, M15's registers); the ones marked 'restates' cannot fail while the "
      "code stands. No count of them goes into the reply.")

# %% [markdown]
# ## The key numbers, and the reply
#
# The numbers the reply states, with where each comes from and the conditions that reproduce it
# (`make report` writes them to `build/report/07-splats.json`), then the reply
# (`07-splats.txt`, and `07-splats.eml` for `git send-email` or `mutt -H`). Numbers read off
# M16's log are labelled "published".

# %%
model = dict(design="rfc-v1", cpus=cpus, seed=seed)
nums = report.Numbers("07-splats")
mig = next(r for r in inter if r.name == "migrate-pte" and r.release == "series")
nums.add("Q8 routes to the PTE WARN", 3, source="model", **model)
nums.add("Q8 routes with no failed alloc", 2, source="model", **model)
nums.add("Q8 WARN orders (count, not odds)", mig.first.get("pte_present", 0),
         f"of {mig.total}", source="model", scenario="migrate-pte", **model)
nums.add("Q8 WARN orders (count, not odds)", win.first.get("pte_present", 0),
         f"of {win.total}", source="model", scenario="window-pte", **model)
nums.add("Q8 releases per long_busy call", lb_end.get("releases", 0), source="model",
         design="rfc-v1", cpus=1, workload="long_busy_list_alloc_test", loops=lb_loops,
         context={"setup_areas": len(lb_setup), "pointer_array_pages": 30,
                  "loop": "alloc/free of a 100-page and a 1-page area per iteration",
                  "calls": 1, "rerun": "notebook 07 section 4 (vmapsim.designs rfc-v1, "
                                       "possible_cpus=1)"})
nums.add("M16 free memory at the WARN", round(g["free"], 1), "GiB", source="published")
nums.add("M16 page tables (Mem-Info)", round(g["pagetables"], 2), "GiB", source="published")
nums.add("... span if all vmalloc PTEs", round(mi.ptes_cover_tib, 2), "TiB (inference)",
         source="model", context={"computed": "M16 Mem-Info pagetables pages x 2 MiB each "
                                               "(512 PTEs of 4 KiB per page-table page)"})
nums.add("Q15 module area (cause open)", "model: if 2 allocs fail", source="model",
         scenario="stale-erase", **model)
nums.add("Q9 levels in M16's oops", trace.nested_fallbacks, source="published")
nums.add("Q9 refill chains/call, default", n_chains, f"over {hist['min_workers']} workers",
         source="model", workload="long_busy_list_alloc_test", loops=1_000_000)
nums.add("Q9 refill chains/call, smoke", n_smoke, f"over {hist['min_workers']} workers",
         source="model", workload="long_busy_list_alloc_test", loops=10_000)
nums.add(f"Q9 {rec[2].guard} guard: max depth", rec[2].max_depth,
         f"at p={rec[2].fail:g} {rec[2].mode}", source="model", design="rfc-v1", cpus=1, seed=seed,
         context={"refill_guard": rec[2].guard, "kmalloc_fail": rec[2].fail,
                  "fail_mode": rec[2].mode, "chains": rec[2].chains,
                  "stack_levels": rec[2].stack_levels,
                  "request": "32 MB areas on one CPU",
                  "rerun": "vmapsim.review.splats_stack.recursion(fail, mode, guard, chains, "
                           "stack_levels, seed)"})
report.summary(
    "07-splats",
    title="the splats of M15 and M16",
    answers="M16",
    parts=[("M16-map-error",
            "On this project's reading of the registers (the log does not name their "
            "roles), this is the -EBUSY branch: RAX has the form of a present PTE, and "
            "R13/R14..R09 span the 100 pages being mapped. Patch 11 erases a drained chunk's whole 64 MB from "
            "the occupied tree at unlink time, while its freed areas sit in per-node pools "
            "or were handed out again, and before the last area's PTEs are cleared. In a "
            "model of the series that maps a range over a live mapping three ways: a failed "
            "refill, or a migration after a successful one, sends a request to a pool "
            "holding such an area; or another CPU's refill takes the chunk between "
            "find_unlink_vmap_area() and vunmap_range_noflush(). The last two need no "
            "failed allocation. Which one you hit, the log cannot say: the task was already "
            "tainted W, and 15 warn_alloc reports were suppressed before it. The Mem-Info "
            "(48.7 GiB free) shows no memory pressure. Our inference, not shown: its 2.3 GiB "
            "of page tables would span about 1.2 TiB if all were vmalloc PTE pages, and its "
            "6.9 GiB of unreclaimable slab (which counts large kmallocs) would hold the descriptors; a refill that retires a chunk "
            "whose areas are all freed never releases it (only an unlink does), which the "
            "loop's alloc/free pairs do to every loop chunk. The routes need a release, and "
            "the test makes them at its end: in the model its 15,000 setup areas' chunks are "
            "released when they are freed, the last one at the vfree() of the pointer array, "
            "which sits at its chunk's start when it was the chunk's first allocation, the "
            "unlink-before-unmap route's shape. syzbot's WARN (M15) is in the module area, "
            "which no chunk covers; the model reaches it only by forcing both of patch 09's "
            "mas_erase() allocations to fail: an empty return of mas_nomem() that Liam R. "
            "Howlett says \"should be impossible\" (notebook 06: an OOM victim past its "
            "reserves is one way); its registers match any overlap there; its cause is open."),
           ("M16-guard-page",
            f"The refill allocates its descriptor with kvzalloc() before it reserves the "
            f"chunk; when the order-6 kmalloc fails, the vmalloc fallback is bump-eligible "
            f"and meets the same exhausted chunk, so there is no bound while the kmalloc "
            f"keeps failing. Your trace has {trace.refills} refill frames and "
            f"{trace.nested_fallbacks} completed levels on a 16 KiB lockdep stack, the "
            f"innermost kmalloc in the allocator's slow path. No GFP flag stops kvmalloc's "
            f"vmalloc fallback; a per-task guard that keeps the nested vmalloc off the bump "
            f"path bounds it at depth 1.")],
    numbers=nums,
    conclusion="The model shows that these routes exist in the posted code; it does not show "
               "which one your run took. The counts of orders are numbers of interleavings "
               "of a few hand-built sequences, not probabilities. The refill-chain counts "
               "assume every worker runs long_busy_list_alloc_test with test_vmalloc.sh's "
               "default loop count (stress mode) or 10,000 loops (smoke mode).",
    glossary={sid: f"a sequence run on this project's model of the series (rfc-v1, patch "
                   f"{splats.SEQUENCES[sid][1]}): {splats.SEQUENCES[sid][0]}"
              for sid in ("migrate-pte", "window-pte", "stale-erase")},
)
