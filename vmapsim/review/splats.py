"""Notebook ``07-splats``: the three splats of the thread nobody answered (M15, M16).

* **Q8** (M16): a WARN in ``vmap_small_pages_range_noflush()`` (a PTE already present) and
  ``vmalloc error: size 409600, failed to map pages`` under ``long_busy_list_alloc_test``;
* **Q15** (M15): syzbot's ``(*left)->va_end > start`` WARN on the busy-tree insert in
  ``alloc_vmap_area()``, reached from BPF execmem;
* **Q9** (M16): the recursion ``vmap_bump_refill -> kvmalloc -> vmalloc -> alloc_vmap_area ->
  vmap_bump_refill`` that ends on the stack guard page.

The first two say that a range was handed out twice, or while still mapped.  Here the model of
the series (``rfc-v1`` with its bump overlay, :mod:`vmapsim.designs.rfc_v1_bump`) is driven by
short deterministic operation sequences (:data:`SEQUENCES`) through a :class:`Driver` that adds
what the allocator model does not have: a page table (which pages have a PTE, which were
unmapped but not yet flushed from the TLB) and the two kernel checks the splats come from
(``mm/vmalloc.c:vmap_pages_pte_range``: ``WARN_ON(!pte_none(...))`` then ``-EBUSY``; the
series' ``find_vmap_area_insert_neighbors_mt_locked``, modelled by the design's
``check_overlaps``).  Every sequence is recorded step by step in the format of the explorer's
step widget (:mod:`vmapsim.review.stepview`).

``vfree()`` is one step by default (unlink, unmap, lazy free).  The sequences may split it as
``mm/vmalloc.c:remove_vm_area`` does: ``vfree_unlink`` (``find_unlink_vmap_area()``, where the
series may release a drained chunk) and ``vfree_unmap`` (``free_unmap_vmap_area()``:
``vunmap_range_noflush()`` clears the PTEs, then the lazy free); between the two the area is
unlinked and its PTEs are still present.  ``migrate`` is a scheduling event glued to its
thread's next ``vmalloc``: after a successful refill the retry runs on another CPU.

The recursion (Q9) is in :mod:`vmapsim.review.splats_stack`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..designs import make_design
from ..designs.rfc_v1 import BusyInsertWarn
from ..designs.rfc_v1_bump import (
    VA_FROM_BUMP_CHUNK,
)
from ..errors import ParameterError
from ..params import check_choice, check_int
from ..vmalloc.vmap_area import PAGE_SIZE
from .explore_tables import Stepped
from .figures import finished
from .stepview import StepView

__all__ = [
    "MODULES_END",
    "MODULES_VADDR",
    "SEQUENCES",
    "Driver",
    "Interleavings",
    "SequenceRun",
    "interleavings",
    "needs_failure",
    "plot_interleavings",
    "run_sequence",
    "step_view",
    "SequenceView",
    "plot_sequence_step",
]

P = PAGE_SIZE
#: the address window the step view draws (two chunks)
MAP_SPAN = 128 << 20
#: x86-64 module area as the syzbot kernel had it (arch/x86/include/asm/pgtable_64_types.h:
#: MODULES_VADDR = __START_KERNEL_map + KERNEL_IMAGE_SIZE (512 MiB), MODULES_END); BPF execmem
#: allocates from [MODULES_VADDR + offset, MODULES_END) (arch/x86/mm/init.c:execmem_arch_setup)
MODULES_VADDR = 0xffffffffa0000000
MODULES_END = 0xffffffffff000000

# ------------------------------------------------------------------------------ sequences
# Each step: (thread, op, args).  ops: vmalloc(label, pages[, "module"]) -- an allocation of
# `pages` pages plus the guard page, mapped at once; vfree(label); purge; inject_refill(n) --
# the next n bump refills get NULL from kvzalloc (memory pressure / fault injection);
# inject_erase(n) -- the next n busy-tree mas_erase() calls cannot get their nodes;
# vfree_unlink(label) / vfree_unmap(label) -- the two steps of vfree() (module docstring);
# migrate(cpu) -- after the next successful refill the retry runs on CPU `cpu` (no failure).
_FILL = [("CPU1", "vmalloc", ("a", 100)), ("CPU1", "vmalloc", ("b", 1)),
         ("CPU1", "vfree", ("a",)), ("kworker", "purge", ()),
         ("CPU1", "vmalloc", ("big1", 8191)), ("CPU1", "vmalloc", ("big2", 8191)),
         ("CPU1", "vfree", ("b",)), ("CPU1", "vfree", ("big1",))]
_LIVE = [("CPU1", "vmalloc", ("a", 100)), ("CPU1", "vmalloc", ("b", 1)),
         ("CPU1", "vfree", ("a",)), ("kworker", "purge", ()),
         ("CPU0", "inject_refill", (1,)), ("CPU0", "vmalloc", ("x", 100)),
         ("CPU1", "vmalloc", ("big1", 8191)), ("CPU1", "vmalloc", ("big2", 8191)),
         ("CPU1", "vfree", ("b",)), ("CPU1", "vfree", ("big1",))]

#: name -> (title, patch that introduces the mechanism, steps, design knobs)
SEQUENCES = {
    "pooled-pte": (
        "a pooled area of a released chunk is handed out over a live mapping (M16's WARN)",
        "11/12", _FILL + [("CPU2", "vmalloc", ("c", 1)),
                          ("CPU0", "inject_refill", (1,)), ("CPU0", "vmalloc", ("d", 100))], {}),
    "pooled-busy": (
        "a pooled area of a released chunk is inserted over a busy area (M15's WARN)",
        "11/12", _FILL + [("CPU1", "vmalloc", ("y", 10240)),
                          ("CPU0", "inject_refill", (1,)), ("CPU0", "vmalloc", ("d", 100))], {}),
    "live-pte": (
        "a live recycled area loses its reservation when its chunk is released; a new chunk "
        "maps over it (M16's WARN)",
        "11/12", _LIVE + [("CPU2", "vmalloc", ("c", 100))], {}),
    "live-busy": (
        "a live recycled area loses its reservation when its chunk is released; a tree "
        "allocation is inserted over it (M15's WARN)",
        "11/12", _LIVE + [("CPU1", "vmalloc", ("y", 10240))], {}),
    "migrate-pte": (
        "no allocation fails: CPU3's task refills, migrates to CPU0 (no current chunk) before its "
        "second bump attempt and falls through to node 0's pool, which holds an area of the "
        "released chunk (M16's WARN)",
        "11/12", _FILL + [("CPU2", "vmalloc", ("c", 1)),
                          ("CPU3", "migrate", (0,)), ("CPU3", "vmalloc", ("d", 100))], {}),
    "window-pte": (
        "no allocation fails: vfree() unlinks the last area of a retired chunk, the release "
        "erases the chunk, and before vunmap_range_noflush() runs another CPU's refill takes "
        "the range and maps its first area over the still-present PTEs (M16's WARN)",
        "11/12", [("CPU1", "vmalloc", ("big1", 8191)), ("CPU1", "vmalloc", ("big2", 8191)),
                  ("CPU1", "vmalloc", ("e", 100)), ("CPU1", "vfree", ("big2",)),
                  ("CPU1", "vfree_unlink", ("big1",)), ("CPU2", "vmalloc", ("c", 100)),
                  ("CPU1", "vfree_unmap", ("big1",))], {}),
    "stale-erase": (
        "mas_erase() cannot get its nodes, returns the area anyway and leaves it in the busy "
        "tree; the next execmem allocation meets it (M15's WARN, module area, no bump chunk)",
        "09/12", [("CPU0", "vmalloc", ("pack", 1024, "module")),
                  ("CPU0", "inject_erase", (1,)), ("CPU0", "vfree", ("pack",)),
                  ("kworker", "purge", ()), ("CPU0", "vmalloc", ("rw_image", 1, "module"))], {}),
}


#: ops that are glued to their thread's next vmalloc in the interleavings
_GLUED = ("inject_refill", "inject_erase", "migrate")


def needs_failure(name: str) -> bool:
    """Does sequence *name* inject a failed allocation (a refill's kvzalloc() or a busy
    mas_erase())?  The others need only an order of operations."""
    check_choice("sequence", name, SEQUENCES)
    return any(op.startswith("inject") for _, op, _ in SEQUENCES[name][2])


def _fmt(addr: int, base: int) -> str:
    off = addr - base
    if off % (1 << 20) == 0 and off:
        return f"+{off >> 20}M"
    return f"+{off:#x}"


class Driver:
    """vmalloc()/vfree() over a design: the allocator model plus a page table.

    ``mapped`` maps a label to the range whose PTEs it holds; ``stale`` lists ranges unmapped
    by a vfree() whose TLB flush (the next purge) has not happened yet.  ``warns`` lists the
    kernel messages the run produced, in order; ``hazards`` the silent ones (a page mapped again
    before the flush of its previous mapping)."""

    def __init__(self, design):
        self.d = design
        self.areas: dict[str, tuple[int, int]] = {}
        self.live: dict[str, bool] = {}
        self.mapped: dict[str, tuple[int, int]] = {}
        self.stale: list[tuple[int, int, str]] = []
        #: areas find_unlink_vmap_area() returned whose PTEs are not cleared yet
        self.unlinked: dict[str, object] = {}
        self.warns: list[dict] = []
        self.hazards: list[str] = []

    def label_of(self, addr: int) -> str:
        """The label of the area at *addr*: a live one first, else the last one there."""
        hit = "?"
        for k, (s, e) in self.areas.items():
            if s <= addr < e:
                if k in self.live:
                    return k
                hit = k + " (freed)"
        return hit

    # -------------------------------------------------------------- operations
    def vmalloc(self, label: str, pages: int, where: str = "vmalloc", cpu: int = 0) -> str:
        d = self.d
        size = (pages + 1) * P                      # __get_vm_area_node adds the guard page
        vstart, vend = (MODULES_VADDR, MODULES_END) if where == "module" else (None, None)
        bumps = d.bump.counts["bump_allocs"] if d.bump else 0
        pooled = {va.va_start for vn in d.nodes for lst in vn.pool.values() for va in lst}
        try:
            addr = d.alloc_vmap_area(size, PAGE_SIZE, vstart, vend, cpu)
        except BusyInsertWarn as warn:              # the run stops here (panic_on_warn)
            sp = warn.args[0]
            self.warns.append(dict(sp, op=f"vmalloc {label}", text=(
                f"WARNING at find_vmap_area_insert_neighbors_mt_locked: {sp['warn']} "
                f"(new {label}, existing {self.label_of(sp['existing'][0])})")))
            return f"busy insert at {sp['new'][0]:#x}: WARN"
        if addr is None:
            return "failed (no address)"
        src = ("bump" if d.bump and d.bump.counts["bump_allocs"] > bumps
               else "pool" if addr in pooled else "tree")
        self.areas[label] = (addr, addr + size)
        end = addr + pages * P                      # vmap_pages_range: the guard page is not mapped
        for other, (s, e) in self.mapped.items():
            if s < end and addr < e:
                page = max(s, addr)
                self.warns.append({"kind": "pte_present", "op": f"vmalloc {label}",
                                   "page": page, "owner": other, "text": (
                    f"WARNING at vmap_pages_pte_range (vmap_small_pages_range_noflush): PTE "
                    f"present (mapped by {other}); vmalloc error: size {pages * P}, failed "
                    "to map pages")})
                return f"{src} at {addr:#x}: map FAILED"
        for s, e, who in self.stale:
            if s < end and addr < e:
                self.hazards.append(f"{label} maps pages that {who} unmapped before the last "
                                    "TLB flush")
                break
        self.mapped[label] = (addr, end)
        self.live[label] = True
        return f"{src} at {addr:#x}"

    def vfree(self, label: str, cpu: int = 0, stage: str = "all") -> str:
        """``vfree()`` of *label*: ``stage="all"`` in one step, or ``"unlink"``
        (``find_unlink_vmap_area()``) then ``"unmap"`` (``free_unmap_vmap_area()``)."""
        d = self.d
        if stage in ("all", "unlink"):
            start, _ = self.areas[label]
            releases = d.bump.counts["releases"] if d.bump else 0
            va = d.find_unlink_vmap_area(start, cpu)
            if va is None:
                return "not found"
            self.live.pop(label, None)
            if stage == "unlink":
                self.unlinked[label] = va
                released = d.bump is not None and d.bump.counts["releases"] > releases
                return ("unlinked; chunk released, its 64 MB erased; PTEs still present"
                        if released else "unlinked; PTEs still present")
        else:
            va = self.unlinked.pop(label)
        rng = self.mapped.pop(label, None)          # vunmap_range_noflush: no TLB flush
        if rng is not None:
            self.stale.append((rng[0], rng[1], label))
        if d.free_vmap_area_noflush(va, cpu):
            self.purge()
            return "unmapped; lazy; drain ran"
        return ("unmapped; lazy (TLB flush deferred)" if stage == "unmap"
                else "lazy (TLB flush deferred)")

    def purge(self) -> str:
        n = self.d.purge_vmap_area_lazy()
        self.stale.clear()
        return f"{n} areas purged, TLB flushed"

    # -------------------------------------------------------------- state for the step view
    def address_map(self, base: int, span: int = MAP_SPAN) -> list[tuple]:
        """``(row, start, end, label)`` of what lies in ``[base, base + span)``: occupied-tree
        entries, bump chunks, live areas, pool entries and stale busy entries."""
        d, out = self.d, []
        hi = base + span
        for f, l, _ in d.gap.mt.items(base, hi - 1):
            out.append(("occupied tree", max(f, base), min(l + 1, hi), ""))
        if d.bump is not None:
            for c in d.bump.chunks + [c for c in d.bump.cur if c is not None]:
                if c.base < hi and c.limit > base:
                    out.append(("bump chunks", max(c.base, base), min(c.limit, hi),
                                f"CPU{c.owner}"))
        for label, (s0, e0) in self.areas.items():
            if label in self.live and s0 < hi and e0 > base:
                out.append(("live areas", s0, min(e0, hi), label))
        for vn in d.nodes:
            for lst in vn.pool.values():
                for va in lst:
                    if va.va_start < hi and va.va_end > base:
                        out.append(("pools", va.va_start, min(va.va_end, hi), f"n{vn.id}"))
        for label in self.unlinked:
            s0, e0 = self.mapped.get(label, self.areas[label])
            if s0 < hi and e0 > base:
                out.append(("unlinked, mapped", s0, min(e0, hi), label))
        for s0, e0, who in self.stale:
            if s0 < hi and e0 > base:
                out.append(("TLB not flushed", s0, min(e0, hi), who))
        for va in getattr(d, "stale_busy", ()):
            if va.va_start < hi:
                out.append(("stale busy", va.va_start, min(va.va_end, hi), "stale"))
        for w in self.warns:
            s0, e0 = w.get("new") or self.areas.get(w["op"].split()[-1], (0, 0))
            if s0 < hi and e0 > base:
                out.append(("handed out twice", s0, min(e0, hi), w["op"].split()[-1]))
        return sorted(set(out), key=lambda t: (t[0], t[1]))

    def state(self, base: int) -> dict[str, str]:
        d, out = self.d, {}
        if d.bump is not None:
            live = d.bump.chunks + [c for c in d.bump.cur if c is not None and c not in d.bump.chunks]
            for c in sorted(live, key=lambda c: c.base):
                cur = c is d.bump.cur[c.owner]
                out[f"chunk@{_fmt(c.base, base)}"] = (
                    f"{'live current' if cur else 'live retired'} of CPU{c.owner}, "
                    f"bump {_fmt(c.bump, base)}, {c.alloced} pages out")
        for vn in d.nodes:
            for idx, lst in sorted(vn.pool.items()):
                out[f"pool n{vn.id}/{idx + 1}p"] = ", ".join(
                    _fmt(va.va_start, base) + (" (bump)" if va.flags & VA_FROM_BUMP_CHUNK else "")
                    for va in lst)
        for label, (s, e) in self.areas.items():
            if label in self.live:
                out[label] = (f"live [{_fmt(s, base)}, {_fmt(e, base)})"
                              + (" -- NOT reserved in the occupied tree"
                                 if d.gap.overlaps_free(s, e) else ""))
        for label in self.unlinked:
            s, e = self.areas[label]
            out[label] = (f"unlinked [{_fmt(s, base)}, {_fmt(e, base)}), PTEs still present "
                          "(vunmap_range_noflush not run yet)")
        for va in getattr(d, "stale_busy", ()):
            out[f"busy entry {_fmt(va.va_start, base)}"] = (
                f"stale [{_fmt(va.va_start, base)}, {_fmt(va.va_end, base)}): freed, still in "
                "vn->busy.mt")
        occ = [f"[{_fmt(f, base)}, {_fmt(l + 1, base)})"
               for f, l, _ in d.gap.mt.items(base, base + 256 * (1 << 20) - 1)]
        out["occupied tree"] = ("in use " + ", ".join(occ[:6]) + (" ..." if len(occ) > 6 else "")
                                if occ else "nothing in use near the start")
        mapped = sum(e - s for s, e in self.mapped.values()) // P
        stale = sum(e - s for s, e, _ in self.stale) // P
        out["page table"] = f"{mapped} PTEs, {stale} unmapped awaiting TLB flush"
        return out


@dataclass
class SequenceRun:
    """One sequence run: its steps (explorer step-record format), the kernel messages and the
    design's bump counters."""
    name: str
    title: str
    patch: str
    release: str
    steps: list
    warns: list
    hazards: list
    counts: dict
    stepped: Stepped = field(repr=False, default=None)

    @property
    def first_warn(self) -> str | None:
        return self.warns[0]["kind"] if self.warns else None

    def table(self) -> list[tuple]:
        return [(s["step"], s["thread"], s["op"], s.get("result", "")) for s in self.steps]


