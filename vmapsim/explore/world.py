"""The shared world a scenario runs in: how each :class:`~vmapsim.explore.ops.Op` executes.

One ``World`` exists per execution.  It owns the heap and the RCU model
(:mod:`vmapsim.explore.rcu`), a ``G`` object whose fields are the globals, and the semantics of
the op vocabulary: memory, allocation and freeing, RCU, spinlocks (a blocked
``spin_lock`` is simply not enabled, so no spinning is modelled), refcounts, seqcounts
(``read_seqcount_begin`` waits while the count is odd), ``wait_eq`` (rcuwait-style
waiting for a field to reach a value) and a simple range index (the "slot model" of a
tree: one op per lookup or update).

Every access to an object checks it first: NULL, ``XA_ZERO_ENTRY`` and poisoned objects
raise :class:`~vmapsim.explore.rcu.Violation` naming both the access and the free (KASAN style).
"""
from __future__ import annotations

from .ops import Op
from .rcu import FREED, XA_ZERO, Heap, Obj, RcuModel, Violation

__all__ = ["World", "Block", "RangeIndex", "ZERO_ENTRIES"]


class Block:
    """Returned by an op that continues as another op (``synchronize_rcu`` starts a grace
    period, then waits for it); the thread's pending op becomes ``next_op``."""

    __slots__ = ("next_op", "result")

    def __init__(self, next_op: Op, result=None):
        self.next_op, self.result = next_op, result


class RangeIndex(Obj):
    """A range index with one atomic op per lookup/update (the "slot model" of a tree).

    Field ``map`` is a tuple of ``(first, last, entry)`` sorted by ``first``.  Use the real
    :class:`vmapsim.maple.MapleTree` when the tree's own interleavings matter.
    """

    __slots__ = ()

    def __init__(self, name: str, ranges=()):
        super().__init__(name, {"map": tuple(sorted(ranges, key=lambda r: r[0]))}, kind="index")

    def lookup(self, addr):
        for first, last, entry in self.fields["map"]:
            if first <= addr <= last:
                return entry
        return None


#: values that stand for the maple tree's XA_ZERO_ENTRY (the maple module's own is added
#: by :mod:`vmapsim.explore.maple_hook` when it is importable)
ZERO_ENTRIES = [XA_ZERO]


def zero_like(v) -> bool:
    for z in ZERO_ENTRIES:
        if v is z:
            return True
    return False


