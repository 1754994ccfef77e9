"""Reader workloads beside the test_vmalloc allocators: what the kernel's readers of busy areas
cost, and what they cost the allocators.

A run of :func:`vmapsim.perf.simulate.simulate` with ``readers=[...]`` adds reader CPUs to the
allocator CPUs.  Each reader CPU repeats one kind of read at a rate the user chooses (a new
read every ``1 / rate`` seconds, at once if the previous one took longer), on the design the
allocators change, until every allocator has finished its loop:

``vread``
    ``vread_iter()`` of ``chunk`` pages from the start of a random live area: what a
    ``/proc/kcore`` reader (crash, drgn) does to dump a vmalloc'ed object.  Per area it copies:
    every node's ``busy.lock`` taken and dropped (``find_vmap_area_exceed_addr_lock``), then the
    owner's lock **held during the copy** (docs/kernel-facts.md F4).
``vmallocinfo``
    a read of ``/proc/vmallocinfo``: ``vmalloc_info_show()``, every node's busy list under its
    lock (a line printed per area, CONFIG_NUMA's per-page loop), then the lazy lists; the
    seq_file starts with a one-page buffer and re-runs the whole show with a buffer twice as
    large each time the output overflows it, so the walk is repeated ``1 + log2(output / 4 KiB)``
    times (only the lines that fit are formatted in each run).
``usercopy``
    hardened usercopy's ``check_heap_object()`` on a random live area: ``find_vmap_area()``,
    priced with the run's lookup protocol (``lookup=``; :mod:`vmapsim.perf.lookup_cost`).
``dump_obj``
    ``vmalloc_dump_obj()`` of a random live area: a **trylock** of the owner node's
    ``busy.lock``; the event core decides whether it succeeds (the lock free at that moment);
    a failure is counted and costs one atomic.

With ``rcu=True`` the walks of ``vread``, ``vmallocinfo`` and ``dump_obj`` run under RCU instead
of the locks, as M22 proposes for the maple-tree designs (:mod:`vmapsim.designs.readers`).

The prices of the work done under a reader's lock (per page copied, per line printed) are not
in ``data/perf/costs.json``; they are :data:`READER_COSTS`, assumed from typical x86 figures
and named as such.  :func:`reader_interference` compares, per design, allocators alone, readers
alone (on the same warm state) and both together: data only; the plot is
:func:`vmapsim.review.free_tree_plots.plot_reader_interference`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParameterError
from ..params import check_choice, check_float, check_int
from ..vmalloc.vmap_area import PAGE_SIZE
from .pricing import RCU_READ, SPIN, WORK

__all__ = ["READER_KINDS", "READER_COSTS", "ReaderSpec", "make_readers", "parse_reader",
           "reader_ops", "ReaderPricer", "TRYLOCK", "YIELD", "reader_interference"]

READER_KINDS = ("vread", "vmallocinfo", "usercopy", "dump_obj")

#: step kind of a trylock whose outcome the event core decides (after pricing's 0..9)
TRYLOCK = 10
#: step kind that only gives the other CPUs their turn (the event core checks the ready queue
#: at every step other than WORK; a reader whose read found nothing has no other shared step)
YIELD = 11

#: ns at the reference clock (pricing.REF_GHZ); assumptions, not measurements:
READER_COSTS = {
    # aligned_vread_iter(): vmalloc_to_page() (a 4-level page-table walk, cached) plus
    # copy_page_to_iter_nofault() of 4 KiB (~16 B/cycle copy loop + fault-handling setup)
    "copy_page_ns": 400.0,
    # a hole or guard page zero-filled into the user buffer (clear_user), per byte
    "zero_byte_ns": 0.03,
    # one vmallocinfo line: seq_printf() of two %pK, a %7ld, a %pS (kallsyms lookup of the
    # caller) and the flag words
    "print_line_ns": 1200.0,
    # a seq_printf() after the buffer overflowed: returns at once
    "overflow_line_ns": 15.0,
    # show_numa_info(): page_to_nid() and a counter increment per page
    "numa_page_ns": 3.0,
    # bytes of one vmallocinfo line (for the seq_file buffer doublings)
    "line_bytes": 110.0,
    # every read's own overhead outside the locks: a read() system call for vread and
    # vmallocinfo, the caller's work around the call for usercopy and dump_obj
    "read_overhead_ns": 200.0,
}


@dataclass(frozen=True)
class ReaderSpec:
    """One kind of reader: *cpus* reader CPUs, each doing *rate* reads per second
    (0: back to back), *chunk* pages per ``vread``, *ops* reads each when no allocator runs."""
    kind: str
    cpus: int = 1
    rate: float = 1000.0
    chunk: int = 16
    rcu: bool = False
    ops: int = 20

    @property
    def period_ns(self) -> float:
        return 1e9 / self.rate if self.rate > 0 else 0.0


def make_readers(readers) -> list[ReaderSpec]:
    """Validate *readers*: ReaderSpec objects, dicts of its fields, or ``parse_reader`` strings."""
    out = []
    for r in readers or ():
        if isinstance(r, str):
            r = parse_reader(r)
        elif isinstance(r, dict):
            r = ReaderSpec(**r)
        elif not isinstance(r, ReaderSpec):
            raise ParameterError(f"a reader is a ReaderSpec, a dict or a string, got {r!r}")
        check_choice("reader kind", r.kind, READER_KINDS)
        check_int("reader cpus", r.cpus, lo=1, hi=1024)
        check_float("reader rate", r.rate, lo=0.0)
        check_int("reader chunk", r.chunk, lo=1, hi=1 << 20)
        check_int("reader ops", r.ops, lo=1)
        out.append(r)
    return out


def parse_reader(text: str) -> ReaderSpec:
    """``KIND[:key=value,...]``, e.g. ``vread:cpus=2,rate=500,chunk=32`` or
    ``vmallocinfo:rate=10,rcu=1`` (keys: cpus, rate, chunk, rcu, ops)."""
    kind, _, rest = text.partition(":")
    kw = {}
    for item in filter(None, rest.split(",")):
        k, sep, v = item.partition("=")
        if not sep or k not in ("cpus", "rate", "chunk", "rcu", "ops"):
            raise ParameterError(f"reader option {item!r}: expected cpus=, rate=, chunk=, rcu= "
                                 f"or ops= (e.g. vread:cpus=2,rate=500)")
        try:
            kw[k] = float(v) if k == "rate" else (v not in ("0", "false", "no") if k == "rcu"
                                                  else int(v))
        except ValueError:
            raise ParameterError(f"reader option {k} must be a number, got {v!r}") from None
    return ReaderSpec(kind, **kw)


def reader_ops(spec: ReaderSpec):
    """A reader CPU's operation generator: ``rmark`` (the simulation answers True to stop),
    the read, ``rdone`` (answered with the idle time until the next read), ``idle``."""
    while True:
        stop = yield ("rmark", spec.kind)
        if stop:
            return
        yield ("reader", spec.kind)
        idle = yield ("rdone", spec.kind)
        if idle:
            yield ("idle", idle)


class ReaderPricer:
    """Steps of a reader's lock record: the design's holds plus the work the reader does
    under them (:data:`READER_COSTS`, scaled to the machine's clock like every other price)."""

    def __init__(self, pricer, costs: dict | None = None):
        self.pricer = pricer
        c = dict(READER_COSTS)
        c.update(costs or {})
        self.c = c
        self.scale = pricer.scale

    def _extra(self, holds, events, kinds=("copy_pages", "zero_bytes", "numa_pages")):
        c, s = self.c, self.scale
        extra = [0.0] * len(holds)
        lines = [0] * len(holds)
        for kind, v in events:
            if kind == "print_lines":
                lines[v[0]] += v[1]
            elif kind == "copy_pages":
                extra[v[0]] += v[1] * c["copy_page_ns"] * s
            elif kind == "zero_bytes":
                extra[v[0]] += v[1] * c["zero_byte_ns"] * s
            elif kind == "numa_pages":
                extra[v[0]] += v[1] * c["numa_page_ns"] * s
        return extra, lines

    def overhead(self, out: list) -> None:
        """The read's own work outside the locks (``read_overhead_ns``): every read takes time,
        even one that finds nothing to read."""
        out.append((WORK, self.c["read_overhead_ns"] * self.scale))
        out.append((YIELD,))

    def steps(self, holds, events, out: list) -> None:
        """Append the steps of one reader operation's record to *out*."""
        extra, lines = self._extra(holds, events)
        if not any(lines):
            self._append(holds, extra, out)
            return
        # seq_file: the show runs again with a doubled buffer while its output overflows
        c, s = self.c, self.scale
        total = sum(lines)
        buf = PAGE_SIZE
        while True:
            fit = int(buf // c["line_bytes"])
            run = list(extra)
            left = fit
            for i, n in enumerate(lines):
                done = min(n, max(0, left))
                left -= done
                run[i] += (done * c["print_line_ns"] + (n - done) * c["overflow_line_ns"]) * s
            self._append(holds, run, out)
            if total <= fit:
                break
            buf *= 2

    def _append(self, holds, extra, out):
        p = self.pricer
        rcu_ns = p.costs.rcu_read_ns
        for h, x in zip(holds, extra):
            w = p.work_ns(h.visited, h.written, h.alloc_bytes, h.free_bytes) + x
            if h.lock is None:
                out.append((WORK, w))
                continue
            lid = p.lock_id(h.lock)
            if h.kind == "rcu":
                out.append((RCU_READ, lid, w + rcu_ns, h.visited))
            elif h.kind == "trylock":
                out.append((TRYLOCK, lid, w + p.lock_ns, h.written, h.visited))
            else:
                out.append((SPIN, lid, w + p.lock_ns, h.written, h.visited))


# ----------------------------------------------------------------------------- comparisons
def reader_interference(designs=("linux-6.8", "linux-6.18", "rfc-maple-busy", "maple-nofree"),
                        readers=("vread:rate=2000", ), *, cpus: int = 8,
                        workload: str = "long_busy_list_alloc_test", loops: int = 60,
                        setup_scale: float = 0.2, lookups=("spinlock",), rcu=(False, True),
                        machine: str = "threadripper-3970x", seed: int = 0,
                        **extra) -> list[dict]:
    """Per design (and reader protocol where it applies): the allocators alone, the readers
    alone (same warm state, no allocator running) and both together.

    Each row: ``design``, ``lookup`` (usercopy's protocol), ``rcu`` (the walks of M22's plan),
    ``alloc_us`` / ``alloc_us_with_readers`` (us per allocator loop iteration) and
    ``alloc_slowdown`` (ratio - 1), then per reader kind ``<kind>_us`` / ``<kind>_us_with_
    allocators`` / ``<kind>_slowdown`` (us per read), ``<kind>_reads`` and
    ``dump_obj_trylock_failed`` (share of failed trylocks).  *rcu* variants run only on
    designs that allow them (maple-tree busy indexes); *lookups* matter only for usercopy.

    Readers pick random live areas: use a workload that keeps areas alive (the default
    ``long_busy_list_alloc_test``; ``full_fit_alloc_test``).  Under ``fix_size_alloc_test`` no
    area outlives its loop iteration, so with the allocators idle a vread, usercopy or dump_obj
    reader finds nothing to read and its "alone" time is only its own overhead."""
    from .simulate import simulate
    base = [make_readers([r])[0] for r in readers]
    out = []
    cache = {}
    for d in designs:
        from ..designs import design_class
        rcu_ok = design_class(d)._reader_rcu_ok
        for lookup in lookups:
            for use_rcu in rcu:
                if use_rcu and not rcu_ok:
                    continue
                rs = [ReaderSpec(**{**r.__dict__, "rcu": use_rcu and r.kind != "usercopy"})
                      for r in base]
                kw = dict(design=d, lookup=lookup, cpus=cpus, workload=workload, loops=loops,
                          setup_scale=setup_scale, machine=machine, seed=seed, **extra)
                key = (d, lookup)
                if key not in cache:
                    cache[key] = simulate(**kw)
                alone = cache[key]
                solo = simulate(readers=rs, readers_only=True, **kw)
                both = simulate(readers=rs, **kw)
                row = dict(design=d, lookup=lookup, rcu=use_rcu, cpus=cpus, workload=workload,
                           alloc_us=alone.us_per_op, alloc_us_with_readers=both.us_per_op,
                           alloc_slowdown=both.us_per_op / alone.us_per_op - 1.0)
                for r in rs:
                    a, b = solo.readers.get(r.kind), both.readers.get(r.kind)
                    if not a or not b or not a["reads"] or not b["reads"]:
                        continue
                    row[f"{r.kind}_us"] = a["mean_us"]
                    row[f"{r.kind}_us_with_allocators"] = b["mean_us"]
                    row[f"{r.kind}_slowdown"] = b["mean_us"] / a["mean_us"] - 1.0
                    row[f"{r.kind}_reads"] = b["reads"]
                    if r.kind == "dump_obj":
                        row["dump_obj_trylock_failed"] = b["trylock_failed"] / b["reads"]
                out.append(row)
    return out