def _run_ops(ops, release, cpus, seed, inject, record, base_module=False):
    d = make_design("rfc-v1", possible_cpus=cpus, chunk_release=release, check_overlaps=True,
                    seed=seed)
    drv = Driver(d)
    base = MODULES_VADDR if base_module else d.vmalloc_start
    threads = sorted({t for t, _, _ in ops}, key=lambda t: (t == "kworker", t))
    steps = []
    released = False
    for i, (thread, op, args) in enumerate(ops):
        cpu = int(thread[3:]) if thread.startswith("CPU") else 0
        nwarn = len(drv.warns)
        if op == "vmalloc":
            label, pages = args[0], args[1]
            res = drv.vmalloc(label, pages, args[2] if len(args) > 2 else "vmalloc", cpu)
            text = f"vmalloc {label} ({pages} page{'s' if pages > 1 else ''}"
            text += ", execmem/module area)" if len(args) > 2 else ")"
        elif op == "vfree":
            res, text = drv.vfree(args[0], cpu), f"vfree {args[0]}"
        elif op == "vfree_unlink":
            res = drv.vfree(args[0], cpu, "unlink")
            text = f"vfree {args[0]}: find_unlink_vmap_area"
        elif op == "vfree_unmap":
            res = drv.vfree(args[0], cpu, "unmap")
            text = f"vfree {args[0]}: free_unmap_vmap_area (vunmap)"
        elif op == "migrate":
            d.bump.inject_migration(args[0])
            res = f"after its next refill the task runs on CPU{args[0]}"
            text = f"preempted, migrates to CPU{args[0]}"
        elif op == "purge":
            res, text = drv.purge(), "purge_vmap_area_lazy"
        elif op.startswith("inject") and not inject:
            res, text = "skipped (control run)", f"no injection ({op})"
        elif op == "inject_refill":
            d.bump.inject_refill_failure(args[0])
            res, text = "next refill's kvzalloc() returns NULL", "inject: kvzalloc fails"
        elif op == "inject_erase":
            d.inject_busy_erase_failure(args[0])
            res, text = "next mas_erase() gets no nodes", "inject: mas_erase ENOMEM"
        else:                                       # pragma: no cover - data error
            raise ParameterError(f"unknown op {op!r}")
        if record:
            notes = []
            c = d.bump.counts
            if op in ("vfree", "vfree_unlink") and c["releases"] and not released:
                released = True
                notes.append("chunk drained and released: its whole 64 MB erased from the "
                             f"occupied tree ({c['release_pooled_pages']} pooled, "
                             f"{c['release_live_pages']} live, {c['release_exposed_pages']} lazy "
                             "pages inside)")
            notes += [w["text"] for w in drv.warns[nwarn:]]
            positions = {t: next((f"{o} {' '.join(map(str, a))}" for tt, o, a in ops[i + 1:]
                                  if tt == t), "done") for t in threads}
            rec = {"step": i, "thread": thread, "op": text, "kind": "op", "result": res,
                   "preempt": False, "notes": notes, "rcu": {}, "objects": drv.state(base),
                   "locks": {}, "positions": positions, "trees": None,
                   "map": drv.address_map(base), "base": base}
            if len(drv.warns) > nwarn:
                rec["violation"] = drv.warns[nwarn]["text"]
            steps.append(rec)
        if len(drv.warns) > nwarn:
            break
    return d, drv, threads, steps


