"""The interleaving explorer: run a scenario under a strategy and report a verdict.

>>> r = explore("E1")                       # doctest: +SKIP
>>> r.verdict, r.exhaustive, r.executions   # doctest: +SKIP
('violation', False, 7)
>>> print(r.swimlane())                     # doctest: +SKIP

Strategies (``strategy=``):

* ``"exhaustive"`` -- every interleaving, pruned with sleep sets (``sleep=False`` for the
  plain DFS; ``cache=True`` adds state caching, see :func:`explore_search.dfs`).  ``exhaustive`` in the result is True only if
  nothing was cut short.  ``executions`` counts completed executions; paths ended by the
  reduction are counted in ``blocked`` (sleep set) and ``cached`` (state seen before).
* ``"bounded"`` -- preemption bounding with iterative deepening k = 0..``bound``
  (default 2): the first counterexample has the fewest preemptions; exhaustive when no
  schedule needed more than ``bound`` preemptions.
* ``"random"`` -- ``runs`` uniformly random schedules from ``seed``.
* ``"pct"`` -- ``runs`` PCT schedules of bug depth ``bound`` (default 3) from ``seed``.

A counterexample found by any strategy is then minimised: preemption-bounded search
below its preemption count looks for a violation of the same kind with fewer
preemptions.  It is reported as the recorded steps (:attr:`Result.counterexample`), a
text swimlane and a runnable snippet.  Step budgets (runaway spin loops) are counted in
``budget_hits`` and never turn into a violation; a search stopped by ``max_executions``
or ``max_seconds`` is not exhaustive.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import ParameterError
from ..params import check_choice, check_int, check_seed
from .search import bounded, dfs, pct, random_walk, run_schedule
from .swimlane import compact_steps, snippet, swimlane

__all__ = ["explore", "replay", "Result", "STRATEGIES"]

STRATEGIES = ("exhaustive", "bounded", "random", "pct")


@dataclass
class Result:
    """The outcome of exploring one scenario.  ``to_json()`` gives the CLI's JSON."""

    scenario: str
    strategy: str
    verdict: str
    exhaustive: bool
    executions: int
    seconds: float
    outcomes: list | None = None
    #: tags the scenario's ``observe`` hook reported over the finished, non-violating
    #: executions (an observation is not a property: e.g. "R: generation changed")
    observed: list | None = None
    expected_observed: list | None = None
    counterexample: list | None = None
    schedule: list | None = None
    preemptions: int | None = None
    violation: str | None = None
    violation_kind: str | None = None
    blocked: int = 0
    cached: int = 0
    budget_hits: int = 0
    pruned: int = 0
    limit_hit: str | None = None
    expected: str | None = None
    expected_outcomes: list | None = None
    lkmm_extra: list | None = None
    threads: list = field(default_factory=list)
    source: str = ""
    seed: int | None = None
    bound: int | None = None
    runs: int | None = None
    search_seconds: float = 0.0

    @property
    def matches_expectation(self) -> bool:
        if self.expected is None:
            return True
        if self.verdict != self.expected:
            return False
        if self.expected == "outcomes":
            return sorted(self.outcomes or []) == sorted(self.expected_outcomes or [])
        if self.expected_observed is not None and self.verdict == "never":
            return sorted(self.observed or []) == sorted(self.expected_observed)
        return True

    def to_json(self) -> dict:
        d = {"scenario": self.scenario, "verdict": self.verdict, "exhaustive": self.exhaustive,
             "executions": self.executions,
             "outcomes": sorted(self.outcomes) if self.outcomes is not None else None,
             "observed": self.observed,
             "counterexample": self.counterexample, "seconds": round(self.seconds, 4)}
        d.update({"strategy": self.strategy, "expected": self.expected,
                  "expected_outcomes": self.expected_outcomes, "lkmm_extra": self.lkmm_extra,
                  "violation": self.violation, "violation_kind": self.violation_kind,
                  "schedule": self.schedule, "preemptions": self.preemptions,
                  "blocked": self.blocked, "cached": self.cached,
                  "budget_hits": self.budget_hits,
                  "pruned": self.pruned, "limit_hit": self.limit_hit, "seed": self.seed,
                  "bound": self.bound, "runs": self.runs,
                  "snippet": self.snippet() if self.schedule else None})
        return d

    def swimlane(self) -> str:
        return swimlane(self.counterexample or [], self.threads)

    def snippet(self) -> str:
        return snippet(self.source, self.schedule or [], f"{self.strategy} search")

    def summary(self) -> str:
        s = (f"{self.scenario}: {self.verdict}"
             + (f" {sorted(self.outcomes)}" if self.verdict == "outcomes" else "")
             + f" ({'exhaustive' if self.exhaustive else 'not exhaustive'}, "
               f"{self.executions} executions, {self.seconds:.2f} s)")
        if self.observed:
            s += "\n  observed (not a violation): " + "; ".join(self.observed)
        if self.violation:
            s += f"\n  {self.violation}\n  schedule ({self.preemptions} preemptions): " \
                 + " ".join(self.schedule)
        if self.budget_hits:
            s += f"\n  step budget hit in {self.budget_hits} executions (not a safety violation)"
        if self.limit_hit:
            s += f"\n  search stopped early: {self.limit_hit}"
        if self.expected is not None:
            s += f"\n  expected: {self.expected}" + (
                f" {sorted(self.expected_outcomes)}" if self.expected == "outcomes" else "") + (
                "" if self.matches_expectation else "  <-- MISMATCH")
        return s

    def __str__(self):
        return self.summary()


