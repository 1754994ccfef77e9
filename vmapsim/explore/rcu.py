"""RCU and object-lifetime model used by the interleaving explorer.

This module is the *semantics* of the shared world a scenario runs in, kept free of
scheduling so it can be read (and stepped by hand) on its own:

* :class:`RcuModel` -- per-thread read-side nesting, one identifier per outermost
  critical section, grace periods that wait **only** for the sections open when they
  start (the "Fundamental Law", Documentation/RCU/whatisRCU.rst), ``call_rcu``
  callbacks that become runnable once their grace period has ended, and
  ``synchronize_rcu`` as a grace period its caller blocks on.
* :class:`Heap` -- objects with named fields; ``kfree`` poisons an object at once and
  any later access is reported KASAN style (freeing event and accessing event);
  ``SLAB_TYPESAFE_BY_RCU`` caches hand a freed object back on the next allocation with
  its generation bumped, so an identity bug is an ABA, not a use-after-free
  (include/linux/slab.h, the SLAB_TYPESAFE_BY_RCU comment).

Deliberate differences from the kernel:

* Grace periods are not numbered or ordered: a later grace period with a smaller wait
  set may end first.  The RCU API promises only that a grace period outlasts the
  readers that were running when it started, so the model is the permissive reading.
* A type-safe cache never returns its slab pages, so its objects stay accessible for
  ever; the kernel may free the page after a grace period once the slab is empty.
  Scenarios only touch type-safe objects inside read-side sections, where both agree.
* ``broken_gp=True`` makes every grace period end at once.  It exists only to prove
  the checker catches what it claims to (the E2-rcu / F1-cow self-test).
"""
from __future__ import annotations

import itertools

__all__ = ["Obj", "Violation", "GracePeriod", "RcuModel", "Heap", "LIVE", "FREED", "TFREE",
           "XA_ZERO"]

LIVE, FREED, TFREE = "live", "freed", "free(typesafe)"


class Violation(Exception):
    """A safety property failed in the current execution.

    ``kind`` is one of ``use-after-free``, ``null-deref``, ``zero-entry-deref``,
    ``assertion``, ``deadlock``, ``lock-held-at-exit``, ``rcu-held-at-exit``,
    ``sleep-in-rcu``, ``double-free``, ``bad-unlock``; ``message`` is the one-line
    report, ``events`` the step indices involved (for highlighting).
    """

    def __init__(self, kind: str, message: str, events=()):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.events = kind, message, tuple(events)


class _ZeroEntry:
    """Stand-in for the maple tree's ``XA_ZERO_ENTRY`` when no tree module provides one."""

    name = "XA_ZERO_ENTRY"

    def __repr__(self):
        return "XA_ZERO_ENTRY"


XA_ZERO = _ZeroEntry()


class Obj:
    """A heap object: a name, named fields, a lifetime state and a generation.

    ``state`` is ``live``, ``freed`` (poisoned: any access is a use-after-free) or
    ``free(typesafe)`` (back in a SLAB_TYPESAFE_BY_RCU cache: readable, not reported).
    ``gen`` counts reuses through a type-safe cache or a pool.
    """

    __slots__ = ("name", "fields", "state", "gen", "cache", "freed_by", "kind")

    def __init__(self, name: str, fields: dict | None = None, cache=None, kind: str = ""):
        self.name = name
        self.fields = dict(fields or {})
        self.state = LIVE
        self.gen = 0
        self.cache = cache
        self.freed_by = None        # (step, thread, how) of the free that poisoned it
        self.kind = kind

    def __repr__(self):
        return self.name if not self.gen else f"{self.name}@{self.gen}"

    def label(self) -> str:
        """State as shown in traces: ``live``, ``freed``, ``reused@gen``..."""
        if self.state == LIVE and self.gen:
            return f"live@gen{self.gen}"
        return self.state


class GracePeriod:
    """One grace period: the read-side sections it waits for, and what it is for.

    ``kind`` is ``"sync"`` (a ``synchronize_rcu`` caller blocks on it) or ``"cb"``
    (a ``call_rcu`` callback runs after it).  ``waits`` shrinks as those sections end;
    sections opened after the grace period started are never added.
    """

    __slots__ = ("id", "waits", "kind", "tid", "step", "what")

    def __init__(self, gid, waits, kind, tid, step, what):
        self.id, self.waits, self.kind, self.tid, self.step, self.what = gid, waits, kind, tid, step, what

    @property
    def done(self) -> bool:
        return not self.waits

    def as_dict(self, names) -> dict:
        return {"id": self.id, "kind": self.kind, "by": names(self.tid), "step": self.step,
                "what": self.what, "waits": sorted(self.waits), "done": self.done}