def run_sequence(name: str = "pooled-pte", release: str = "series", cpus: int = 4,
                 seed: int = 0, inject: bool = True) -> SequenceRun:
    """Run sequence *name* on ``rfc-v1`` (``chunk_release=release``) and record every step;
    ``inject=False`` drops the sequence's fault injections (the control run)."""
    check_choice("sequence", name, SEQUENCES)
    check_choice("release", release, ("series", "consistent"))
    check_int("cpus", cpus, lo=3, hi=64)
    title, patch, ops, _ = SEQUENCES[name]
    d, drv, threads, steps = _run_ops(ops, release, cpus, seed, inject, True,
                                      base_module=name == "stale-erase")
    counts = dict(d.bump.counts) if d.bump else {}
    violation = drv.warns[0]["text"] if drv.warns else None
    stepped = Stepped(name, title, "violation" if violation else "never", violation,
                      [s["thread"] for s in steps], 0, threads, steps,
                      "\n".join(f"{s['step']:2d} {s['thread']:8s} {s['op']}" for s in steps), "")
    return SequenceRun(name, title, patch, release, steps, drv.warns, drv.hazards, counts, stepped)


_STEPPED_CACHE: dict = {}
_ROWS = ("occupied tree", "bump chunks", "live areas", "unlinked, mapped", "TLB not flushed",
         "pools", "stale busy", "handed out twice")
