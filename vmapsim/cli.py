"""`vmapsim` / `python -m vmapsim`: one subcommand per module.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``.  The table below is the only place that knows them all, so modules can
be added without touching each other.  Errors caused by the input (:class:`VmapsimError`) are
printed on one line and give exit status 2; nothing else is caught.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import VmapsimError

#: subcommand -> (module, one-line help)
COMMANDS = {
    "capture": ("vmapsim.traces.capture", "record a real vmalloc trace on this machine (root, tracefs)"),
    "replay": ("vmapsim.traces.replay", "replay a captured trace under a design and score its address choices"),
    "explore": ("vmapsim.explore.cli", "explore the interleavings of a named RCU/locking scenario"),
    "simulate": ("vmapsim.perf.simulate", "run the multi-CPU performance model"),
}


def _load(name: str):
    """The module of subcommand *name*; a registered module that does not import raises."""
    return importlib.import_module(COMMANDS[name][0])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vmapsim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        mod = _load(name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_module=mod, _name=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except VmapsimError as exc:
        print(f"vmapsim {args._name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vmapsim {args._name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
