"""What a ``find_vmap_area()`` costs under each lookup protocol (the performance model's view).

The design records the lookup as it is today: one ``spin`` hold per ``vn[i].busy.lock`` it
takes, with the nodes it visits.  :class:`LookupPricer` re-prices that record for a protocol:

``spinlock``           as recorded: the busy lock is taken (waiting behind writers, hand-off).
``rcu-readonce``       no lock: ``rcu_read_lock()``, the same walk, ``READ_ONCE`` of the fields.
``rcu-trylock-retry``  the walk under RCU, then ``spin_trylock`` + unlock of a per-area lock
                       (one atomic on the area's line, last written by its owner's CPU).
``rcu-refcount``       the walk under RCU, ``refcount_inc_not_zero`` + ``refcount_dec`` on the
                       area's line.
``seqcount``           the walk under RCU between two reads of the node's sequence count; it
                       is retried while a writer holds the node's lock.

Readers under RCU never wait for the busy lock, but still pay a coherence miss for each node a
writer on another CPU modified (that is what makes lockless lookups on a write-heavy tree less
free than they look).  With any protocol other than ``spinlock``, index memory freed by
writers (``vmap_area`` objects, maple nodes) waits for a grace period (``call_rcu``), which
is where the RCU backlog comes from.  Safety (use-after-free, ABA) is not this module's
business: see the explorer (issue 6) -- the pricing of ``rcu-readonce`` for non-owner lookups
is the price of an unsafe protocol.
"""
from __future__ import annotations

from .params import check_choice
from .perf_model import RCU_READ, SEQ_READ, SPIN, WORK

PROTOCOLS = ["spinlock", "rcu-readonce", "rcu-trylock-retry", "rcu-refcount", "seqcount"]


class LookupPricer:
    """Prices the steps of one ``find_vmap_area()`` for *protocol*."""

    def __init__(self, protocol: str, pricer, machine):
        self.protocol = check_choice("lookup", protocol, PROTOCOLS)
        self.pricer = pricer
        self.rcu_free = protocol != "spinlock"
        self.local_rmw = machine.rmw_ns[0]
        self.rcu_ns = pricer.costs.rcu_read_ns
        self._pair = {}

    def find_steps(self, holds, owner: bool, owner_cpu: int, cpu: int, out: list) -> None:
        """Append the steps of a lookup from the design's record *holds* to *out*."""
        p = self.pricer
        if self.protocol == "spinlock":
            p.record_steps(holds, (), out)
            return
        kind = SEQ_READ if self.protocol == "seqcount" else RCU_READ
        for h in holds:
            w = p.work_ns(h.visited, h.written, h.alloc_bytes, h.free_bytes)
            if h.lock is None:
                out.append((WORK, w))
            else:
                out.append((kind, p.lock_id(h.lock), w + self.rcu_ns, h.visited))
        if self.protocol in ("rcu-trylock-retry", "rcu-refcount"):
            out.append((WORK, self._object_rmw(owner_cpu, cpu) + self.local_rmw))

    def _object_rmw(self, owner_cpu: int, cpu: int) -> float:
        """An atomic on the area's own line, last written by the CPU that allocated it."""
        m = self.pricer.machine
        if owner_cpu == cpu:
            return self.local_rmw
        key = (owner_cpu, cpu)
        cache = self._pair
        v = cache.get(key)
        if v is None:
            place = m.placement(max(owner_cpu, cpu) + 1)
            d = m.distance(place[owner_cpu], place[cpu])
            rm = list(m.rmw_ns) + [m.extra_socket_transfer_ns + m.rmw_ns[0]]
            v = cache[key] = rm[d]
        return v