_ROW_COLOURS = {"occupied tree": "#7f8c8d", "bump chunks": "#5dade2", "live areas": "#2a7d2a",
                "unlinked, mapped": "#e67e22",
                "TLB not flushed": "#b7950b", "pools": "#d35400", "stale busy": "#884ea0",
                "handed out twice": "#c0392b"}


class SequenceView(StepView):
    """One step of a sequence: the explorer's step text (:func:`stepview.step_text`) and a
    figure of its own (thread lanes, the state after the step, the address map)."""

    def figure(self):
        return plot_sequence_step(self.stepped, self.step)


def step_view(sequence: str = "pooled-pte", step: int = 0, release: str = "series") -> SequenceView:
    """The experiment the step slider binds to (shown with ``stepview.show_step``)."""
    check_choice("sequence", sequence, SEQUENCES)
    check_choice("release", release, ("series", "consistent"))
    key = (sequence, release)
    if key not in _STEPPED_CACHE:
        _STEPPED_CACHE[key] = run_sequence(sequence, release).stepped
    return SequenceView(_STEPPED_CACHE[key], step)


def plot_sequence_step(st: Stepped, step: int):
    """Thread lanes up to *step*, the state after it, and the address map of the first two
    chunks' worth of address space (whole window and its first MiB)."""
    import textwrap

    import matplotlib.pyplot as plt

    step = st.clamp(step)
    e = st.steps[step]
    fig = plt.figure(figsize=(11, 7.0))
    gs = fig.add_gridspec(3, 2, height_ratios=(3.0, 1.6, 1.6), width_ratios=(1.35, 1),
                          hspace=0.55, wspace=0.04, left=0.1, right=0.99, top=0.93, bottom=0.06)
    ax_l, ax_s = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    for ax in (ax_l, ax_s):
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    bad = "violation" in e
    fig.suptitle(f"{st.scenario}: step {e['step']} / {len(st) - 1}" + ("  --  KERNEL WARN" if bad else ""),
                 fontsize=10, x=0.01, ha="left", color="#c0392b" if bad else "k")
    threads = st.threads
    colw = 1.0 / max(1, len(threads))
    for c, t in enumerate(threads):
        x = c * colw
        ax_l.text(x + 0.01, 0.98, t, fontsize=9, weight="bold", va="top")
        mine = [s for s in st.steps[: step + 1] if s["thread"] == t][-9:]
        for k, s in enumerate(mine):
            txt = "\n".join(textwrap.wrap(f"{s['step']}: {s['op']}", int(140 * colw))[:2])
            kw = dict(fontsize=6.5, family="monospace", va="top")
            if s is e:
                kw.update(weight="bold", backgroundcolor="#f5b7b1" if bad else "#ffe9a8")
            ax_l.text(x + 0.01, 0.88 - k * 0.1, txt, **kw)
        if c:
            ax_l.axvline(x, color="#ccc", lw=0.8)
    note = e.get("violation") or "; ".join(e.get("notes", ())) or f"-> {e.get('result', '')}"
    ax_l.text(0.0, -0.04, "\n".join(textwrap.wrap(note, 130)[:3]), fontsize=7, va="top",
              color="#c0392b" if bad else "#444")
    y = 0.98
    ax_s.text(0.0, y, "state after the step", fontsize=9, weight="bold", va="top")
    y -= 0.08
    for k, v in e.get("objects", {}).items():
        line = "\n".join(textwrap.wrap(f"{k}: {v}", 72)[:2])
        colour = "#c0392b" if "NOT reserved" in v or "stale" in v else "#222"
        ax_s.text(0.0, y, line, fontsize=6.5, family="monospace", va="top", color=colour)
        y -= 0.065 * (1 + line.count("\n"))
    base = e.get("base", 0)
    for row, span, title in ((1, MAP_SPAN, "address map, first 128 MiB of the window (MiB)"),
                             (2, 1 << 20, "its first MiB (KiB)")):
        ax = fig.add_subplot(gs[row, :])
        unit = (1 << 20) if span == MAP_SPAN else 1024
        for (name, s0, e0, label) in e.get("map", ()):
            if s0 - base >= span:
                continue
            yk = len(_ROWS) - 1 - _ROWS.index(name)
            x0, x1 = (s0 - base) / unit, (min(e0 - base, span)) / unit
            ax.broken_barh([(x0, max(x1 - x0, span / unit / 400))], (yk - 0.35, 0.7),
                           facecolors=_ROW_COLOURS[name], edgecolors="k", linewidth=0.3,
                           alpha=0.85)
            if label and (x1 - x0) > span / unit / 25:
                ax.text((x0 + x1) / 2, yk, label, fontsize=6, ha="center", va="center",
                        color="white")
        ax.set_yticks(range(len(_ROWS)))
        ax.set_yticklabels(list(reversed(_ROWS)), fontsize=7)
        ax.set_xlim(0, span / unit)
        ax.set_ylim(-0.6, len(_ROWS) - 0.4)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(title, fontsize=8, loc="left")
    return finished(fig)


