"""The discrete-event core of the performance model: N CPUs, locks, cache lines, grace periods.

Every simulated CPU runs one worker of a workload (:mod:`vmapsim.perf.workloads`).  When a CPU
starts an operation, the operation is executed on the one shared design object (so the tree
work is the real work of that design, in the order the CPUs start their operations), and
the design's lock record is priced into steps (:mod:`vmapsim.perf.pricing`).  The core then
plays the steps against the shared resources, in global time order:

* **Queued spinlock** (``SPIN``): FIFO, like the kernel's qspinlock/MCS queue.  A request at
  time *t* is served at ``max(t, free_at)``; the acquisition costs the profile's atomic RMW
  on the lock line from the previous holder's CPU (the hand-off; a local CAS when the same
  CPU took it last); the holder then pays, besides its own work, a **coherence miss** for
  each node the previous holder (on another CPU) wrote that it reads, estimated as
  ``coherence_overlap * min(visited, nodes the previous holder wrote)`` line transfers at the
  two CPUs' distance.  Because requests are processed in time order and served FIFO, the
  release time is known at the request, so a spinlock needs no queue object.
* **Counter lines** (``ATOMIC``): ``nr_vmalloc_pages`` (added by every vmalloc, subtracted by
  every vfree) and ``vmap_lazy_nr`` (added by every vfree) are one-step spinlocks whose hold
  is a single RMW, served at ``costs.counter_rmw_ns`` when the line comes from another CCX
  (the profile's cheaper transfer when it comes from nearer).  Before 6.16 both counters share
  one line (``costs.counters_share_line``; always for ``linux-6.8``).
* **Page allocator**: each CPU's per-CPU page list (pcp) gives and takes back the pages of its
  vmallocs and vfrees; when it runs dry (or over ``pcp_high``) ``pcp_batch`` pages move
  to or from the buddy lists under the one ``zone->lock`` (a spinlock here), and pages fresh
  from the buddy lists are cleared cold (:mod:`vmapsim.perf.worker`).
* **SMT**: a CPU whose sibling thread also runs a worker does its own work (not its waits or
  line transfers) ``2 / (1 + smt_yield)`` times slower, in proportion to the share of time
  that sibling has not spent spinning so far.
* **Mutex** (``vmap_purge_lock``): sleeping FIFO waiters woken at the unlock.
* **RCU readers** take nothing, pay ``rcu_read_ns`` and the coherence misses on nodes last
  written by another CPU; **seqcount readers** also retry while a writer holds the lock.
* **TLB flush**: the purging CPU pays the flush, every other CPU pays the IPI handler at its
  next step.
* **call_rcu** queues memory for a grace period (:mod:`vmapsim.perf.rcu_cost`).

What a CPU does between two shared steps (running operations on the design, its kworker queue,
the warm-up) is :mod:`vmapsim.perf.worker`.

The run is deterministic: CPUs ready at exactly the same time run in the order they became
ready (first come, first served).
"""
from __future__ import annotations

import heapq
import random
import re
from dataclasses import dataclass, field

from ..designs.base import Accounting
from .pricing import (
    ATOMIC,
    CALL_RCU,
    FLUSH,
    MUTEX,
    RCU_READ,
    SEQ_READ,
    SPIN,
    TRYFAIL,
    UNLOCK,
    WORK,
    Pricer,
    fuse,
    unfuse,
)
from .rcu_cost import GracePeriods
from .readers import TRYLOCK
from .worker import DRAIN_DONE, END_STEPS, WorkerOps

INF = float("inf")
#: ns to wake a task sleeping on a mutex (assumed; a context switch is a few us)
MUTEX_WAKE_NS = 2000.0
#: designs modelling a kernel from before 6.16, where nr_vmalloc_pages and vmap_lazy_nr share
#: one cache line ("vmalloc: Align nr_vmalloc_pages and vmap_lazy_nr", 2025; costs.json)
COUNTERS_ONE_LINE = frozenset({"linux-6.8"})
#: the lock name of the one line both counters share before 6.16
SHARED_COUNTERS = "nr_vmalloc_pages+vmap_lazy_nr"


