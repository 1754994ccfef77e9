"""Explorer experiments shared by the review notebooks 02, 03 and 06.

Thin, keyword-parameter functions over :mod:`vmapsim.explore` and the scenario builders:

* :func:`verdicts` -- explore catalogue scenarios and tabulate verdict, executions and
  whether the search was exhaustive (memoised: the explorer is deterministic);
* :func:`protocol_matrix` -- which lookup protocol is safe for which kind of caller, by
  running :func:`vmapsim.explore.scenarios.lookup_race` for every (caller, protocol) pair;
* :func:`on_maple_tree` -- run a catalogue lookup scenario (C1, C3, C4, D1...) on the real
  :class:`vmapsim.maple.MapleTree` in RCU mode instead of the one-op slot index, so a
  counterexample also shows the tree's nodes (the walk, copy-on-write, the old node's
  ``call_rcu``);
* :func:`stepped` -- a counterexample (or any schedule) recorded step by step, the data
  the step-through widget binds to (:mod:`vmapsim.review.stepview` draws it).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..explore import explore, replay
from ..params import ParameterError, check_choice, check_int

__all__ = ["VerdictRow", "verdicts", "CALLER_KINDS", "MATRIX_PROTOCOLS", "ProtocolMatrix",
           "protocol_matrix", "on_maple_tree", "Stepped", "stepped"]


@dataclass
class VerdictRow:
    """One explored scenario."""

    id: str
    summary: str
    expected: str
    verdict: str
    exhaustive: bool
    executions: int
    preemptions: int | None
    seconds: float
    violation: str | None
    matches: bool

    def cells(self):
        return (self.id, self.verdict, "yes" if self.exhaustive else "no", self.executions,
                "" if self.preemptions is None else self.preemptions,
                "ok" if self.matches else "MISMATCH")

    HEADER = ("scenario", "verdict", "exhaustive", "executions", "preemptions", "expected")


@functools.lru_cache(maxsize=256)
def explore_id(sid: str, strategy: str, bound):
    return explore(sid, strategy=strategy, bound=bound)


def verdicts(ids, strategy: str = "exhaustive", bound: int | None = None) -> list[VerdictRow]:
    """Explore each catalogue scenario in ``ids`` (memoised per id and strategy)."""
    from ..explore import scenarios

    cat = {i: (s, e) for i, s, e in scenarios.catalogue()}
    rows = []
    for sid in ids:
        check_choice("scenario", sid, list(cat))
        r = explore_id(sid, strategy, bound)
        rows.append(VerdictRow(sid, cat[sid][0], cat[sid][1], r.verdict, r.exhaustive,
                               r.executions, r.preemptions, r.seconds, r.violation,
                               r.matches_expectation))
    return rows


# --------------------------------------------------------------------------- protocol matrix

#: kinds of ``find_vmap_area``/``find_vm_area`` caller as :func:`lookup_race` knobs (the
#: scenario side; the kernel's callers themselves are :data:`vmapsim.review.lockless_find.KERNEL_CALLERS`).
#: Each row names who the caller is and how the area leaves the busy tree; the property
#: checked is what that caller needs (no use-after-free; what it uses describes an area that
#: contains its address).  A generation change is reported beside the verdict, not as one.
CALLER_KINDS = {
    "owner (every find_vm_area caller, F1): reads vm fields": dict(owner=True, use="vm"),
    "usercopy (check_heap_object): reads va_end; area purged to the slab": dict(use="bounds"),
    "usercopy: reads va_end; area recycled by a node pool": dict(use="bounds", reuse="pool"),
    "usercopy: reads va_end; area not merged: a free-range descriptor (6.18)": dict(
        use="bounds", reuse="free-desc"),
    "non-owner that follows va->vm (M22's lockless vread_iter / vmallocinfo)": dict(use="vm"),
    "non-owner keeps the vm pointer; pool reuse, no GP": dict(use="vm-pointer", reuse="pool"),
    "non-owner keeps the vm pointer; pool reuse after a GP": dict(use="vm-pointer",
                                                                  reuse="pool-gp"),
    "type-safe cache (a design, not 6.18): object reused at another address": dict(
        use="vm-pointer", reuse="typesafe-elsewhere", reclaim="typesafe"),
}

#: protocol columns: (label, protocol, options); ``reclaim`` is how the column's design frees
#: an area that leaves through the slab (6.18: kmem_cache_free after the lazy purge, no grace
#: period; the RCU designs: call_rcu as M23 plans); a row's own ``reclaim`` wins.
MATRIX_PROTOCOLS = (
    ("spinlock-6.18 (today)", "spinlock-6.18", {"reclaim": "kfree"}),
    ("lock held through the use", "spinlock", {"reclaim": "kfree"}),
    ("rcu-readonce (M23)", "rcu-readonce", {}),
    ("rcu-readonce, use inside RCU", "rcu-readonce", {"hold_rcu": True}),
    ("rcu-trylock-retry", "rcu-trylock-retry", {}),
    ("rcu-refcount", "rcu-refcount", {}),
    ("seqcount copy-out", "seqcount", {}),
)

# The builder recycles the object inside vfree(); with references the recycle belongs to the
# last put, so a pool-reuse cell for rcu-refcount would test the scenario, not the protocol.
_NOT_MODELLED = {("rcu-refcount", "pool"), ("rcu-refcount", "free")}


@dataclass
class ProtocolMatrix:
    """``cells[caller][protocol label]`` = (verdict, executions, violation, observed) or None
    (not modelled); ``notes`` explains the None cells, the copy-out column and the
    observations."""

    callers: list
    protocols: list
    cells: dict
    seconds: float
    notes: list = field(default_factory=list)

    def verdict(self, caller: str, protocol: str):
        c = self.cells[caller][protocol]
        return None if c is None else c[0]

    def observed(self, caller: str, protocol: str) -> list:
        c = self.cells[caller][protocol]
        return [] if c is None else list(c[3] or [])

    def rows(self, short: bool = True):
        """Table rows: ``UNSAFE`` (a property the caller needs is violated), ``safe`` or
        ``safe, gen.`` (safe; the reader can meet a new generation of the object)."""
        out = []
        for c in self.callers:
            row = [c]
            for p in self.protocols:
                cell = self.cells[c][p]
                if cell is None:
                    row.append("n/a")
                elif not short:
                    row.append(f"{cell[0]} ({cell[1]})")
                elif cell[0] == "violation":
                    row.append("UNSAFE")
                else:
                    row.append("safe, gen." if cell[3] else "safe")
            out.append(tuple(row))
        return out

    def safe_for_all(self, protocol: str) -> bool:
        return all(self.cells[c][protocol] is None or self.cells[c][protocol][0] == "never"
                   for c in self.callers)


@functools.lru_cache(maxsize=8)
def _matrix(callers: tuple, protocols: tuple) -> ProtocolMatrix:
    import time

    from ..explore.scenarios import lookup_race

    t0 = time.perf_counter()
    labels = [p[0] for p in MATRIX_PROTOCOLS if p[0] in protocols]
    cells = {}
    for c in callers:
        knobs = CALLER_KINDS[c]
        cells[c] = {}
        for label, proto, opts in MATRIX_PROTOCOLS:
            if label not in protocols:
                continue
            reuse = knobs.get("reuse", "none")
            if (proto, reuse.split("-")[0]) in _NOT_MODELLED:
                cells[c][label] = None
                continue
            kw = dict(opts)
            col_reclaim = kw.pop("reclaim", None)
            row = dict(knobs)
            if col_reclaim is not None:
                row.setdefault("reclaim", col_reclaim)
            r = explore(lookup_race(protocol=proto, **row, **kw))
            if not (r.exhaustive or r.verdict == "violation"):
                raise RuntimeError(f"{c} / {label}: search not exhaustive ({r.limit_hit})")
            cells[c][label] = (r.verdict, r.executions, r.violation, tuple(r.observed or ()))
    notes = ["n/a: the scenario recycles the area (pool, free tree) inside vfree(); with "
             "references that belongs to the last put, which the builder does not model.",
             "free-range descriptor: 6.18's lazy purge links an area that merges with no free "
             "neighbour into the free tree as a descriptor (mm/vmalloc.c:"
             "__merge_or_add_vmap_area); a later merge or va_clip() rewrites its bounds in place, "
             "with no grace period, so a stale reader gets a wrong bound, not a use-after-free. "
             "M23's call_rcu replaces kmem_cache_free() and does not cover this exit. The series "
             "has no such exit (patch 07: reclaim_list_global() frees every object to the slab); "
             "pooled areas reach it in 6.18 through decay_va_pool_node().",
             "seqcount copy-out returns copies of va_start, va_end and the vm pointer only; "
             "its callers never dereference the area or the vm_struct, so 'safe' there means "
             "'no dereference', not 'can read vm->flags'.",
             "'safe, gen.': no property violated, and the reader can meet the object after a "
             "pool handed it to a new owner (same object, same bounds, new vm_struct): its "
             "answer is right for its address; only a caller that must see the same "
             "allocation it looked up would mind, and no 6.18 caller is one.",
             "the slab exit is 6.18's kmem_cache_free after the lazy purge in the two locked "
             "columns and M23's call_rcu in the RCU columns; the explorer folds vfree, the "
             "lazy purge and the free into the writer's steps."]
    return ProtocolMatrix(list(callers), labels, cells, time.perf_counter() - t0, notes)


def protocol_matrix(callers=None, protocols=None) -> ProtocolMatrix:
    """Explore every (caller kind, protocol) pair exhaustively (memoised).

    ``callers``: keys of :data:`CALLER_KINDS` (default all); ``protocols``: labels of
    :data:`MATRIX_PROTOCOLS` (default all).  A cell's verdict is ``violation`` (a
    counterexample exists) or ``never`` (exhaustive search found none)."""
    callers = tuple(CALLER_KINDS) if callers is None else tuple(callers)
    protocols = tuple(p[0] for p in MATRIX_PROTOCOLS) if protocols is None else tuple(protocols)
    for c in callers:
        check_choice("caller", c, list(CALLER_KINDS))
    for p in protocols:
        check_choice("protocol", p, [x[0] for x in MATRIX_PROTOCOLS])
    return _matrix(callers, protocols)


# --------------------------------------------------------------------------- maple-tree variant

def on_maple_tree(scenario, areas: int = 3, tree_mode: str = "rcu"):
    """Return ``scenario`` (a :mod:`vmapsim.explore.scenarios.lookup` scenario or its id) with its busy
    index replaced by a real maple tree holding area ``A`` and ``areas`` other areas.

    Only the setup changes: the threads and the protocols call the same ``tree_walk`` /
    ``tree_erase`` / ``tree_store_range`` context operations, which the explorer routes to
    the maple tree's access layer (every node load and publication is a scheduling point).
    The expected verdict is kept only for ``tree_mode="rcu"`` (the slot model's verdicts
    assume nodes are never torn)."""
    from ..explore import scenarios
    from ..explore.scenarios.lookup import A_END, A_START
    from ..explore.scenarios.tree import make_tree

    sc = scenarios.get(scenario) if isinstance(scenario, str) else scenario
    check_choice("tree_mode", tree_mode, ("rcu", "inplace"))
    areas = check_int("areas", areas, lo=0, hi=40)
    old = sc.setup

    def setup(w):
        s = old(w)
        if not hasattr(s, "tree") or not hasattr(s, "A"):
            raise ParameterError(f"scenario {sc.id} has no busy index to replace")
        others = [(0x20000 + k * 0x10000, 0x20000 + k * 0x10000 + 0xfff,
                   w.obj(f"V{k + 1}", kind="vmap_area")) for k in range(areas)]
        s.tree = make_tree(w, "busy", [(A_START, A_END - 1, s.A)] + others, tree_mode)
        return s

    import copy
    new = copy.copy(sc)
    new.setup = setup
    new.source = f"review_explore.on_maple_tree({sc.source}, areas={areas}, tree_mode={tree_mode!r})"
    new.description = sc.description.rstrip() + (
        f" The busy index is the real maple tree ({tree_mode} mode) with {areas} other areas.")
    if tree_mode != "rcu":
        new.expected = None
    return new


# --------------------------------------------------------------------------- step-through data

@dataclass
class Stepped:
    """A recorded execution for the step-through widget: ``steps`` are the explorer's step
    records (see ARCHITECTURE "Explorer"), ``threads`` the thread names."""

    scenario: str
    title: str
    verdict: str
    violation: str | None
    schedule: list
    preemptions: int | None
    threads: list
    steps: list
    swimlane: str
    snippet: str

    def __len__(self):
        return len(self.steps)

    def clamp(self, step: int) -> int:
        return max(0, min(int(step), len(self.steps) - 1))


@functools.lru_cache(maxsize=32)
def _stepped(sid: str, maple: bool, areas: int, schedule: tuple | None, knobs: tuple):
    from ..explore import scenarios

    sc = scenarios.get(sid, **dict(knobs)) if knobs else scenarios.get(sid)
    if maple and _is_lookup_scenario(sid):
        sc = on_maple_tree(sc, areas=areas)
    if schedule is None:
        r = explore(sc)
        if r.verdict != "violation":
            raise ParameterError(f"scenario {sid} has no counterexample to step through "
                                 f"(verdict {r.verdict}); pass a schedule to replay one")
    else:
        r = replay(sc, list(schedule))
    threads = [t for t in r.threads if any(s["thread"] == t for s in r.counterexample)]
    return Stepped(sid, sc.title or sid, r.verdict, r.violation, list(r.schedule or []),
                   r.preemptions, threads, r.counterexample, r.swimlane(),
                   r.snippet() if r.schedule else "")


def _is_lookup_scenario(sid: str) -> bool:
    """True for catalogue scenarios built on the one-node lookup world."""
    from ..explore import scenarios

    return scenarios.family(sid) == "lookup"


def stepped(scenario: str = "C1", maple: bool = True, areas: int = 3, schedule=None,
            **knobs) -> Stepped:
    """The minimal-preemption counterexample of catalogue scenario ``scenario`` (or a replay
    of ``schedule``), recorded step by step; ``maple=True`` runs the lookup scenarios (C*, D*,
    E1, G*, H) on the real maple tree (:func:`on_maple_tree`); the others already use it.  ``knobs`` override the scenario builder's knobs."""
    from ..explore import scenarios

    check_choice("scenario", scenario, scenarios.ids())
    sched = None if schedule is None else tuple(schedule)
    return _stepped(scenario, bool(maple), int(areas), sched, tuple(sorted(knobs.items())))
