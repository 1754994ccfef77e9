"""Counterexample rendering: a plain-text swimlane and a runnable Python snippet.

The per-step records themselves come from a recorded
:class:`~vmapsim.explore.execute.Execution` (``record=True``); each is a dict with

``step, thread, op, kind, result, preempt, notes, rcu{open, gps, pending_cb}, objects,
locks, positions`` (+ ``violation`` / ``budget`` on the last step)

which is both the JSON ``counterexample`` of the CLI and the data a step-through widget
binds to.
"""
from __future__ import annotations

__all__ = ["swimlane", "snippet", "compact_steps"]


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def swimlane(trace: list[dict], threads: list[str], width: int = 34) -> str:
    """One column per thread, one row per step; preemptions are marked with ``>``,
    the violating step with ``!!``, and notes (grace periods, frees) follow the row."""
    used = [t for t in threads if any(e["thread"] == t for e in trace)]
    head = "step  " + " | ".join(_cell(t, width).ljust(width) for t in used)
    lines = [head, "-" * len(head)]
    for e in trace:
        text = e["op"]
        if e.get("result") not in (None, "NULL") or e["kind"] in ("load", "read", "ix_load",
                                                                   "ix_walk", "spin_trylock"):
            if e.get("result") is not None:
                text += f" -> {e['result']}"
        if "violation" in e:
            text = "!! " + text
        cols = [(_cell(text, width) if t == e["thread"] else "").ljust(width) for t in used]
        mark = ">" if e.get("preempt") else " "
        lines.append(f"{e['step']:4d}{mark} " + " | ".join(cols).rstrip())
        for n in e.get("notes", ()):
            lines.append(f"        . {n}")
        if "violation" in e:
            lines.append(f"        !! {e['violation']}")
        if "budget" in e:
            lines.append(f"        .. {e['budget']}")
    return "\n".join(lines)


def compact_steps(trace: list[dict]) -> list[dict]:
    """The JSON counterexample: every step with its snapshot (positions included)."""
    return [dict(e) for e in trace]


def snippet(source: str, schedule: list[str], strategy_note: str = "") -> str:
    """A short runnable Python program that replays the schedule and shows the violation."""
    sched = "[" + ", ".join(repr(s) for s in schedule) + "]"
    return (
        "# replay of a counterexample found by vmapsim explore" + (f" ({strategy_note})" if strategy_note else "") + "\n"
        "from vmapsim.explore import replay, scenarios\n\n"
        f"result = replay({source},\n"
        f"                {sched})\n"
        "print(result.swimlane())\n"
        "assert result.verdict == 'violation', result.summary()\n"
    )
