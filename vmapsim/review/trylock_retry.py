"""What trylock-and-retry demands of ``vmap_area``: struct size arithmetic and retry statistics.

The experiments behind notebook ``02-trylock-retry`` (the thread's question 2, Wilcox M18
rule 2: "the read side must trylock the objects it finds and retry the walk if the trylock
fails").

Size arithmetic (:func:`layouts`)
    ``struct vmap_area`` as in include/linux/vmalloc.h (checked against a linux-next tree of
    the 6.15+ era: ``va_start``, ``va_end``, ``rb_node``, ``list``, the union of
    ``subtree_max_size``/``vm``, ``flags``), the RFC's patch 04 layout (``va_start``,
    ``va_end``, ``list``, ``vm``, ``flags``; docs/rcu-review.md section 1.1) and the additions each
    stabiliser needs.  Field sizes are for 64-bit kernels without lock debugging:
    ``rb_node`` three words (include/linux/rbtree_types.h), ``list_head`` two pointers,
    ``rcu_head`` = ``callback_head`` two pointers (include/linux/types.h), ``refcount_t`` one
    ``atomic_t`` (include/linux/refcount_types.h), ``spinlock_t`` one 4-byte ``arch_spinlock_t``
    (qspinlock) -- ``CONFIG_DEBUG_SPINLOCK`` adds ``magic``, ``owner_cpu`` and ``owner``
    (include/linux/spinlock_types_raw.h) and lockdep a ``lockdep_map`` (not counted here); on
    PREEMPT_RT ``spinlock_t`` is a ``struct rt_mutex_base`` (include/linux/spinlock_types.h,
    include/linux/rtmutex.h), 32 bytes without lock debugging.
    Objects per 4 KiB are ``4096 // size``: SLUB without debugging keeps no per-object
    metadata, and ``vmap_area_cachep`` is ``KMEM_CACHE(vmap_area, SLAB_PANIC)``
    (mm/vmalloc.c:vmalloc_init), aligned to the struct's own alignment (8).

Retry statistics (:func:`retry_run`, :func:`retry_sweep`)
    Not used by notebook 02 any more: the writer is a random process with no kernel input,
    so the sweep only checks the protocol's retry loop against the formula the generator was
    built to follow (kept as a test of that loop).  The G3 experiment (docs/rcu-review.md section 6.2): a writer holds the area's lock
    a fraction ``f`` of the time; readers look the area up with the package's
    ``rcu-trylock-retry`` protocol (:mod:`vmapsim.explore.lookup`, the same code the explorer
    checks) on a real :class:`vmapsim.maple.MapleTree`.  The writer is a seeded alternating
    renewal process -- hold times exponential with mean ``hold`` (in units of the reader's
    retry gap, one ``cpu_relax`` plus re-walk), free times exponential with mean
    ``hold * (1 - f) / f`` -- so the lock is held a fraction ``f`` of the time.  A lookup
    starts at a uniformly random time; every trylock sees the writer's state at the
    reader's clock, which advances by one gap per retry.  If every attempt saw an
    independent lock state, failures per lookup would be geometric: mean ``f / (1 - f)``
    and ``P(>= r failures) = f**r`` (truncated at ``max_retries + 1`` attempts, after which
    the protocol takes the locked fallback, probability ``f**(max_retries + 1)``).  That
    holds when a writer's hold is short compared with the retry gap (``hold`` small); when
    it is long, one hold costs several consecutive failures and the formula underestimates.

Deliberate simplifications: one reader at a time (reader-reader exclusion is scenario G2),
the writer is not delayed by readers holding the lock, and time passes only at
``cpu_relax`` and while the fallback spins on the held lock.
"""
from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass

import numpy as np

from ..explore.lookup import SequentialEnv, make_protocol, vmap_area_fields
from ..params import ParameterError, check_float, check_int, check_seed
from ..vmalloc.layout import LAYOUTS, Layout
from .figures import finished

__all__ = ["layouts", "RetryRun", "RetrySweep", "retry_run",
           "retry_sweep", "analytic_failures", "plot_layouts", "plot_retry_sweep",
           "plot_retry_run", "WriterTimeline", "REQUIREMENTS", "RequirementRow",
           "requirement_evidence"]

# --------------------------------------------------------------------------- size arithmetic

def layouts() -> list[Layout]:
    """The layouts compared in notebook 02 (first: today's; second: RFC patch 04), from the one
    table in :mod:`vmapsim.vmalloc.layout`."""
    return list(LAYOUTS.values())


