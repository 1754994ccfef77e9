"""Scenarios I*: serialising gap-find and publish when the lock is dropped to allocate.

The thread's open questions 6 and 7 (M19, M24, M26): stores into the allocator's tree
happen under a spinlock, so maple nodes must be allocated before taking it or with it
dropped.  Two allocators ``T1``/``T2`` each want ``SIZE`` bytes from the same window of
the real :class:`vmapsim.maple.MapleTree` (``alloc_range=True``), whose first gap fits
exactly one of them; each then maps its range.  Property: no two live areas overlap
(``mm/vmalloc.c:vmap_pages_pte_range`` has a bare ``WARN_ON(!pte_none(...))`` for a page
already mapped and returns ``-EBUSY``; ``__vmalloc_area_node()`` then prints "vmalloc error:
size N, failed to map pages", the line of M16.  "remapping already mapped page" is the
``dump_page()`` text of ``vmap_pte_range()``, the physical-range path of ``vmap_page_range()``
/ ioremap, which then calls ``BUG()``; vmalloc does not go there).

Tree calls are made while holding the lock, so each is one ``atomic`` step: nobody can
interleave with them, and the interesting interleavings are around the dropped lock.

Schemes (:func:`alloc_race`):

``unlocked-gap`` (I1)
    ``empty_area`` under the lock, drop it, preallocate nodes (may sleep), retake it,
    ``mas_store_prealloc`` the range found before.
``revalidate`` (I1-revalidate)
    as above, but after retaking the lock check that the range is still empty; if not,
    drop the lock and start over (Rezki's request in M19).
``mas-nomem`` (I1-mas-nomem)
    the tree's own lock, ``mtree_alloc_range``'s shape (lib/maple_tree.c): under the lock
    ``mas_empty_area`` then ``mas_insert``; the insert needs nodes and has none, so
    ``mas_nomem`` drops the lock, allocates with ``GFP_KERNEL``, retakes it and the whole
    thing -- gap search included -- is retried (M26's internal-lock model in the shape
    ``mtree_alloc_range`` implements; M26 names no function).
``store-gfp`` (I1-store-gfp, extra)
    ``mas_empty_area`` then ``mas_store_gfp`` with the tree's own lock: ``mas_nomem`` drops
    the lock inside the store, but ``mas_store_gfp`` retries only the store, for the
    range found before the lock was dropped.
"""
from __future__ import annotations

from types import SimpleNamespace

from ...maple import MapleBusy
from ...params import check_choice
from ..rcu import Violation
from . import Scenario, Thread, builder_source, register
from .tree import make_tree

__all__ = ["alloc_race", "SCHEMES"]

SCHEMES = ("unlocked-gap", "revalidate", "mas-nomem", "store-gfp")
LO, HI, SIZE = 0x1000, 0xFFFF, 0x2000


