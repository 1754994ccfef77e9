"""Scenarios C0-C4, D*, E1, G*, H: lookups of a ``vmap_area`` racing its teardown (C5* are in
:mod:`vmapsim.explore.scenarios.bump`).

Every scenario here runs the protocols of :mod:`vmapsim.explore.lookup` (reader *and* writer
side) on a one-node world: ``vn`` (``busy_lock``, ``seq``), the busy index ``busy``
holding area ``A`` = [0x1000, 0x3000) whose ``vm_struct`` is ``vmA``.  The index is the
slot model (one op per walk); :mod:`vmapsim.explore.scenarios.tree` runs the real maple tree.

Builders (knobs are what a notebook varies):

* :func:`lookup_race` -- readers look up ``A`` while a writer ``vfree``s it, optionally
  recycling the object (type-safe cache reuse elsewhere, or vmalloc's pool at the same
  address, with or without a grace period first);
* :func:`trylock_livelock` -- G1: a reader's trylock retries against another holder taking
  the area lock ``k`` times;
* :func:`vread_vs_shrink` -- H: a ``vread_iter``-style reader against ``vrealloc``
  shrinking the area (mm/vmalloc.c: vrealloc updates ``vm->nr_pages`` under
  ``vn->busy.lock`` before freeing the tail pages).
"""
from __future__ import annotations

from types import SimpleNamespace

from ...params import check_choice, check_int
from ..lookup import BUSY, PROTOCOLS, make_protocol, vmap_area_fields
from ..rcu import Violation
from . import Scenario, Thread, builder_source, register

__all__ = ["lookup_race", "trylock_livelock", "vread_vs_shrink", "A_START",
           "A_END", "B_START", "STABILISERS"]

A_START, A_END = 0x1000, 0x3000
B_START, B_END = 0x8000, 0xA000
ADDR = 0x1800
CACHE = "vmap_area_cachep"
REUSE = ("none", "typesafe-elsewhere", "pool", "pool-gp", "free-desc")
#: where a free-range descriptor's bounds go when a later free merges into it (free-desc)
MERGED_END = 0x5000
#: design-note vocabulary for the reader's per-object stabiliser -> protocol
STABILISERS = {"none": "rcu-readonce", "lock": "spinlock", "spin": "rcu-trylock-retry",
               "refcount": "rcu-refcount", "seqcount": "seqcount"}
USES = ("vm", "vm-pointer", "bounds")


def _world(w, reclaim: str, n_pages: int = 1, tree_mode: str = "slot"):
    """vn, the busy index with A, and A's vm_struct (pages as objects).

    ``tree_mode`` ``slot`` is the one-op index; ``rcu``/``inplace`` the real maple tree
    (with two unrelated areas so that it has a real leaf node)."""
    if reclaim == "typesafe":
        w.heap.typesafe_cache(CACHE)
    pages = tuple(w.obj(f"page{i}", kind="page", data=i) for i in range(n_pages))
    vmA = w.obj("vmA", kind="vm_struct", flags="VM_ALLOC", nr_pages=n_pages, pages=pages,
                addr=A_START, size=A_END - A_START)
    A = w.obj("A", kind="vmap_area", cache=CACHE if reclaim == "typesafe" else None,
              **vmap_area_fields(A_START, A_END, vmA))
    vn = w.obj("vn", kind="vmap_node", busy_lock=None, seq=0)
    from .tree import make_tree
    ranges = [(A_START, A_END - 1, A)]
    if tree_mode != "slot":
        ranges += [(0x20000, 0x21fff, w.obj("O1", kind="vmap_area")),
                   (0x30000, 0x31fff, w.obj("O2", kind="vmap_area"))]
    tree = make_tree(w, "busy", ranges, tree_mode)
    w.G.fields["owner_done"] = False
    return SimpleNamespace(vn=vn, tree=tree, A=A, vmA=vmA, pages=pages, addr=ADDR)


