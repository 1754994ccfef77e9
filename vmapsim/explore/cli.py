"""``python -m vmapsim explore ID``: explore one scenario of the catalogue.

::

    python -m vmapsim explore ID [--strategy exhaustive|bounded|random|pct] [--bound K]
                                 [--runs N] [--seed S] [--json]
    python -m vmapsim explore --list

``--bound`` is the preemption bound for ``bounded`` (default 2) and the bug depth for
``pct`` (default 3); ``--runs`` the number of schedules for ``random``/``pct`` (default
1000).  ``--json`` prints one object with the keys ``scenario``, ``verdict``
(``violation``/``never``/``outcomes``), ``exhaustive``, ``executions``, ``outcomes``,
``counterexample`` (the recorded steps, or null) and ``seconds``, plus extra keys
(``expected``, ``violation``, ``schedule``, ``preemptions``, ``snippet``...).
Exit status 0 whatever the verdict; 2 on bad input.

Work limits: ``--max-ops`` (executions, default 1,000,000) and ``--max-seconds`` (default
3600).  For ``random``/``pct`` the work is known before the search starts (``--runs``
executions, timed on a probe of :data:`PROBE` executions): a run above either limit is refused,
naming both.  For ``exhaustive``/``bounded`` the number of executions is not known in advance:
both limits stop the search, which then says so (``search stopped early``).
"""
from __future__ import annotations

import argparse
import json

from ..errors import ParameterError
from ..params import check_float, check_int, check_seed

__all__ = ["add_arguments", "run", "MAX_OPS", "MAX_SECONDS", "PROBE"]

MAX_OPS = 1_000_000
MAX_SECONDS = 3600.0
#: executions timed before a random or pct search to estimate its duration
PROBE = 20


def _positive(name):
    def conv(text):
        try:
            return check_int(name, text, lo=1)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    conv.__name__ = name
    return conv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", nargs="?", metavar="ID", help="scenario id (see --list)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--strategy", default="exhaustive",
                        help="exhaustive (default), bounded, random or pct")
    parser.add_argument("--bound", type=_positive("bound"), default=None,
                        help="preemption bound (bounded) or bug depth (pct)")
    parser.add_argument("--runs", type=_positive("runs"), default=None,
                        help="schedules to try (random, pct)")
    parser.add_argument("--seed", default="0", help="seed (random, pct): 0..2**32-1")
    parser.add_argument("--max-ops", default=str(MAX_OPS),
                        help="most executions (random/pct: refused above; default %(default)s)")
    parser.add_argument("--max-seconds", default=str(int(MAX_SECONDS)),
                        help="longest search (random/pct: refused if estimated above; default "
                             "%(default)s)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from ..params import check_choice
    from . import scenarios
    from .api import STRATEGIES, explore

    if args.list:
        rows = scenarios.catalogue()
        width = max(len(r[0]) for r in rows)
        for sid, summary, expected in rows:
            print(f"{sid.ljust(width)}  {expected.split(' ')[0]:9s}  {summary}")
        return 0
    if args.id is None:
        raise ParameterError("scenario id missing; valid scenario values: "
                             + ", ".join(scenarios.ids()) + " (or use --list)")
    check_choice("strategy", args.strategy, STRATEGIES)
    seed = check_seed("seed", args.seed)
    max_ops = int(check_float("max_ops", args.max_ops, lo=1))
    max_seconds = check_float("max_seconds", args.max_seconds, lo=0.001)
    if args.strategy in ("random", "pct"):
        runs = 1000 if args.runs is None else args.runs
        estimate = None
        if runs > max_ops:
            estimate = f"{runs:,} executions"
        else:
            probe = explore(args.id, strategy=args.strategy, bound=args.bound,
                            runs=min(runs, PROBE), seed=seed, minimise=False)
            per = probe.search_seconds / max(1, probe.executions)
            if runs * per > max_seconds:
                estimate = f"{runs:,} executions, ~{runs * per:,.0f} s at {per * 1e3:.2f} ms each"
        if estimate is not None:
            raise ParameterError(f"this search would take {estimate}: above --max-ops {max_ops:,} "
                                 f"or --max-seconds {max_seconds:,.0f}; lower --runs or raise "
                                 "those limits")
    res = explore(args.id, strategy=args.strategy, bound=args.bound, runs=args.runs,
                  seed=seed, max_executions=max_ops, max_seconds=max_seconds)
    if args.json:
        print(json.dumps(res.to_json(), indent=1, default=str))
        return 0
    print(res.summary())
    if res.counterexample:
        print()
        print(res.swimlane())
        print()
        print(res.snippet())
    return 0