@dataclass
class RunStats:
    """Raw results of one run (see :mod:`vmapsim.perf.simulate` for the user-facing record)."""
    ops: int = 0
    sim_ns: float = 0.0
    latencies: list = field(default_factory=list)      # ns per counted loop iteration
    find_latencies: list = field(default_factory=list)
    lock_names: list = field(default_factory=list)
    lock_wait_ns: list = field(default_factory=list)
    lock_hold_ns: list = field(default_factory=list)
    lock_acq: list = field(default_factory=list)
    lock_contended: list = field(default_factory=list)
    worker_ns: list = field(default_factory=list)
    summaries: list = field(default_factory=list)       # (worker, test, passed, failed, xfailed, repeat, loops, usec)
    failures: int = 0
    window_ns: float = 0.0                              # lock statistics' measurement window
    window_wait_ns: list = field(default_factory=list)
    purges: int = 0
    seq_retries: int = 0
    rcu_backlog_max: int = 0
    rcu_bytes_max: int = 0
    rcu_completed: int = 0
    clear_ns: float = 0.0                               # CPU time clearing pages (init_on_alloc)
    drain_ns: float = 0.0                               # CPU time in the lazy drain (kworker)
    drain_max_ns: float = 0.0                           # longest single drain
    zone_refills: int = 0                               # pcp refills + drains under zone->lock
    window_clear_ns: float = -1.0                       # the same two in the window (-1: whole run)
    window_drain_ns: float = -1.0
    cpu_wait_ns: list = field(default_factory=list)     # per CPU: time waiting on locks/lines
    reader_latencies: dict = field(default_factory=dict)  # kind -> ns per read
    trylock_failed: dict = field(default_factory=dict)    # kind -> failed trylocks


