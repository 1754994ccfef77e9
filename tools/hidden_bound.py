"""How much of a capture's hidden pool order a descending-order rule could predict at best.

``python tools/hidden_bound.py DIR [DIR ...]`` replays each capture (linux-6.18) and looks at
its *first hand-outs*: allocations of an address the trace had not shown before (not in
``vmallocinfo.before``, never allocated or freed earlier in the trace), which on an undrained or
dirty start are mostly entries of pools the snapshot could not show.  Of those that follow an
earlier first hand-out of the same node and size it counts how many the replay predicted, and,
on the *descending* ones (below that earlier one: a pool going on down its batch), how often

* the replay's prediction was right, and
* an *oracle* was right: the highest address below the previous one, of the same size (and,
  in the second variant, handed out on the same node), among every first hand-out still to
  come, known from the whole trace.

The oracle knows where every unseen entry is and its size (and node); it lacks only what no
capture records: which purge batch each entry belongs to, which ones a decay gave back, and in
which order the batches sit in the list.  Where even the oracle misses, the order cannot be
recovered from the capture.  Classes: ``stack`` (align 16 KiB), ``small`` (up to 10 pages),
``big``.  Prints a table; used for the analysis in data/traces/README.md.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from sortedcontainers import SortedDict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmapsim.traces.read import find_file, read_snapshot  # noqa: E402
from vmapsim.traces.replay import replay  # noqa: E402


def _kind(size: int, align: int) -> str:
    if align >= 16384:
        return "stack"
    return "small" if size <= 10 * 4096 else "big"


def bound(directory) -> Counter:
    """Counts per class: ``all``, ``replay-all``; on descending steps ``n``, ``replay``,
    ``oracle`` (any node), ``oracle-node``."""
    d = Path(directory)
    before = read_snapshot(find_file(d, "vmallocinfo.before"), 2)
    seen = {s for s, _e, _c in before.busy} | {s for s, _e, _c in before.lazy}
    res = replay(d, "linux-6.18")
    first = []                                    # (record index, addr, size, node, pred)
    for i, (_ts, cpu, addr, size, align, pred, _src, _cause) in enumerate(res.records):
        if addr not in seen:
            first.append((i, addr, size, cpu % 2, pred, _kind(size, align)))
        seen.add(addr)
    # still to come, per size (and per size and node): address -> count
    todo_any: dict[int, SortedDict] = {}
    todo_node: dict[tuple, SortedDict] = {}
    for _i, addr, size, node, _p, _k in first:
        todo_any.setdefault(size, SortedDict())[addr] = 1
        todo_node.setdefault((size, node), SortedDict())[addr] = 1
    last: dict[tuple, int] = {}
    out: Counter = Counter()
    for _i, addr, size, node, pred, kind in first:
        prev = last.get((node, size))
        last[(node, size)] = addr
        if prev is not None:
            out[(kind, "all")] += 1
            out[(kind, "replay-all")] += pred == addr
        if prev is not None and addr < prev:
            out[(kind, "n")] += 1
            out[(kind, "replay")] += pred == addr
            for key, todo in (("oracle", todo_any[size]), ("oracle-node", todo_node[(size, node)])):
                j = todo.bisect_left(prev) - 1
                out[(kind, key)] += j >= 0 and todo.peekitem(j)[0] == addr
        todo_any[size].pop(addr, None)
        todo_node[(size, node)].pop(addr, None)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    a = ap.parse_args(argv)
    print(f"{'capture':28} {'class':6} {'later first':>11} {'replay':>7} {'descending':>10} "
          f"{'replay':>7} {'oracle':>7} {'oracle,node':>11}")
    for dd in a.dirs:
        c = bound(dd)
        for kind in ("stack", "small", "big"):
            m, n = c[(kind, "all")], c[(kind, "n")]
            if n:
                print(f"{Path(dd).name:28} {kind:6} {m:11d} {100 * c[(kind, 'replay-all')] / m:6.1f}% "
                      f"{n:10d} {100 * c[(kind, 'replay')] / n:6.1f}% "
                      f"{100 * c[(kind, 'oracle')] / n:6.1f}% {100 * c[(kind, 'oracle-node')] / n:10.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
