"""Search strategies over the interleavings of a scenario.

All strategies drive the same :class:`~vmapsim.explore.execute.Execution` and return a
:class:`SearchOut`:

* :func:`dfs` -- stateless depth-first search by replay.  With ``sleep=True`` it prunes
  with sleep sets (Godefroid): after exploring thread ``t`` at a node, ``t`` sleeps in the
  siblings' subtrees until an op dependent with ``t``'s pending op runs, so only one
  interleaving per ordering of dependent ops is completed; the rest end "sleep-set
  blocked" (counted in ``blocked``, not in ``executions``).  With ``bound=k`` it visits
  only schedules with at most ``k`` preemptions (a switch away from a thread that could
  have continued); it does not use sleep sets then, because the two together lose
  completeness (Coons et al., OOPSLA'13).  The search is complete when nothing was
  pruned by the bound and no budget was hit.
* :func:`bounded` -- iterative deepening ``k = 0, 1, ...`` (CHESS), so the first
  counterexample has the fewest preemptions.
* :func:`random_walk` -- uniformly random enabled thread at each step, one seed.
* :func:`pct` -- probabilistic concurrency testing (Burckhardt et al., ASPLOS'10): random
  thread priorities and ``depth - 1`` random priority-change points per run.
* :func:`run_schedule` -- replay given choices, then continue without preemption.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from .execute import Execution
from .ops import dependent

__all__ = ["SearchOut", "dfs", "bounded", "random_walk", "pct", "run_schedule"]


@dataclass
class SearchOut:
    """What a strategy found.  ``complete`` means every interleaving was covered."""

    executions: int = 0
    blocked: int = 0
    cached: int = 0
    budget_hits: int = 0
    pruned: int = 0
    complete: bool = False
    violation: Execution | None = None
    outcomes: set = field(default_factory=set)
    observed: set = field(default_factory=set)
    kinds: set = field(default_factory=set)
    limit_hit: str | None = None
    bound_reached: int | None = None

    def add(self, other: "SearchOut") -> None:
        self.executions += other.executions
        self.blocked += other.blocked
        self.cached += other.cached
        self.budget_hits += other.budget_hits
        self.pruned += other.pruned
        self.outcomes |= other.outcomes
        self.observed |= other.observed
        self.kinds |= other.kinds


def _dep(fair: bool):
    if not fair:
        return dependent

    def dep(a, b):
        return a.kind == "relax" or b.kind == "relax" or dependent(a, b)
    return dep


class _Node:
    __slots__ = ("ops", "order", "sleep", "done", "choice")

    def __init__(self, ops, order, sleep):
        self.ops, self.order, self.sleep = ops, order, sleep
        self.done = set()
        self.choice = order[0]


def _tally(out: SearchOut, ex: Execution) -> bool:
    """Account a completed execution; True when the search should stop (violation)."""
    out.executions += 1
    if ex.violation is not None:
        if out.violation is None:
            out.violation = ex
        out.kinds.add(ex.violation.kind)
        return True
    if ex.budget_hit:
        out.budget_hits += 1
    elif ex.finished:
        if ex.outcome is not None:
            out.outcomes.add(ex.outcome)
        out.observed |= ex.observed
    return False


def _limits(out, max_executions, deadline):
    if max_executions is not None and out.executions + out.blocked + out.cached >= max_executions:
        out.limit_hit = f"max_executions={max_executions}"
        return True
    if deadline is not None and time.perf_counter() > deadline:
        out.limit_hit = "time limit"
        return True
    return False


def dfs(sc, *, sleep: bool = True, bound: int | None = None, max_executions: int | None = None,
        deadline: float | None = None, stop_on_violation: bool = True, cache: bool = False,
        **opts) -> SearchOut:
    """Depth-first search of all interleavings (see the module docstring).

    ``cache=True`` (unbounded search only; off by default) also prunes a path when it
    reaches a state explored before with a sleep set contained in the current one:
    everything reachable from it was explored then.  A state is the shared world plus
    every thread's sequence of op results (``Execution.state_key``), which is sound only
    because a thread's local state is a function of those results (scenario code must not
    pass information between threads outside ops; a maple-tree load's result is the value
    it reads).  The search is acyclic because those sequences only grow.  Pruned paths are
    counted in ``cached``.  On this project's scenarios it cuts completed executions by up
    to 10x but saves little time, since every state is fingerprinted.
    """
    out = SearchOut()
    fair = sc.fair if opts.get("fair") is None else opts["fair"]
    dep = _dep(fair)
    use_sleep = sleep and bound is None
    seen: dict | None = {} if cache and bound is None else None
    stack: list[_Node] = []
    while True:
        ex = Execution(sc, **opts)
        for node in stack:
            ex.step(node.choice)
        blocked = False
        while not ex.over:
            en = ex.en
            if use_sleep and stack:
                parent = stack[-1]
                c = parent.choice
                cop = parent.ops[c]
                sl = {t for t in (parent.sleep | parent.done)
                      if t != c and t in parent.ops and not dep(parent.ops[t], cop)}
            else:
                sl = set()
            if seen is not None:
                key = ex.state_key()
                old = seen.get(key)
                if old is not None and old <= sl:
                    out.cached += 1
                    blocked = None
                    break
                seen[key] = sl if old is None else old & sl
            last = ex.last
            cands = [t for t in en if t not in sl]
            if last in cands:
                cands.remove(last)
                cands.insert(0, last)
            if bound is not None and last is not None and last in en:
                if ex.preemptions >= bound:
                    out.pruned += len(cands) - (1 if cands and cands[0] == last else 0)
                    cands = [last] if last in cands else []
            if not cands:
                blocked = True
                break
            node = _Node({t: ex.pending[t] for t in en}, cands, sl)
            stack.append(node)
            ex.step(node.choice)
        if blocked:
            out.blocked += 1
        elif blocked is None:
            pass
        elif _tally(out, ex) and stop_on_violation:
            return out
        while stack:
            node = stack[-1]
            node.done.add(node.choice)
            alt = next((t for t in node.order if t not in node.done), None)
            if alt is not None:
                node.choice = alt
                break
            stack.pop()
        if not stack:
            out.complete = out.pruned == 0 and out.budget_hits == 0
            return out
        if _limits(out, max_executions, deadline):
            return out


def bounded(sc, *, bound: int, max_executions: int | None = None, deadline: float | None = None,
            **opts) -> SearchOut:
    """Iterative preemption bounding k = 0..bound; stops at the first violation."""
    total = SearchOut()
    for k in range(bound + 1):
        left = None if max_executions is None else max_executions - total.executions - total.blocked
        if left is not None and left <= 0:
            total.limit_hit = f"max_executions={max_executions}"
            break
        out = dfs(sc, bound=k, max_executions=left, deadline=deadline, **opts)
        total.add(out)
        total.pruned = out.pruned          # what the last (largest) bound had to cut
        total.bound_reached = k
        if out.violation is not None:
            total.violation = out.violation
            return total
        if out.limit_hit:
            total.limit_hit = out.limit_hit
            return total
        if out.pruned == 0:
            total.complete = out.budget_hits == 0
            return total
    return total


def _run(sc, chooser, opts) -> Execution:
    ex = Execution(sc, **opts)
    while not ex.over:
        ex.step(chooser(ex))
    return ex


def random_walk(sc, *, runs: int, seed: int, max_executions: int | None = None,
                deadline: float | None = None, **opts) -> SearchOut:
    """``runs`` executions, each step a uniformly random enabled thread."""
    out = SearchOut()
    rng = random.Random(seed)
    for _ in range(runs):
        ex = _run(sc, lambda e: rng.choice(e.en), opts)
        if _tally(out, ex) or _limits(out, max_executions, deadline):
            return out
    return out


def pct(sc, *, runs: int, seed: int, depth: int = 3, max_executions: int | None = None,
        deadline: float | None = None, **opts) -> SearchOut:
    """PCT with ``depth`` (bug depth d): d - 1 priority change points per run.

    The step count k used to place change points is the longest execution seen so far
    (starting from a non-preemptive run).
    """
    out = SearchOut()
    rng = random.Random(seed)
    k = max(1, len(_run(sc, lambda e: e.last if e.last in e.en else e.en[0], opts).schedule))
    for _ in range(runs):
        probe = Execution(sc, **opts)
        n = probe.n
        prio = list(range(depth, depth + n))
        rng.shuffle(prio)
        changes = {c: i for i, c in enumerate(sorted(rng.sample(range(1, k + 1),
                                                                min(depth - 1, k))), start=1)}

        def choose(e, prio=prio, changes=changes):
            t = max(e.en, key=lambda x: prio[x])
            low = changes.get(len(e.schedule) + 1)
            if low is not None:
                prio[t] = low
            return t
        ex = Execution(sc, **opts)
        while not ex.over:
            ex.step(choose(ex))
        k = max(k, len(ex.schedule))
        if _tally(out, ex) or _limits(out, max_executions, deadline):
            return out
    return out


def run_schedule(sc, schedule, *, record: bool = False, **opts) -> Execution:
    """Follow ``schedule`` (thread ids or names) while it applies, then run without
    preemption (the last thread if it can continue, else the lowest id)."""
    ex = Execution(sc, record=record, **opts)
    names = ex.world.names
    for t in schedule:
        if ex.over:
            break
        tid = names.index(t) if isinstance(t, str) else t
        if tid not in ex.en:
            raise ValueError(f"schedule step {len(ex.schedule)}: thread {names[tid]} cannot run "
                             f"here (runnable: {', '.join(ex.names(ex.en)) or 'none'})")
        ex.step(tid)
    while not ex.over:
        ex.step(ex.last if ex.last in ex.en else ex.en[0])
    return ex