def _observe_generation(ctx, va) -> None:
    """Record (as an observation, not a property) whether the object the reader uses is the
    incarnation its last walk found.

    The generation of an object changes only when it is handed to a new owner (type-safe
    cache reuse, vmalloc's pools), which the writers here do only while it is out of the
    index.  A changed generation is *not* a violation by itself: vmalloc's pools hand back
    the same object with the same bounds (mm/vmalloc.c:node_alloc takes the pooled area's
    own range), so a reader that pins the object and checks its bounds has the right answer
    for its address; whether a caller needs more than that is a property of the caller,
    checked separately (:func:`_check_covers`)."""
    walked = ctx.world.walked.get(ctx.tid)
    if walked is not None and walked[0] is va:
        ctx.observe(ctx.name, "changed" if va.gen != walked[1] else "same")


def _observed(w, s):
    return [f"{k}: generation changed" for k, v in w.obs.items() if v == "changed"]


def _check_covers(ctx, what: str, start, end, addr: int) -> None:
    """The property every caller of a lookup by address needs: what it uses describes an
    area that contains the address it looked up (``find_vm_area(addr)`` returns the
    ``vm_struct`` of the area containing ``addr``; ``check_heap_object`` checks the copy
    against the end of the area containing ``ptr``)."""
    ctx.check(start <= addr < end, f"{what} describes [{start:#x}, {end:#x}), which does not "
              f"contain the address looked up ({addr:#x})")


