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
"""
from __future__ import annotations

import argparse
import json

from ..errors import ParameterError
from ..params import check_int

__all__ = ["add_arguments", "run"]


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
    parser.add_argument("--seed", type=int, default=0, help="seed (random, pct)")
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
    res = explore(args.id, strategy=args.strategy, bound=args.bound, runs=args.runs,
                  seed=args.seed)
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
