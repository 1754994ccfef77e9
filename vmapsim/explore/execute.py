"""One execution of a scenario: threads, pending ops, enabledness, fairness, budgets.

An :class:`Execution` is created fresh for every schedule the search tries (the search is
stateless: it replays a prefix of choices, then extends it).  Threads are deterministic
given their op results, so the same choices always give the same execution.

Fair scheduling (CHESS style): a thread that just executed ``cpu_relax()`` is not
schedulable while another thread is, until some other thread takes a step.  Without it a
spin loop can be scheduled for ever; with or without it, a per-thread step budget ends
runaway executions and is reported as a *budget hit*, never as a violation.
"""
from __future__ import annotations

from .ctx import ThreadCtx
from .ops import short_repr
from .rcu import Violation
from .world import Block, World, encode_value

__all__ = ["Execution"]

#: op kinds whose enabledness depends on the state (World.enabled); all others always run
_BLOCKING = frozenset(("spin_lock", "sync_wait", "seq_begin", "wait_eq"))


class Execution:
    """Run a scenario one chosen step at a time.

    After construction and after every :meth:`step`, ``en`` is the list of schedulable
    thread ids and ``over`` tells whether the execution ended (finished, violated, or hit
    the budget).  ``record=True`` keeps a per-step trace with RCU/heap snapshots.
    """

    def __init__(self, scenario, *, broken_gp: bool | None = None, fair: bool | None = None,
                 record: bool = False, step_budget: int | None = None):
        sc = self.sc = scenario
        names = [t.name for t in sc.threads] + ["CB"]
        self.n = len(names)
        self.cb = self.n - 1
        self.world = w = World(names, broken_gp=sc.broken_gp if broken_gp is None else broken_gp)
        self.fair = sc.fair if fair is None else fair
        self.budget = step_budget or sc.step_budget
        self.record = record
        self.trace: list[dict] | None = [] if record else None
        self.schedule: list[int] = []
        self.violation: Violation | None = None
        self.budget_hit = False
        self.finished = False
        self.outcome = None
        self.observed: frozenset = frozenset()
        self.preemptions = 0
        self.last: int | None = None
        self.tsteps = [0] * self.n
        self.yielded = -1
        self.pending = [None] * self.n
        self.done = [False] * self.n
        self.en: list[int] = []
        self.hist = [()] * self.n
        try:
            self.shared = sc.setup(w)
            self.gens = [t.fn(ThreadCtx(w, i), self.shared) for i, t in enumerate(sc.threads)]
            for i in range(self.n - 1):
                self._advance(i, None)
        except Violation as v:
            self._fail(v)
            return
        self._after_step()

    @property
    def over(self) -> bool:
        return self.finished or self.violation is not None or self.budget_hit

    def names(self, tids) -> list[str]:
        return [self.world.names[t] for t in tids]

    def state_key(self) -> tuple:
        """The state for caching: shared state, what each thread has been told (a thread's
        local state is a function of its op results), and the fairness flag."""
        return (self.world.fingerprint(), tuple(self.hist), tuple(self.done), self.yielded)

    def _advance(self, tid: int, value) -> None:
        self.hist[tid] = self.hist[tid] + (encode_value(value, self.world.foreign),)
        try:
            self.pending[tid] = self.gens[tid].send(value)
        except StopIteration:
            self.pending[tid] = None
            self.done[tid] = True
            self.world.thread_exit(tid)

    def _fail(self, v: Violation) -> None:
        self.violation = v
        self.en = []

    def _compute_enabled(self) -> list[int]:
        w = self.world
        pend = self.pending
        done = self.done
        en = [t for t in range(self.n - 1)
              if not done[t] and (pend[t].kind not in _BLOCKING or w.enabled(t, pend[t]))]
        if w.rcu.callbacks:
            cbop = w.cb_op()
            if cbop is not None:
                pend[self.cb] = cbop
                en.append(self.cb)
        if self.fair and self.yielded >= 0 and len(en) > 1 and self.yielded in en:
            en.remove(self.yielded)
        return en

    def _after_step(self) -> None:
        en = self._compute_enabled()
        self.en = en
        if en:
            return
        if all(self.done[:-1]):
            self._finish()
            return
        w = self.world
        waiting = [f"{w.names[t]} waits at {self.pending[t].describe()}" for t in range(self.n - 1)
                   if not self.done[t]]
        self._fail(Violation("deadlock", "no thread can run: " + "; ".join(waiting),
                             events=(len(self.schedule) - 1,)))

    def _finish(self) -> None:
        sc, w = self.sc, self.world
        try:
            if sc.final is not None:
                sc.final(w, self.shared)
            if sc.outcome is not None:
                self.outcome = sc.outcome(w, self.shared)
            if sc.observe is not None:
                self.observed = frozenset(sc.observe(w, self.shared))
            self.finished = True
        except Violation as v:
            self._fail(v)

    def step(self, tid: int) -> None:
        """Execute the pending op of thread ``tid`` (which must be in ``en``)."""
        w = self.world
        op = self.pending[tid]
        idx = len(self.schedule)
        preempt = self.last is not None and tid != self.last and self.last in self.en
        if preempt:
            self.preemptions += 1
        w.step = idx
        w.tid = tid
        w.notes = []
        self.schedule.append(tid)
        self.last = tid
        self.tsteps[tid] += 1
        result = None
        try:
            result = w.execute(tid, op)
            if tid != self.cb:
                if type(result) is Block:
                    self.pending[tid] = result.next_op
                    self.hist[tid] = self.hist[tid] + ("<blocked>",)
                    result = result.result
                else:
                    self._advance(tid, result)
        except Violation as v:
            self._fail(v)
        self.yielded = tid if op.kind == "relax" else -1
        if self.violation is None:
            if self.tsteps[tid] > self.budget:
                self.budget_hit = True
                self.en = []
            else:
                self._after_step()
        if self.record:
            self._record(idx, tid, op, result, preempt)

    def _record(self, idx, tid, op, result, preempt) -> None:
        w = self.world
        entry = {"step": idx, "thread": w.names[tid], "op": op.describe(), "kind": op.kind,
                 "result": short_repr(result) if op.kind not in ("rcu_lock", "rcu_unlock", "write",
                                                             "store", "spin_lock", "spin_unlock",
                                                             "kfree", "call_rcu", "relax") else None,
                 "preempt": preempt, "notes": list(w.notes)}
        entry.update(w.snapshot())
        entry["positions"] = {
            w.names[t]: ("done" if self.done[t] else
                         self.pending[t].describe() if self.pending[t] is not None else "-")
            for t in range(self.n - 1)}
        if self.violation is not None:
            entry["violation"] = str(self.violation)
        if self.budget_hit:
            entry["budget"] = f"{w.names[tid]} exceeded its step budget ({self.budget})"
        self.trace.append(entry)