def lookup_race(protocol: str = "rcu-readonce", reclaim: str = "call_rcu", readers: int = 1,
                owner: bool = False, hold_rcu: bool = False, recheck: bool = True,
                reuse: str = "none", writer: bool = True, max_retries: int = 2,
                no_fail: bool = False, use: str = "vm", tree_mode: str = "slot",
                stabiliser: str | None = None) -> Scenario:
    """Readers ``R``/``R2``... look up ``ADDR`` in area A and use its ``vm_struct``
    (``find_vm_area`` then ``vm->flags``) while ``W`` vfree()s A.

    ``owner=True``: the area belongs to the (single) reader, so ``W``'s vfree waits for
    the reader to finish (ownership).  ``reuse``: what ``W`` does with the object after
    unlinking it -- ``typesafe-elsewhere`` reallocates it from the type-safe cache as
    area B at another address; ``pool`` hands it back at the *same* address with a new
    ``vm`` (vmalloc's per-node pools: ``node_pool_add_va``/``node_pool_del_va``, no
    grace period); ``pool-gp`` does a ``synchronize_rcu`` first (the GP-cookie fix);
    ``free-desc`` is 6.18's other exit: the lazy purge finds no free neighbour to merge
    with, so ``__merge_or_add_vmap_area()`` links the object itself into the free tree as a
    free-range descriptor, and a later free next to it merges into it, rewriting its
    ``va_end`` in place (``va_clip()`` rewrites ``va_start``/``va_end`` the same way), with
    no grace period anywhere (mm/vmalloc.c: ``__merge_or_add_vmap_area``, ``va_clip``,
    ``reclaim_list_global``; ``decay_va_pool_node`` sends pooled areas the same way).  The
    series removes this exit: from patch 07 ``reclaim_list_global()`` frees every object to
    the slab ("there are no free vmap_area objects any more").
    ``no_fail=True`` adds the G2 property: no trylock or refcount acquisition may fail,
    since only readers run.  ``use`` is what the caller does with the area it found:
    ``vm`` (``find_vm_area`` then ``vm->flags``), ``vm-pointer`` (only ``va->vm``, checked
    for identity) or ``bounds`` (``va->va_start``/``va_end``, as hardened usercopy's
    ``check_heap_object`` does after ``find_vmap_area`` returns).

    Properties (what the kernel's callers need, :func:`_check_covers`): no use-after-free
    (KASAN would report it); what the reader uses -- the bounds it reads (usercopy), the
    ``vm_struct`` it gets (``find_vm_area``) -- describes an area containing the address it
    looked up; for ``use="bounds"``, the bounds usercopy reads after the lookup are the ones
    the lookup matched (``wrong-bound`` otherwise: the object's bounds were rewritten in
    place, as a free-range descriptor's are; a stale bound, not a use-after-free, and KASAN
    would not report it).  Observation, not a property: whether the object it uses is the
    incarnation its walk found ("generation changed", :attr:`vmapsim.explore.Result.observed`).
    ``vm_struct`` objects carry ``addr``/``size`` as the kernel's do; the containment check
    reads them without a scheduling point (a ghost read).
    """
    if stabiliser is not None:
        protocol = STABILISERS[check_choice("stabiliser", stabiliser, list(STABILISERS))]
    check_choice("protocol", protocol, PROTOCOLS)
    readers = check_int("readers", readers, lo=1, hi=3)
    check_choice("reuse", reuse, REUSE)
    check_choice("use", use, USES)
    if owner and readers != 1:
        raise ValueError("owner=True needs exactly one reader")
    knobs = dict(protocol=protocol, reclaim=reclaim, readers=readers, owner=owner,
                 hold_rcu=hold_rcu, recheck=recheck, reuse=reuse, writer=writer,
                 max_retries=max_retries, no_fail=no_fail, use=use, tree_mode=tree_mode)
    opts = {"reclaim": "none" if reuse.startswith("pool") or reuse == "free-desc" else reclaim,
            "max_retries": max_retries}
    if protocol == "rcu-readonce":
        opts["hold_rcu"] = hold_rcu
    if protocol == "rcu-refcount":
        opts["recheck"] = recheck
    proto = make_protocol(protocol, **opts)

    def setup(w):
        s = _world(w, reclaim, tree_mode=tree_mode)
        s.proto = proto
        return s

    def reader(ctx, s):
        found = yield from ctx.call(s.proto.find, s.vn, s.tree, s.addr)
        if found is None:
            ctx.observe(ctx.name + " found", "none")
        else:
            if found.start is not None:
                _check_covers(ctx, "the bounds the lookup returned", found.start, found.end,
                              s.addr)
            if found.pin != "copy":
                va = found.va
                if use == "bounds":
                    start = yield ctx.read(va, "va_start", text=f"usercopy: {va.name}->va_start")
                    end = yield ctx.read(va, "va_end", text=f"usercopy: {va.name}->va_end")
                    _check_covers(ctx, f"the bounds usercopy read from {va.name}", start, end,
                                  s.addr)
                    if found.start is not None and (start, end) != (found.start, found.end):
                        desc = va.name in ctx.world.ghost.get("free_desc", ())
                        raise Violation(
                            "wrong-bound", f"{ctx.name}: usercopy compares against "
                            f"[{start:#x}, {end:#x}) read from {va.name}, but the lookup matched "
                            f"[{found.start:#x}, {found.end:#x}): {va.name}'s bounds were "
                            "rewritten in place" + (" (it is a free-range descriptor in the "
                                                    "free tree now)" if desc else ""),
                            events=(ctx.world.step,))
                    _observe_generation(ctx, va)
                else:
                    vm = yield ctx.read(va, "vm", text=f"find_vm_area: {va.name}->vm")
                    _observe_generation(ctx, va)
                    _check_covers(ctx, f"the vm_struct find_vm_area returned ({vm.name})",
                                  vm.fields["addr"], vm.fields["addr"] + vm.fields["size"],
                                  s.addr)
                    if use == "vm":
                        yield ctx.read(vm, "flags", text=f"read {vm.name}->flags")
                yield from ctx.call(s.proto.put, s.vn, found)
            elif found.vm is not None:
                vm = found.vm
                _check_covers(ctx, f"the copied vm pointer ({vm.name})", vm.fields["addr"],
                              vm.fields["addr"] + vm.fields["size"], s.addr)
            ctx.observe(ctx.name + " found", "A")
        if owner:
            yield ctx.store("owner_done", True, text="owner finished using its area")

    def vfree(ctx, s):
        if owner:
            yield ctx.wait_until_eq(ctx.world.G, "owner_done", True,
                                    text="vfree by the owner, after its last use")
        va = yield from ctx.call(s.proto.unlink, s.vn, s.tree, A_START)
        if reuse == "none" or va is None:
            return
        if reuse == "typesafe-elsewhere":
            vmB = yield ctx.alloc("vm_struct", name="vmB", flags="VM_ALLOC", nr_pages=1, pages=(),
                                  addr=B_START, size=B_END - B_START)
            nb = yield ctx.alloc("vmap_area", cache=CACHE, name="B",
                                 **vmap_area_fields(B_START, B_END, vmB))
            if nb is va:
                ctx.note(f"type-safe cache hands {va.name} back for a new area at {B_START:#x}")
            for f, v in (("va_start", B_START), ("va_end", B_END), ("vm", vmB), ("state", BUSY)):
                yield ctx.write(nb, f, v)
            yield from ctx.call(s.proto.publish, s.vn, s.tree, nb)
            return
        if reuse == "free-desc":
            def link(w, va=va):
                w.ghost["free_desc"] = tuple(sorted(w.ghost.get("free_desc", ()) + (va.name,)))
            yield ctx.atomic(va, link, text=f"purge: __merge_or_add_vmap_area: no free neighbour, "
                                            f"{va.name} is linked into the free tree as a "
                                            "free-range descriptor")
            yield ctx.write(va, "va_end", MERGED_END,
                            text=f"a later free of [{A_END:#x}, {MERGED_END:#x}) merges into "
                                 f"{va.name}: {va.name}->va_end = {MERGED_END:#x} (in place, "
                                 "no grace period)")
            return
        if reuse == "pool-gp":
            yield ctx.synchronize_rcu()
        yield ctx.recycle(va, text=f"purge: node_pool_add_va({va.name}); "
                                   f"alloc: node_pool_del_va -> {va.name}")
        # node_alloc() hands out the pooled area with its own range: same object, same bounds
        vmB = yield ctx.alloc("vm_struct", name="vmB", flags="VM_ALLOC", nr_pages=1, pages=(),
                              addr=A_START, size=A_END - A_START)
        yield ctx.write(va, "vm", vmB, text=f"{va.name}->vm = vmB (new owner)")
        yield ctx.write(va, "state", BUSY)
        yield from ctx.call(s.proto.publish, s.vn, s.tree, va)

    threads = [Thread("R" if i == 0 else f"R{i + 1}", reader) for i in range(readers)]
    if writer:
        threads.append(Thread("W", vfree))

    def final(w, s):
        if no_fail:
            fails = w.count("trylock_fail") + w.count("ref_fail")
            if fails:
                raise Violation("assertion", f"{fails} failed acquisition(s) with no writer "
                                "running: readers exclude each other", events=(w.step,))

    desc = (f"Readers look up {ADDR:#x} with the {protocol!r} protocol"
            + (" (RCU section held during the use)" if hold_rcu else "")
            + (", no identity recheck" if protocol == "rcu-refcount" and not recheck else "")
            + (f" while W vfree()s area A (reclaim: {opts['reclaim']}"
               + (f", then reuse: {reuse}" if reuse != "none" else "") + ")" if writer else
               ", no writer")
            + (". The reader owns the area." if owner else ". The reader does not own the area.")
            + (" Index: the one-op slot model (the maple tree in RCU mode gives the same per-index "
               "old-or-new result; tree_mode='rcu' runs the real tree)." if tree_mode == "slot"
               else f" Index: the real maple tree ({tree_mode} mode)."))
    return Scenario(id="lookup_race", title=f"{protocol} lookup vs vfree", description=desc,
                    threads=threads, setup=setup, final=final, observe=_observed,
                    source=builder_source("lookup_race", knobs), knobs=knobs,
                    kernel="mm/vmalloc.c: find_vmap_area, find_vm_area, remove_vm_area, vfree")