class World:
    """Shared state plus op semantics for one execution.

    ``names[tid]`` are the thread names; the last tid is the ``CB`` pseudo-thread.
    Scenarios may keep ghost state in ``ghost`` (a dict) from their setup and checks.
    """

    def __init__(self, names, broken_gp: bool = False):
        self.names = list(names)
        self.cb_tid = len(self.names) - 1
        self.heap = Heap()
        self.rcu = RcuModel(broken_gp=broken_gp)
        self.G = Obj("G", {}, kind="globals")
        self.step = 0
        self.notes: list[str] = []
        self.obs: dict = {}
        self.counters: dict = {}
        self.monitors: list = []
        self.ghost: dict = {}
        self.held: dict[int, list] = {}
        self.foreign: dict[int, Obj] = {}      # id(foreign object) -> shadow Obj (maple nodes)
        self.walked: dict[int, tuple] = {}     # tid -> (entry, its generation) at its last walk
        self.tid: int | None = None            # thread whose step is running (None in setup)
        self.snapshot_extra: dict = {}         # name -> callable adding to snapshots
        self.fingerprint_extra: list = []      # callables adding to state fingerprints

    # -- helpers --------------------------------------------------------------------------
    def obj(self, name: str, kind: str = "", cache: str | None = None, **fields) -> Obj:
        """Create an initial object during setup (not a step)."""
        return self.heap.new(name, kind or name.rstrip("0123456789"), fields, cache=cache)

    def index(self, name: str, ranges=()) -> RangeIndex:
        ix = RangeIndex(name, ranges)
        self.heap.objects[name] = ix
        return ix

    def note(self, text: str) -> None:
        self.notes.append(text)

    def event(self, tid: int, name: str) -> None:
        key = (tid, name)
        self.counters[key] = self.counters.get(key, 0) + 1
        for m in self.monitors:
            m(self, tid, name, self.counters[key])

    def count(self, name: str, tid: int | None = None) -> int:
        if tid is not None:
            return self.counters.get((tid, name), 0)
        return sum(v for (t, n), v in self.counters.items() if n == name)

    def touch(self, tid: int, obj, what: str) -> None:
        """Check an access to ``obj``: NULL, zero entry and poisoned memory are violations."""
        if obj is None:
            raise Violation("null-deref", f"{self.names[tid]} {what} through a NULL pointer "
                            f"at step {self.step}", events=(self.step,))
        if type(obj) is not Obj and type(obj) is not RangeIndex:
            if zero_like(obj):
                raise Violation("zero-entry-deref", f"{self.names[tid]} {what} of XA_ZERO_ENTRY at "
                                f"step {self.step} (a reserved range, not an object)",
                                events=(self.step,))
            obj = self.foreign.get(id(obj))
            if obj is None:
                return
        if obj.state is FREED:
            fstep, fby, fhow = obj.freed_by
            raise Violation("use-after-free",
                            f"{self.names[tid]} {what} at step {self.step}; {obj.name} was freed at "
                            f"step {fstep} by {fby}" + (f" ({fhow})" if fhow else ""),
                            events=(fstep, self.step))

    # -- scheduling interface -------------------------------------------------------------
    def enabled(self, tid: int, op: Op) -> bool:
        k = op.kind
        if k == "spin_lock":
            o = op.obj
            return o is None or o.state is FREED or o.fields[op.field] is None
        if k == "sync_wait":
            return op.val.done
        if k == "seq_begin":
            o = op.obj
            return o is None or o.state is FREED or o.fields[op.field] % 2 == 0
        if k == "wait_eq":
            o = op.obj
            return o is None or o.state is FREED or o.fields[op.field] == op.val
        return True

    def execute(self, tid: int, op: Op):
        return _EXEC[op.kind](self, tid, op)

    def cb_op(self) -> Op | None:
        """The CB pseudo-thread's next op: run the oldest callback whose grace period ended."""
        item = self.rcu.ready_callback()
        if item is None:
            return None
        gp, payload, origin = item
        return Op("cb", payload.obj, None, payload,
                  text=f"callback of GP#{gp.id}: {payload.describe()} "
                       f"(call_rcu by {self.names[gp.tid]} at step {origin})")

    def fingerprint(self) -> tuple:
        """Hashable summary of the whole shared state (for state caching in the search)."""
        return _fingerprint(self)

    def thread_exit(self, tid: int) -> None:
        if self.held.get(tid):
            o, f = self.held[tid][0]
            raise Violation("lock-held-at-exit", f"{self.names[tid]} finished holding {o.name}.{f}",
                            events=(self.step,))
        if self.rcu.in_section(tid):
            raise Violation("rcu-held-at-exit", f"{self.names[tid]} finished inside an RCU "
                            "read-side critical section", events=(self.step,))

    # -- memory ---------------------------------------------------------------------------
    def _op_load(self, tid, op):
        return self.G.fields.get(op.field)

    def _op_store(self, tid, op):
        self.G.fields[op.field] = op.val

    def _op_read(self, tid, op):
        self.touch(tid, op.obj, f"reads {_name(op.obj)}.{op.field}")
        return op.obj.fields[op.field]

    def _op_write(self, tid, op):
        self.touch(tid, op.obj, f"writes {_name(op.obj)}.{op.field}")
        op.obj.fields[op.field] = op.val

    def _op_alloc(self, tid, op):
        kind, fields, name = op.val
        if op.obj is not None:
            obj = self.heap.cache_alloc(op.obj, kind, fields, name)
            if obj.gen:
                self.note(f"{obj.name} reused from type-safe cache {op.obj} (generation {obj.gen})")
            return obj
        return self.heap.new(name, kind, fields)

    def _op_kfree(self, tid, op):
        o = op.obj
        self.touch(tid, o, f"frees {getattr(o, 'name', 'NULL')}")
        how = op.text if tid != self.cb_tid else None
        self.heap.free(o, (self.step, self.names[tid], self._free_how(tid, how)))
        self.note(f"{o.name} freed" + (" (type-safe: stays readable)" if o.state != FREED else ""))

    def _free_how(self, tid, how):
        if tid == self.cb_tid and self._cb_origin is not None:
            gp, origin = self._cb_origin
            return f"RCU callback; call_rcu by {self.names[gp.tid]} at step {origin}"
        return "kfree" if how is None else how

    _cb_origin = None

    def _op_reuse(self, tid, op):
        self.touch(tid, op.obj, f"recycles {op.obj.name}")
        self.heap.reuse(op.obj)
        self.note(f"{op.obj.name} handed to a new owner without a grace period "
                  f"(generation {op.obj.gen})")

    # -- RCU --------------------------------------------------------------------------------
    def _op_rcu_lock(self, tid, op):
        cs = self.rcu.read_lock(tid)
        if cs is not None:
            self.note(f"cs{cs} opened")

    def _op_rcu_unlock(self, tid, op):
        cs = self.rcu.section.get(tid)
        for gp in self.rcu.read_unlock(tid):
            self.note(f"GP#{gp.id} ended (last reader cs{cs} left)")

    def _op_call_rcu(self, tid, op):
        o = op.obj
        self.touch(tid, o, f"queues call_rcu on {getattr(o, 'name', 'NULL')}")
        payload = op.val if op.val is not None else Op("kfree", o)
        gp = self.rcu.call_rcu(tid, self.step, payload, what=payload.describe())
        self.note(f"GP#{gp.id} started for call_rcu({o.name}): waits for "
                  + (", ".join(f"cs{c}" for c in sorted(gp.waits)) or "nobody"))

    def _op_sync_start(self, tid, op):
        if self.rcu.in_section(tid):
            raise Violation("sleep-in-rcu", f"{self.names[tid]} calls synchronize_rcu() inside its "
                            "own read-side critical section (would never return)",
                            events=(self.step,))
        gp = self.rcu.start_gp("sync", tid, self.step, "synchronize_rcu")
        self.note(f"GP#{gp.id} started for synchronize_rcu: waits for "
                  + (", ".join(f"cs{c}" for c in sorted(gp.waits)) or "nobody"))
        return Block(Op("sync_wait", None, None, gp, text=f"synchronize_rcu: wait for GP#{gp.id}"))

    def _op_sync_wait(self, tid, op):
        self.rcu.retire(op.val)

    def _op_cb(self, tid, op):
        item = self.rcu.ready_callback()
        gp, payload, origin = item
        self._cb_origin = (gp, origin)
        try:
            self.execute(tid, payload)
        finally:
            self._cb_origin = None
        self.rcu.pop_callback(item)

    # -- locks ----------------------------------------------------------------------------
    def _op_spin_lock(self, tid, op):
        o = op.obj
        self.touch(tid, o, f"locks {getattr(o, 'name', 'NULL')}.{op.field}")
        o.fields[op.field] = tid
        self.held.setdefault(tid, []).append((o, op.field))

    def _op_spin_trylock(self, tid, op):
        o = op.obj
        self.touch(tid, o, f"trylocks {getattr(o, 'name', 'NULL')}.{op.field}")
        if o.fields[op.field] is not None:
            return False
        o.fields[op.field] = tid
        self.held.setdefault(tid, []).append((o, op.field))
        return True

    def _op_spin_unlock(self, tid, op):
        o = op.obj
        self.touch(tid, o, f"unlocks {getattr(o, 'name', 'NULL')}.{op.field}")
        if o.fields[op.field] != tid:
            raise Violation("bad-unlock", f"{self.names[tid]} unlocks {o.name}.{op.field} held by "
                            f"{self._holder(o.fields[op.field])}", events=(self.step,))
        o.fields[op.field] = None
        self.held[tid].remove((o, op.field))

    def _holder(self, v):
        return "nobody" if v is None else self.names[v]

    # -- refcount / seqcount / waiting -------------------------------------------------------
    def _op_ref_inc_nz(self, tid, op):
        o = op.obj
        self.touch(tid, o, f"refcount_inc_not_zero({getattr(o, 'name', 'NULL')})")
        if o.fields[op.field] == 0:
            return False
        o.fields[op.field] += 1
        return True

    def _op_ref_dec_test(self, tid, op):
        o = op.obj
        self.touch(tid, o, f"refcount_dec_and_test({getattr(o, 'name', 'NULL')})")
        if o.fields[op.field] <= 0:
            raise Violation("assertion", f"refcount underflow on {o.name}", events=(self.step,))
        o.fields[op.field] -= 1
        return o.fields[op.field] == 0

    def _op_ref_set(self, tid, op):
        self.touch(tid, op.obj, f"refcount_set({getattr(op.obj, 'name', 'NULL')})")
        op.obj.fields[op.field] = op.val

    def _op_seq_begin(self, tid, op):
        self.touch(tid, op.obj, "read_seqcount_begin")
        return op.obj.fields[op.field]

    def _op_seq_retry(self, tid, op):
        self.touch(tid, op.obj, "read_seqcount_retry")
        return op.obj.fields[op.field] != op.val

    def _op_seq_wbegin(self, tid, op):
        self.touch(tid, op.obj, "write_seqcount_begin")
        op.obj.fields[op.field] += 1

    _op_seq_wend = _op_seq_wbegin

    def _op_wait_eq(self, tid, op):
        if self.rcu.in_section(tid):
            raise Violation("sleep-in-rcu", f"{self.names[tid]} sleeps waiting for "
                            f"{_name(op.obj)}.{op.field} inside an RCU read-side critical section",
                            events=(self.step,))
        self.touch(tid, op.obj, f"waits on {_name(op.obj)}.{op.field}")
        return op.obj.fields[op.field]

    def _op_relax(self, tid, op):
        return None

    def _op_nop(self, tid, op):
        return op.val

    def _op_mem(self, tid, op):
        """A maple-tree access: check the node; the access itself runs right after this
        step resumes the thread.  For a load the result is what it will read (the code
        reads memory itself; the result makes it part of the thread's history)."""
        kind, peek = op.val
        self.touch(tid, op.obj, ("reads " if kind == "load" else "writes ")
                   + f"{op.obj.name}.{op.field}")
        return peek() if kind == "load" else None

    # -- slot-model index -----------------------------------------------------------------
    def record_walk(self, tid: int, entry) -> None:
        """Remember which incarnation of an object a thread's walk returned (ghost state
        for identity properties)."""
        if type(entry) is Obj:
            self.walked[tid] = (entry, entry.gen)

    def _op_ix_load(self, tid, op):
        self.touch(tid, op.obj, "walks the index")
        entry = op.obj.lookup(op.field)
        entry = None if zero_like(entry) else entry
        self.record_walk(tid, entry)
        return entry

    def _op_ix_walk(self, tid, op):
        self.touch(tid, op.obj, "walks the index")
        entry = op.obj.lookup(op.field)
        self.record_walk(tid, entry)
        return entry

    def _op_ix_store(self, tid, op):
        first, last, entry = op.val
        ranges = [r for r in op.obj.fields["map"] if r[1] < first or r[0] > last]
        if entry is not None:
            ranges.append((first, last, entry))
        op.obj.fields["map"] = tuple(sorted(ranges, key=lambda r: r[0]))

    def _op_ix_erase(self, tid, op):
        for r in op.obj.fields["map"]:
            if r[0] <= op.field <= r[1]:
                op.obj.fields["map"] = tuple(x for x in op.obj.fields["map"] if x is not r)
                return r[2]
        return None

    def _op_atomic(self, tid, op):
        return op.val(self)

    # -- trace support ----------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Open sections, grace periods, pending callbacks, object states and held locks."""
        names = self.names.__getitem__
        rcu = self.rcu
        return {
            "rcu": {
                "open": {names(t): f"cs{c}" for t, c in sorted(rcu.section.items())},
                "gps": [gp.as_dict(names) for gp in rcu.gps],
                "pending_cb": [f"GP#{gp.id}: {p.describe()}" for gp, p, _ in rcu.callbacks],
            },
            "objects": {o.name: _label(o) for o in self.heap.objects.values()
                        if o.kind not in ("index", "globals")},
            "locks": {f"{o.name}.{f}": names(t) for t, lst in sorted(self.held.items())
                      for o, f in lst},
            **({"trees": {k: fn() for k, fn in self.snapshot_extra.items()}}
               if self.snapshot_extra else {}),
        }