def alloc_race(scheme: str = "unlocked-gap", tree_mode: str = "inplace") -> Scenario:
    """Two allocators race for the first gap (see the module docstring)."""
    check_choice("scheme", scheme, SCHEMES)
    check_choice("tree_mode", tree_mode, ("inplace", "rcu"))
    knobs = dict(scheme=scheme, tree_mode=tree_mode)

    def setup(w):
        busy = w.obj("V0", kind="vmap_area")
        tree = make_tree(w, "occupied", [(LO, 0x3FFF, busy), (0x6000, 0x7FFF, w.obj("V1"))],
                         tree_mode, alloc_range=True)
        lock = w.obj("lock", kind="spinlock", lock=None)
        pt = w.obj("pgtable", kind="page_table")
        w.ghost["mapped"] = []
        return SimpleNamespace(tree=tree, lock=lock, pt=pt, allocs={})

    def empty_area(ctx, s, lo, hi):
        def fn(w):
            try:
                return s.tree.empty_area(lo, hi, SIZE)
            except MapleBusy:
                return None
        return ctx.atomic(s.tree, fn, text=f"empty_area([{lo:#x}, {hi:#x}], {SIZE:#x})")

    def store(ctx, s, start, va, insert=False):
        def fn(w):
            if insert:
                s.tree.insert_range(start, start + SIZE - 1, va)
            else:
                s.tree.store_range(start, start + SIZE - 1, va)
        what = "mas_insert" if insert else "mas_store"
        return ctx.atomic(s.tree, fn, text=f"{what} [{start:#x}, {start + SIZE - 1:#x}] = {va.name}")

    def vmap(ctx, s, start, va):
        def fn(w):
            for (a, b, who) in w.ghost["mapped"]:
                if a < start + SIZE and start < b:
                    raise Violation("overlap", f"{ctx.name} maps [{start:#x}, {start + SIZE:#x}) "
                                    f"already mapped by {who}: WARN_ON(!pte_none()) in "
                                    "vmap_pages_pte_range, -EBUSY; __vmalloc_area_node: "
                                    f"'vmalloc error: size {SIZE}, failed to map pages'",
                                    events=(w.step,))
            w.ghost["mapped"].append((start, start + SIZE, ctx.name))
        return ctx.atomic(s.pt, fn, text=f"vmap_pages_range [{start:#x}, {start + SIZE:#x})")

    def allocator(ctx, s):
        va = yield ctx.alloc("vmap_area", name=f"va_{ctx.name}")
        lk = s.lock
        if scheme in ("unlocked-gap", "revalidate"):
            while True:
                yield ctx.spin_lock(lk)
                start = yield empty_area(ctx, s, LO, HI)
                yield ctx.spin_unlock(lk)
                ctx.check(start is not None, "no gap left")
                yield Op_nop(f"mas_preallocate(GFP_KERNEL) for [{start:#x}, ...) outside the lock")
                yield ctx.spin_lock(lk)
                if scheme == "revalidate":
                    again = yield empty_area(ctx, s, start, start + SIZE - 1)
                    if again != start:
                        ctx.note(f"[{start:#x}, ...) was taken meanwhile: start over")
                        yield ctx.spin_unlock(lk)
                        continue
                yield store(ctx, s, start, va)
                yield ctx.spin_unlock(lk)
                break
        else:
            yield ctx.spin_lock(lk)
            have_nodes = False
            while True:
                start = yield empty_area(ctx, s, LO, HI)
                ctx.check(start is not None, "no gap left")
                if not have_nodes:
                    ctx.note("the store needs maple nodes and none are preallocated: -ENOMEM")
                    yield ctx.spin_unlock(lk)
                    yield Op_nop("mas_nomem: mas_alloc_nodes(GFP_KERNEL) with the tree lock dropped")
                    yield ctx.spin_lock(lk)
                    have_nodes = True
                    if scheme == "store-gfp":
                        ctx.note("mas_store_gfp retries the store for the range found before")
                        yield store(ctx, s, start, va)
                        break
                    ctx.note("mtree_alloc_range: goto retry (gap search again)")
                    continue
                yield store(ctx, s, start, va, insert=True)
                break
            yield ctx.spin_unlock(lk)
        s.allocs[ctx.name] = (start, va)
        yield vmap(ctx, s, start, va)

    def final(w, s):
        for name, (start, va) in s.allocs.items():
            got = s.tree.load(start)
            if got is not va:
                raise Violation("assertion", f"{name}'s area at {start:#x} is no longer in the "
                                f"tree (found {getattr(got, 'name', got)})", events=(w.step,))
        s.tree.validate()

    return Scenario(id="alloc_race", title=f"gap-find and publish: {scheme}",
                    description=f"T1 and T2 allocate {SIZE:#x} bytes in [{LO:#x}, {HI:#x}] "
                                f"({scheme}); the first gap fits one of them.",
                    threads=[Thread("T1", allocator), Thread("T2", allocator)], setup=setup,
                    final=final, source=builder_source("alloc_race", knobs), knobs=knobs,
                    kernel="lib/maple_tree.c: mtree_alloc_range, mas_nomem, mas_store_gfp; "
                           "mm/vmalloc.c: vmap_pages_pte_range")


def Op_nop(text):
    from ..ops import Op
    return Op("nop", text=text)


register("I1", "gap found with empty_area, lock dropped to allocate nodes, stale range stored: "
               "two areas overlap", alloc_race, "violation", scheme="unlocked-gap")
register("I1-revalidate", "same, but the range is re-checked after retaking the lock",
         alloc_race, "never", scheme="revalidate")
register("I1-mas-nomem", "the tree's own lock dropped inside mas_nomem, gap search retried "
                         "(mtree_alloc_range)", alloc_race, "never", scheme="mas-nomem")
register("I1-store-gfp", "extra: mas_empty_area + mas_store_gfp; the store's retry keeps the "
                         "stale range", alloc_race, "violation", scheme="store-gfp")
