"""Lookup protocols for ``vmap_area``, written once against an abstract context.

The thread (M18, M23) asks how a lookup of a ``vmap_area`` by address can avoid
``vn->busy.lock``.  Each protocol here is a reader side (:meth:`Protocol.find` /
:meth:`Protocol.put`) plus the matching writer side (:meth:`Protocol.publish`, the
vmalloc insert; :meth:`Protocol.unlink`, vfree's ``find_unlink_vmap_area`` and
teardown).  They are plain functions of a *context* ``env``, so two interpreters run the
same code:

* the explorer (:class:`vmapsim.explore.ctx.ExplorerEnv`): every call is a scheduling
  point, with RCU and lifetime checking;
* the performance model: every call is cost accounting, run at full speed.

Protocols (``PROTOCOLS``):

``spinlock-6.18``
    today's ``find_vmap_area()`` (mm/vmalloc.c, 6.18 and 7.3; docs/kernel-facts.md F1): take
    ``vn->busy.lock``, walk (the walk compares the address with ``va_start``/``va_end``
    under the lock), **drop the lock**, return the pointer.  Nothing pins the area
    afterwards (``pin="none"``): only an owner may use it; hardened usercopy
    (mm/usercopy.c:check_heap_object) reads ``va_end`` after the return (F2).
``spinlock``
    the walk *and the caller's use* under ``vn->busy.lock``: the shape of
    ``vmalloc_dump_obj`` (trylock, copy out under the lock), ``vread_iter`` (copies while
    holding the lock) and ``vmalloc_info_show`` (prints under it), F4.  It is **not**
    ``find_vmap_area()``, which drops the lock before returning (``spinlock-6.18``).  The
    performance model prices this protocol under the name ``spinlock`` (the walk and the
    area's first reads inside the hold).
``rcu-readonce``
    the plan in M23: ``rcu_read_lock``; ``mas_walk``; ``READ_ONCE`` the bounds;
    ``rcu_read_unlock``; return the pointer.  ``hold_rcu=True`` keeps the section open
    while the caller uses the area (the best case for that plan).
``rcu-trylock-retry``
    M18's rule 2 ("trylock the objects it finds (and retry the walk if the trylock
    fails)") with what this project adds to make it sound (docs/rcu-review.md section 3;
    not in M18): a per-area spinlock taken with trylock under RCU, a recheck of a ``DEAD``
    mark and of the bounds, a re-walk on failure, after ``max_retries`` the locked walk.
    The writer marks ``DEAD`` under the area lock before teardown.
``rcu-refcount``
    the per-VMA-lock shape (mm/mmap_lock.c, ``lock_vma_under_rcu``):
    ``refcount_inc_not_zero`` under RCU, identity recheck (``recheck=True``), re-walk when
    the count was zero; the tree holds one reference and the last ``put`` tears down.
``seqcount``
    a bounds-only snapshot (``mmap_lock_speculate_try_begin``/``retry`` shape): a
    per-node sequence count, copy ``va_start``/``va_end``/``vm`` under RCU, retry if a
    writer ran; no reference escapes.

The context interface (what ``env`` must provide)::

    rcu_read_lock() / rcu_read_unlock() / synchronize_rcu()
    read(obj, field) -> value            READ_ONCE / rcu_dereference of a field
    write(obj, field, value)             WRITE_ONCE / rcu_assign_pointer
    alloc(kind, cache=None, **fields) -> obj   kmalloc, or kmem_cache_alloc from cache
    kfree(obj) / call_rcu(obj) / recycle(obj)  free now / after a grace period / reuse
                                         without any grace period (vmalloc's pools)
    spin_lock(obj, field) / spin_unlock(obj, field) / spin_trylock(obj, field) -> bool
    refcount_inc_not_zero(obj, field) -> bool / refcount_dec_and_test(obj, field) -> bool
    refcount_set(obj, value, field)
    read_seqcount_begin(obj, field) -> int / read_seqcount_retry(obj, start, field) -> bool
    write_seqcount_begin(obj, field) / write_seqcount_end(obj, field)
    wait_until_eq(obj, field, value)     rcuwait-style wait for a field value
    cpu_relax()
    tree_walk(tree, index) -> entry      mas_walk: the raw entry (XA_ZERO_ENTRY visible)
    tree_load(tree, index) -> entry      mtree_load: zero entries read as NULL
    tree_store_range(tree, first, last, entry) / tree_erase(tree, index) -> old entry
    event(name)                          a counter the model may record (not an access)
    check(cond, message)                 an invariant of the protocol itself

Objects are whatever the context's ``alloc`` returns; a ``vmap_area`` has fields
``va_start``, ``va_end`` (exclusive), ``vm``, ``lock``, ``state``, ``refcnt``; a
``vmap_node`` has ``busy_lock`` and ``seq``.  Events emitted: ``trylock``,
``trylock_fail``, ``dead``, ``ref_fail``, ``identity_mismatch``, ``seq_retry``, ``retry``,
``fallback``.

Deliberate simplifications: one ``vmap_node`` (the kernel's cross-node retry in
``find_vmap_area`` is not modelled); ``vm_struct`` is one object whose pages are a tuple
of page objects; memory ordering is sequentially consistent (see
``docs``/the notebooks for the LKMM caveats: ``refcount_inc_not_zero_acquire`` and
``refcount_set_release`` are needed on a real CPU).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..params import check_choice, check_int

__all__ = ["PROTOCOLS", "LOCKED", "RECLAIM", "BUSY", "DEAD", "Found", "Protocol", "make_protocol", "SequentialEnv",
           "vmap_area_fields"]

PROTOCOLS = ("spinlock-6.18", "spinlock", "rcu-readonce", "rcu-trylock-retry", "rcu-refcount",
             "seqcount")
#: protocols whose readers take ``vn->busy.lock`` (no RCU read side)
LOCKED = ("spinlock-6.18", "spinlock")
#: how an unlinked vmap_area's memory goes away
RECLAIM = ("call_rcu", "kfree", "typesafe", "none")
BUSY, DEAD = "BUSY", "DEAD"


@dataclass
class Found:
    """What a lookup hands its caller: the area (when pinned) and the copied bounds.

    ``pin`` says what keeps ``va`` valid until :meth:`Protocol.put`: ``busy_lock``,
    ``va_lock``, ``ref``, ``rcu`` (section still open), ``none`` (nothing: only an owner
    may use ``va``) or ``copy`` (``va`` is None; only the copies may be used).
    """

    va: object
    start: int
    end: int
    vm: object
    pin: str


def vmap_area_fields(start: int, end: int, vm) -> dict:
    """Initial fields of a published vmap_area (tree reference counted in ``refcnt``)."""
    return {"va_start": start, "va_end": end, "vm": vm, "lock": None, "state": BUSY,
            "refcnt": 1}


class Protocol:
    """Base: the locked walk and the shared writer side.  ``reclaim`` says how an
    unlinked area is freed: ``call_rcu``, ``kfree`` (at once), ``typesafe``
    (``kmem_cache_free`` into a SLAB_TYPESAFE_BY_RCU cache) or ``none`` (the caller
    recycles it, as vmalloc's pools do)."""

    name = "base"

    def __init__(self, reclaim: str = "call_rcu", max_retries: int = 3):
        self.reclaim = check_choice("reclaim", reclaim, RECLAIM)
        self.max_retries = check_int("max_retries", max_retries, lo=0)

    # -- writer side ----------------------------------------------------------------------
    def publish(self, env, vn, tree, va) -> None:
        """Insert an initialised area under ``vn->busy.lock`` (alloc_vmap_area's insert)."""
        env.spin_lock(vn, "busy_lock")
        env.tree_store_range(tree, env.read(va, "va_start"), env.read(va, "va_end") - 1, va)
        env.spin_unlock(vn, "busy_lock")

    def unlink(self, env, vn, tree, addr):
        """vfree's side: ``find_unlink_vmap_area`` under the busy lock, then teardown of
        ``vm`` and the area (mm/vmalloc.c: remove_vm_area, vfree).  Returns the area."""
        env.spin_lock(vn, "busy_lock")
        va = env.tree_erase(tree, addr)
        env.spin_unlock(vn, "busy_lock")
        if va is not None:
            self.release(env, va)
        return va

    def release(self, env, va) -> None:
        """Last user gone: free the vm_struct now (vfree's plain ``kfree(vm)``), then the
        area according to ``reclaim``."""
        vm = env.read(va, "vm")
        if vm is not None:
            env.kfree(vm, text="kfree(vm) in vfree")
        self.free_area(env, va)

    def free_area(self, env, va) -> None:
        if self.reclaim == "call_rcu":
            env.call_rcu(va)
        elif self.reclaim in ("kfree", "typesafe"):
            env.kfree(va)

    # -- reader side ----------------------------------------------------------------------
    def find(self, env, vn, tree, addr) -> Found | None:
        raise NotImplementedError

    def put(self, env, vn, found: Found) -> None:
        """End of the caller's use of ``found``."""

    def locked_find(self, env, vn, tree, addr, pin: str) -> Found | None:
        """The fallback: walk under ``vn->busy.lock`` and pin the area before dropping it."""
        env.event("fallback")
        env.spin_lock(vn, "busy_lock")
        va = env.tree_walk(tree, addr)
        if va is None:
            env.spin_unlock(vn, "busy_lock")
            return None
        if pin == "va_lock":
            env.spin_lock(va, "lock")
        elif pin == "ref":
            env.check(env.refcount_inc_not_zero(va, "refcnt"),
                      "an area still in the tree has a zero refcount")
        start, end, vm = env.read(va, "va_start"), env.read(va, "va_end"), env.read(va, "vm")
        if pin == "copy":
            env.spin_unlock(vn, "busy_lock")
            return Found(None, start, end, vm, "copy")
        if pin != "busy_lock":
            env.spin_unlock(vn, "busy_lock")
        return Found(va, start, end, vm, pin)


class SpinLock618(Protocol):
    """6.18's ``find_vmap_area()``: lock, walk, unlock, return the pointer (F1).

    The bounds in :class:`Found` are the ones the walk compared under the lock; what the
    caller reads from ``va`` afterwards is unprotected (``pin="none"``)."""

    name = "spinlock-6.18"

    def find(self, env, vn, tree, addr):
        env.spin_lock(vn, "busy_lock")
        va = env.tree_walk(tree, addr)
        found = None
        if va is not None:
            start, end = env.read(va, "va_start"), env.read(va, "va_end")
            found = Found(va, start, end, None, "none")
        env.spin_unlock(vn, "busy_lock")
        return found


class SpinLock(Protocol):
    """The walk and the caller's use under the busy lock (``vmalloc_dump_obj``,
    ``vread_iter``, ``vmalloc_info_show`` shape; *not* 6.18's ``find_vmap_area``, which
    drops the lock before returning: :class:`SpinLock618`)."""

    name = "spinlock"

    def find(self, env, vn, tree, addr):
        env.spin_lock(vn, "busy_lock")
        va = env.tree_walk(tree, addr)
        if va is None:
            env.spin_unlock(vn, "busy_lock")
            return None
        start, end = env.read(va, "va_start"), env.read(va, "va_end")
        return Found(va, start, end, None, "busy_lock")

    def put(self, env, vn, found):
        env.spin_unlock(vn, "busy_lock")


class RcuReadOnce(Protocol):
    """M23's plan: RCU walk, READ_ONCE bounds check, return the pointer.

    ``hold_rcu=True`` keeps the read-side section open until :meth:`put`.
    """

    name = "rcu-readonce"

    def __init__(self, reclaim="call_rcu", max_retries=3, hold_rcu: bool = False):
        super().__init__(reclaim, max_retries)
        self.hold_rcu = hold_rcu

    def find(self, env, vn, tree, addr):
        env.rcu_read_lock()
        va = env.tree_walk(tree, addr)
        found = None
        if va is not None:
            start, end = env.read(va, "va_start"), env.read(va, "va_end")
            if start <= addr < end:
                found = Found(va, start, end, None, "rcu" if self.hold_rcu else "none")
        if not (self.hold_rcu and found is not None):
            env.rcu_read_unlock()
        return found

    def put(self, env, vn, found):
        if found.pin == "rcu":
            env.rcu_read_unlock()


class RcuTrylockRetry(Protocol):
    """Trylock the area under RCU, recheck DEAD and bounds, bounded retries, locked fallback."""

    name = "rcu-trylock-retry"

    def find(self, env, vn, tree, addr):
        for _ in range(self.max_retries + 1):
            env.rcu_read_lock()
            va = env.tree_walk(tree, addr)
            if va is None:
                env.rcu_read_unlock()
                return None
            env.event("trylock")
            if not env.spin_trylock(va, "lock"):
                env.rcu_read_unlock()
                env.event("trylock_fail")
                env.event("retry")
                env.cpu_relax()
                continue
            state = env.read(va, "state")
            start, end = env.read(va, "va_start"), env.read(va, "va_end")
            if state != BUSY or not start <= addr < end:
                env.spin_unlock(va, "lock")
                env.rcu_read_unlock()
                env.event("dead")
                env.event("retry")
                continue
            env.rcu_read_unlock()
            return Found(va, start, end, None, "va_lock")
        return self.locked_find(env, vn, tree, addr, "va_lock")

    def put(self, env, vn, found):
        env.spin_unlock(found.va, "lock")

    def unlink(self, env, vn, tree, addr):
        env.spin_lock(vn, "busy_lock")
        va = env.tree_erase(tree, addr)
        env.spin_unlock(vn, "busy_lock")
        if va is not None:
            env.spin_lock(va, "lock")
            env.write(va, "state", DEAD)
            env.spin_unlock(va, "lock")
            self.release(env, va)
        return va


class RcuRefcount(Protocol):
    """refcount_inc_not_zero under RCU, identity recheck, the last put tears down."""

    name = "rcu-refcount"

    def __init__(self, reclaim="call_rcu", max_retries=3, recheck: bool = True):
        super().__init__(reclaim, max_retries)
        self.recheck = recheck

    def find(self, env, vn, tree, addr):
        for _ in range(self.max_retries + 1):
            env.rcu_read_lock()
            va = env.tree_walk(tree, addr)
            if va is None:
                env.rcu_read_unlock()
                return None
            if not env.refcount_inc_not_zero(va, "refcnt"):
                env.rcu_read_unlock()
                env.event("ref_fail")
                env.event("retry")
                continue
            if self.recheck:
                start, end = env.read(va, "va_start"), env.read(va, "va_end")
                if not start <= addr < end:
                    env.rcu_read_unlock()
                    self._drop(env, va)
                    env.event("identity_mismatch")
                    env.event("retry")
                    continue
            else:
                start = end = None
            env.rcu_read_unlock()
            return Found(va, start, end, None, "ref")
        return self.locked_find(env, vn, tree, addr, "ref")

    def _drop(self, env, va):
        if env.refcount_dec_and_test(va, "refcnt"):
            self.release(env, va)

    def put(self, env, vn, found):
        self._drop(env, found.va)

    def unlink(self, env, vn, tree, addr):
        env.spin_lock(vn, "busy_lock")
        va = env.tree_erase(tree, addr)
        env.spin_unlock(vn, "busy_lock")
        if va is not None:
            self._drop(env, va)
        return va

    def publish(self, env, vn, tree, va):
        env.refcount_set(va, 1, "refcnt")
        super().publish(env, vn, tree, va)


class SeqCount(Protocol):
    """Per-node sequence count; copy the bounds (and the vm pointer) out under RCU."""

    name = "seqcount"

    def find(self, env, vn, tree, addr):
        for _ in range(self.max_retries + 1):
            seq = env.read_seqcount_begin(vn, "seq")
            env.rcu_read_lock()
            va = env.tree_walk(tree, addr)
            copy = None
            if va is not None:
                copy = (env.read(va, "va_start"), env.read(va, "va_end"), env.read(va, "vm"))
            env.rcu_read_unlock()
            if env.read_seqcount_retry(vn, seq, "seq"):
                env.event("seq_retry")
                env.event("retry")
                continue
            if copy is None or not copy[0] <= addr < copy[1]:
                return None
            return Found(None, copy[0], copy[1], copy[2], "copy")
        return self.locked_find(env, vn, tree, addr, "copy")

    def unlink(self, env, vn, tree, addr):
        env.spin_lock(vn, "busy_lock")
        env.write_seqcount_begin(vn, "seq")
        va = env.tree_erase(tree, addr)
        env.write_seqcount_end(vn, "seq")
        env.spin_unlock(vn, "busy_lock")
        if va is not None:
            self.release(env, va)
        return va

    def publish(self, env, vn, tree, va):
        env.spin_lock(vn, "busy_lock")
        env.write_seqcount_begin(vn, "seq")
        env.tree_store_range(tree, env.read(va, "va_start"), env.read(va, "va_end") - 1, va)
        env.write_seqcount_end(vn, "seq")
        env.spin_unlock(vn, "busy_lock")


_CLASSES = {c.name: c for c in (SpinLock618, SpinLock, RcuReadOnce, RcuTrylockRetry, RcuRefcount, SeqCount)}


def make_protocol(name: str, **options) -> Protocol:
    """``make_protocol("rcu-refcount", reclaim="typesafe", recheck=False)``; unknown
    names list the valid ones."""
    check_choice("protocol", name, PROTOCOLS)
    return _CLASSES[name](**options)


class SequentialEnv:
    """A reference context that runs protocols at full speed, one call at a time, and
    counts their cost (the shape the performance model needs).

    ``counts`` is a :class:`collections.Counter` of primitive costs -- ``rcu_sections``,
    ``spin_lock``, ``spin_trylock``, ``spin_trylock_failed``, ``refcount_inc_not_zero``,
    ``refcount_inc_not_zero_failed``, ``refcount_dec``, ``seq_begin``, ``tree_walks``,
    ``tree_nodes`` (from ``tree.stats.visited`` when the tree keeps it, else 1 per walk),
    ``tree_stores``, ``reads``, ``writes``, ``alloc``, ``call_rcu``, ``kfree``,
    ``synchronize_rcu``, ``cpu_relax`` -- plus every protocol event under its own name
    (``trylock``, ``trylock_fail``, ``retry``, ``fallback``...).  Objects are
    anything with a ``fields`` dict (:class:`vmapsim.explore.rcu.Obj`); trees are a
    :class:`vmapsim.explore.world.RangeIndex` or a :class:`vmapsim.maple.MapleTree`.
    There is no concurrency here: a ``spin_lock`` on a held lock or a wait that cannot
    be satisfied raises ``RuntimeError`` (nobody else could make progress).
    """

    explores = False

    def __init__(self, holder: str = "T"):
        from collections import Counter
        self.counts = Counter()
        self.holder = holder
        self.deferred: list = []
        self.freed: list = []

    # memory and lifetime
    def read(self, obj, field, text=None):
        self.counts["reads"] += 1
        return obj.fields[field]

    def write(self, obj, field, value, text=None):
        self.counts["writes"] += 1
        obj.fields[field] = value

    def alloc(self, kind, cache=None, name=None, **fields):
        from .rcu import Obj
        self.counts["alloc"] += 1
        return Obj(name or kind, fields, cache=cache, kind=kind)

    def kfree(self, obj, text=None):
        self.counts["kfree"] += 1
        self.freed.append(obj)

    kmem_cache_free = kfree

    def call_rcu(self, obj, text=None):
        self.counts["call_rcu"] += 1
        self.deferred.append(obj)

    def recycle(self, obj, text=None):
        self.counts["recycle"] += 1

    def rcu_read_lock(self):
        self.counts["rcu_sections"] += 1

    def rcu_read_unlock(self):
        pass

    def synchronize_rcu(self):
        self.counts["synchronize_rcu"] += 1
        self.freed.extend(self.deferred)
        self.deferred.clear()

    # locks, refcounts, seqcounts
    def spin_lock(self, obj, field="lock"):
        self.counts["spin_lock"] += 1
        if obj.fields[field] is not None:
            raise RuntimeError(f"spin_lock on a held lock ({field}) in a sequential run")
        obj.fields[field] = self.holder

    def spin_unlock(self, obj, field="lock"):
        obj.fields[field] = None

    def spin_trylock(self, obj, field="lock"):
        self.counts["spin_trylock"] += 1
        if obj.fields[field] is not None:
            self.counts["spin_trylock_failed"] += 1
            return False
        obj.fields[field] = self.holder
        return True

    def refcount_inc_not_zero(self, obj, field="refcnt"):
        self.counts["refcount_inc_not_zero"] += 1
        if obj.fields[field] == 0:
            self.counts["refcount_inc_not_zero_failed"] += 1
            return False
        obj.fields[field] += 1
        return True

    def refcount_dec_and_test(self, obj, field="refcnt"):
        self.counts["refcount_dec"] += 1
        obj.fields[field] -= 1
        return obj.fields[field] == 0

    def refcount_set(self, obj, value, field="refcnt"):
        obj.fields[field] = value

    def read_seqcount_begin(self, obj, field="seq"):
        self.counts["seq_begin"] += 1
        if obj.fields[field] % 2:
            raise RuntimeError("read_seqcount_begin with a writer in progress in a sequential run")
        return obj.fields[field]

    def read_seqcount_retry(self, obj, start, field="seq"):
        return obj.fields[field] != start

    def write_seqcount_begin(self, obj, field="seq"):
        obj.fields[field] += 1

    write_seqcount_end = write_seqcount_begin

    def wait_until_eq(self, obj, field, value, text=None):
        if obj.fields[field] != value:
            raise RuntimeError(f"waiting for {field} == {value!r} in a sequential run")

    def cpu_relax(self):
        self.counts["cpu_relax"] += 1

    # the tree
    def _visited(self, tree, fn):
        st = getattr(tree, "stats", None)
        before = st.visited if st is not None else 0
        out = fn()
        self.counts["tree_nodes"] += (st.visited - before) if st is not None else 1
        return out

    def tree_walk(self, tree, index):
        self.counts["tree_walks"] += 1
        if getattr(tree, "kind", None) == "index":
            self.counts["tree_nodes"] += 1
            return tree.lookup(index)
        return self._visited(tree, lambda: tree.walk(index)[0])

    def tree_load(self, tree, index):
        self.counts["tree_walks"] += 1
        if getattr(tree, "kind", None) == "index":
            self.counts["tree_nodes"] += 1
            from .world import zero_like
            entry = tree.lookup(index)
            return None if zero_like(entry) else entry
        return self._visited(tree, lambda: tree.load(index))

    def tree_store_range(self, tree, first, last, entry):
        self.counts["tree_stores"] += 1
        if getattr(tree, "kind", None) == "index":
            ranges = [r for r in tree.fields["map"] if r[1] < first or r[0] > last]
            if entry is not None:
                ranges.append((first, last, entry))
            tree.fields["map"] = tuple(sorted(ranges, key=lambda r: r[0]))
            return None
        return tree.store_range(first, last, entry)

    def tree_erase(self, tree, index):
        self.counts["tree_stores"] += 1
        if getattr(tree, "kind", None) == "index":
            for r in tree.fields["map"]:
                if r[0] <= index <= r[1]:
                    tree.fields["map"] = tuple(x for x in tree.fields["map"] if x is not r)
                    return r[2]
            return None
        return tree.erase(index)

    def event(self, name):
        self.counts[name] += 1

    def note(self, text):
        pass

    def check(self, cond, message):
        if not cond:
            raise AssertionError(message)
