"""What a simulated CPU does between two shared steps: the worker protocol of the performance model.

:class:`WorkerOps` is the half of :class:`vmapsim.perf.sim.Simulation` that runs operations; the other
half (:mod:`vmapsim.perf.sim`) is the event core that plays their steps against the shared resources.

* ``_next`` advances a CPU's workload generator (:mod:`vmapsim.perf.workloads`) to its next timed
  operation, counting loop iterations and test_vmalloc summaries on the way;
* ``_exec`` runs that operation on the one shared design object and turns the design's lock
  record into steps (:meth:`vmapsim.perf.pricing.Pricer.record_steps`), adding the work outside the
  index: page allocation and mapping (``vmalloc_base_ns``, ``vmalloc_page_ns``, ``clear_page_ns``),
  the page-table cache lines another CPU wrote last, and the ``nr_vmalloc_pages`` /
  ``vmap_lazy_nr`` atomics;
* ``_pcp_alloc`` / ``_pcp_free`` keep each CPU's per-CPU page list (mm/page_alloc.c pcp): a
  vmalloc of N pages takes N pages from its CPU's list, refilling ``pcp_batch`` pages at a
  time from the buddy lists under ``zone->lock`` when it runs dry (those pages are cleared
  cold, ``cold_page_ns``); a vfree gives them back one by one and drains ``pcp_batch`` pages
  under the zone lock whenever the list reaches ``pcp_high``;
* a kworker queue per CPU runs the lazy drain (``drain_vmap_work``, one at a time, on the CPU
  whose ``vfree`` crossed ``lazy_max_pages()``) and the ``vfree()`` calls of ``kvfree_rcu()``
  blocks after their grace period, between two operations of that CPU's worker, the way a
  kworker preempts a kthread on the same CPU;
* ``_fast_forward`` plays the warm-up iterations on the design alone, with no clock.
"""
from __future__ import annotations

from ..designs.base import COND_RESCHED
from ..vmalloc.vmap_area import PAGE_SIZE
from .pricing import SPIN, WORK
from .readers import YIELD

#: the last step of every operation's step list (the core then advances the worker)
END = -1
END_STEPS = (END,)
#: the step that ends a lazy drain (the kworker's ``drain_vmap_work`` is done)
DRAIN_DONE = 12
#: the events of an alloc_vmap_area() from the free tree: nothing FusedAccounting.finish() prices
_COND_RESCHED = [COND_RESCHED]