def trylock_livelock(k: int = 2, fair: bool = False, bound: int | None = None,
                     max_retries: int = 8) -> Scenario:
    """G1: another holder ``H`` takes and drops A's lock ``k`` times; ``R`` looks A up with
    ``rcu-trylock-retry`` (``max_retries`` re-walks, then the locked walk).  Property: at most
    ``bound`` (default ``k + 1``) trylock attempts.

    ``H`` is not 6.18's teardown, which takes an area's lock once (to mark it DEAD): it stands
    for what else could hold the lock repeatedly -- other readers of the same area under an
    exclusive lock (R6), or a design that adds lock holders (a ``vrealloc()`` taking it).
    Unfair scheduling lets R fail again and again inside one of H's holds; with fair
    scheduling (R's ``cpu_relax`` lets H run) each hold costs at most one failure.  A finite
    scenario cannot show a livelock: what the bound measures is failed attempts per hold."""
    k = check_int("k", k, lo=1, hi=6)
    bound = k + 1 if bound is None else check_int("bound", bound, lo=1)
    knobs = dict(k=k, fair=fair, bound=bound, max_retries=max_retries)
    proto = make_protocol("rcu-trylock-retry", reclaim="call_rcu", max_retries=max_retries)

    def setup(w):
        s = _world(w, "call_rcu")

        def monitor(world, tid, name, count):
            if name == "trylock" and count > bound:
                raise Violation("assertion", f"{world.names[tid]} made {count} trylock attempts "
                                f"(bound {bound}) against another holder that takes the lock "
                                f"{k} times", events=(world.step,))
        w.monitors.append(monitor)
        return s

    def holder(ctx, s):
        for _ in range(k):
            yield ctx.spin_lock(s.A)
            yield ctx.spin_unlock(s.A)

    def reader(ctx, s):
        found = yield from ctx.call(proto.find, s.vn, s.tree, s.addr)
        if found is not None:
            yield from ctx.call(proto.put, s.vn, found)

    return Scenario(id="trylock_livelock", title="trylock retry vs another lock holder",
                    description=f"H locks and unlocks A {k} times; R retries trylock "
                                f"(max_retries={max_retries}, then the locked walk; at most "
                                f"{bound} attempts allowed); "
                                + ("fair" if fair else "unfair") + " scheduling.",
                    threads=[Thread("H", holder), Thread("R", reader)], setup=setup, fair=fair,
                    source=builder_source("trylock_livelock", knobs), knobs=knobs,
                    kernel="this project's bounded retry then locked walk (contrast "
                           "mm/mmap_lock.c:lock_vma_under_rcu: unbounded re-walk on a detached "
                           "VMA, fallback at the first lock failure)")


