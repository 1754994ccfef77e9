"""Op records: what a scenario thread yields at every shared-memory operation.

A thread is a generator; each ``yield`` hands the explorer one :class:`Op` and receives
its result.  Code between two yields touches only thread-local state, so the scheduling
granularity is exactly the shared operations.  Ops are built by the thread's context
(:mod:`vmapsim.explore.ctx`), executed by :class:`vmapsim.explore.world.World`.

Every op carries a *footprint*: the shared resources it reads or writes.  Two ops of
different threads are **dependent** when their footprints overlap with at least one
write; the sleep-set search swaps only independent ops.  Resources are

* ``(obj, field)`` -- one field of one object (globals are fields of the ``G`` object);
* ``(obj, None)`` -- the whole object (allocation, free, poisoning);
* ``RCU`` -- the read-side state: ``rcu_read_lock``/``unlock`` *read* it (so readers
  commute with each other), starting a grace period, waiting for one and running a
  callback *write* it;
* ``ALL`` -- dependent with everything (``cpu_relax`` under fair scheduling, whose
  effect on eligibility involves every thread).
"""
from __future__ import annotations

__all__ = ["Op", "RCU", "ALL", "dependent", "KINDS"]


class _Res:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


RCU = _Res("RCU")
ALL = _Res("ALL")


class Op:
    """One shared operation.  ``kind`` names it; ``obj``/``field``/``val`` are its operands.

    ``text`` is an optional human label shown in traces (e.g. ``"READ_ONCE(p->va_start)"``).
    """

    __slots__ = ("kind", "obj", "field", "val", "fp", "text")

    def __init__(self, kind: str, obj=None, field=None, val=None, text: str | None = None):
        self.kind, self.obj, self.field, self.val, self.text = kind, obj, field, val, text
        self.fp = _FOOTPRINT[kind](self)

    def describe(self) -> str:
        if self.text:
            return self.text
        k, o, f = self.kind, self.obj, self.field
        name = getattr(o, "name", repr(o))
        if k in ("load", "store"):
            return f"{k} {f}" + (f" = {short_repr(self.val)}" if k == "store" else "")
        if k in ("read", "write"):
            return f"{k} {name}.{f}" + (f" = {short_repr(self.val)}" if k == "write" else "")
        if k in ("spin_lock", "spin_trylock", "spin_unlock", "ref_inc_nz", "ref_dec_test",
                 "seq_begin", "seq_wbegin", "seq_wend", "wait_eq", "ref_set", "seq_retry"):
            tail = f", {short_repr(self.val)}" if self.val is not None else ""
            return f"{k}({name}.{f}{tail})"
        if k in ("kfree", "call_rcu", "cb", "reuse"):
            return f"{k}({name})"
        if k == "alloc":
            return f"alloc {self.val[0]}"
        if k == "ix_store":
            first, last, entry = self.val
            return f"store {name}[{short_repr(first)}..{short_repr(last)}] = {short_repr(entry)}"
        if k.startswith("ix_"):
            return f"{k[3:]} {name}[{short_repr(self.field)}]"
        return k

    def __repr__(self):
        return f"<Op {self.describe()}>"


def short_repr(v) -> str:
    if v is None:
        return "NULL"
    if type(v) is int and v >= 0x1000:
        return hex(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(short_repr(x) for x in v) + ")"
    return getattr(v, "name", None) or repr(v)


def _r(op):
    return (((op.obj, op.field), False),)


def _w(op):
    return (((op.obj, op.field), True),)


def _whole(op):
    return (((op.obj, None), True),)


_RCU_R = ((RCU, False),)
_RCU_W = ((RCU, True),)

_FOOTPRINT = {
    "load": _r, "store": _w, "read": _r, "write": _w,
    "alloc": lambda op: (((op.obj, "freelist"), True),) if op.obj is not None else (),
    "kfree": _whole, "reuse": _whole,
    "call_rcu": lambda op: _RCU_W,
    "sync_start": lambda op: _RCU_W, "sync_wait": lambda op: _RCU_W,
    "cb": lambda op: _RCU_W + (op.val.fp if op.val is not None else ()),
    "rcu_lock": lambda op: _RCU_R, "rcu_unlock": lambda op: _RCU_R,
    "spin_lock": _w, "spin_trylock": _w, "spin_unlock": _w,
    "ref_inc_nz": _w, "ref_dec_test": _w, "ref_set": _w,
    "seq_begin": _r, "seq_retry": _r, "seq_wbegin": _w, "seq_wend": _w,
    "wait_eq": _r,
    "relax": lambda op: (),
    "relax_fair": lambda op: ((ALL, True),),
    "ix_load": lambda op: (((op.obj, "map"), False),),
    "ix_walk": lambda op: (((op.obj, "map"), False),),
    "ix_store": lambda op: (((op.obj, "map"), True),),
    "ix_erase": lambda op: (((op.obj, "map"), True),),
    "atomic": _whole,
    "mem": lambda op: (),          # maple-tree access: footprint set by explore_maple
    "nop": lambda op: (),
}

KINDS = frozenset(_FOOTPRINT)


def dependent(a: Op, b: Op) -> bool:
    """True when swapping ``a`` and ``b`` could change a result or enabledness."""
    for ka, wa in a.fp:
        for kb, wb in b.fp:
            if not (wa or wb):
                continue
            if ka is ALL or kb is ALL:
                return True
            if ka is RCU or kb is RCU:
                if ka is kb:
                    return True
                continue
            if ka[0] is kb[0] and (ka[1] is None or kb[1] is None or ka[1] == kb[1]):
                return True
    return False
