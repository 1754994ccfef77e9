"""The scenario catalogue (docs/rcu-review.md section 6) and the scenario type.

Rule: scenarios are data built by builders (``lookup``, ``tree``, ``alloc``, one module each);
registering one adds an id with its expected verdict, and nothing here runs the explorer.

A :class:`Scenario` is a small declarative object: threads (generator functions
``fn(ctx, s)``), a ``setup(world)`` that builds the initial heap and returns the shared
namespace ``s`` handed to every thread, optional end-of-execution checks
(``final(world, s)``) and an ``outcome(world, s)`` string for outcome scenarios, plus the
verdict the analysis expects.

Scenarios are built by *builders* with knobs (``lookup_race(protocol=..., reclaim=...)``,
``tree_race(tree_mode=...)``, ...), so a notebook can vary one knob; the catalogue maps
each scenario id to a builder call and its expected verdict::

    >>> from vmapsim.explore import scenarios
    >>> sorted(scenarios.ids())[:3]
    ['A1', 'A2', 'B1']
    >>> sc = scenarios.get("C1")          # a Scenario; explore(sc) or explore("C1")

``catalogue()`` lists ``(id, summary, expected)``; unknown ids raise a
:class:`~vmapsim.errors.ParameterError` listing the valid ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ...params import check_choice

__all__ = ["Thread", "Scenario", "Entry", "register", "get", "ids", "catalogue", "family", "CATALOGUE"]


@dataclass
class Thread:
    """A named thread: ``fn(ctx, s)`` is a generator yielding ops."""

    name: str
    fn: Callable


@dataclass
class Scenario:
    """One checkable situation.  ``expected`` is ``violation``, ``never`` or ``outcomes``."""

    id: str
    title: str
    description: str
    threads: list
    setup: Callable
    final: Callable | None = None
    outcome: Callable | None = None
    #: ``observe(world, s)`` -> iterable of tags recorded for a finished execution that are
    #: *not* properties (e.g. "R: generation changed"): the search collects them beside the
    #: verdict (:attr:`vmapsim.explore.Result.observed`)
    observe: Callable | None = None
    expected: str | None = None
    expected_outcomes: frozenset | None = None
    lkmm_extra: frozenset | None = None
    fair: bool = False
    broken_gp: bool = False
    step_budget: int = 200
    source: str = ""
    knobs: dict = field(default_factory=dict)
    kernel: str = ""
    expected_observed: frozenset | None = None


@dataclass
class Entry:
    """A catalogue entry: the builder call that makes the scenario and what to expect."""

    id: str
    summary: str
    builder: Callable
    knobs: dict
    expected: str
    expected_outcomes: frozenset | None = None
    lkmm_extra: frozenset | None = None
    note: str = ""
    #: tags :attr:`Scenario.observe` must report (an exhaustive search finds exactly these)
    observed: frozenset | None = None


CATALOGUE: dict[str, Entry] = {}

#: the catalogue's order (docs/rcu-review.md section 6)
ORDER = ("A1 A2 B1 B2 C0 C0-pool C0-freetree C1 C1-freetree C2 C2-kfree C3 C4 C4-gp C5 "
         "C5-fast C5-fast-rcu D1 D2 D3 D3-recheck D4 E1 E2 E2-rcu E2-span E2-rebalance "
         "F1-inplace F1-cow F1-cow-split F2 F2-filter G1-unfair G1-fair G1-bounded G2 G2-shared "
         "H H-ref I1 I1-revalidate I1-mas-nomem I1-store-gfp").split()


def family(sid: str) -> str:
    """The builder module an entry comes from: ``"lookup"`` (the one-node lookup world),
    ``"bump"`` (the series' chunk lookup), ``"tree"`` or ``"alloc"``; unknown ids raise a ParameterError listing the valid ones."""
    _load_all()
    check_choice("scenario", sid, CATALOGUE)
    module = CATALOGUE[sid].builder.__module__.rpartition(".")[2]
    if module not in _BUILDER_MODULES:
        raise AssertionError(f"scenario {sid}: builder from {module}, not a builder module")
    return module


def register(id: str, summary: str, builder: Callable, expected: str, *,
             outcomes=None, lkmm_extra=None, note: str = "", observed=None, **knobs) -> None:
    CATALOGUE[id] = Entry(id, summary, builder, knobs, expected,
                          frozenset(outcomes) if outcomes is not None else None,
                          frozenset(lkmm_extra) if lkmm_extra else None, note,
                          frozenset(observed) if observed is not None else None)


#: the builder modules of this package; each registers its scenarios when imported
_BUILDER_MODULES = ("lookup", "bump", "tree", "alloc")


def _load_all() -> None:
    if getattr(_load_all, "done", False):
        return
    import importlib
    for m in _BUILDER_MODULES:
        importlib.import_module(f"{__package__}.{m}")
    order = {k: i for i, k in enumerate(ORDER)}
    items = sorted(CATALOGUE.items(), key=lambda kv: order.get(kv[0], len(order)))
    CATALOGUE.clear()
    CATALOGUE.update(items)
    _load_all.done = True


def __getattr__(name):
    """The builders (``lookup_race``, ``index_race``...) are reachable as ``scenarios.X``."""
    if name.startswith("__"):
        raise AttributeError(name)
    import importlib
    for m in _BUILDER_MODULES:
        mod = importlib.import_module(f"{__package__}.{m}")
        if name in getattr(mod, "__all__", ()):
            return getattr(mod, name)
    raise AttributeError(name)


def ids() -> list[str]:
    _load_all()
    return list(CATALOGUE)


def catalogue() -> list[tuple[str, str, str]]:
    """``(id, one-line summary, expected verdict)`` in catalogue order."""
    _load_all()
    out = []
    for e in CATALOGUE.values():
        exp = e.expected + (" {" + ", ".join(sorted(e.expected_outcomes)) + "}"
                            if e.expected_outcomes else "")
        out.append((e.id, e.summary, exp))
    return out


def get(id: str, **overrides) -> Scenario:
    """Build catalogue scenario ``id`` (``overrides`` change builder knobs; the expected
    verdict is then dropped, since it belongs to the catalogue's knob setting)."""
    _load_all()
    check_choice("scenario", id, list(CATALOGUE))
    e = CATALOGUE[id]
    knobs = {**e.knobs, **overrides}
    sc = e.builder(**knobs)
    sc.id = id
    sc.title = e.summary
    if e.note:
        sc.description = sc.description.rstrip() + "\n\n" + e.note
    if overrides:
        sc.source = f"scenarios.get({id!r}, " + ", ".join(f"{k}={v!r}" for k, v in overrides.items()) + ")"
        sc.expected = None
    else:
        sc.source = f"scenarios.get({id!r})"
        sc.expected = e.expected
        sc.expected_outcomes = e.expected_outcomes
        sc.lkmm_extra = e.lkmm_extra
        sc.expected_observed = e.observed
    return sc


def builder_source(name: str, knobs: dict) -> str:
    return f"scenarios.{name}(" + ", ".join(f"{k}={v!r}" for k, v in knobs.items()) + ")"