class WorkerOps:
    """Mixin of :class:`vmapsim.perf.sim.Simulation`: the per-CPU operations (see the module docstring)."""

    def _live_add(self, addr, cpu, pages):
        """Register a live area: its size, and its owner for non-owner lookups."""
        self.sizes[addr] = pages
        if not self.track_live:
            return
        self.owner_of[addr] = cpu
        self.live_index[addr] = len(self.live)
        self.live.append(addr)

    def _live_forget(self, addr):
        self.owner_of.pop(addr)
        i = self.live_index.pop(addr)
        last = self.live.pop()
        if last != addr:
            self.live[i] = last
            self.live_index[last] = i

    def _live_del(self, addr):
        pages = self.sizes.pop(addr)
        if self.track_live:
            self._live_forget(addr)
        return pages

    # ------------------------------------------------------------------ operations
    # An operation's lock record is priced into its step list as it is made: ``acct.out = out``
    # (``acct.fspill = out`` for a design whose record cannot be fused) before the design
    # operation, ``acct.finish()`` after it (vmapsim.perf.pricing.FusedAccounting).
    def _exec(self, c, op, t):
        """Run *op* of CPU *c* on the design now; fill ``self.steps[c]``."""
        kind = op[0]
        if kind == "alloc":
            self._alloc(c, op[1], op[2])
        elif kind == "free":
            self._free(c, op[1])
        else:
            out = []
            self._exec_other(c, op, t, out)
            self._set_steps(c, out)

    def _set_steps(self, c, out):
        """*out* is CPU *c*'s next step list; every 4096 operations the index footprint (the
        capacity-miss cost) is updated.  (Copied at the end of :meth:`_alloc` and
        :meth:`_free`.)"""
        out.append(END_STEPS)
        self.steps[c] = out
        self.pos[c] = 0
        n = self._ops_since_footprint + 1
        if n >= 4096:
            n = 0
            self._update_footprint()
        self._ops_since_footprint = n

    def _alloc(self, c, pages, align):
        """A vmalloc() of *pages* pages: alloc_vmap_area(), then the pages (per-CPU lists,
        clearing, mapping) and ``nr_vmalloc_pages``; returns its step list."""
        out = []
        acct = self.acct
        if self.fused:
            acct.out = out
            addr = self.design.alloc_vmap_area((pages + 1) * PAGE_SIZE, align, None, None, c)
            events = acct.events
            if acct.out is None or acct.fdeferred or (events and events != _COND_RESCHED):
                acct.finish()
            else:                           # finish() with nothing to add (of the events it
                acct.out = None             # prices tlb_flush and call_rcu only), inlined
        else:
            acct.fspill = out
            addr = self.design.alloc_vmap_area((pages + 1) * PAGE_SIZE, align, None, None, c)
            acct.finish()
        if addr is None:
            self.stats.failures += 1
        else:
            self.sizes[addr] = pages
            if self.track_live:
                self._live_add(addr, c, pages)
            pcp = self.pcp                                  # _pcp_alloc's fast path, copied
            have = pcp[c]
            if have >= pages:
                pcp[c] = have - pages
                cold = 0
            else:
                cold = self._pcp_alloc(c, pages, out)
            try:
                base, clear = self._alloc_ns[pages]
            except KeyError:
                costs = self.costs
                base, clear = self._alloc_ns[pages] = (
                    (costs.vmalloc_base_ns + pages * (costs.vmalloc_page_ns + costs.clear_page_ns))
                    * self.pricer.scale,
                    (pages * costs.clear_page_ns + 0 * costs.cold_page_ns) * self.pricer.scale)
            if cold:
                costs = self.costs
                clear = (pages * costs.clear_page_ns + cold * costs.cold_page_ns) \
                    * self.pricer.scale
                base += cold * costs.cold_page_ns * self.pricer.scale
            self.stats.clear_ns += clear * self.work_scale[c]
            line = addr >> 15                               # _pte_lines's 1-line case, copied
            if (addr & 0x7FFF) + pages * PAGE_SIZE <= 0x8000:      # one line
                owner = self.pte_owner
                o = owner.get(line)
                owner[line] = c
                pte = 0.0 + self.transfer[o][c] if o is not None and o != c else 0.0
            else:
                pte = self._pte_lines(addr, pages, c)
            out.append((WORK, base + pte))
            out.append(self._pages_step)               # atomic_long_add(nr_vmalloc_pages)
        self.result[c] = addr
        out.append(END_STEPS)                          # _set_steps, copied
        self.steps[c] = out
        self.pos[c] = 0
        n = self._ops_since_footprint + 1
        if n >= 4096:
            n = 0
            self._update_footprint()
        self._ops_since_footprint = n
        return out

    def _free(self, c, addr):
        """A vfree() (:meth:`_vfree`, copied here) as the CPU's operation; returns its step
        list."""
        out = []
        d = self.design                                # _vfree(c, addr, out), copied
        pages = self.sizes.pop(addr)
        if self.track_live:
            self._live_forget(addr)
        acct = self.acct
        if self.fused:
            acct.out = out
            va = d.find_unlink_vmap_area(addr, c)
            if acct.out is None or acct.events or acct.fdeferred:
                acct.finish()
                acct.out = out
            drain = d.free_vmap_area_noflush(va, c)   # (finish() with nothing to add: the
            if acct.out is None or acct.events or acct.fdeferred:    # same as going on)
                acct.finish()
            else:
                acct.out = None
        else:
            acct.fspill = out
            va = d.find_unlink_vmap_area(addr, c)
            acct.finish()
            acct.fspill = out
            drain = d.free_vmap_area_noflush(va, c)
            acct.finish()
        try:
            base = self._free_ns[pages]
        except KeyError:
            base = self._free_ns[pages] = (self.costs.vfree_base_ns + pages
                                           * self.costs.vfree_page_ns) * self.pricer.scale
        line = addr >> 15
        if (addr & 0x7FFF) + pages * PAGE_SIZE <= 0x8000:      # one line
            owner = self.pte_owner
            o = owner.get(line)
            owner[line] = c
            pte = 0.0 + self.transfer[o][c] if o is not None and o != c else 0.0
        else:
            pte = self._pte_lines(addr, pages, c)
        out.append((WORK, base + pte + self.remote_ns[c]))
        pcp = self.pcp
        have = pcp[c] + pages
        if have < self._pcp_high:
            pcp[c] = have
        else:
            self._pcp_free(c, pages, out)
        if drain and not self.drain_queued:
            self.drain_queued = True
            self.kwork[c].append((0.0, "drain", None))
        out += self._free_tail                         # the two atomics; _set_steps, copied
        self.steps[c] = out
        self.pos[c] = 0
        n = self._ops_since_footprint + 1
        if n >= 4096:
            n = 0
            self._update_footprint()
        self._ops_since_footprint = n
        return out

    def _exec_other(self, c, op, t, out):
        d, costs = self.design, self.costs
        kind = op[0]
        if kind == "find" or kind == "find_other":
            addr = op[1] if kind == "find" else self._pick_other(c)
            if addr is not None:
                found = d.find_vmap_area(addr + PAGE_SIZE // 2, cpu=c)
                self.lookup.find_steps(d.acct.holds, found, addr + PAGE_SIZE // 2,
                                       self.owner_of.get(addr, c), c, out)
                self.find_pending[c] = t
                self.finds = True
            self.result[c] = None
        elif kind == "kvfree_rcu":
            addr = op[1]
            out.append((WORK, costs.call_rcu_ns))
            batch = self.kv_batch[c]
            if not batch:
                self.kv_first[c] = t
            batch.append(addr)
            if (len(batch) >= costs.kfree_bulk_entries
                    or t - self.kv_first[c] >= costs.kfree_drain_ms * 1e6):
                nbytes = sum((self.sizes[a] + 1) * PAGE_SIZE for a in batch)
                done = self.rcu.enqueue(t, nbytes, len(batch))
                self.kwork[c].append((done, "vfree_batch", batch))
                self.kv_batch[c] = []
            pending = sum(len(b) for b in self.kv_batch)
            self.rcu.note_extra(pending, pending * 2 * PAGE_SIZE)
            self.result[c] = None
        elif kind == "pcpu":
            out.append((WORK, costs.pcpu_alloc_ns * op[1] * self.pricer.scale))
            self.result[c] = None
        elif kind in ("rmark", "reader", "rdone", "idle"):
            self._reader_op(c, op, t, out)
        else:
            raise ValueError(f"unknown workload operation {op!r}")

    # ------------------------------------------------------------------ readers
    def _reader_op(self, c, op, t, out):
        """A reader CPU's operation (vmapsim.perf.readers.reader_ops)."""
        kind = op[0]
        r = self.reader_of[c - self.n_alloc]
        self.result[c] = None
        if kind == "rmark":
            if (self.alloc_left == 0 and not self.readers_only) or \
                    (self.readers_only and self.reader_done[c] >= r.ops):
                self.result[c] = True                  # the allocators are done: stop
            self.reader_start[c] = t
        elif kind == "reader":
            self._read(c, r, out)
        elif kind == "rdone":
            lat = t - self.reader_start[c]
            self.stats.reader_latencies.setdefault(r.kind, []).append(lat)
            self.reader_done[c] += 1
            self.result[c] = max(0.0, r.period_ns - lat)
        else:                                          # idle: time passes, no work
            out.append((WORK, op[1] / self.work_scale[c]))   # idle time is not stretched by SMT
            out.append((YIELD,))   # the others catch up before the next rmark looks at them

    def _read(self, c, r, out):
        d = self.design
        kind = r.kind
        self.reader_pricer.overhead(out)
        if kind == "vmallocinfo":
            d.vmalloc_info_show(cpu=c, rcu=r.rcu)
            self.reader_pricer.steps(d.acct.holds, d.acct.events, out)
            return
        addr = self._pick_other(c)
        if addr is None:
            return
        if kind == "usercopy":
            found = d.find_vmap_area(addr + PAGE_SIZE // 2, cpu=c)
            self.lookup.find_steps(d.acct.holds, found, addr + PAGE_SIZE // 2,
                                   self.owner_of.get(addr, c), c, out)
        elif kind == "vread":
            d.vread_iter(addr, r.chunk * PAGE_SIZE, cpu=c, rcu=r.rcu)
            self.reader_pricer.steps(d.acct.holds, d.acct.events, out)
        else:                                          # dump_obj
            d.vmalloc_dump_obj(addr + 64, cpu=c, rcu=r.rcu)
            self.reader_pricer.steps(d.acct.holds, d.acct.events, out)

    def _trylock_failed(self, c):
        k = self.reader_of[c - self.n_alloc].kind if c >= self.n_alloc else "other"
        self.stats.trylock_failed[k] = self.stats.trylock_failed.get(k, 0) + 1

    def _vfree(self, c, addr, out):
        """vfree() of *addr* on CPU *c*: find_unlink_vmap_area(), free_vmap_area_noflush(),
        then the pages and the two counters; its steps go to *out*.  (Copied in :meth:`_free`.)"""
        d = self.design
        pages = self.sizes.pop(addr)
        if self.track_live:
            self._live_forget(addr)
        acct = self.acct
        if self.fused:
            acct.out = out
            va = d.find_unlink_vmap_area(addr, c)
            if acct.out is None or acct.events or acct.fdeferred:
                acct.finish()
                acct.out = out
            drain = d.free_vmap_area_noflush(va, c)   # (finish() with nothing to add: the
            if acct.out is None or acct.events or acct.fdeferred:    # same as going on)
                acct.finish()
            else:
                acct.out = None
        else:
            acct.fspill = out
            va = d.find_unlink_vmap_area(addr, c)
            acct.finish()
            acct.fspill = out
            drain = d.free_vmap_area_noflush(va, c)
            acct.finish()
        base = self._free_ns.get(pages)
        if base is None:
            base = self._free_ns[pages] = (self.costs.vfree_base_ns + pages
                                           * self.costs.vfree_page_ns) * self.pricer.scale
        line = addr >> 15                                   # _pte_lines's 1-line case, copied
        if (addr & 0x7FFF) + pages * PAGE_SIZE <= 0x8000:      # one line
            owner = self.pte_owner
            o = owner.get(line)
            owner[line] = c
            pte = 0.0 + self.transfer[o][c] if o is not None and o != c else 0.0
        else:
            pte = self._pte_lines(addr, pages, c)
        out.append((WORK, base + pte + self.remote_ns[c]))
        pcp = self.pcp                                      # _pcp_free's fast path, copied
        have = pcp[c] + pages
        if have < self._pcp_high:
            pcp[c] = have
        else:
            self._pcp_free(c, pages, out)
        out.append(self._pages_step)                        # atomic_long_sub(nr_vmalloc_pages)
        out.append(self._lazy_step)                         # atomic_long_add_return(vmap_lazy_nr)
        if drain and not self.drain_queued:                  # schedule_work(&drain_vmap_work)
            self.drain_queued = True
            self.kwork[c].append((0.0, "drain", None))

    def _fast_forward(self):
        """Warm-up without the clock: run every worker's setup and ``warmup`` iterations on
        the design only (round-robin, one operation at a time, drains run when due), so the
        timed run starts from the steady state (pools filled, lazy trees populated)."""
        d, n = self.design, self.n
        warm = [0] * n
        active = list(range(self.n_alloc))              # reader CPUs do not warm up
        target = self.warmup
        was = d.acct.enabled
        d.acct.enabled = False                        # no lock records needed: nothing is timed
        try:
            self._fast_forward_loop(d, warm, active, target)
        finally:
            d.acct.enabled = was
        self.warmup = 0                               # measure the whole timed run
        self.warm_end = [0.0] * n
        self.n_warm = self.n_alloc
        self._open_counted_window()

    def _open_counted_window(self):
        """The counted phase: lock, clearing and drain shares are measured from the clock's
        start to the moment the first worker has done all its counted loops (its teardown and
        the other workers' tails are left out).  Called once the warm-up has been played."""
        self.window[0] = (0.0, ([], []))
        self.window_extra[0] = (0.0, 0.0)
        self.count_end = self.spec.counted_per_worker

    def _fast_forward_loop(self, d, warm, active, target):
        while active:
            still = []
            for c in active:
                gen = self.gens[c]
                op = gen.send(self.result[c])
                self.result[c] = None
                k = op[0]
                if k == "alloc":
                    addr = d.alloc_vmap_area((op[1] + 1) * PAGE_SIZE, op[2], cpu=c)
                    if addr is not None:
                        self._live_add(addr, c, op[1])
                        self._pcp_alloc(c, op[1], None)
                    self.result[c] = addr
                elif k in ("free", "kvfree_rcu"):
                    self._pcp_free(c, self._live_del(op[1]), None)
                    va = d.find_unlink_vmap_area(op[1], cpu=c)
                    if d.free_vmap_area_noflush(va, cpu=c):
                        d.purge_vmap_area_lazy(cpu=c)
                elif k == "find":
                    d.find_vmap_area(op[1] + PAGE_SIZE // 2, cpu=c)
                elif k == "end":
                    if op[1]:
                        raise ValueError("a counted iteration before the warm-up ended")
                    warm[c] += 1
                    if warm[c] >= target:
                        continue                      # this worker is warm: stop here
                elif k == "test_done":
                    raise ValueError("warm-up outlived its test")
                still.append(c)
            active = still

    def _counters(self):
        return (list(self.wait_ns), list(self.acq))

    def _warm_done(self, c):
        """CPU *c* starts its first counted iteration; when all have, the window opens."""
        self.warm_end[c] = self.iter_start[c]
        self.n_warm += 1
        if self.n_warm == self.n_alloc and self.warmup:
            self.window[0] = (max(self.warm_end), self._counters())

    def _hand_over_drain(self, c):
        """A finished worker's queued drain moves to a CPU that is still running."""
        drains = [w for w in self.kwork[c] if w[1] == "drain"]
        if not drains:
            return
        for o in range(self.n):
            if not self.done[o]:
                self.kwork[o].extend(drains)
                return
        self.drain_queued = False

    def _pte_lines(self, addr, pages, c):
        """Cost of writing the PTEs of ``[addr, addr + pages)``: one line transfer for each
        page-table cache line (8 PTEs = 32 KiB of address space) another CPU wrote last
        (vmap_pages_range() on vmalloc, vunmap_range_noflush() on vfree)."""
        owner = self.pte_owner
        line = addr >> 15
        last = (addr + pages * PAGE_SIZE - 1) >> 15
        if line == last:                                     # the common 1-line case
            o = owner.get(line)
            owner[line] = c
            if o is not None and o != c:
                return 0.0 + self.transfer[o][c]
            return 0.0
        tr = self.transfer
        cost = 0.0
        for line in range(line, last + 1):
            o = owner.get(line)
            if o is not None and o != c:
                cost += tr[o][c]
            owner[line] = c
        return cost

    def _pcp_alloc(self, c, pages, out):
        """Take *pages* pages from CPU *c*'s per-CPU list (vm_area_alloc_pages() through the bulk
        allocator); each time it runs dry, refill ``pcp_batch`` pages from the buddy lists under
        ``zone->lock`` (mm/page_alloc.c rmqueue_bulk).  Returns how many of the pages came
        fresh from the buddy lists (cleared cold); appends the zone-lock steps to *out* (None:
        count only, the warm-up)."""
        have = self.pcp[c]
        if have >= pages:
            self.pcp[c] = have - pages
            return 0
        batch = self.costs.pcp_batch
        refills = -(-(pages - have) // batch)
        self.pcp[c] = have + refills * batch - pages
        if out is not None:
            self._zone_steps(refills, batch, out)
        return pages - have

    def _pcp_free(self, c, pages, out):
        """Give *pages* pages back to CPU *c*'s per-CPU list (vfree()'s __free_page loop); each
        time the list reaches ``pcp_high``, ``pcp_batch`` pages go back to the buddy lists
        under ``zone->lock`` (free_pcppages_bulk)."""
        high, batch = self.costs.pcp_high, self.costs.pcp_batch
        have = self.pcp[c] + pages
        if have < high or batch <= 0:
            self.pcp[c] = have
            return
        drains = (have - high) // batch + 1
        self.pcp[c] = have - drains * batch
        if out is not None:
            self._zone_steps(drains, batch, out)

    def _zone_steps(self, times, batch, out):
        """*times* zone-lock holds, each moving *batch* pages (``zone_page_ns`` per page)."""
        hold = batch * self.costs.zone_page_ns * self.pricer.scale + self.pricer.lock_ns
        step = (SPIN, self.zone_lock, hold, 0, 0)
        for _ in range(times):
            out.append(step)
        self.stats.zone_refills += times

    def _pick_other(self, c):
        live = self.live
        if not live:
            return None
        for _ in range(4):
            a = live[self.rng.randrange(len(live))]
            if self.owner_of[a] != c or self.n == 1:
                return a
        return a

    def _kworker(self, c, t):
        """Start the first ready kworker item of CPU *c*; True if one was started."""
        kw = self.kwork[c]
        for i, (ready, what, arg) in enumerate(kw):
            if ready <= t:
                del kw[i]
                out = []
                if what == "drain":
                    self.drain_start = t
                    acct = self.acct
                    if self.fused:
                        acct.out = out
                    else:
                        acct.fspill = out
                    purged = self.design.purge_vmap_area_lazy(cpu=c)
                    acct.finish()
                    out.append((WORK, purged * self.purge_area_ns[c] * self.pricer.scale))
                    out.append((WORK, 0.0))
                    out.append((DRAIN_DONE,))
                    self.stats.purges += 1
                else:                                        # kvfree_rcu block: vfree each
                    for a in arg:
                        self._vfree(c, a, out)
                out.append(END_STEPS)
                self.steps[c] = out
                self.pos[c] = 0
                return True
        return False

    # ------------------------------------------------------------------ worker protocol
    def _next(self, c, t):
        """Advance CPU *c*'s worker to its next timed operation and return its step list
        (``self.steps[c]``); None when the worker has finished.

        (The kworker queue and a pending lookup are looked at once: the operations this loops
        over without returning -- loop ends, test marks -- change neither.)"""
        kwork = self.kwork[c]
        if kwork and self._kworker(c, t):
            return self.steps[c]
        if self.finds:                                 # some lookup was timed
            find_pending = self.find_pending
            if find_pending[c] is not None:
                if self.warm_end[c] is not None:
                    self.stats.find_latencies.append(t - find_pending[c])
                find_pending[c] = None
        send = self._send[c]
        result = self.result
        while True:
            try:
                op = send(result[c])
            except StopIteration:
                self._worker_done(c, t)
                return None
            result[c] = None
            k = op[0]
            if k == "alloc":
                return self._alloc(c, op[1], op[2])
            if k == "free":
                return self._free(c, op[1])
            if k == "end":
                if op[1]:
                    if self.warm_end[c] is None:
                        self._warm_done(c)
                    st = self.stats
                    st.ops += 1
                    st.latencies.append(t - self.iter_start[c])
                    if self.count_end:
                        k = self.counted[c] = self.counted[c] + 1
                        if k == self.count_end and self.window[1] is None:
                            self.window[1] = (t, self._counters())
                            self.window_extra[1] = (st.clear_ns, st.drain_ns)
                self.iter_start[c] = t
                continue
            if k == "test" or k == "mark":
                if k == "test":
                    self.test_start[c] = t
                self.iter_start[c] = t
                continue
            if k == "test_done":
                name, ok = op[1], op[2]
                cnt = self.test_counts[c].setdefault(name, [0, 0, 0, 0.0, 0])
                if ok:
                    cnt[0] += 1
                elif name in self.xfail:
                    cnt[2] += 1
                else:
                    cnt[1] += 1
                cnt[3] += t - self.test_start[c]
                cnt[4] += 1
                self.test_start[c] = t
                self.iter_start[c] = t
                continue
            self._exec(c, op, t)
            return self.steps[c]

    def _worker_done(self, c, t):
        st = self.stats
        self.done[c] = True
        self._hand_over_drain(c)
        w0 = self.warm_end[c]
        if c >= self.n_alloc:                          # a reader: not part of the allocators' time
            if not self.readers_only:
                return
            w0 = 0.0
        elif self.reader_of and not self.readers_only:
            self.alloc_left -= 1
        self.clock_end = max(self.clock_end, t)
        st.worker_ns.append(t - (w0 if w0 is not None else t))
        if self.window[1] is None and self.window[0] is not None and self.warmup:
            self.window[1] = (t, self._counters())
