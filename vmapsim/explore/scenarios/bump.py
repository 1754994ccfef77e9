"""Scenarios C5*: the series' own lockless lookup of bump-chunk areas (RFC patches 11-12).

``find_vmap_area()`` and ``find_unlink_vmap_area()`` of the series start with
``vmap_chunk_lookup()``: a ``READ_ONCE`` range check, this CPU's current chunk read with
``this_cpu_read()`` and dereferenced outside any RCU section, then an RCU walk of the chunk list
that returns the chunk after ``rcu_read_unlock()``; the area is ``chunk->page_va[idx]``.  A
chunk whose last area is unlinked, once it is no longer its owner CPU's current chunk, leaves
the list and its 131,136-byte descriptor goes to ``kvfree_rcu()``.

Builders:

* :func:`bump_lookup_race` -- C5: the list walk, used by a non-owner (usercopy) or the owner,
  racing the ``vfree()`` that drains the chunk;
* :func:`bump_fast_race` -- C5-fast / C5-fast-rcu: the per-CPU fast path, used by the area's
  owner while a refill retires that CPU's chunk and a ``vfree()`` drains and frees it.
"""
from __future__ import annotations

from types import SimpleNamespace

from ...params import check_choice
from ..lookup import vmap_area_fields
from . import Scenario, Thread, builder_source, register
from .lookup import A_END, A_START, ADDR

__all__ = ["bump_lookup_race", "bump_fast_race", "CHUNK_BASE", "CHUNK_LIMIT"]

#: the bump chunk of :func:`bump_lookup_race`: 4 pages from 0, A on pages 1-2
CHUNK_BASE, CHUNK_LIMIT = 0x0, 0x4000