# ------------------------------------------------------------------------------ interleavings
@dataclass
class Interleavings:
    """Every order of a sequence's operations that keeps each thread's own order."""
    name: str
    release: str
    total: int
    first: Counter
    example: dict
    #: orders with no kernel message in which a page was mapped again before the TLB flush of
    #: its previous mapping (silent in the kernel)
    silent: int = 0

    def rows(self) -> list[tuple]:
        return [(self.name, self.release, k, v, f"{v / self.total:.1%}")
                for k, v in sorted(self.first.items())]


def _merges(programs):
    """All interleavings of *programs* (lists), each program's order kept."""
    idx = [0] * len(programs)
    total = sum(len(p) for p in programs)
    out: list = []

    def rec(acc):
        if len(acc) == total:
            yield list(acc)
            return
        for k, prog in enumerate(programs):
            if idx[k] < len(prog):
                acc.append(prog[idx[k]])
                idx[k] += 1
                yield from rec(acc)
                idx[k] -= 1
                acc.pop()
    yield from rec(out)


def interleavings(name: str = "pooled-pte", release: str = "series", cpus: int = 4,
                  limit: int | None = None) -> Interleavings:
    """Run every interleaving of sequence *name*'s threads (the purge worker is a thread of its
    own; an injection or migration stays just before its thread's next allocation) and count
    the first kernel message of each; *limit* caps how many are run (None: all)."""
    check_choice("sequence", name, SEQUENCES)
    check_choice("release", release, ("series", "consistent"))
    ops = SEQUENCES[name][2]
    progs: dict[str, list] = {}
    pending: dict[str, list] = {}
    for t, op, a in ops:                  # glue each injection / migration to the next op
        if op in _GLUED:
            pending.setdefault(t, []).append((t, op, a))
            continue
        progs.setdefault(t, []).append(tuple(pending.pop(t, [])) + ((t, op, a),))
    first: Counter = Counter()
    example: dict = {}
    n = silent = 0
    for order in _merges(list(progs.values())):
        flat = [x for group in order for x in group]
        _, drv, _, _ = _run_ops(flat, release, cpus, 0, True, False,
                                base_module=name == "stale-erase")
        kind = drv.warns[0]["kind"] if drv.warns else "none"
        first[kind] += 1
        silent += bool(not drv.warns and drv.hazards)
        example.setdefault(kind, [f"{t} {o} {' '.join(map(str, a))}" for t, o, a in flat])
        n += 1
        if limit is not None and n >= limit:
            break
    return Interleavings(name, release, n, first, example, silent)


def plot_interleavings(results):
    """Share of interleavings per first kernel message, one bar group per sequence/release.
    The figure is not registered with pyplot, so a notebook shows it once (as the cell's
    value)."""
    from matplotlib.figure import Figure

    kinds = [("busy_insert_overlap", "busy-insert WARN (M15)"),
             ("pte_present", "PTE-present WARN (M16)"), ("none", "no message")]
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    labels = [f"{r.name}\n{r.release}" for r in results]
    bottom = [0.0] * len(results)
    for kind, text in kinds:
        vals = [r.first.get(kind, 0) / max(1, r.total) for r in results]
        ax.bar(range(len(results)), vals, 0.6, bottom=bottom, label=text)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(results)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("share of interleavings")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("all interleavings of each sequence's threads (model of the series)", fontsize=9)
    fig.tight_layout()
    return finished(fig)