def plot_layouts(rows: list[Layout], areas: int = 16384):
    """Bar chart: size of each layout and the memory for ``areas`` live areas."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = [r.title for r in rows][::-1]
    sizes = [r.size for r in rows][::-1]
    colors = ["#888" if s >= rows[0].size else "#4a7" for s in sizes]
    ax.barh(names, sizes, color=colors)
    for y, (s, r) in enumerate(zip(sizes, rows[::-1])):
        ax.text(s + 0.5, y, f"{s} B  ({r.bytes_for(areas) / 1024:.0f} KiB for {areas} areas)",
                va="center", fontsize=8)
    ax.axvline(rows[0].size, color="k", lw=0.8, ls=":")
    ax.set_xlim(0, max(sizes) * 1.7)
    ax.set_xlabel("sizeof(struct vmap_area), 64-bit (grey: no saving left over upstream)")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return finished(fig)


# --------------------------------------------------------------------------- retry statistics

def analytic_failures(f: float, max_retries: int | None = None) -> float:
    """Expected failed trylocks per lookup for independent attempts that each fail with
    probability ``f``: ``f / (1 - f)``, or ``sum_{r=1}^{N+1} f**r`` when at most
    ``N + 1 = max_retries + 1`` attempts are made."""
    if max_retries is None:
        return f / (1 - f)
    n = max_retries + 1
    return f * (1 - f ** n) / (1 - f) if f < 1 else float(n)


class WriterTimeline:
    """When the writer holds the area's lock: alternating exponential hold/free periods.

    Starts in the stationary state (held with probability ``f``), covers ``[0, horizon]``.
    """

    def __init__(self, f: float, hold: float, horizon: float, rng: np.random.Generator):
        self.f = f
        self.initial_held = bool(rng.random() < f) if 0 < f < 1 else f >= 1
        changes = []
        if 0 < f < 1:
            free = hold * (1 - f) / f
            mean_cycle = hold + free
            t, held = 0.0, self.initial_held
            # the first period is a residual: exponential too (memoryless)
            while t <= horizon:
                n = int((horizon - t) / mean_cycle * 2) + 64
                h = rng.exponential(hold, n)
                fr = rng.exponential(free, n)
                seq = np.empty(2 * n)
                if held:
                    seq[0::2], seq[1::2] = h, fr
                else:
                    seq[0::2], seq[1::2] = fr, h
                pts = t + np.cumsum(seq)
                changes.extend(pts.tolist())
                t = pts[-1]
        self.changes = changes

    def held(self, t: float) -> bool:
        if not self.changes:
            return self.initial_held
        return self.initial_held ^ (bisect.bisect_right(self.changes, t) & 1 == 1)

    def next_change(self, t: float) -> float:
        i = bisect.bisect_right(self.changes, t)
        return self.changes[i] if i < len(self.changes) else math.inf

    def held_fraction(self, upto: float) -> float:
        """Measured fraction of ``[0, upto]`` the lock was held (checks the generator)."""
        pts = [0.0] + [c for c in self.changes if c < upto] + [upto]
        held, tot = self.initial_held, 0.0
        for a, b in zip(pts, pts[1:]):
            if held:
                tot += b - a
            held = not held
        return tot / upto


class TimedEnv(SequentialEnv):
    """:class:`~vmapsim.explore.lookup.SequentialEnv` with a clock and a writer holding ``area.lock``
    according to a :class:`WriterTimeline`: a trylock sees the writer's state at the
    reader's clock; ``cpu_relax`` advances the clock by one retry gap; a blocking
    ``spin_lock`` on the area (the locked fallback pins the area) waits until the writer
    releases it."""

    def __init__(self, timeline: WriterTimeline, area, gap: float = 1.0):
        super().__init__(holder="R")
        self.timeline, self.area, self.gap = timeline, area, gap
        self.clock = 0.0
        self.waited = 0.0

    def _sync(self, obj, field):
        if obj is self.area and field == "lock" and obj.fields[field] != self.holder:
            obj.fields[field] = "W" if self.timeline.held(self.clock) else None

    def spin_trylock(self, obj, field="lock"):
        self._sync(obj, field)
        return super().spin_trylock(obj, field)

    def spin_lock(self, obj, field="lock"):
        self._sync(obj, field)
        if obj is self.area and obj.fields[field] == "W":
            t = self.timeline.next_change(self.clock)
            self.waited += t - self.clock
            self.clock = t
            obj.fields[field] = None
        return super().spin_lock(obj, field)

    def cpu_relax(self):
        super().cpu_relax()
        self.clock += self.gap


@dataclass
class RetryRun:
    """Failed trylocks per lookup measured for one writer hold fraction ``f``."""

    f: float
    hold: float
    max_retries: int
    lookups: int
    seed: int
    failures: np.ndarray          # failed trylocks of each lookup
    fallbacks: int                # lookups that took the locked fallback
    held_fraction: float          # measured fraction of time the writer held the lock
    tree_nodes_per_attempt: float
    counts: dict

    @property
    def mean(self) -> float:
        return float(self.failures.mean())

    @property
    def se(self) -> float:
        """Standard error of :attr:`mean` (sample standard deviation / sqrt(n))."""
        n = len(self.failures)
        return float(self.failures.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf

    @property
    def analytic(self) -> float:
        """The independent-attempt prediction with the protocol's truncation."""
        return analytic_failures(self.f, self.max_retries)

    @property
    def analytic_untruncated(self) -> float:
        return analytic_failures(self.f) if self.f < 1 else math.inf

    @property
    def z(self) -> float:
        """|measured - analytic| in standard errors (0 when both are exactly 0)."""
        d = abs(self.mean - self.analytic)
        if d == 0:
            return 0.0
        return d / self.se if self.se > 0 else math.inf

    @property
    def rel_error(self) -> float:
        return abs(self.mean - self.analytic) / self.analytic if self.analytic else abs(self.mean)

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.lookups

    @property
    def analytic_fallback(self) -> float:
        return self.f ** (self.max_retries + 1)

    def tail(self, rmax: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(r, measured P(failures >= r), f**r)`` for r = 1..rmax."""
        rmax = self.max_retries + 1 if rmax is None else rmax
        r = np.arange(1, rmax + 1)
        meas = np.array([(self.failures >= k).mean() for k in r])
        return r, meas, self.f ** r

    def line(self) -> str:
        return (f"f={self.f:.2f} hold={self.hold:g} gap: {self.lookups} lookups, "
                f"{self.mean:.3f} failed trylocks per lookup (+/- {self.se:.3f}); "
                f"independent-attempt formula {self.analytic:.3f} "
                f"(f/(1-f) = {self.analytic_untruncated:.3f}); "
                f"fallbacks {self.fallback_rate:.4f} (f^{self.max_retries + 1} = "
                f"{self.analytic_fallback:.4f}); writer held the lock "
                f"{self.held_fraction:.3f} of the time")


def _world(areas: int):
    from ..explore.rcu import Obj
    from ..maple import MapleTree

    A = Obj("A", vmap_area_fields(0x1000, 0x3000, None), kind="vmap_area")
    vn = Obj("vn", {"busy_lock": None, "seq": 0}, kind="vmap_node")
    tree = MapleTree()
    for k in range(areas - 1):
        s = 0x100000 + k * 0x10000
        tree.store_range(s, s + 0xfff, Obj(f"V{k}", vmap_area_fields(s, s + 0x1000, None)))
    tree.store_range(0x1000, 0x2fff, A)
    return A, vn, tree


def retry_run(f: float = 0.5, lookups: int = 5000, hold: float = 0.05, max_retries: int = 64,
              seed: int = 0, areas: int = 32) -> RetryRun:
    """Run ``lookups`` ``rcu-trylock-retry`` lookups against a writer holding the area's lock
    a fraction ``f`` of the time (see the module docstring); ``hold`` is the writer's mean
    hold time in retry gaps.  Same parameters, same result (memoised)."""
    f = check_float("f", f, lo=0.0, hi=0.95)
    lookups = check_int("lookups", lookups, lo=10, hi=2_000_000)
    hold = check_float("hold", hold, lo=1e-3, hi=100.0)
    max_retries = check_int("max_retries", max_retries, lo=0, hi=1000)
    seed = check_seed("seed", seed)
    areas = check_int("areas", areas, lo=1, hi=100_000)
    return _retry_run(f, lookups, hold, max_retries, seed, areas)


@functools.lru_cache(maxsize=128)
def _retry_run(f, lookups, hold, max_retries, seed, areas) -> RetryRun:
    """The run itself (memoised: a run is a pure function of its parameters)."""
    rng = np.random.default_rng(seed)
    A, vn, tree = _world(areas)
    proto = make_protocol("rcu-trylock-retry", max_retries=max_retries)
    span = float(lookups)
    horizon = span + (max_retries + 2) + 50 * hold
    timeline = WriterTimeline(f, hold, horizon, rng)
    starts = np.sort(rng.uniform(0.0, span, lookups)).tolist()
    env = TimedEnv(timeline, A)
    counts = env.counts
    fails = np.empty(lookups, dtype=np.int64)
    fallbacks = 0
    for i, t in enumerate(starts):
        env.clock = t
        before, fb = counts["trylock_fail"], counts["fallback"]
        found = proto.find(env, vn, tree, 0x1800)
        if found is None or found.va is not A:
            raise RuntimeError("the lookup did not return the area (protocol or model bug)")
        proto.put(env, vn, found)
        fails[i] = counts["trylock_fail"] - before
        fallbacks += counts["fallback"] - fb
    attempts = max(1, counts["spin_trylock"])
    return RetryRun(f=f, hold=hold, max_retries=max_retries, lookups=lookups, seed=seed,
                    failures=fails, fallbacks=fallbacks,
                    held_fraction=timeline.held_fraction(span) if f > 0 else 0.0,
                    tree_nodes_per_attempt=counts["tree_nodes"] / max(1, counts["tree_walks"]),
                    counts=dict(counts))


@dataclass
class RetrySweep:
    """:func:`retry_run` over several ``f``: arrays for plotting and claims."""

    runs: list

    @property
    def f(self) -> np.ndarray:
        return np.array([r.f for r in self.runs])

    @property
    def measured(self) -> np.ndarray:
        return np.array([r.mean for r in self.runs])

    @property
    def se(self) -> np.ndarray:
        return np.array([r.se for r in self.runs])

    @property
    def analytic(self) -> np.ndarray:
        return np.array([r.analytic for r in self.runs])

    @property
    def max_z(self) -> float:
        return max(r.z for r in self.runs)

    @property
    def max_rel_error(self) -> float:
        return self.max_rel_error_from(0.0)

    def max_rel_error_from(self, fmin: float) -> float:
        """Largest relative error over the points with ``f > 0`` and ``f >= fmin`` (at small
        ``f`` the mean is small and its relative sampling error large)."""
        errs = [r.rel_error for r in self.runs if r.f > 0 and r.f >= fmin]
        return max(errs) if errs else 0.0

    def rows(self):
        return [(f"{r.f:.2f}", f"{r.mean:.3f}", f"{r.se:.3f}", f"{r.analytic:.3f}",
                 f"{r.z:.1f}", f"{r.fallback_rate:.4f}", f"{r.analytic_fallback:.4f}")
                for r in self.runs]

    HEADER = ("f", "measured", "+/-", "f/(1-f)*", "z", "fallback", "f^(N+1)")


def retry_sweep(fs=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), lookups: int = 5000,
                hold: float = 0.05, max_retries: int = 64, seed: int = 0) -> RetrySweep:
    """:func:`retry_run` for each ``f`` in ``fs`` (seed ``seed + i`` for the i-th)."""
    if len(fs) == 0:
        raise ParameterError("fs must list at least one lock-hold fraction")
    return RetrySweep([retry_run(f=f, lookups=lookups, hold=hold, max_retries=max_retries,
                                 seed=seed + i) for i, f in enumerate(fs)])


def plot_retry_sweep(sweep: RetrySweep, extra: list | None = None):
    """Measured failed trylocks per lookup against ``f/(1-f)``; ``extra`` adds sweeps with
    other ``hold`` values (labelled by it)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    fx = np.linspace(0, max(0.9, sweep.f.max()), 200)
    ax.plot(fx, fx / (1 - fx), "k-", lw=1, label="f/(1-f)  (independent attempts)")
    ax.errorbar(sweep.f, sweep.measured, yerr=3 * sweep.se, fmt="o", color="C0", ms=4,
                label=f"measured, hold = {sweep.runs[0].hold:g} gap (3 s.e.)")
    for i, sw in enumerate(extra or []):
        ax.plot(sw.f, sw.measured, "s--", color=f"C{i + 1}", ms=4,
                label=f"measured, hold = {sw.runs[0].hold:g} gap")
    ax.set_xlabel("f: fraction of time the writer holds the area's lock")
    ax.set_ylabel("failed trylocks per lookup")
    ax.set_yscale("symlog", linthresh=1)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return finished(fig)


def plot_retry_run(run: RetryRun):
    """One run: the tail P(failures >= r) measured against f**r."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    rmax = int(min(run.max_retries + 1, max(8, run.failures.max() + 1)))
    r, meas, pred = run.tail(rmax)
    ax.semilogy(r, pred, "k-", lw=1, label="f^r (independent attempts)")
    keep = meas > 0
    ax.semilogy(r[keep], meas[keep], "o", color="C0", ms=4, label="measured")
    ax.set_xlabel("r")
    ax.set_ylabel("P(at least r failed trylocks)")
    ax.set_ylim(max(1e-5, 0.3 / run.lookups), 1.2)
    ax.set_title(f"f = {run.f:.2f}, writer hold = {run.hold:g} retry gap, "
                 f"{run.lookups} lookups", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return finished(fig)


# --------------------------------------------------------------------------- requirements

#: what the protocol needs from vmap_area (docs/rcu-review.md section 3.1), each with the
#: scenario that fails without it, the one that passes with it, and what kind of property it
#: is: ``correctness`` (a caller gets a use-after-free or an answer for another address),
#: ``bound`` (what the scenario checks is a bound the protocol itself sets: evidence that the
#: code does what it says, not that the bound is needed), ``performance`` (the answer stays
#: right; readers only fail and fall back).  A scenario is a catalogue id or ``(label,
#: lookup_race knobs)``; ``None`` = not checkable by an SC explorer.
REQUIREMENTS = (
    ("R1", "memory of an area a reader may hold stays valid: free it after a grace period",
     "E1", "D1", "correctness"),
    ("R1b", "(none) for pool recycling: a pooled area keeps its bounds, so a stabilised "
            "reader that rechecks them is right for its address",
     ("trylock, pool reuse, no GP", dict(protocol="rcu-trylock-retry", reuse="pool",
                                         use="vm-pointer")),
     ("trylock, pool reuse after a GP", dict(protocol="rcu-trylock-retry", reuse="pool-gp",
                                             use="vm-pointer")), "correctness"),
    ("R2", "a per-area stabiliser that vfree() honours before freeing vm_struct and pages",
     "C3", "D1", "correctness"),
    ("R2b", "... held across the whole use by long readers (vread_iter)", "H", "H-ref",
     "correctness"),
    ("R3", "an identity recheck after stabilising (type-safe reuse)", "D3", "D3-recheck",
     "correctness"),
    ("R4", "acquire/release ordering on the stabiliser and the DEAD mark", None, None,
     "correctness"),
    ("R5", "bounded retries, then the locked walk (a design choice; a finite scenario cannot "
           "show a livelock)", "G1-unfair", "G1-bounded", "bound"),
    ("R6", "shared acquisition, so readers do not make each other fall back", "G2",
     "G2-shared", "performance"),
)


@dataclass
class RequirementRow:
    id: str
    text: str
    without: str | None
    without_verdict: str | None
    with_: str | None
    with_verdict: str | None
    exhaustive: bool | None
    #: observations (not violations) of the "without" and "with" scenarios
    without_observed: tuple = ()
    with_observed: tuple = ()
    kind: str = "correctness"

    @staticmethod
    def _v(verdict, observed):
        return verdict + (" (generation changes)" if observed else "")

    def cells(self):
        if self.without is None:
            return (self.id, self.kind, self.text, "LKMM only (an argument: herd7 not run)", "",
                    "")
        return (self.id, self.kind, self.text,
                f"{self.without}: {self._v(self.without_verdict, self.without_observed)}",
                f"{self.with_}: {self._v(self.with_verdict, self.with_observed)}",
                "yes" if self.exhaustive else "no")

    HEADER = ("req", "kind", "what vmap_area must provide", "without it", "with it",
              "exhaustive")


@functools.lru_cache(maxsize=64)
def _explore_knobs(knobs: tuple):
    from ..explore import explore
    from ..explore.scenarios import lookup_race

    return explore(lookup_race(**dict(knobs)))


def _evidence(spec):
    if isinstance(spec, str):
        from .explore_tables import explore_id

        r = explore_id(spec, "exhaustive", None)
        return spec, r.verdict, r.exhaustive, tuple(r.observed or ())
    label, knobs = spec
    r = _explore_knobs(tuple(sorted(knobs.items())))
    return label, r.verdict, r.exhaustive, tuple(r.observed or ())


def requirement_evidence() -> list[RequirementRow]:
    """Explore the scenarios behind :data:`REQUIREMENTS` (memoised).  ``exhaustive`` refers
    to the passing ("with it") scenario: a ``never`` verdict there is exhaustive."""
    rows = []
    for rid, text, without, with_, kind in REQUIREMENTS:
        if without is None:
            rows.append(RequirementRow(rid, text, None, None, None, None, None, kind=kind))
            continue
        wo, wov, _, woo = _evidence(without)
        wi, wiv, ex, wio = _evidence(with_)
        rows.append(RequirementRow(rid, text, wo, wov, wi, wiv, ex, woo, wio, kind))
    return rows