def vread_vs_shrink(reader: str = "lockless") -> Scenario:
    """H: a ``vread_iter``-style reader copies the last page of A while ``vrealloc``
    shrinks A by one page.  ``reader``: ``lockless`` (RCU walk, as M22 proposes),
    ``ref`` (a reference the shrink waits for), ``locked`` (``vn->busy.lock`` held while
    copying, as today)."""
    check_choice("reader", reader, ("lockless", "ref", "locked"))
    knobs = dict(reader=reader)
    proto = {"lockless": make_protocol("rcu-readonce", hold_rcu=True),
             "ref": make_protocol("rcu-refcount"),
             "locked": make_protocol("spinlock")}[reader]

    def setup(w):
        s = _world(w, "call_rcu", n_pages=2)
        s.proto = proto
        return s

    def vread(ctx, s):
        found = yield from ctx.call(s.proto.find, s.vn, s.tree, s.addr)
        if found is None:
            return
        vm = yield ctx.read(found.va, "vm")
        n = yield ctx.read(vm, "nr_pages")
        pages = yield ctx.read(vm, "pages")
        yield ctx.read(pages[n - 1], "data", text=f"copy page {n - 1} of {vm.name}")
        yield from ctx.call(s.proto.put, s.vn, found)

    def shrink(ctx, s):
        yield ctx.spin_lock(s.vn, "busy_lock")
        yield ctx.write(s.vmA, "nr_pages", 1, text="vrealloc: vm->nr_pages = 1 under busy.lock")
        yield ctx.spin_unlock(s.vn, "busy_lock")
        if reader == "ref":
            yield ctx.wait_until_eq(s.A, "refcnt", 1, text="wait for readers' references")
        ctx.note("unmap the tail page")
        yield ctx.kfree(s.pages[1], text="vrealloc frees the tail page")

    return Scenario(id="vread_vs_shrink", title="vread vs vrealloc shrink",
                    description=f"R ({reader}) copies the last page of A while W shrinks A "
                                "from 2 pages to 1 and frees the tail page.",
                    threads=[Thread("R", vread), Thread("W", shrink)], setup=setup,
                    source=builder_source("vread_vs_shrink", knobs), knobs=knobs,
                    kernel="mm/vmalloc.c: vrealloc (shrink), vread_iter")