class RcuModel:
    """Read-side sections, grace periods and the callback queue.

    Threads are small integers; section ids are allocated in order (``cs1``, ``cs2``...).
    """

    def __init__(self, broken_gp: bool = False):
        self.broken_gp = broken_gp
        self.depth: dict[int, int] = {}
        self.section: dict[int, int] = {}     # tid -> id of its open outermost section
        self._cs_ids = itertools.count(1)
        self._gp_ids = itertools.count(1)
        self.gps: list[GracePeriod] = []      # not yet retired (sync GPs until waited, cb GPs until run)
        self.callbacks: list[tuple] = []      # (gp, payload, origin step) in call order

    # -- read side ---------------------------------------------------------------------
    def read_lock(self, tid: int) -> int | None:
        """Enter (or nest) a read-side section; returns the new section id if outermost."""
        d = self.depth.get(tid, 0)
        self.depth[tid] = d + 1
        if d == 0:
            cs = next(self._cs_ids)
            self.section[tid] = cs
            return cs
        return None

    def read_unlock(self, tid: int) -> list[GracePeriod]:
        """Leave a section; returns the grace periods this unlock completed."""
        d = self.depth.get(tid, 0)
        if d <= 0:
            raise Violation("bad-unlock", "rcu_read_unlock() without rcu_read_lock()")
        self.depth[tid] = d - 1
        if d > 1:
            return []
        cs = self.section.pop(tid)
        ended = []
        for gp in self.gps:
            if cs in gp.waits:
                gp.waits.discard(cs)
                if not gp.waits:
                    ended.append(gp)
        return ended

    def in_section(self, tid: int) -> bool:
        return self.depth.get(tid, 0) > 0

    def open_sections(self) -> dict[int, int]:
        return dict(self.section)

    # -- update side -------------------------------------------------------------------
    def start_gp(self, kind: str, tid: int, step: int, what: str = "") -> GracePeriod:
        waits = set() if self.broken_gp else set(self.section.values())
        gp = GracePeriod(next(self._gp_ids), waits, kind, tid, step, what)
        self.gps.append(gp)
        return gp

    def call_rcu(self, tid: int, step: int, payload, what: str = "") -> GracePeriod:
        gp = self.start_gp("cb", tid, step, what)
        self.callbacks.append((gp, payload, step))
        return gp

    def retire(self, gp: GracePeriod) -> None:
        if gp in self.gps:
            self.gps.remove(gp)

    def ready_callback(self):
        """The oldest queued callback whose grace period has ended, or None."""
        for item in self.callbacks:
            if item[0].done:
                return item
        return None

    def pop_callback(self, item) -> None:
        self.callbacks.remove(item)
        self.retire(item[0])

    def validate(self) -> None:
        """Assert the model's invariants (AssertionError names the broken one)."""
        for t, d in self.depth.items():
            assert d >= 0, f"negative nesting depth for thread {t}"
            assert (d > 0) == (t in self.section), f"thread {t}: depth {d} but section map disagrees"
        open_ids = set(self.section.values())
        assert len(open_ids) == len(self.section), "two threads share a section id"
        ids = [gp.id for gp in self.gps]
        assert len(ids) == len(set(ids)), "duplicate grace period id"
        for gp in self.gps:
            assert gp.waits <= open_ids, f"GP#{gp.id} waits for a section that already ended"
            if self.broken_gp:
                assert not gp.waits, "broken_gp model has a waiting grace period"
        for gp, _, _ in self.callbacks:
            assert gp in self.gps, f"callback of GP#{gp.id} lost its grace period"


class Heap:
    """Named objects with KASAN-style poisoning and type-safe caches.

    ``alloc`` names objects ``<kind><n>`` unless a name is given; names are
    deterministic for a given schedule, which is what replay needs.
    """

    def __init__(self):
        self.objects: dict[str, Obj] = {}
        self._counts: dict[str, int] = {}
        self.caches: dict[str, list[Obj]] = {}      # typesafe cache name -> LIFO free list

    def new(self, name: str | None, kind: str, fields: dict, cache: str | None = None) -> Obj:
        if name is None:
            n = self._counts.get(kind, 0) + 1
            self._counts[kind] = n
            name = f"{kind}{n}"
        while name in self.objects:
            name += "'"
        obj = Obj(name, fields, cache=cache, kind=kind)
        self.objects[name] = obj
        return obj

    def typesafe_cache(self, name: str) -> None:
        self.caches.setdefault(name, [])

    def cache_alloc(self, cache: str, kind: str, fields: dict, name: str | None = None) -> Obj:
        """kmem_cache_alloc from a SLAB_TYPESAFE_BY_RCU cache: reuse the last freed object.

        A reused object keeps its old contents (there is no constructor): the caller must
        write every field it relies on, and readers may see the old values until it does.
        ``fields`` only fills fields the object does not have yet.
        """
        free = self.caches[cache]
        if free:
            obj = free.pop()
            obj.state = LIVE
            obj.gen += 1
            obj.freed_by = None
            for k, v in fields.items():
                obj.fields.setdefault(k, v)
            return obj
        return self.new(name, kind, fields, cache=cache)

    def free(self, obj: Obj, how: tuple) -> None:
        """kfree / kmem_cache_free.  ``how`` = (step, thread name, description)."""
        if obj.state != LIVE:
            raise Violation("double-free", f"{obj!r} freed again by {how[1]} at step {how[0]}; "
                            f"already freed at step {obj.freed_by[0]} by {obj.freed_by[1]}",
                            events=(obj.freed_by[0], how[0]))
        obj.freed_by = how
        if obj.cache is not None and obj.cache in self.caches:
            obj.state = TFREE
            self.caches[obj.cache].append(obj)
        else:
            obj.state = FREED

    def reuse(self, obj: Obj) -> None:
        """Hand an object to a new role without freeing it (vmalloc's per-node pools)."""
        obj.gen += 1
