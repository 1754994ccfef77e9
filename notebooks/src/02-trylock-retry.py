# %% [markdown]
# # 02 · Trylock and retry under RCU: what it demands of `vmap_area`
#
# Matthew Wilcox, 16 Jun 2026
# ([maple-tree archive](http://lists.infradead.org/pipermail/maple-tree/2026-June/005092.html)),
# answering Uladzislau Rezki's point that the free/busy split keeps readers and allocators apart:
#
# > Sure, but there are many ways to reduce lock contention. One is to not
# > take locks at all; the maple tree is RCU-safe, so you can read the tree
# > holding only the RCU read lock, as long as you obey the RCU rules.
# >
# > Specifically:
# > - Write side has to RCU-free the objects that are stored in the tree
# > - Read side has to trylock the objects it finds (and retry the walk
# > if the trylock fails)
#
# Pranjal Arya acknowledged the rules (26 Jun) but his plan replaces the trylock with a
# `READ_ONCE` check (notebook 03). `struct vmap_area` has no lock, no reference count and no
# state today, so "trylock the objects it finds" is a design decision. This notebook works out
# what it takes: which properties the object needs (each shown by the interleaving explorer
# running the package's lookup protocols, with and without the property), what they cost in
# bytes next to the 24 bytes the RFC saves, and how often a reader retries as a function of how
# long the writer holds the area's lock (G3, docs/rcu-review.md section 6.2), measured by running the
# protocol and compared with the `f/(1-f)` formula.

# %%
import ipywidgets as widgets
from IPython.display import display

from vmapsim import report
from vmapsim.explore import explore, scenarios
from vmapsim.review import trylock_retry

FAST = report.setup()