# -- the catalogue ------------------------------------------------------------------------
register("C0", "6.18 today: find_vmap_area drops busy.lock before returning; usercopy reads "
               "va_end after it while vfree + purge free the area (kmem_cache_free)",
         lookup_race, "violation", protocol="spinlock-6.18", reclaim="kfree", use="bounds",
         note="Kernel: mm/vmalloc.c:find_vmap_area (lock, walk, unlock, return) and "
              "mm/usercopy.c:check_heap_object (reads va_end after the return), "
              "docs/kernel-facts.md F1, F2.  The writer's unlink and free stand for vfree's "
              "find_unlink_vmap_area and the later lazy purge that merges the range into the "
              "free tree and kmem_cache_free()s the vmap_area (no grace period).  The window "
              "needs a caller that copies from a buffer another task is freeing: a bug in the "
              "caller, which the hardened-usercopy check exists to catch.")
register("C0-pool", "6.18 today, the area recycled through a node pool instead: usercopy reads "
                    "the same bounds (generation changed, no property violated)", lookup_race,
         "never", observed={"R: generation changed"}, protocol="spinlock-6.18", reuse="pool",
         use="bounds")
register("C0-freetree", "6.18 today, the purged area not merged: its object becomes a free-range "
                        "descriptor whose va_end a later merge rewrites in place; usercopy "
                        "reads a wrong bound (no use-after-free)", lookup_race, "violation",
         protocol="spinlock-6.18", reuse="free-desc", use="bounds",
         note="Kernel: mm/vmalloc.c:__merge_or_add_vmap_area links an unmerged object into the "
              "free tree (link_va) instead of freeing it; later merges and va_clip() rewrite its "
              "va_start/va_end in place.  6.18 only: from RFC patch 07 reclaim_list_global() "
              "frees every object to the slab.")
register("C1-freetree", "M23's lookup on 6.18's allocator (a busy maple tree, 6.18's free tree): "
                        "the free-range-descriptor exit has no kmem_cache_free for call_rcu to "
                        "replace; usercopy reads a wrong bound", lookup_race, "violation",
         protocol="rcu-readonce", reuse="free-desc", use="bounds")
register("C1", "proposed READ_ONCE lookup, non-owner reads the bounds after rcu_read_unlock "
               "while vfree+call_rcu runs", lookup_race, "violation", protocol="rcu-readonce",
         use="bounds")
register("C2", "same lookup by the area's owner (vfree happens after its use)", lookup_race,
         "never", protocol="rcu-readonce", owner=True, use="bounds")
register("C2-kfree", "the owner's RCU lookup with the area freed at once (no call_rcu): still safe",
         lookup_race, "never", protocol="rcu-readonce", owner=True, use="vm", reclaim="kfree")
