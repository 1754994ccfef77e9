"""`vmapsim` / `python -m vmapsim`: one subcommand per module.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``.  The table below is the only place that knows them all, so modules can
be added without touching each other.

Exit status: 0 done; 2 bad input (a :class:`VmapsimError` or a command line argparse refuses),
printed on one line; 128 + N when stopped by signal N (130 for SIGINT / Ctrl-C, 143 for
SIGTERM; a module may raise ``KeyboardInterrupt`` with a ``signum`` attribute).  A standard
output whose reader went away (``... --json | head -1``) is bad input too: status 2 and one line
saying the output was cut short, never a traceback.  Nothing else is caught.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
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


class _Parser(argparse.ArgumentParser):
    """argparse, but a refused command line is one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vmapsim", description=__doc__.splitlines()[0])
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
        status = int(args._module.run(args) or 0)
        sys.stdout.flush()
        return status
    except VmapsimError as exc:
        print(f"vmapsim {args._name}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):   # exiting already: a repeated
            signal.signal(s, signal.SIG_IGN)                         # signal must not change it
        print(f"vmapsim {args._name}: interrupted by {signal.Signals(signum).name}",
              file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:
        _quiet_stdout()
        print(f"vmapsim {args._name}: error: standard output was closed before the output was "
              "complete (the reader of the pipe exited); the output is cut short", file=sys.stderr)
        return 2


def _one_line(exc) -> str:
    return " ".join(str(exc).split("\n"))


def _quiet_stdout() -> None:
    """The reader of stdout went away: send what is still buffered to /dev/null so the
    interpreter's final flush does not raise (and print) a second BrokenPipeError."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
