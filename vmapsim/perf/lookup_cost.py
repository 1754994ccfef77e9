"""What a ``find_vmap_area()`` costs under each lookup protocol: the performance model's
interpreter of :mod:`vmapsim.explore.lookup`'s context.

The protocols (``spinlock``, ``rcu-readonce``, ``rcu-trylock-retry``, ``rcu-refcount``,
``seqcount``) are written once in :mod:`vmapsim.explore.lookup`, against an abstract context ``env``;
the explorer runs them with scheduling points, and this module runs the same code with a
context that turns every call into simulated cost (:class:`PerfEnv`):

* the tree walk is the design's real walk: the design's ``find_vmap_area()`` runs first and its
  record gives the nodes visited and the node lock guarding them (``vn[i].busy.lock``);
* ``spin_lock(vn, "busy_lock")`` ... ``spin_unlock`` becomes one queued-spinlock step whose hold
  is the work done in between (waiting behind writers, hand-off, coherence misses);
* a walk inside ``rcu_read_lock()`` takes no lock: ``rcu_read_ns`` plus the coherence misses on
  nodes the lock's last holder (a writer on another CPU) modified; after
  ``read_seqcount_begin`` the walk is also retried while a writer holds the node's lock;
* ``spin_trylock``/``refcount_inc_not_zero`` on the area cost one atomic on the area's line,
  last written by the CPU that allocated it; the matching unlock/``refcount_dec`` is local;
* the first ``read`` of an area's fields costs a line transfer from its owner's CPU.

Nothing here is concurrent: a trylock or ``refcount_inc_not_zero`` always succeeds and a
seqcount never changes between begin and retry, except for the seqcount's wait-for-writer
above.  Failed attempts and retries are the explorer's business, not priced.  With
any protocol other than ``spinlock``, index memory freed by writers goes through ``call_rcu``
(see :mod:`vmapsim.perf.pricing`), which is where the RCU backlog comes from.
"""
from __future__ import annotations

from ..explore.lookup import BUSY, make_protocol
from ..explore.lookup import PROTOCOLS as _ALL_PROTOCOLS
from ..params import check_choice
from .pricing import RCU_READ, SEQ_READ, SPIN, WORK

__all__ = ["PROTOCOLS", "LookupPricer", "PerfEnv"]

#: the protocols the model prices.  ``spinlock-6.18`` (6.18's ``find_vmap_area``, which drops
#: the busy lock before the caller reads the area) is the explorer's and is not priced yet:
#: the model's ``spinlock`` keeps the area's first reads inside the hold.
PROTOCOLS = tuple(p for p in _ALL_PROTOCOLS if p != "spinlock-6.18")

#: ns of one cpu_relax() (a PAUSE instruction, tens of cycles)
CPU_RELAX_NS = 10.0


class _Obj:
    """A ``vmap_node`` or ``vmap_area`` as the protocols see it (``fields`` dict)."""

    __slots__ = ("fields", "owner", "name")

    def __init__(self, name, fields, owner=-1):
        self.name, self.fields, self.owner = name, fields, owner


class _Tree:
    """The walk the design did: its result (an area object or None), cost and node lock."""

    __slots__ = ("va", "work_ns", "visited", "lid")

    def __init__(self, va, work_ns, visited, lid):
        self.va, self.work_ns, self.visited, self.lid = va, work_ns, visited, lid