def bump_lookup_race(owner: bool = False, free_area: bool = False) -> Scenario:
    """C5: the series' ``find_vmap_area()`` for an address in a per-CPU bump chunk (patch 11).

    ``R`` (hardened usercopy, not the owner, on a CPU whose current chunk is another one) runs
    ``vmap_chunk_lookup()``: ``rcu_read_lock()``, walk the chunk list, ``rcu_read_unlock()``,
    return the chunk; then ``find_vmap_area()`` reads ``chunk->page_va[idx]`` and usercopy
    reads ``va_end``.  ``W`` ``vfree()``s A, the last area of a chunk that is no longer its
    owner's current one: ``vmap_bump_unlink()`` clears ``page_va[]``, the count drops to
    zero, the chunk leaves the list (``list_del_rcu`` under ``vmap_bump_chunks_lock``) and
    its descriptor (131,136 bytes) goes to ``kvfree_rcu()``.  ``free_area``: also free A itself
    (its ``kmem_cache_free()`` comes at the lazy purge, C0's window); off by default so that
    the counterexample is the descriptor's.  ``owner``: R owns A (W waits for it).

    Property: no use-after-free.  The per-CPU ``vmap_bump_cur`` fast path of
    ``vmap_chunk_lookup()`` (read with ``this_cpu_read()``, no RCU section at all) is
    :func:`bump_fast_race` (C5-fast), where even the owner is exposed."""
    knobs = dict(owner=owner, free_area=free_area)
    idx = (ADDR - CHUNK_BASE) >> 12

    def setup(w):
        vmA = w.obj("vmA", kind="vm_struct", flags="VM_ALLOC", nr_pages=1, pages=(),
                    addr=A_START, size=A_END - A_START)
        A = w.obj("A", kind="vmap_area", **vmap_area_fields(A_START, A_END, vmA))
        pages = tuple(A if A_START <= CHUNK_BASE + (i << 12) < A_END else None
                      for i in range((CHUNK_LIMIT - CHUNK_BASE) >> 12))
        C = w.obj("chunk", kind="vmap_bump_chunk", base=CHUNK_BASE, limit=CHUNK_LIMIT,
                  page_va=pages, alloced=sum(p is not None for p in pages))
        L = w.obj("vmap_bump_chunks", kind="list", chunks=(C,), lock=None)
        w.G.fields["owner_done"] = False
        return SimpleNamespace(A=A, C=C, L=L)

    def lookup(ctx, s, who):
        yield ctx.rcu_read_lock()
        chunks = yield ctx.read(s.L, "chunks",
                                text=f"{who}: list_for_each_entry_rcu(vmap_bump_chunks)")
        chunk = None
        for c in chunks:
            base = yield ctx.read(c, "base", text=f"{who}: chunk->base <= addr < chunk->limit")
            if base <= ADDR < c.fields["limit"]:
                chunk = c
                break
        yield ctx.rcu_read_unlock()
        return chunk

    def reader(ctx, s):
        chunk = yield from lookup(ctx, s, "vmap_chunk_lookup")
        if chunk is None:
            ctx.observe("R found", "none")
        else:
            pv = yield ctx.read(chunk, "page_va", text="find_vmap_area: chunk->page_va[idx]")
            va = pv[idx]
            if va is None:
                ctx.observe("R found", "none")
            else:
                yield ctx.read(va, "va_end", text=f"usercopy: {va.name}->va_end")
                ctx.observe("R found", va.name)
        if owner:
            yield ctx.store("owner_done", True, text="owner finished using its area")

    def vfree(ctx, s):
        if owner:
            yield ctx.wait_until_eq(ctx.world.G, "owner_done", True,
                                    text="vfree by the owner, after its last use")
        chunk = yield from lookup(ctx, s, "vmap_bump_unlink")
        pv = yield ctx.read(chunk, "page_va", text="vmap_bump_unlink: chunk->page_va[idx]")
        va = pv[idx]
        yield ctx.write(chunk, "page_va", tuple(None if p is va else p for p in pv),
                        text="memset(&chunk->page_va[idx], 0, n_pages)")
        yield ctx.write(chunk, "alloced", 0,
                        text="atomic_sub_return() == 0, chunk is not its owner's current one")
        yield ctx.spin_lock(s.L)
        yield ctx.write(s.L, "chunks", (), text="list_del_rcu(&chunk->link)")
        yield ctx.spin_unlock(s.L)
        yield ctx.call_rcu(chunk, text="kvfree_rcu(chunk, rcu)")
        if free_area:
            yield ctx.kfree(va, text="lazy purge: kmem_cache_free(va)")

    desc = ("R (usercopy" + (", the owner" if owner else ", not the owner") + ") looks up "
            f"{ADDR:#x} through the series' bump-chunk path of find_vmap_area while W vfree()s A, "
            "the chunk's last area, and the chunk descriptor goes to kvfree_rcu"
            + (" (A itself is freed too)" if free_area else "") + ".")
    return Scenario(id="bump_lookup_race", title="series find_vmap_area, bump chunk vs vfree",
                    description=desc, threads=[Thread("R", reader), Thread("W", vfree)],
                    setup=setup, source=builder_source("bump_lookup_race", knobs), knobs=knobs,
                    kernel="RFC patch 11: find_vmap_area, vmap_chunk_lookup, vmap_bump_unlink")


#: the second chunk of :func:`bump_fast_race`: the reader's CPU's current chunk, B on its first page
CUR_BASE, CUR_LIMIT = 0x4000, 0x8000


