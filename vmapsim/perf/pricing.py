"""Turning a design's lock record into simulated steps: the cost model of the performance model.

A design operation (``alloc_vmap_area``, ``find_unlink_vmap_area``, ...) runs on the real design
object and leaves a record in ``design.acct`` (see :mod:`vmapsim.designs.base`): one
:class:`~vmapsim.designs.base.Hold` per lock taken, in order, with the tree nodes visited and written
and the index bytes allocated and freed under it, plus costed events (``tlb_flush``,
``call_rcu``).  :func:`record_steps` converts that record into *steps*, plain tuples the
discrete-event core (:mod:`vmapsim.perf.sim`) executes.  Only the parts that depend on the other
CPUs (waiting, lock hand-off, coherence misses on lines another CPU wrote) are left for the
core; everything else is priced here:

* work under a lock = ``visited * (node_visit_ns + miss_ns) + written * node_write_ns``
  ``+ alloc_bytes/256 * index_alloc_ns + free_bytes/256 * index_free_ns`` where ``miss_ns`` is
  the capacity-miss cost of the index footprint against the profile's L2 and LLC;
* an uncontended lock costs the profile's lock round trip; hand-off and coherence are added by
  the core (:mod:`vmapsim.perf.sim`);
* ``mutex`` holds (``vmap_purge_lock``) wrap every later hold of the same operation (the only
  mutex in the designs wraps the whole purge), so their own work is their count minus the inner
  holds' counts;
* ``rcu`` holds cost ``rcu_read_ns`` plus their node work, and take no lock;
* ``trylock-failed`` costs one atomic on the lock's line (added by the core);
* ``tlb_flush`` costs the purging CPU ``tlb_flush_base_ns + per_cpu * online`` and every other
  CPU ``tlb_ipi_handler_ns``; ``call_rcu`` costs ``call_rcu_ns`` and queues its bytes for a grace
  period.

Deliberate simplification: all state changes of an operation happen at once, when its CPU
finished its previous operation (not necessarily in global time order: CPUs may start
operations up to one operation's length apart from the time order); its steps then decide how
long it takes.  Two CPUs therefore never see a half-done operation, which is what the locks
guarantee in the kernel anyway; only the order in which addresses are handed out can differ
from a time-ordered execution.

Step kinds (first field):
``WORK (0, ns)``, ``SPIN (1, lock, work_ns, written, visited)``, ``MUTEX (2, lock)``,
``UNLOCK (3, lock)``, ``ATOMIC (4, lock)``, ``RCU_READ (5, lock, work_ns, visited)``,
``FLUSH (6, ns)``, ``CALL_RCU (7, nbytes, count)``, ``TRYFAIL (8, lock)``,
``SEQ_READ (9, lock, work_ns, visited)``.
"""
from __future__ import annotations

from ..designs.base import NO_HOLD, Accounting, Hold
from .costs import Costs, Machine

WORK, SPIN, MUTEX, UNLOCK, ATOMIC, RCU_READ, FLUSH, CALL_RCU, TRYFAIL, SEQ_READ = range(10)

#: maple nodes are 256 B; a vmap_area is 72 B: index memory is priced per 256 B block.
INDEX_BLOCK = 256
#: clock of the machine the constants were estimated and fitted on (Threadripper 3970X base).
REF_GHZ = 3.7


def _index(holds, h) -> int:
    """Position of the hold object *h* in *holds* (by identity)."""
    for i, g in enumerate(holds):
        if g is h:
            return i
    raise ValueError("hold not in its record")