class PerfEnv:
    """The cost-accounting context of one lookup on one CPU; appends steps to ``out``."""

    def __init__(self, pricer, rmw_of, cpu: int, out: list, events):
        self.pricer, self.rmw_of, self.cpu, self.out, self.events = pricer, rmw_of, cpu, out, events
        self.open = None               # [lid, work, visited] of the busy lock being held
        self.seq = False               # a read_seqcount_begin is pending
        self.read_objs = set()

    def _cost(self, ns: float) -> None:
        if self.open is not None:
            self.open[1] += ns
        else:
            self.out.append((WORK, ns))

    # RCU
    def rcu_read_lock(self):
        pass

    def rcu_read_unlock(self):
        pass

    def synchronize_rcu(self):
        raise NotImplementedError("synchronize_rcu is a writer-side call")

    # memory
    def read(self, obj, field, text=None):
        if obj.owner >= 0 and id(obj) not in self.read_objs:
            self.read_objs.add(id(obj))
            if obj.owner != self.cpu:
                self._cost(self.rmw_of(obj.owner, self.cpu, transfer=True))
        return obj.fields[field]

    def write(self, obj, field, value, text=None):
        obj.fields[field] = value

    # locks
    def spin_lock(self, obj, field):
        if field == "busy_lock" and self.open is None:
            self.open = [obj.fields["lid"], 0.0, 0]
        else:                                          # the area's own lock: one atomic
            self._cost(self.rmw_of(obj.owner, self.cpu))

    def spin_unlock(self, obj, field):
        if field == "busy_lock" and self.open is not None:
            lid, work, visited = self.open
            self.open = None
            self.out.append((SPIN, lid, work + self.pricer.lock_ns, 0, visited))
        else:
            self._cost(self.pricer.machine.rmw_ns[0])

    def spin_trylock(self, obj, field):
        self._cost(self.rmw_of(obj.owner, self.cpu))
        return True

    def refcount_inc_not_zero(self, obj, field):
        self._cost(self.rmw_of(obj.owner, self.cpu))
        obj.fields[field] += 1
        return True

    def refcount_dec_and_test(self, obj, field):
        self._cost(self.pricer.machine.rmw_ns[0])
        obj.fields[field] -= 1
        return obj.fields[field] == 0

    def refcount_set(self, obj, value, field):
        obj.fields[field] = value

    def read_seqcount_begin(self, obj, field):
        self.seq = True
        return 0

    def read_seqcount_retry(self, obj, start, field):
        return False

    def cpu_relax(self):
        self._cost(CPU_RELAX_NS)

    # the tree
    def tree_walk(self, tree, index):
        if self.open is not None and self.open[0] == tree.lid:
            self.open[1] += tree.work_ns
            self.open[2] += tree.visited
        else:
            kind = SEQ_READ if self.seq else RCU_READ
            self.out.append((kind, tree.lid, tree.work_ns + self.pricer.costs.rcu_read_ns,
                             tree.visited))
            self.seq = False
        return tree.va

    tree_load = tree_walk

    def event(self, name):
        self.events[name] = self.events.get(name, 0) + 1

    def check(self, cond, message):
        pass


class LookupPricer:
    """Prices ``find_vmap_area()`` for *protocol* by running :mod:`vmapsim.explore.lookup`'s code."""

    def __init__(self, protocol: str, pricer, machine):
        self.protocol_name = check_choice("lookup", protocol, PROTOCOLS)
        self.protocol = make_protocol(protocol)
        self.pricer = pricer
        self.rcu_free = protocol != "spinlock"
        self.events: dict = {}
        self._pair = {}

    def rmw_of(self, owner_cpu: int, cpu: int, transfer: bool = False) -> float:
        """An atomic on (or a read of) a line last written by *owner_cpu*."""
        m = self.pricer.machine
        if owner_cpu == cpu or owner_cpu < 0:
            return 0.0 if transfer else m.rmw_ns[0]
        key = (owner_cpu, cpu, transfer)
        v = self._pair.get(key)
        if v is None:
            place = m.placement(max(owner_cpu, cpu) + 1)
            d = m.distance(place[owner_cpu], place[cpu])
            if transfer:
                v = (list(m.transfer_ns) + [m.extra_socket_transfer_ns])[d]
            else:
                v = (list(m.rmw_ns) + [m.extra_socket_transfer_ns + m.rmw_ns[0]])[d]
            self._pair[key] = v
        return v

    def find_steps(self, holds, found, addr: int, owner_cpu: int, cpu: int, out: list) -> None:
        """Append the steps of a lookup of *addr*; *holds* is the design's record of its own
        (locked) walk, *found* what it returned (``(va_start, va_end)`` or None)."""
        p = self.pricer
        visited = sum(h.visited for h in holds)
        lock = next((h.lock for h in holds if h.lock is not None), None)
        lid = p.lock_id(lock or "vmap_area_lock")
        work = p.work_ns(visited, 0, 0, 0)
        va = None
        if found is not None:
            va = _Obj("va", {"va_start": found[0], "va_end": found[1], "vm": None, "lock": None,
                             "state": BUSY, "refcnt": 1}, owner=owner_cpu)
        vn = _Obj("vn", {"lid": lid, "seq": 0})
        env = PerfEnv(p, self.rmw_of, cpu, out, self.events)
        f = self.protocol.find(env, vn, _Tree(va, work, visited, lid), addr)
        if f is not None:
            self.protocol.put(env, vn, f)