def _resolve(scenario):
    from .scenarios import get
    return get(scenario) if isinstance(scenario, str) else scenario


def _opts(sc, fair, broken_gp, step_budget):
    return {"fair": fair, "broken_gp": broken_gp, "step_budget": step_budget}


def explore(scenario, strategy: str = "exhaustive", *, bound: int | None = None,
            runs: int | None = None, seed: int = 0, sleep: bool = True, cache: bool = False,
            fair: bool | None = None,
            broken_gp: bool | None = None, step_budget: int | None = None,
            max_executions: int | None = None, max_seconds: float | None = None,
            minimise: bool = True) -> Result:
    """Explore ``scenario`` (an id from :mod:`vmapsim.explore.scenarios` or a ``Scenario``)."""
    sc = _resolve(scenario)
    check_choice("strategy", strategy, STRATEGIES)
    if bound is not None:
        bound = check_int("bound", bound, lo=1)
    if runs is not None:
        runs = check_int("runs", runs, lo=1)
    seed = check_seed("seed", seed)
    opts = _opts(sc, fair, broken_gp, step_budget)
    t0 = time.perf_counter()
    deadline = None if max_seconds is None else t0 + max_seconds
    lim = {"max_executions": max_executions, "deadline": deadline}
    if strategy == "exhaustive":
        out = dfs(sc, sleep=sleep, cache=cache and sleep, **lim, **opts)
    elif strategy == "bounded":
        bound = 2 if bound is None else bound
        out = bounded(sc, bound=bound, **lim, **opts)
    elif strategy == "random":
        runs = 1000 if runs is None else runs
        out = random_walk(sc, runs=runs, seed=seed, **lim, **opts)
    else:
        runs = 1000 if runs is None else runs
        bound = 3 if bound is None else bound
        out = pct(sc, runs=runs, seed=seed, depth=bound, **lim, **opts)
    t_search = time.perf_counter() - t0
    res = Result(scenario=sc.id, strategy=strategy, verdict="never", exhaustive=out.complete,
                 executions=out.executions, seconds=0.0, blocked=out.blocked, cached=out.cached,
                 budget_hits=out.budget_hits, pruned=out.pruned, limit_hit=out.limit_hit,
                 expected=sc.expected, lkmm_extra=sorted(sc.lkmm_extra) if sc.lkmm_extra else None,
                 expected_outcomes=sorted(sc.expected_outcomes) if sc.expected_outcomes else None,
                 expected_observed=(sorted(sc.expected_observed)
                                    if sc.expected_observed is not None else None),
                 threads=[t.name for t in sc.threads] + ["CB"], source=sc.source,
                 seed=seed if strategy in ("random", "pct") else None, bound=bound,
                 runs=runs, search_seconds=t_search)
    if sc.observe is not None:
        res.observed = sorted(out.observed)
    if out.violation is not None:
        ex = out.violation
        if minimise and strategy != "bounded" and ex.preemptions > 0:
            ex = _minimise(sc, ex, opts)
        _fill_counterexample(res, sc, ex, opts)
    elif sc.outcome is not None:
        res.verdict = "outcomes"
        res.outcomes = sorted(out.outcomes)
    res.seconds = time.perf_counter() - t0
    return res


def _minimise(sc, ex, opts, max_executions: int = 20000):
    kind = ex.violation.kind
    best = ex
    b = bounded(sc, bound=ex.preemptions - 1, max_executions=max_executions, **opts)
    if b.violation is not None and b.violation.violation.kind == kind \
            and b.violation.preemptions < best.preemptions:
        best = b.violation
    return best


def _fill_counterexample(res, sc, ex, opts) -> None:
    rec = run_schedule(sc, ex.schedule, record=True, **opts)
    if rec.violation is None:
        raise RuntimeError(f"{sc.id}: replay of the counterexample did not reproduce it "
                           "(a scenario thread is not deterministic)")
    res.verdict = "violation"
    res.violation = str(rec.violation)
    res.violation_kind = rec.violation.kind
    res.schedule = rec.names(rec.schedule)
    res.preemptions = rec.preemptions
    res.counterexample = compact_steps(rec.trace)


def replay(scenario, schedule, *, fair: bool | None = None, broken_gp: bool | None = None,
           step_budget: int | None = None) -> Result:
    """Re-run one schedule (thread names or ids) with a full per-step record.

    After the schedule runs out the execution continues without preemption.  The
    result's ``counterexample`` holds the recorded steps whether or not a violation
    occurred (``verdict`` says which).
    """
    sc = _resolve(scenario)
    t0 = time.perf_counter()
    try:
        ex = run_schedule(sc, list(schedule), record=True, fair=fair, broken_gp=broken_gp,
                          step_budget=step_budget)
    except ValueError as exc:
        raise ParameterError(f"schedule: {exc}") from None
    res = Result(scenario=sc.id, strategy="replay", verdict="never", exhaustive=False,
                 executions=1, seconds=0.0, expected=None, threads=[t.name for t in sc.threads]
                 + ["CB"], source=sc.source, budget_hits=int(ex.budget_hit))
    res.schedule = ex.names(ex.schedule)
    res.preemptions = ex.preemptions
    res.counterexample = compact_steps(ex.trace)
    if ex.violation is not None:
        res.verdict = "violation"
        res.violation = str(ex.violation)
        res.violation_kind = ex.violation.kind
    elif sc.outcome is not None and ex.finished:
        res.verdict = "outcomes"
        res.outcomes = [ex.outcome]
    if sc.observe is not None and ex.finished:
        res.observed = sorted(ex.observed)
    res.seconds = time.perf_counter() - t0
    return res