class Simulation(WorkerOps):
    """One run: *design* shared by *ncpu* CPUs, each running ``worker_ops(spec, cpu, seed)``."""

    def __init__(self, design, spec, ncpu, machine, costs, *, seed=0, lookup="spinlock",
                 online_cpus=None, xfail=frozenset(), start=None, readers=(),
                 readers_only=False):
        from .lookup_cost import LookupPricer
        from .workloads import worker_ops
        # readers (vmapsim.perf.readers): extra CPUs after the ncpu allocator CPUs
        self.reader_of = [r for r in readers for _ in range(r.cpus)]
        self.n_alloc = ncpu
        ncpu += len(self.reader_of)
        self.design, self.spec, self.n = design, spec, ncpu
        self.machine, self.costs = machine, costs
        self.online = online_cpus or ncpu
        self.pricer = Pricer(machine, costs, self.online)
        self.lookup = LookupPricer(lookup, self.pricer, machine)
        self.rcu_free = self.lookup.rcu_free
        # pairwise line costs, averaged over the running CPUs (see _mean_pairs)
        self.transfer, self.rmw = (_mean_pairs(m) for m in machine.matrices(ncpu))
        # counter lines: the contended-line service time caps the cross-CCX RMW (costs.json)
        cap = costs.counter_rmw_ns
        self.counter_rmw = [[x if i == j else min(x, cap) for j, x in enumerate(row)]
                            for i, row in enumerate(self.rmw)]
        # SMT: a busy sibling stretches this CPU's own work (costs.json smt_yield)
        self.sibling = machine.siblings(ncpu)
        self.smt_extra = 2.0 / (1.0 + costs.smt_yield) - 1.0
        self.work_scale = [1.0] * ncpu
        self.cpu_wait = [0.0] * ncpu
        # per pair: remote_lines_per_op lines last written by one of the other CPUs (see costs.json)
        na = self.n_alloc
        self.remote_ns = [costs.remote_lines_per_op * sum(row[:na]) / na for row in self.transfer]
        # per purged area: purge_remote_lines lines the freeing CPU (another one with
        # probability (n-1)/n, n allocator CPUs) wrote last, pulled by the draining CPU (costs.json)
        self.purge_area_ns = [costs.purge_per_area_ns
                              + costs.purge_remote_lines * sum(row[:na]) / na
                              for row in self.transfer]
        self.rng = random.Random(seed ^ 0x5EED)
        # start: a vmapsim.perf.warm.WarmStart (setup and warm-up already played on the design)
        states = start.workers if start is not None else [None] * self.n_alloc
        self.gens = [worker_ops(spec, c, seed, states[c]) if not readers_only else _no_ops()
                     for c in range(self.n_alloc)]
        if self.reader_of:
            from .readers import ReaderPricer, reader_ops
            self.gens += [reader_ops(r) for r in self.reader_of]
            self.reader_pricer = ReaderPricer(self.pricer)
            self.readers_only = readers_only
            self.reader_start = [0.0] * ncpu
            self.reader_done = [0] * ncpu
            self.alloc_left = 0 if readers_only else self.n_alloc
        self._send = [g.send for g in self.gens]
        self.xfail = xfail
        self.rcu = GracePeriods(costs.grace_period_ms * 1e6)
        self.stats = RunStats()
        # per-lock state (grown by _grow as the pricer interns names)
        self.free_at, self.owner, self.last_written = [], [], []
        self.wait_ns, self.hold_ns, self.acq, self.contended = [], [], [], []
        self.writer, self.version, self.seen = [], [], []   # who last wrote the data under a lock
        self.mutex_holder, self.mutex_waiters = {}, {}
        if costs.counters_share_line or getattr(design, "name", "") in COUNTERS_ONE_LINE:
            self.lazy_line = self.pages_line = self.pricer.lock_id(SHARED_COUNTERS)
        else:
            self.lazy_line = self.pricer.lock_id("vmap_lazy_nr")
            self.pages_line = self.pricer.lock_id("nr_vmalloc_pages")
        self._pages_step = (ATOMIC, self.pages_line, self.counter_rmw)
        self._lazy_step = (ATOMIC, self.lazy_line, self.counter_rmw)
        #: the end of a vfree's steps (worker._free): nr_vmalloc_pages, vmap_lazy_nr, END
        self._free_tail = (self._pages_step, self._lazy_step, END_STEPS)
        # page allocator: pages on each CPU's per-CPU list, and the zone lock (worker._pcp_*)
        self.pcp = [costs.pcp_batch] * ncpu
        self._pcp_high = costs.pcp_high
        self.zone_lock = self.pricer.lock_id("zone->lock")
        self.drain_start = 0.0
        self._alloc_ns = {}     # pages -> priced work outside the index, clearing (warm pages)
        self._free_ns = {}      # pages -> priced work outside the index
        self.pte_owner = {}                # page-table cache line -> CPU that wrote it last
        # per-CPU state
        self.steps = [[END_STEPS] for _ in range(ncpu)]   # every step list ends with END_STEPS
        self.pos = [0] * ncpu
        self.debt = [0.0] * ncpu
        self.kwork = [[] for _ in range(ncpu)]
        self.result = [None] * ncpu        # value sent back into the worker generator
        self.iter_start = [0.0] * ncpu
        self.test_start = [0.0] * ncpu
        self.test_counts = [dict() for _ in range(ncpu)]
        self.done = [False] * ncpu
        self.find_pending = [None] * ncpu
        self.finds = False                 # True once a timed lookup left a find_pending
        # measurement: without warm-up the whole run; with it, from the moment every CPU runs
        # counted iterations to the moment the first one finishes (all CPUs busy, steady state)
        self.warmup = spec.warmup
        self.warm_end = [None] * ncpu
        self.n_warm = 0
        self.window = [None, None]
        self.window_extra = [None, None]   # (clear_ns, drain_ns) at the window's ends
        self.count_end = 0                 # counted loops per worker that close the window
        self.counted = [0] * ncpu
        self.clock_end = 0.0
        self.test_name = [None] * ncpu
        # shared registries
        self.sizes = {}                    # addr -> pages (live areas)
        self.owner_of = {}                 # addr -> cpu
        self.live = []                     # addresses, for non-owner lookups
        self.live_index = {}
        # only non-owner lookups and readers need the registry of live areas
        self.track_live = spec.name == "lookup" or any(r.kind != "vmallocinfo" for r in readers)
        self.kv_batch = [[] for _ in range(ncpu)]
        self.kv_first = [0.0] * ncpu
        self.drain_queued = False
        self._ops_since_footprint = 0
        self.acct = design.acct
        self.fused = False                 # set by run(): records priced as they are made
        if start is not None:
            self.sizes, self.owner_of = start.sizes, start.owner_of
            self.live, self.live_index = start.live, start.live_index
            if start.warmed:                      # as after _fast_forward: time the whole run
                self.warmup = 0
                self.warm_end = [0.0] * ncpu
                self.n_warm = self.n_alloc
                self._open_counted_window()
        elif self.warmup:
            self._fast_forward()
        self._update_footprint()
        self._grow()
        self.pricer.on_new_lock = self._grow     # a lock seen for the first time gets its state

    # ------------------------------------------------------------------ bookkeeping
    def _grow(self):
        k = len(self.pricer.lock_names) - len(self.free_at)
        if k > 0:
            self.free_at.extend([0.0] * k)
            self.owner.extend([-1] * k)
            self.last_written.extend([0] * k)
            self.wait_ns.extend([0.0] * k)
            self.hold_ns.extend([0.0] * k)
            self.acq.extend([0] * k)
            self.contended.extend([0] * k)
            self.writer.extend([-1] * k)
            self.version.extend([0] * k)
            self.seen.extend([-1] * self.n for _ in range(k))

    def _update_footprint(self):
        try:
            mem = self.design.index_memory().total_bytes
        except NotImplementedError:
            mem = 0
        self.pricer.set_footprint(mem)

    # ------------------------------------------------------------------ the event loop
    def run(self) -> RunStats:
        """Play every CPU's operations to the end (see the module docstring).

        The cyclic garbage collector is paused meanwhile: the run allocates many short-lived
        tuples and no reference cycles that need collecting before it ends, and a collection
        would walk every live object of the design (millions at kernel sizes) again and again."""
        import gc
        enabled = gc.isenabled()
        gc.disable()
        acct = self.acct
        if type(acct) is not Accounting:
            raise TypeError(f"design {getattr(self.design, 'name', '?')!r}: its acct must be a "
                            f"plain Accounting to be priced, not {type(acct).__name__}")
        # lock records are priced as they are made (vmapsim.perf.pricing.FusedAccounting)
        self.fused = fuse(acct, self.pricer,
                          type(self.design).__dict__.get("fusable_record", False), self.rcu_free)
        try:
            return self._run()
        finally:
            unfuse(acct)
            if enabled:
                gc.enable()

    def _run(self) -> RunStats:
        n = self.n
        # The ready queue: a heap of times plus, per time, the CPU waiting at it (``at``) and,
        # when several wait at exactly the same time, the others in arrival order (``more``:
        # first come, first served).  This pops in the same order as a heap of (time, push
        # sequence number, cpu) tuples, with cheaper float comparisons.  INF stays in the heap
        # as a sentinel (so it is never empty): popping it means every CPU has finished or
        # sleeps.
        heap = [0.0] * n
        heap.append(INF)
        at = {0.0: 0}
        more = {0.0: list(range(1, n))} if n > 1 else {}
        steps_of, pos_of, debt = self.steps, self.pos, self.debt
        free_at, owner, last_written = self.free_at, self.owner, self.last_written
        wait_ns, hold_ns, acq, contended = self.wait_ns, self.hold_ns, self.acq, self.contended
        # a row of zeros at index -1 (a lock no CPU has taken or written yet: owner and
        # writer -1), so a SPIN step needs no test for it (it adds 0.0 to a positive time)
        transfer, rmw = self.transfer + [[0.0] * n], self.rmw + [[0.0] * n]
        overlap = self.costs.coherence_overlap
        scale, sibling, smt_extra, cpu_wait = self.work_scale, self.sibling, self.smt_extra, \
            self.cpu_wait
        smt = smt_extra > 0 and any(x >= 0 for x in sibling)
        writer, version, seen = self.writer, self.version, self.seen
        call_rcu_ns = self.costs.call_rcu_ns
        ipi_ns = self.costs.tlb_ipi_handler_ns
        local_rmw = self.machine.rmw_ns[0]
        rcu = self.rcu
        heappush, heappop, heapreplace = heapq.heappush, heapq.heappop, heapq.heapreplace
        next_op = self._next
        inf = INF
        SPIN_, ATOMIC_, WORK_ = SPIN, ATOMIC, WORK    # locals: the three common step kinds
        debts = False                                # no TLB-flush IPI owed yet
        t = heappop(heap)
        while True:
            try:
                c = at.pop(t)
            except KeyError:                         # INF: every CPU has finished or sleeps
                if t != inf:
                    raise
                break
            if more:                                 # others wait at t too: the next one
                q = more.get(t)
                if q is not None:
                    at[t] = q.pop(0)
                    if not q:
                        del more[t]
            steps = steps_of[c]
            pos = pos_of[c]
            top = heap[0]
            ws = scale[c]
            s = steps[pos]
            k = s[0]
            if debts and debt[c]:                    # TLB-flush IPIs: maybe not our turn now
                t += debt[c]
                debt[c] = 0.0
                if k > 0 and t > top:
                    if at.setdefault(t, c) is not c:     # _wait_at(at, more, t, c), inlined
                        more.setdefault(t, []).append(c)
                    t = heapreplace(heap, t)         # = heappushpop: t > top
                    continue
            # The CPU's steps from *pos*: a shared step (k > 0) is played at once (it was this
            # CPU's turn: t <= top); then the private steps after it (WORK, END); then the next
            # shared step either is played too (still our turn) or the CPU waits for it.
            while True:
                if k > 0:
                    if k == SPIN_:
                        _, lid, work, written, v = s
                        work *= ws
                        o = owner[lid]
                        fa = free_at[lid]
                        if fa > t:
                            d = fa - t
                            wait_ns[lid] += d
                            cpu_wait[c] += d
                            contended[lid] += 1
                            t = fa
                        if o != c:                       # (o == -1: rmw[-1] is zeros)
                            work += rmw[o][c]
                        wr = writer[lid]
                        sn = seen[lid]
                        if wr != c and sn[c] != version[lid]:   # (wr == -1: zeros)
                            lw = last_written[lid]
                            work += overlap * (v if v < lw else lw) * transfer[wr][c]
                        t += work
                        free_at[lid] = t
                        owner[lid] = c
                        if written:
                            last_written[lid] = written
                            writer[lid] = c
                            sn[c] = version[lid] = version[lid] + 1
                        else:
                            sn[c] = version[lid]
                        hold_ns[lid] += work
                        acq[lid] += 1
                    elif k == ATOMIC_:
                        lid = s[1]
                        o = owner[lid]
                        fa = free_at[lid]
                        work = local_rmw
                        if fa > t:
                            d = fa - t
                            wait_ns[lid] += d
                            cpu_wait[c] += d
                            contended[lid] += 1
                            t = fa
                        if o != c and o >= 0:
                            try:                         # the step's own line costs
                                work = s[2][o][c]
                            except IndexError:           # (ATOMIC, lock): the RMW matrix
                                work = rmw[o][c]
                        t += work
                        free_at[lid] = t
                        owner[lid] = c
                        last_written[lid] = 0
                        hold_ns[lid] += work
                        acq[lid] += 1
                    elif k == RCU_READ or k == SEQ_READ:
                        lid = s[1]
                        if k == SEQ_READ and free_at[lid] > t:   # writer inside: read_seqcount_retry
                            wait_ns[lid] += free_at[lid] - t
                            t = free_at[lid]
                            self.stats.seq_retries += 1
                        cost = s[2] * ws
                        wr = writer[lid]
                        sn = seen[lid]
                        if wr != c and wr >= 0 and sn[c] != version[lid]:
                            lw = last_written[lid]
                            v = s[3]
                            cost += overlap * (v if v < lw else lw) * transfer[wr][c]
                        sn[c] = version[lid]
                        t += cost
                    elif k == TRYFAIL:
                        o = owner[s[1]]
                        t += rmw[o][c] if o >= 0 and o != c else local_rmw
                    elif k == MUTEX:
                        lid = s[1]
                        holder = self.mutex_holder.get(lid, -1)
                        if holder >= 0 and holder != c:
                            self.mutex_waiters.setdefault(lid, []).append((c, t))
                            pos_of[c] = pos + 1
                            t = heappop(heap)
                            break                        # sleeps until the unlock wakes it
                        self.mutex_holder[lid] = c
                        o = owner[lid]
                        t += self.pricer.lock_ns + (rmw[o][c] if o >= 0 and o != c else 0.0)
                        owner[lid] = c
                        acq[lid] += 1
                    elif k == UNLOCK:
                        lid = s[1]
                        self.mutex_holder[lid] = -1
                        waiters = self.mutex_waiters.get(lid)
                        if waiters:
                            w, since = waiters.pop(0)
                            self.mutex_holder[lid] = w
                            owner[lid] = w
                            acq[lid] += 1
                            wake = t + MUTEX_WAKE_NS
                            wait_ns[lid] += wake - since
                            contended[lid] += 1
                            _wait_at(at, more, wake, w)
                            heappush(heap, wake)
                            top = heap[0]
                    elif k == FLUSH:
                        t += s[1]
                        debts = True
                        for o in range(n):
                            if o != c and not self.done[o]:
                                debt[o] += ipi_ns
                    elif k == CALL_RCU:
                        t += call_rcu_ns * s[2]
                        rcu.enqueue(t, s[1], s[2])
                    elif k == DRAIN_DONE:
                        self.drain_queued = False
                        d_ns = t - self.drain_start
                        self.stats.drain_ns += d_ns
                        if d_ns > self.stats.drain_max_ns:
                            self.stats.drain_max_ns = d_ns
                    # (YIELD steps do nothing here: reaching this point gave the others their turn)
                    elif k == TRYLOCK:                   # a reader's spin_trylock
                        lid = s[1]
                        o = owner[lid]
                        if free_at[lid] > t:             # held: give up (one atomic)
                            t += rmw[o][c] if o >= 0 and o != c else local_rmw
                            self._trylock_failed(c)
                        else:
                            work = s[2] * ws
                            if o != c and o >= 0:
                                work += rmw[o][c]
                            wr = writer[lid]
                            sn = seen[lid]
                            if wr != c and wr >= 0 and sn[c] != version[lid]:
                                lw = last_written[lid]
                                v = s[4]
                                work += overlap * (v if v < lw else lw) * transfer[wr][c]
                            sn[c] = version[lid]
                            t += work
                            free_at[lid] = t
                            owner[lid] = c
                            hold_ns[lid] += work
                            acq[lid] += 1
                    pos += 1
                    s = steps[pos]
                    k = s[0]
                while k <= 0:                            # private steps: WORK, END
                    if k == WORK_:
                        t += s[1] * ws
                        pos += 1
                    else:                                # the operation's steps are done
                        if smt:
                            sib = sibling[c]
                            if sib >= 0:                 # SMT: the sibling's busy share so far
                                busy = 1.0 - cpu_wait[sib] / t if t > 0.0 else 1.0
                                ws = scale[c] = 1.0 + smt_extra * (busy if busy > 0.0 else 0.0)
                        steps = next_op(c, t)        # the next operation's steps
                        if steps is None:
                            break                        # this CPU has finished
                        pos = 0
                    s = steps[pos]
                    k = s[0]
                else:
                    if t > top:                          # shared resource: wait for our turn
                        pos_of[c] = pos
                        if at.setdefault(t, c) is not c:     # _wait_at(at, more, t, c), inlined
                            more.setdefault(t, []).append(c)
                        t = heapreplace(heap, t)     # = heappushpop: t > top
                        break
                    continue
                t = heappop(heap)                        # (after a finished CPU's break)
                break
        st = self.stats
        st.sim_ns = max(st.worker_ns) if st.worker_ns else 0.0
        st.lock_names = list(self.pricer.lock_names)
        st.lock_wait_ns, st.lock_hold_ns = list(wait_ns), list(hold_ns)
        st.lock_acq, st.lock_contended = list(acq), list(contended)
        k = len(wait_ns)
        if self.window[0] is not None and self.window[1] is not None \
                and self.window[1][0] > self.window[0][0]:
            (t0, (w0, a0)), (t1, (w1, a1)) = self.window
            st.window_ns = t1 - t0
            st.window_wait_ns = [w1[i] - w0[i] if i < len(w0) else w1[i] for i in range(len(w1))]
            st.window_wait_ns += [0.0] * (k - len(st.window_wait_ns))
            if self.window_extra[0] is not None and self.window_extra[1] is not None:
                (c0, d0), (c1, d1) = self.window_extra
                st.window_clear_ns, st.window_drain_ns = c1 - c0, d1 - d0
        else:
            st.window_ns = max(self.clock_end, 1e-9)
            st.window_wait_ns = list(wait_ns)
        st.rcu_backlog_max, st.rcu_bytes_max = rcu.max_count, rcu.max_bytes
        st.rcu_completed = rcu.completed
        st.cpu_wait_ns = list(cpu_wait)
        for c in range(n):
            for name, (p, f, x, tot, runs) in self.test_counts[c].items():
                st.summaries.append((c, name, p, f, x, runs, tot / max(1, runs) / 1000.0))
        return st