# %% tags=["parameters"]
# Parameters: `make report -p` / the test suite may override these.
lookups = 1200 if FAST else 6000     # lookups per point of the retry sweep
fs = [0.0, 0.3, 0.6, 0.9] if FAST else [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
hold = 0.05                          # writer's mean lock hold, in reader retry gaps
long_holds = [5.0] if FAST else [1.0, 5.0]   # longer holds, to show where the formula stops
max_retries = 64                     # retries before the locked fallback (sweep)
z_tolerance = 4.0                    # measured vs f/(1-f): at most this many standard errors
tolerance = 0.2 if FAST else 0.1     # ... and at most this relative error for f >= 0.2
areas = 16384                        # live areas for the memory arithmetic (M25: ~16K)
seed = 0

# %%
# Validate the parameters first: a bad value stops here with one line naming it.
check = trylock_retry.retry_run(f=fs[-1], lookups=lookups, hold=hold, max_retries=max_retries,
                              seed=seed)
print(f"lookups={lookups} fs={fs} hold={hold} max_retries={max_retries} fast={FAST}")
print(check.line())

# %% [markdown]
# ## What "trylock the object" needs from `vmap_area`
#
# docs/rcu-review.md (section 3) lists what a reader that stabilises the area it found
# needs. Each row below is checked by the explorer (`vmapsim explore`): a scenario where the
# property is missing and one where it holds, both running the lookup protocols of
# `vmapsim.explore.lookup` (reader and writer side) exactly as the performance model does. "violation"
# means the explorer found an interleaving that breaks the property (use-after-free, a stale
# identity, a livelock bound exceeded, readers failing each other); "never" means an exhaustive
# search found none.

# %%
req = trylock_retry.requirement_evidence()
display(report.table(trylock_retry.RequirementRow.HEADER, [r.cells() for r in req]))

# %% [markdown]
# Reading the rows:
#
# * **R1/R1b**: RCU-freeing the area (Wilcox's first rule, Pranjal's `call_rcu`) covers only
#   the exit through the slab. vmalloc also recycles areas through its per-node pools
#   (`node_pool_add_va`/`node_pool_del_va`), often at the *same address*. A trylock followed by
#   a state and bounds recheck cannot tell the new incarnation from the old one: the reader walked
#   to A, the area was freed, pooled and handed to another `vmalloc()` with a new `vm_struct`,
#   and the reader's recheck passes. Either the purge path waits for a grace period before
#   pooling (one `cond_synchronize_rcu()` per purge batch, not one per area) or the area carries
#   a generation the reader rechecks. The counterexample:

# %%
pool = explore(scenarios.lookup_race(protocol="rcu-trylock-retry", reuse="pool", use="vm-pointer"))
print(pool.summary())
print(pool.swimlane())

# %% [markdown]
# * **R2**: the lock must be something `vfree()` honours *before* it frees the `vm_struct` and
#   the pages: the writer marks the area DEAD under the area lock, so a reader that holds the
#   lock keeps `vm` alive, and a reader that gets the lock afterwards sees DEAD and re-walks
#   (scenario D1). Without it the reader is inside its RCU section and still reads a freed
#   `vm_struct` (C3): `vfree()` frees `vm` with a plain `kfree()`.
# * **R3**: with a `SLAB_TYPESAFE_BY_RCU` cache (what the VMA code moved to in 6.15) the object
#   may be another area by the time the reader pins it, so the reader must recheck identity.
# * **R4** is a weak-memory property (`refcount_inc_not_zero_acquire`/`refcount_set_release`,
#   the DEAD mark ordered before teardown): the explorer is sequentially consistent and reports
#   it as safe either way; the LKMM litmus tests in docs/rcu-review.md section 5 are the evidence there.
# * **R5/R6**: Wilcox's rule is a *trylock*. An exclusive spinlock makes two readers of the
#   same area fail each other with no writer anywhere (G2); a reference count or a read lock
#   does not (G2-shared). And a reader that only ever retries can be starved by a writer that
#   re-takes the lock whenever it is scheduled (G1-unfair): the retries must be bounded, with
#   the locked walk as the fallback.

# %%
g2 = explore("G2")
print(g2.summary())
print(g2.swimlane())

# %% [markdown]
# ## What it costs in bytes
#
# RFC patch 04 shrinks `struct vmap_area` from 72 to 48 bytes by dropping the rb-tree linkage;
# M25 sells that as about 384 KB at 16K live areas. The `rcu_head` that `call_rcu()` needs is
# 16 bytes, and the object needs a stabiliser on top: a `spinlock_t` for Wilcox's trylock
# (4 bytes without lock debugging, 24 with `CONFIG_DEBUG_SPINLOCK`, more with lockdep) or a
# `refcount_t` (4 bytes). With 8-byte alignment either brings the struct back to 72 bytes.
# Sizes are computed from the field types (64-bit; `include/linux/vmalloc.h`,
# `include/linux/types.h` for `rcu_head`/`list_head`, `rbtree_types.h`, `refcount_types.h`,
# `spinlock_types_raw.h`).

# %%
lay = trylock_retry.layouts()
display(report.table(("layout", "bytes", "padding", "per 4 KiB", f"KiB for {areas}"),
                        [(L.title, L.size, L.padding, L.per_4k, L.bytes_for(areas) // 1024)
                         for L in lay]))
trylock_retry.plot_layouts(lay, areas=areas)

# %% [markdown]
# Putting the `rcu_head` in a union with `list` (the lazy/purge/pool linkage, unused once the
# area goes to the slab) or making the cache `SLAB_TYPESAFE_BY_RCU` (no `rcu_head` at all, but a
# `freeptr_offset` so SLUB's free pointer does not overwrite the count or the bounds) keeps
# 16 of the 24 bytes. A per-node sequence count with copy-out readers costs nothing per area.

# %% [markdown]
# ## How often a reader retries (G3)
#
# A writer holds the area's lock a fraction `f` of the time; readers look the area up with the
# package's `rcu-trylock-retry` protocol (`vmapsim.explore.lookup`, the code the explorer checks) on a
# real maple tree. The writer is a seeded alternating renewal process: exponential holds of mean
# `hold` (in units of the reader's retry gap: `rcu_read_unlock`, `cpu_relax`, a new walk) and
# exponential free periods chosen so the lock is held a fraction `f` of the time. If every retry
# saw an independent lock state, the failures per lookup would be geometric with mean
# `f/(1-f)` (here truncated at `max_retries + 1` attempts, a negligible correction).

# %%
sweep = trylock_retry.retry_sweep(fs=fs, lookups=lookups, hold=hold, max_retries=max_retries,
                                seed=seed)
longs = [trylock_retry.retry_sweep(fs=fs, lookups=lookups, hold=h, max_retries=max_retries,
                                 seed=seed) for h in long_holds]
display(report.table(trylock_retry.RetrySweep.HEADER, sweep.rows(),
                     title=f"writer hold = {hold} retry gap, {lookups} lookups per point, "
                     f"{len(fs)} values of f (f/(1-f)*: truncated at max_retries+1 attempts; "
                     "z: |difference| in standard errors)"))
for h, sw in zip(long_holds, longs):
    display(report.table(trylock_retry.RetrySweep.HEADER, sw.rows(),
                         title=f"writer hold = {h} retry gaps"))
trylock_retry.plot_retry_sweep(sweep, extra=longs)

# %% [markdown]
# With short holds the measurement follows `f/(1-f)` within a few standard errors at every `f`
# (the claims below assert at most `z_tolerance` standard errors, and a relative error bound
# for `f >= 0.2`, where the mean is large enough for a relative bound to mean something):
# each retry lands in a fresh lock state. When the writer holds the lock for several retry gaps,
# one hold costs several consecutive failures and the formula underestimates, most at small `f`
# (rare but long holds). For `vmap_area` the only lock holder besides readers is the area's own
# teardown (mark DEAD, then `vfree()` proceeds), a few stores long, against a retry that
# re-walks the tree: the short-hold regime, where the expected cost is about one failed trylock
# per teardown a reader runs into. Readers contending with *each other* (R6) are a different
# matter: with an exclusive lock every reader is also a lock holder.
#
# Move the sliders to see the distribution behind one point: `P(at least r failures)` against
# `f^r`, and the fallback rate against `f^(max_retries + 1)`.

# %%
def show_run(run):
    print(run.line())
    return trylock_retry.plot_retry_run(run)


report.bind(
    trylock_retry.retry_run, show_run,
    f=widgets.FloatSlider(value=0.5, min=0.0, max=0.9, step=0.05, description="f"),
    hold=widgets.SelectionSlider(options=[0.05, 0.2, 1.0, 5.0], value=0.05,
                                 description="hold (gaps)"),
    max_retries=widgets.IntSlider(value=3, min=0, max=16, description="max_retries"),
    lookups=widgets.fixed(min(lookups, 2000)),
    seed=widgets.fixed(seed),
)

# %% [markdown]
# ## Claims checked in this run

# %%
by_id = {r.id: r for r in req}
up, rfc = lay[0], lay[1]
lay_by = {L.title: L for L in lay}
fb = trylock_retry.retry_run(f=0.5, lookups=lookups, hold=hold, max_retries=3, seed=seed)
fb_se = (fb.analytic_fallback * (1 - fb.analytic_fallback) / fb.lookups) ** 0.5
long5 = longs[-1].runs[[i for i, f in enumerate(fs) if f > 0][0]]
claims = report.Claims()
claims.add("sizeof(struct vmap_area) upstream, 64-bit", up.size, "x == 72",
           "include/linux/vmalloc.h")
claims.add("... after RFC patch 04", rfc.size, "x == 48", "thread M5 (patch 04)")
claims.add("RFC saving at 16K areas, KiB (M25: 'about 384 KB')",
           (up.size - rfc.size) * areas // 1024, "x == 384", "thread M25")
claims.add("+ rcu_head + spinlock_t gives the whole saving back (bytes)",
           lay_by["+ rcu_head + spinlock_t"].size, f"x == {up.size}", "include/linux/types.h")
claims.add("+ rcu_head + refcount_t likewise (bytes)", lay_by["+ rcu_head + refcount_t"].size,
           f"x == {up.size}", "include/linux/refcount_types.h")
claims.add("rcu_head unioned with list + refcount_t keeps 16 of 24 bytes",
           up.size - lay_by["rcu_head in union with list + refcount_t"].size, "x == 16",
           "docs/rcu-review.md 3.3")
for rid in ("R1", "R1b", "R2", "R2b", "R3", "R5", "R6"):
    r = by_id[rid]
    claims.add(f"{rid}: without it a violation, with it none (exhaustive)",
               (r.without_verdict, r.with_verdict, r.exhaustive),
               "x == ('violation', 'never', True)", f"vmapsim explore {r.without} / {r.with_}")
claims.add("trylock-retry counterexample with pool reuse needs only 1 preemption",
           pool.preemptions, "x == 1", "mm/vmalloc.c: node_pool_add_va/node_pool_del_va")
claims.add(f"G3, hold {hold} gap: measured failures/lookup within {z_tolerance:g} standard "
           "errors of f/(1-f) at every f (max z)", round(sweep.max_z, 2), f"x <= {z_tolerance}",
           "docs/rcu-review.md 6.2 (G3)")
claims.add(f"G3: ... and within {tolerance:.0%} of it at every f >= 0.2 (max relative error)",
           round(sweep.max_rel_error_from(0.2), 4), f"x <= {tolerance}", "docs/rcu-review.md 6.2 (G3)")
claims.add("the simulated writer holds the lock a fraction f of the time (max |held - f|)",
           round(max(abs(r.held_fraction - r.f) for r in sweep.runs), 4), "x <= 0.02",
           "trylock_retry.WriterTimeline")
claims.add("f=0.5, 3 retries: fallback rate within 4 s.e. of f^4 = 0.0625 (z)",
           round(abs(fb.fallback_rate - fb.analytic_fallback) / fb_se, 2), "x <= 4",
           "lookup.py: RcuTrylockRetry.find")
claims.add(f"long holds ({long_holds[-1]} gaps) break the formula: measured / f/(1-f) at "
           f"f={long5.f}", round(long5.mean / long5.analytic, 2), "x >= 2", "vmapsim.review.trylock_retry")
claims.verify()

# %% [markdown]
# ## The key numbers, and the reply
#
# The numbers the reply states, with where each comes from and the conditions that reproduce it
# (`make report` writes them to `build/report/02-trylock-retry.json`), then the reply
# (`02-trylock-retry.txt`, and `02-trylock-retry.eml` for `git send-email` or `mutt -H`).

# %%
def scenario_of(sid):
    """The scenario a requirement row ran: a catalogue id, or the lookup_race call."""
    knobs = {lab: kw for req_row in trylock_retry.REQUIREMENTS for x in req_row[2:]
             if isinstance(x, tuple) for lab, kw in [x]}
    if sid in knobs:
        return "lookup_race(" + ", ".join(f"{k}={v}" for k, v in knobs[sid].items()) + ")"
    return sid


nums = report.Numbers("02-trylock-retry")
nums.add("vmap_area bytes, upstream", up.size, "B", source="kernel-source", design="linux-6.18")
nums.add("vmap_area bytes, RFC patch 04", rfc.size, "B", source="published", design="rfc-v1")
nums.add("RFC + rcu_head + lock (or refcount)", lay_by["+ rcu_head + spinlock_t"].size, "B",
         source="kernel-source")
nums.add("rcu_head in union with list + refcount",
         lay_by["rcu_head in union with list + refcount_t"].size, "B", source="kernel-source")
nums.add("pool reuse without GP, trylock+recheck", by_id["R1b"].without_verdict,
         source="explorer", scenario=scenario_of(by_id["R1b"].without))
nums.add("two readers, exclusive trylock (G2)", by_id["R6"].without_verdict, source="explorer",
         scenario=by_id["R6"].without)
nums.add("G3 short holds: max |error|", sweep.max_z, "std errors", source="model", fmt=".1f",
         seed=seed)
nums.add("G3 short holds: max rel. error, f >= 0.2", 100 * sweep.max_rel_error_from(0.2), "%",
         source="model", fmt=".1f", seed=seed)
nums.add(f"G3 measured/formula, holds of {long_holds[-1]} gaps, f={long5.f}",
         long5.mean / long5.analytic, "x", source="model", fmt=".1f", seed=seed)
report.summary(
    "02-trylock-retry",
    title="what trylock-and-retry under RCU demands of vmap_area",
    answers="M18",
    parts=[("M18-rule1",
            "The area must be freed after a grace period on every exit, including "
            "vmalloc's pool recycling (or carry a generation the reader rechecks)."),
           ("M18-rule2",
            "The trylock needs a stabiliser that vfree() honours before it frees the "
            "vm_struct and the pages, with a DEAD mark the reader rechecks; bounded retries "
            "and a locked fallback; and a shared rather than exclusive acquisition, since "
            "an exclusive trylock makes readers fail each other. Retries themselves are "
            "cheap when the writer's hold is short: failures per lookup follow f/(1-f).")],
    numbers=nums,
    conclusion="Trylock-and-retry is sound only with all of these. The rcu_head plus a lock "
               "or refcount costs exactly the 24 bytes patch 04 saves.",
)
