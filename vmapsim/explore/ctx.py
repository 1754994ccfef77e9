"""What a scenario thread sees: op constructors, checks, and the bridge to plain-call code.

A scenario thread is a generator ``def reader(ctx, s): ... p = yield ctx.load("slot")``.
``ctx`` (a :class:`ThreadCtx`) builds the ops; ``ctx.check``/``ctx.observe``/``ctx.note``
act at once (they are not steps).

Code written as plain calls -- the lookup protocols of :mod:`vmapsim.explore.lookup` and the maple
tree -- runs through :meth:`ThreadCtx.call`: ``v = yield from ctx.call(fn, *args)`` runs
``fn(env, *args)`` in a greenlet, and every operation ``fn`` performs on ``env`` (an
:class:`ExplorerEnv`, the explorer's implementation of the lookup context) is re-yielded as
an op, so it becomes a scheduling point like any other.
"""
from __future__ import annotations

import sys

from greenlet import getcurrent, greenlet

from .ops import Op
from .rcu import Violation

__all__ = ["ThreadCtx", "ExplorerEnv"]


class ThreadCtx:
    """Per-thread context handed to scenario generators.  Every method returning an
    :class:`Op` must be yielded; the yield evaluates to the op's result."""

    def __init__(self, world, tid: int):
        self.world, self.tid, self.name = world, tid, world.names[tid]
        self.env = ExplorerEnv(self)

    # -- memory -----------------------------------------------------------------------------
    def load(self, name: str, text=None) -> Op:
        """Read global ``name`` (``READ_ONCE``/``rcu_dereference`` alike: SC)."""
        return Op("load", self.world.G, name, text=text)

    def store(self, name: str, value, text=None) -> Op:
        return Op("store", self.world.G, name, value, text=text)

    def read(self, obj, field: str, text=None) -> Op:
        return Op("read", obj, field, text=text)

    def write(self, obj, field: str, value, text=None) -> Op:
        return Op("write", obj, field, value, text=text)

    # -- allocation -------------------------------------------------------------------------
    def alloc(self, kind: str, cache: str | None = None, name: str | None = None, **fields) -> Op:
        """kmalloc / kmem_cache_alloc; ``cache`` names a SLAB_TYPESAFE_BY_RCU cache."""
        return Op("alloc", sys.intern(cache) if cache else None, None, (kind, fields, name),
                  text=f"alloc {kind}" + (f" from {cache}" if cache else ""))

    def kfree(self, obj, text=None) -> Op:
        return Op("kfree", obj, text=text)

    kmem_cache_free = kfree

    def call_rcu(self, obj, callback: Op | None = None, text=None) -> Op:
        """Queue ``callback`` (default: ``kfree(obj)``) to run after a grace period."""
        return Op("call_rcu", obj, None, callback, text=text)

    def recycle(self, obj, text=None) -> Op:
        """Hand ``obj`` to a new role without any grace period (vmalloc's pools)."""
        return Op("reuse", obj, text=text)

    # -- RCU ----------------------------------------------------------------------------------
    def rcu_read_lock(self) -> Op:
        return Op("rcu_lock", text="rcu_read_lock()")

    def rcu_read_unlock(self) -> Op:
        return Op("rcu_unlock", text="rcu_read_unlock()")

    def synchronize_rcu(self) -> Op:
        return Op("sync_start", text="synchronize_rcu()")

    # -- locks, refcounts, seqcounts --------------------------------------------------------------
    def spin_lock(self, obj, field: str = "lock") -> Op:
        return Op("spin_lock", obj, field)

    def spin_trylock(self, obj, field: str = "lock") -> Op:
        return Op("spin_trylock", obj, field)

    def spin_unlock(self, obj, field: str = "lock") -> Op:
        return Op("spin_unlock", obj, field)

    def refcount_inc_not_zero(self, obj, field: str = "refcnt") -> Op:
        return Op("ref_inc_nz", obj, field)

    def refcount_dec_and_test(self, obj, field: str = "refcnt") -> Op:
        return Op("ref_dec_test", obj, field)

    def refcount_set(self, obj, value: int, field: str = "refcnt") -> Op:
        return Op("ref_set", obj, field, value)

    def read_seqcount_begin(self, obj, field: str = "seq") -> Op:
        return Op("seq_begin", obj, field)

    def read_seqcount_retry(self, obj, start: int, field: str = "seq") -> Op:
        return Op("seq_retry", obj, field, start)

    def write_seqcount_begin(self, obj, field: str = "seq") -> Op:
        return Op("seq_wbegin", obj, field)

    def write_seqcount_end(self, obj, field: str = "seq") -> Op:
        return Op("seq_wend", obj, field)

    def wait_until_eq(self, obj, field: str, value, text=None) -> Op:
        """Block until ``obj.field == value`` (rcuwait_wait_event, completion, join)."""
        return Op("wait_eq", obj, field, value, text=text)

    def cpu_relax(self) -> Op:
        return Op("relax", text="cpu_relax()")

    # -- range index (slot model) ------------------------------------------------------------
    def index_load(self, ix, addr: int) -> Op:
        return Op("ix_load", ix, addr)

    def index_store(self, ix, first: int, last: int, entry) -> Op:
        return Op("ix_store", ix, first, (first, last, entry))

    def index_erase(self, ix, addr: int) -> Op:
        return Op("ix_erase", ix, addr)

    def atomic(self, obj, fn, text: str) -> Op:
        """Run ``fn(world)`` as one step whose footprint is all of ``obj`` (a lock-protected
        tree operation, where no other thread can interleave anyway)."""
        return Op("atomic", obj, None, fn, text=text)

    # -- not steps ----------------------------------------------------------------------------
    def check(self, cond, message: str) -> None:
        """Assert a property now; failing raises a violation naming this thread."""
        if not cond:
            raise Violation("assertion", f"{self.name}: {message}", events=(self.world.step,))

    def observe(self, key, value) -> None:
        """Record an observation; the scenario's outcome function turns them into a string."""
        self.world.obs[key] = value

    def note(self, text: str) -> None:
        self.world.note(f"{self.name}: {text}")

    def event(self, name: str) -> None:
        self.world.event(self.tid, name)

    def call(self, fn, *args, **kwargs):
        """``yield from ctx.call(fn, *args)``: run ``fn(self.env, *args)`` with every env
        operation re-yielded as an op.  Returns ``fn``'s return value."""
        env = self.env
        parent = getcurrent()
        g = greenlet(lambda: fn(env, *args, **kwargs), parent=parent)
        g.vmapsim_thread = True
        saved = env._parent
        env._parent = parent
        try:
            out = g.switch()
            while not g.dead:
                res = yield out
                out = g.switch(res)
        finally:
            env._parent = saved
        return out