register("C3", "vm_struct freed by plain kfree in vfree: reader inside its RCU section reads "
               "va->vm->flags", lookup_race, "violation", protocol="rcu-readonce", hold_rcu=True)
register("C4", "pool recycle without a grace period: the reader meets the same object, same "
               "bounds, new owner's vm (generation changed; no caller property violated)",
         lookup_race, "never", observed={"R: generation changed"}, protocol="rcu-readonce",
         hold_rcu=True, reuse="pool", use="vm-pointer")
register("C4-gp", "pool recycle after a grace period (GP cookie in the purge path): the "
                  "generation never changes under the reader", lookup_race, "never",
         observed=set(), protocol="rcu-readonce", hold_rcu=True, reuse="pool-gp",
         use="vm-pointer")
register("D1", "trylock + DEAD mark + bounds recheck, bounded retries, locked fallback",
         lookup_race, "never", protocol="rcu-trylock-retry")
register("D2", "refcount_inc_not_zero + identity recheck, last put tears down, two readers",
         lookup_race, "never", protocol="rcu-refcount", readers=2)
register("D3", "type-safe cache reuse, refcount taken but no identity recheck", lookup_race,
         "violation", protocol="rcu-refcount", reclaim="typesafe", recheck=False,
         reuse="typesafe-elsewhere")
register("D3-recheck", "type-safe cache reuse, refcount + identity recheck", lookup_race,
         "never", protocol="rcu-refcount", reclaim="typesafe", recheck=True,
         reuse="typesafe-elsewhere")
register("D4", "per-node seqcount snapshot of the bounds, type-safe memory reused", lookup_race,
         "never", protocol="seqcount", reclaim="typesafe", reuse="typesafe-elsewhere")
register("E1", "negative control: area freed with plain kfree, reader inside its RCU section",
         lookup_race, "violation", protocol="rcu-readonce", hold_rcu=True, reclaim="kfree",
         use="bounds")
register("G1-unfair", "trylock retry against another lock holder, unfair scheduler: more "
                      "failed attempts than holds (attempts > k+1)",
         trylock_livelock, "violation", k=2, fair=False)
register("G1-fair", "same with fair (yield-on-fail) scheduling: attempts <= k+1",
         trylock_livelock, "never", k=2, fair=True)
register("G1-bounded", "unfair scheduling, max_retries=1: at most 2 attempts, then the locked "
                       "walk (restates the protocol's bound)",
         trylock_livelock, "never", k=2, fair=False, max_retries=1, bound=2)
register("G2", "two readers, exclusive trylock, no writer: a trylock fails anyway", lookup_race,
         "violation", protocol="rcu-trylock-retry", readers=2, writer=False, no_fail=True)
register("G2-shared", "two readers with a shared reference (refcount): no failure", lookup_race,
         "never", protocol="rcu-refcount", readers=2, writer=False, no_fail=True)
_H_NOTE = ("Kernel version: in 6.18 (and the mm tree of January 2026) vrealloc() shrinks in "
           "place without freeing pages (it zeroes the tail and updates vm->requested_size), so "
           "this race needs the 2026 patch 'mm/vmalloc: free unused pages on vrealloc() shrink' "
           "(with 'use physical page count in vread_iter()'), seen in 2026 trees.  That the new "
           "nr_pages is published under vn->busy.lock before the tail pages are freed is taken "
           "from docs/kernel-vmalloc.md section 8 and was not verified against the patch text.  On 6.18 the "
           "same hazard exists with vfree(), which frees every page after unlinking the area.")
register("H", "lockless vread vs vrealloc shrink: reads a freed tail page", vread_vs_shrink,
         "violation", reader="lockless", note=_H_NOTE)
register("H-ref", "vread holding a reference that the shrink waits for", vread_vs_shrink,
         "never", reader="ref", note=_H_NOTE)