def _mean_pairs(matrix: list) -> list:
    """*matrix* (cost of a line moving from CPU o to CPU c) with every entry off the diagonal
    replaced by the mean over the other running CPUs of its column.

    The next holder of a lock, the next owner of a counter line, the last writer of a page-table
    line is some other running CPU; in a real run which one is a matter of timing noise
    (interrupts, miss latencies), while this simulation is deterministic: its FIFO order would
    decide whether neighbours in the queue share a CCX.  The topology still sets the mean (more
    CPUs per CCX and SMT siblings make it cheaper)."""
    n = len(matrix)
    if n < 3:
        return matrix
    out = []
    for i, row in enumerate(matrix):
        out.append(list(row))
    for c in range(n):
        mean = sum(matrix[o][c] for o in range(n) if o != c) / (n - 1)
        for o in range(n):
            if o != c:
                out[o][c] = mean
    return out


def _no_ops():
    """The worker of an allocator CPU that does nothing (readers-only runs)."""
    return
    yield


def _wait_at(at: dict, more: dict, t: float, c: int) -> None:
    """Queue CPU *c* at time *t* in the ready queue's per-time FIFO: ``at[t]`` is the first CPU
    waiting at *t*, ``more[t]`` the others in arrival order (see :meth:`Simulation._run`; the
    run loop's hot path has this inlined)."""
    if at.setdefault(t, c) is not c:
        more.setdefault(t, []).append(c)


_NODE = re.compile(r"\[\d+\]")


def lock_family(name: str) -> str:
    """``vn[12].busy.lock`` -> ``vn[*].busy.lock``: per-node locks are reported together."""
    return _NODE.sub("[*]", name)