class ExplorerEnv:
    """The explorer's implementation of the lookup context (see :mod:`vmapsim.explore.lookup`).

    Each method is one shared operation: it switches out of the greenlet with an op and
    returns the op's result.  Only valid inside :meth:`ThreadCtx.call`.
    """

    explores = True

    def __init__(self, ctx: ThreadCtx):
        self.ctx = ctx
        self._parent = None

    def _do(self, op: Op):
        return self._parent.switch(op)

    # memory
    def read(self, obj, field, text=None):
        return self._do(Op("read", obj, field, text=text))

    def write(self, obj, field, value, text=None):
        return self._do(Op("write", obj, field, value, text=text))

    # RCU and lifetime
    def rcu_read_lock(self):
        return self._do(Op("rcu_lock", text="rcu_read_lock()"))

    def rcu_read_unlock(self):
        return self._do(Op("rcu_unlock", text="rcu_read_unlock()"))

    def synchronize_rcu(self):
        return self._do(Op("sync_start", text="synchronize_rcu()"))

    def call_rcu(self, obj, text=None):
        return self._do(Op("call_rcu", obj, text=text))

    def kfree(self, obj, text=None):
        return self._do(Op("kfree", obj, text=text))

    kmem_cache_free = kfree

    def recycle(self, obj, text=None):
        return self._do(Op("reuse", obj, text=text))

    def alloc(self, kind, cache=None, name=None, **fields):
        return self._do(self.ctx.alloc(kind, cache=cache, name=name, **fields))

    # locks
    def spin_lock(self, obj, field="lock"):
        return self._do(Op("spin_lock", obj, field))

    def spin_unlock(self, obj, field="lock"):
        return self._do(Op("spin_unlock", obj, field))

    def spin_trylock(self, obj, field="lock"):
        return self._do(Op("spin_trylock", obj, field))

    # refcount / seqcount / waiting
    def refcount_inc_not_zero(self, obj, field="refcnt"):
        return self._do(Op("ref_inc_nz", obj, field))

    def refcount_dec_and_test(self, obj, field="refcnt"):
        return self._do(Op("ref_dec_test", obj, field))

    def refcount_set(self, obj, value, field="refcnt"):
        return self._do(Op("ref_set", obj, field, value))

    def read_seqcount_begin(self, obj, field="seq"):
        return self._do(Op("seq_begin", obj, field))

    def read_seqcount_retry(self, obj, start, field="seq"):
        return self._do(Op("seq_retry", obj, field, start))

    def write_seqcount_begin(self, obj, field="seq"):
        return self._do(Op("seq_wbegin", obj, field))

    def write_seqcount_end(self, obj, field="seq"):
        return self._do(Op("seq_wend", obj, field))

    def wait_until_eq(self, obj, field, value, text=None):
        return self._do(Op("wait_eq", obj, field, value, text=text))

    def cpu_relax(self):
        return self._do(Op("relax", text="cpu_relax()"))

    # the index
    def tree_load(self, tree, index):
        if getattr(tree, "kind", None) == "index":
            return self._do(Op("ix_load", tree, index))
        from .maple_hook import maple_call
        return maple_call(self, tree, "load", index)

    def tree_walk(self, tree, index):
        if getattr(tree, "kind", None) == "index":
            return self._do(Op("ix_walk", tree, index))
        from .maple_hook import maple_call
        return maple_call(self, tree, "walk", index)

    def tree_store_range(self, tree, first, last, entry):
        if getattr(tree, "kind", None) == "index":
            return self._do(Op("ix_store", tree, first, (first, last, entry)))
        from .maple_hook import maple_call
        return maple_call(self, tree, "store_range", first, last, entry)

    def tree_erase(self, tree, index):
        if getattr(tree, "kind", None) == "index":
            return self._do(Op("ix_erase", tree, index))
        from .maple_hook import maple_call
        return maple_call(self, tree, "erase", index)

    # accounting and annotation (not steps)
    def event(self, name: str) -> None:
        self.ctx.event(name)

    def note(self, text: str) -> None:
        self.ctx.note(text)

    def check(self, cond, message: str) -> None:
        self.ctx.check(cond, message)