def bump_fast_race(protect: str = "none") -> Scenario:
    """C5-fast: the per-CPU fast path of the series' ``vmap_chunk_lookup()`` (patch 11,
    unchanged by patch 12), used by the area's **owner**.

    ``R`` owns A, which lies in chunk X (not current anywhere: X's own area keeps X's count
    above zero).  ``R`` runs on CPU c, whose current chunk is Y; Y holds one remaining area B.
    ``vmap_chunk_lookup(addr)`` passes the ``[lo, hi)`` fast reject, then reads
    ``cur = this_cpu_read(vmap_bump_cur)`` (Y) and dereferences ``cur->base`` and
    ``cur->limit`` -- with ``protect="none"`` (the posted code) outside any RCU read-side
    section, with preemption enabled; with ``protect="rcu"`` inside ``rcu_read_lock()``, held
    until the range check is done (the fix).  A's address is not in Y, so ``R`` goes on to the
    RCU walk of the chunk list, finds X and reads ``X->page_va[idx]``.

    ``W`` is the rest of the system while ``R`` is preempted: a refill on CPU c makes a new
    chunk Z current there (``this_cpu_write(vmap_bump_cur, Z)``), then ``vfree(B)`` on any CPU
    drains Y; since Y is no longer its owner CPU's current chunk (patch 12 compares with
    ``per_cpu(vmap_bump_cur, chunk->owner_cpu)``), ``vmap_bump_unlink()`` takes Y off the list
    and ``kvfree_rcu()``s it.  The grace period does not wait for a task that is outside any
    read-side section.  Property: no use-after-free.  The same window is on ``vfree()``'s path
    (``find_unlink_vmap_area()`` -> ``vmap_bump_unlink()`` -> ``vmap_chunk_lookup()``).  It needs
    a preemptible kernel: without preemption nothing can deschedule ``R`` between the read and
    the dereference, and a CPU that has not passed through a quiescent state holds up the
    grace period."""
    check_choice("protect", protect, ("none", "rcu"))
    knobs = dict(protect=protect)
    idx = (ADDR - CHUNK_BASE) >> 12

    def setup(w):
        vmA = w.obj("vmA", kind="vm_struct", flags="VM_ALLOC", nr_pages=1, pages=(),
                    addr=A_START, size=A_END - A_START)
        A = w.obj("A", kind="vmap_area", **vmap_area_fields(A_START, A_END, vmA))
        B = w.obj("B", kind="vmap_area", **vmap_area_fields(CUR_BASE, CUR_BASE + 0x1000, None))
        pages_x = tuple(A if A_START <= CHUNK_BASE + (i << 12) < A_END else None
                        for i in range((CHUNK_LIMIT - CHUNK_BASE) >> 12))
        pages_y = (B,) + (None,) * (((CUR_LIMIT - CUR_BASE) >> 12) - 1)
        X = w.obj("chunkX", kind="vmap_bump_chunk", base=CHUNK_BASE, limit=CHUNK_LIMIT,
                  page_va=pages_x, alloced=sum(p is not None for p in pages_x), owner_cpu=1)
        Y = w.obj("chunkY", kind="vmap_bump_chunk", base=CUR_BASE, limit=CUR_LIMIT,
                  page_va=pages_y, alloced=1, owner_cpu=0)
        Z = w.obj("chunkZ", kind="vmap_bump_chunk", base=0x8000, limit=0xC000,
                  page_va=(None,) * 4, alloced=0, owner_cpu=0)
        L = w.obj("vmap_bump_chunks", kind="list", chunks=(Y, X), lock=None)
        w.G.fields["vmap_bump_cur_cpu0"] = Y        # R's CPU (cpu 0): Y is current there
        return SimpleNamespace(A=A, B=B, X=X, Y=Y, Z=Z, L=L)

    def reader(ctx, s):
        if protect == "rcu":
            yield ctx.rcu_read_lock()
        cur = yield ctx.load("vmap_bump_cur_cpu0", text="vmap_chunk_lookup: cur = "
                             "this_cpu_read(vmap_bump_cur)")
        base = yield ctx.read(cur, "base", text="vmap_chunk_lookup: cur->base")
        limit = yield ctx.read(cur, "limit", text="vmap_chunk_lookup: cur->limit")
        chunk = cur if base <= ADDR < limit else None
        if chunk is None:
            if protect != "rcu":
                yield ctx.rcu_read_lock()
            chunks = yield ctx.read(s.L, "chunks",
                                    text="vmap_chunk_lookup: list_for_each_entry_rcu")
            for c in chunks:
                b = yield ctx.read(c, "base", text="vmap_chunk_lookup: chunk->base <= addr "
                                   "< chunk->limit")
                if b <= ADDR < c.fields["limit"]:
                    chunk = c
                    break
            yield ctx.rcu_read_unlock()
        elif protect == "rcu":
            yield ctx.rcu_read_unlock()
        ctx.check(chunk is s.X, f"vmap_chunk_lookup returned {getattr(chunk, 'name', None)}, "
                  "not the owner's chunk")
        pv = yield ctx.read(chunk, "page_va", text="find_vmap_area: chunk->page_va[idx]")
        ctx.check(pv[idx] is s.A, "page_va[idx] is not the owner's area")
        yield ctx.read(pv[idx], "va_end", text="the owner uses its area")

    def rest(ctx, s):
        yield ctx.store("vmap_bump_cur_cpu0", s.Z,
                        text="refill on CPU 0: this_cpu_write(vmap_bump_cur, Z); Y retired")
        yield ctx.spin_lock(s.L)
        yield ctx.write(s.L, "chunks", (s.Z, s.Y, s.X), text="list_add_rcu(&Z->link)")
        yield ctx.spin_unlock(s.L)
        pv = yield ctx.read(s.Y, "page_va", text="vfree(B): vmap_bump_unlink: chunk->page_va[idx]")
        yield ctx.write(s.Y, "page_va", (None,) + tuple(pv[1:]),
                        text="memset(&chunk->page_va[idx], 0, n_pages)")
        yield ctx.write(s.Y, "alloced", 0, text="atomic_sub_return() == 0")
        owner_cur = yield ctx.load("vmap_bump_cur_cpu0",
                                   text="READ_ONCE(per_cpu(vmap_bump_cur, chunk->owner_cpu))")
        if owner_cur is not s.Y:
            yield ctx.spin_lock(s.L)
            yield ctx.write(s.L, "chunks", (s.Z, s.X), text="list_del_rcu(&Y->link)")
            yield ctx.spin_unlock(s.L)
            yield ctx.call_rcu(s.Y, text="kvfree_rcu(Y, rcu)")

    desc = ("R (the owner of A, in chunk X) looks up A's address through the series' "
            "vmap_chunk_lookup(); its CPU's current chunk Y is read with this_cpu_read() "
            + ("and dereferenced outside any RCU section (as posted)" if protect == "none"
               else "inside rcu_read_lock() (the fix)")
            + "; meanwhile a refill retires Y and vfree() of Y's last area kvfree_rcu()s it.")
    return Scenario(id="bump_fast_race", title="series vmap_chunk_lookup fast path, owner",
                    description=desc, threads=[Thread("R", reader), Thread("W", rest)],
                    setup=setup, source=builder_source("bump_fast_race", knobs), knobs=knobs,
                    kernel="RFC patch 11: vmap_chunk_lookup (this_cpu_read fast path), "
                           "vmap_bump_refill, vmap_bump_unlink; patch 12: owner_cpu")