class Pricer:
    """Prices lock records for one (machine, costs, online CPUs) combination.

    ``lock_id(name)`` interns lock names into small integers shared with the core;
    ``set_footprint(bytes)`` updates the capacity-miss cost from the design's index size.
    """

    def __init__(self, machine: Machine, costs: Costs, online_cpus: int):
        self.machine, self.costs, self.online = machine, costs, online_cpus
        self.scale = REF_GHZ / machine.ghz
        self.lock_ids: dict[str, int] = {}
        self.lock_names: list[str] = []
        #: called after a new name was interned (the simulation grows its per-lock state)
        self.on_new_lock = None
        self.miss_ns = 0.0
        self._visit = costs.node_visit_ns * self.scale
        self._write = costs.node_write_ns * self.scale
        self._alloc = costs.index_alloc_ns * self.scale / INDEX_BLOCK
        self._free = costs.index_free_ns * self.scale / INDEX_BLOCK
        self.lock_ns = machine.lock_roundtrip_ns
        self._set_prices()
        self.flush_ns = costs.tlb_flush_base_ns + costs.tlb_flush_per_cpu_ns * online_cpus

    def lock_id(self, name: str) -> int:
        i = self.lock_ids.get(name)
        if i is None:
            i = self.lock_ids[name] = len(self.lock_names)
            self.lock_names.append(name)
            if self.on_new_lock is not None:
                self.on_new_lock()
        return i

    def set_footprint(self, index_bytes: int, node_bytes: int = 72) -> None:
        """Capacity misses from the index size: a walk of depth ``log2(nodes)`` finds its top
        ``log2(cache / node)`` levels cached (they are on every path); the levels below miss
        L2 (and, past the LLC's share, the LLC).  The miss cost is spread over the visits."""
        from math import log2
        m = self.machine
        nodes = index_bytes / node_bytes if node_bytes else 0
        if nodes <= 2:
            self.miss_ns = 0.0
            self._set_prices()
            return
        depth = log2(nodes)
        l2_levels = log2(max(2.0, m.l2_bytes / node_bytes))
        llc_levels = log2(max(2.0, m.llc_bytes / node_bytes))
        p_l2 = max(0.0, depth - l2_levels) / depth
        p_llc = max(0.0, depth - llc_levels) / depth
        self.miss_ns = p_l2 * m.llc_hit_ns + p_llc * m.dram_ns
        self._set_prices()

    def _set_prices(self) -> None:
        """The per-unit prices :meth:`record_steps` uses, after ``miss_ns`` changed."""
        self._prices = (self._visit + self.miss_ns, self._write, self._alloc, self._free,
                        self.lock_ns)

    def work_ns(self, visited: int, written: int, alloc_bytes: int, free_bytes: int) -> float:
        return (visited * (self._visit + self.miss_ns) + written * self._write
                + alloc_bytes * self._alloc + free_bytes * self._free)

    def record_steps(self, holds, events, out: list, rcu_free: bool = False,
                     deferred: int = 0, deferred_count: int = 0) -> None:
        """Append the steps of one operation's record (*holds*, *events*) to *out*.

        With *rcu_free*, index bytes freed under a lock are not freed at once but queued with
        ``call_rcu`` (the designs' RCU-mode trees and RCU-freed ``vmap_area`` objects);
        *deferred* / *deferred_count*: bytes and objects already deferred by holds of the same
        operation priced earlier (:class:`FusedAccounting`).
        """
        ids = self.lock_ids
        visit, write, alloc, free, lock_ns = self._prices
        append = out.append
        mutexes = None
        for h in holds:
            kind = h.kind
            lock = h.lock
            if kind == "spin" and lock is not None:      # the common case first
                free_b = h.free_bytes
                if free_b and rcu_free:
                    deferred += free_b
                    deferred_count += max(1, free_b // INDEX_BLOCK)
                    free_b = 0
                lid = ids.get(lock)
                if lid is None:
                    lid = self.lock_id(lock)
                written = h.written
                visited = h.visited
                append((SPIN, lid, visited * visit + written * write + h.alloc_bytes * alloc
                        + free_b * free + lock_ns, written, visited))
                continue
            if kind == "mutex":
                mutexes = mutexes or []
                self._mutex_steps(holds, _index(holds, h), out, mutexes)
                continue
            free_b = h.free_bytes
            if rcu_free and free_b:
                deferred += free_b
                deferred_count += max(1, free_b // INDEX_BLOCK)
                free_b = 0
            w = h.visited * visit + h.written * write + h.alloc_bytes * alloc + free_b * free
            if lock is None:
                append((WORK, w))
                continue
            lid = ids.get(lock)
            if lid is None:
                lid = self.lock_id(lock)
            if kind == "rcu":
                append((RCU_READ, lid, w + self.costs.rcu_read_ns, h.visited))
            elif kind == "trylock-failed":
                append((TRYFAIL, lid))
            else:                                   # unknown kinds are priced as spinlocks
                append((SPIN, lid, w + lock_ns, h.written, h.visited))
        if events:
            for kind, value in events:
                if kind == "tlb_flush":
                    append((FLUSH, self.flush_ns))
                elif kind == "call_rcu":
                    append((CALL_RCU, int(value or 0), 1))
        if deferred:
            append((CALL_RCU, deferred, deferred_count))
        if mutexes:
            for lid in reversed(mutexes):
                append((UNLOCK, lid))

    def _mutex_steps(self, holds, i, out, mutexes) -> None:
        """A mutex hold wraps every later hold of the operation: its own work is its count
        minus theirs."""
        h = holds[i]
        inner_v = inner_w = inner_a = inner_f = 0
        for g in holds[i + 1:]:
            inner_v += g.visited
            inner_w += g.written
            inner_a += g.alloc_bytes
            inner_f += g.free_bytes
        lid = self.lock_id(h.lock)
        out.append((MUTEX, lid))
        own = self.work_ns(h.visited - inner_v, h.written - inner_w,
                           h.alloc_bytes - inner_a, h.free_bytes - inner_f)
        if own > 0:
            out.append((WORK, own))
        mutexes.append(lid)



#: what :meth:`FusedAccounting.lock` returns for a hold priced when it is released
_FUSED = Hold(None, "fused", 0, 0, 0, 0)
_new_hold = Hold.__new__


class FusedAccounting(Accounting):
    """A design's :class:`~vmapsim.designs.base.Accounting` while a simulation runs: the class
    :meth:`vmapsim.perf.sim.Simulation.run` gives the design's ``acct`` for the run
    (``acct.__class__``; the same slots), which prices lock records as they are made.

    Between ``acct.out = steps`` and :meth:`finish`, an operation's record goes straight into
    the list *steps*: a ``spin`` hold that nests no other hold becomes its :data:`SPIN` step
    when it is released, work outside the locks (:meth:`outside`) a :data:`WORK` step, with no
    :class:`~vmapsim.designs.base.Hold` objects and no second pass; :meth:`finish` adds the
    steps of the events.  These are the steps :meth:`Pricer.record_steps` makes of the same
    record, in the same order, with the same arithmetic (the two price expressions below are
    copies of its own).  Anything else -- a mutex, another kind of hold, a hold taken while one
    is open -- *spills*: from there on the operation is recorded as usual (an open hold becomes
    a ``Hold`` in its place) and :meth:`finish` prices the rest with
    :meth:`Pricer.record_steps`, carrying the bytes deferred so far.  ``acct.fspill = steps``
    spills from the start (a design that is not ``fusable_record``); with neither set this is
    the base class's record (lookups and readers, whose pricers read ``acct.holds``).
    """

    __slots__ = ()

    def lock(self, name, kind: str = "spin") -> Hold:
        if self.fopen is None and self.out is not None and kind == "spin" and name is not None:
            self.fopen = name
            self.fv = self.visited
            self.fw = self.written
            self.fa = self.alloc_bytes
            self.ff = self.free_bytes
            return _FUSED
        if self.out is not None:
            self._spill()
        # Accounting.lock, copied (one call frame less)
        if not self.enabled:
            return NO_HOLD
        h = _new_hold(Hold)
        h.lock = name
        h.kind = kind
        h.visited = -self.visited
        h.written = -self.written
        h.alloc_bytes = -self.alloc_bytes
        h.free_bytes = -self.free_bytes
        self.holds.append(h)
        return h

    def unlock(self, h: Hold) -> None:
        if h is _FUSED:
            out = self.out
            if out is not None:
                visited = self.visited - self.fv
                written = self.written - self.fw
                p = self.fpricer
                try:
                    lid = p.lock_ids[self.fopen]
                except KeyError:
                    lid = p.lock_id(self.fopen)
                self.fopen = None
                visit, write, alloc, free, lock_ns = p._prices
                alloc_b = self.alloc_bytes - self.fa
                free_b = self.free_bytes - self.ff
                # Pricer.record_steps's spin step, copied; without index bytes its two terms
                # are 0.0 and adding them to the (non-negative) sum changes no bit
                if alloc_b or free_b:
                    if free_b and self.frcu:
                        self.fdeferred += free_b
                        self.fdcount += max(1, free_b // INDEX_BLOCK)
                        free_b = 0
                    out.append((SPIN, lid, visited * visit + written * write + alloc_b * alloc
                                + free_b * free + lock_ns, written, visited))
                else:
                    out.append((SPIN, lid, visited * visit + written * write + lock_ns,
                                written, visited))
                return
            h = self.fhold                      # spilled while open: a Hold of the record now
            self.fhold = self.fopen = None
        elif h is NO_HOLD:
            return
        h.visited += self.visited
        h.written += self.written
        h.alloc_bytes += self.alloc_bytes
        h.free_bytes += self.free_bytes

    def held(self, name, visited: int = 0, written: int = 0, kind: str = "spin") -> None:
        out = self.out
        if out is not None:
            if self.fopen is None and kind == "spin" and name is not None:
                self.visited += visited
                self.written += written
                p = self.fpricer
                try:
                    lid = p.lock_ids[name]
                except KeyError:
                    lid = p.lock_id(name)
                visit, write, _, _, lock_ns = p._prices
                # Pricer.record_steps's spin step, copied (no index bytes under this hold: their
                # two terms are 0.0, and adding them to the non-negative sum changes no bit)
                out.append((SPIN, lid, visited * visit + written * write + lock_ns,
                            written, visited))
                return
            self._spill()
        # Accounting.held, copied
        if self.enabled:
            self.holds.append(Hold(name, kind, visited, written, 0, 0))
        self.visited += visited
        self.written += written

    def outside(self, alloc: int = 0, free: int = 0) -> None:
        self.alloc_bytes += alloc
        if free:
            self.free_bytes += free
        out = self.out
        if out is not None and self.fopen is None:
            free_b = free
            if free_b and self.frcu:
                self.fdeferred += free_b
                self.fdcount += max(1, free_b // INDEX_BLOCK)
                free_b = 0
            _, _, price_alloc, price_free, _ = self.fpricer._prices
            # Pricer.record_steps's step of a hold outside the locks, copied, without its two
            # terms of no nodes (0.0: adding them to the non-negative rest changes no bit)
            out.append((WORK, alloc * price_alloc + free_b * price_free))
            return
        if out is not None:
            self._spill()
        if self.enabled:
            self.holds.append(Hold(None, "none", 0, 0, alloc, free))

    def _spill(self) -> None:
        """Record the rest of this operation as Hold objects (see the class docstring)."""
        self.fspill = self.out
        self.out = None
        if self.fopen is not None:
            h = self.fhold = Hold(self.fopen, "spin", -self.fv, -self.fw, -self.fa, -self.ff)
            self.holds.append(h)

    def finish(self) -> None:
        """The operation is over: add the steps of its events (and of a spilled rest) to its
        step list, and stop pricing into it."""
        out = self.out
        if out is not None:
            self.out = None
            events = self.events
            if events:
                # Pricer.record_steps's event steps, copied
                flush_ns = self.fpricer.flush_ns
                for kind, value in events:
                    if kind == "tlb_flush":
                        out.append((FLUSH, flush_ns))
                    elif kind == "call_rcu":
                        out.append((CALL_RCU, int(value or 0), 1))
            if self.fdeferred:
                out.append((CALL_RCU, self.fdeferred, self.fdcount))
                self.fdeferred = self.fdcount = 0
            return
        out = self.fspill
        self.fspill = None
        deferred, count = self.fdeferred, self.fdcount
        self.fdeferred = self.fdcount = 0
        self.fpricer.record_steps(self.holds, self.events, out, self.frcu, deferred, count)

#: False: simulations price every record after the operation (the spilled path throughout);
#: the results are the same (tests/test_perf_core.py compares the two)
FUSE = True


def fuse(acct, pricer: Pricer, fusable: bool, rcu_free: bool) -> bool:
    """Make *acct* (a plain :class:`~vmapsim.designs.base.Accounting`) a
    :class:`FusedAccounting` priced by *pricer*; returns whether the operations' holds are
    priced as they are released (*fusable*: the design's ``fusable_record``, and :data:`FUSE`)
    rather than after each operation."""
    acct.__class__ = FusedAccounting
    acct.fpricer, acct.frcu = pricer, rcu_free
    acct.out = acct.fspill = acct.fopen = acct.fhold = None
    acct.fdeferred = acct.fdcount = 0
    return bool(fusable and FUSE)


def unfuse(acct) -> None:
    """Back to a plain :class:`~vmapsim.designs.base.Accounting` (the run is over)."""
    acct.out = acct.fspill = acct.fopen = acct.fhold = acct.fpricer = None
    acct.fdeferred = acct.fdcount = 0
    acct.frcu = False
    acct.__class__ = Accounting