def encode_value(v, foreign):
    """A hashable, execution-independent encoding of a value (objects by name)."""
    t = type(v)
    if v is None or t is int or t is str or t is bool:
        return v
    if t is Obj or t is RangeIndex:
        return ("@", v.name)
    if t is tuple or t is list:
        return tuple(encode_value(x, foreign) for x in v)
    if t is dict:
        return tuple(sorted((k, encode_value(x, foreign)) for k, x in v.items()))
    sh = foreign.get(id(v))
    if sh is not None:
        return ("@", sh.name)
    if zero_like(v):
        return "XA_ZERO_ENTRY"
    if t is float:
        return v
    # unknown (e.g. a maple node never seen by the access layer): never equal to anything,
    # so a state containing it is never merged with another one
    return _Unique()


class _Unique:
    __slots__ = ()


def _fingerprint(w) -> tuple:
    foreign = w.foreign
    objs = []
    for o in w.heap.objects.values():
        fields = o.fields
        node = fields.get("_node") if o.kind == "maple_node" else None
        if node is not None:
            body = (tuple(encode_value(x, foreign) for x in node.pivots),
                    tuple(encode_value(x, foreign) for x in node.slots), node.end, node.parent is node)
        else:
            body = tuple(sorted((k, encode_value(x, foreign)) for k, x in fields.items()))
        objs.append((o.name, o.state, o.gen, body))
    rcu = w.rcu
    cs_tid = {c: t for t, c in rcu.section.items()}
    gps = tuple((gp.kind, gp.tid, tuple(sorted(cs_tid[c] for c in gp.waits))) for gp in rcu.gps)
    cbs = tuple((rcu.gps.index(gp), p.kind, encode_value(p.obj, foreign)) for gp, p, _ in rcu.callbacks)
    return (tuple(objs), tuple(sorted((k, encode_value(x, foreign)) for k, x in w.G.fields.items())),
            tuple(sorted(rcu.depth.items())), gps, cbs,
            tuple(sorted((k, encode_value(x, foreign)) for k, x in w.obs.items())),
            tuple(sorted(w.counters.items())),
            tuple(sorted((t, encode_value(e, foreign), g) for t, (e, g) in w.walked.items())),
            tuple(sorted((t, tuple((o.name, f) for o, f in lst)) for t, lst in w.held.items())),
            tuple(fn() for fn in w.fingerprint_extra),
            tuple(sorted(w.heap._counts.items())),
            tuple((c, tuple(o.name for o in lst)) for c, lst in sorted(w.heap.caches.items())),
            tuple(sorted((k, encode_value(x, foreign)) for k, x in w.ghost.items())))


def _name(o) -> str:
    return "NULL" if o is None else getattr(o, "name", None) or repr(o)


def _label(o) -> str:
    lab = o.label()
    node = o.fields.get("_node") if o.kind == "maple_node" else None
    if node is not None and getattr(node, "parent", None) is node:
        lab += " (dead)"
    return lab


_EXEC = {k[4:]: v for k, v in vars(World).items() if k.startswith("_op_")}