# -- the catalogue ------------------------------------------------------------------------
register("C5", "the series' find_vmap_area for a bump-chunk area (patch 11): usercopy reads "
               "chunk->page_va after vmap_chunk_lookup's rcu_read_unlock while vfree drains the "
               "chunk and kvfree_rcu()s it", bump_lookup_race, "violation",
         note="Kernel: RFC patch 11 find_vmap_area (vmap_chunk_lookup returns the chunk after "
              "rcu_read_unlock, then page_va[idx] is read), vmap_bump_unlink (list_del_rcu, "
              "kvfree_rcu of the 131,136-byte descriptor).  6.18 has no such window: it has no "
              "bump chunks.")
register("C5-fast", "the series' vmap_chunk_lookup fast path, used by the area's OWNER: this "
                    "CPU's current chunk is read with this_cpu_read() and dereferenced outside "
                    "any RCU section while a refill retires it and vfree() of its last area "
                    "kvfree_rcu()s it", bump_fast_race, "violation",
         note="Kernel: RFC patch 11 vmap_chunk_lookup (cur = this_cpu_read(vmap_bump_cur); "
              "cur->base, cur->limit with no rcu_read_lock and preemption enabled), "
              "vmap_bump_refill (this_cpu_write of the new chunk), vmap_bump_unlink "
              "(list_del_rcu, kvfree_rcu); patch 12 compares with the owner CPU's current "
              "chunk and does not touch vmap_chunk_lookup.  Needs a preemptible kernel "
              "(PREEMPT(full), PREEMPT_RT).  The same function serves vfree() of every bump "
              "area (find_unlink_vmap_area -> vmap_bump_unlink).")
register("C5-fast-rcu", "the same fast path inside rcu_read_lock(), held until the range check "
                        "is done (a fix): the owner is safe", bump_fast_race, "never",
         protect="rcu")
