"""Which captures the repository ships, and how a trace is named: the one place for both.

A capture is a directory holding a recording of the ``vmalloc:*`` events (``vmapsim capture``
writes ``trace.txt``; any form :mod:`vmapsim.traces.formats` reads, under any name, will do)
and the ``/proc/vmallocinfo`` snapshots taken around it.  The captures in
``data/traces/`` are named by their directory; anywhere a trace is asked for, a reader may also
give the path of a capture directory of their own.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ParameterError
from ..paths import TRACES_DIR
from .formats import find_recordings

__all__ = ["KINDS", "RECORDING_NAMES", "capture_dirs", "has_capture", "kind_captures", "trace_dir",
           "trace_names", "info", "describe", "WORKLOAD_TEXT"]

#: file names of the recording ``vmapsim capture`` writes (other names are found by content)
RECORDING_NAMES = ("trace.txt", "trace.txt.gz")


def has_capture(directory) -> bool:
    """True if *directory* holds a recording (of any form, under any name)."""
    d = Path(directory)
    if not d.is_dir():
        return False
    if any((d / n).exists() for n in RECORDING_NAMES):
        return True
    return bool(find_recordings(d))


def capture_dirs() -> dict[str, Path]:
    """name -> directory of every capture in ``data/traces/``, in name order."""
    if not TRACES_DIR.is_dir():
        return {}
    return {d.name: d for d in sorted(TRACES_DIR.iterdir()) if has_capture(d)}


#: ``data/traces/<set>/<kind>-...``: captures of each kind kept to score the replay's inference of
#: hidden state (``tuning``: used while building it; ``held-out``: replayed only once it was done)
KINDS = ("drained", "undrained", "dirty")
_SETS = ("tuning", "held-out")


def kind_captures() -> list[tuple[str, str, str, Path]]:
    """``(set, kind, name, directory)`` of the captures under ``data/traces/tuning`` and
    ``data/traces/held-out`` (not among :func:`trace_names`: they are scored, not used as
    workloads)."""
    out = []
    for st in _SETS:
        d = TRACES_DIR / st
        if not d.is_dir():
            continue
        for c in sorted(d.iterdir()):
            kind = c.name.split("-", 1)[0]
            if kind in KINDS and has_capture(c):
                out.append((st, kind, c.name, c))
    return out


def _size(d: Path) -> int:
    named = [d / n for n in RECORDING_NAMES if (d / n).exists()]
    return sum(p.stat().st_size for p in named or [p for p, _ in find_recordings(d)[:1]])


def trace_names(order: str = "name") -> list[str]:
    """Names of the shipped captures, by name (``order="name"``) or smallest recording first
    (``order="size"``, what quick runs take the first of)."""
    dirs = capture_dirs()
    if order == "size":
        return sorted(dirs, key=lambda n: (_size(dirs[n]), n))
    if order != "name":
        raise ParameterError(f"order must be 'name' or 'size', got {order!r}")
    return list(dirs)


def trace_dir(trace) -> Path:
    """``data/traces/<trace>`` for a shipped name, else *trace* as a capture directory; a
    ParameterError lists the shipped names otherwise."""
    dirs = capture_dirs()
    if str(trace) in dirs:
        return dirs[str(trace)]
    q = Path(str(trace)).expanduser()
    if has_capture(q):
        return q
    raise ParameterError(f"unknown trace {trace!r}; valid trace values: {', '.join(dirs) or '(none)'} "
                         "or a capture directory (vmapsim capture DIR)")


# --------------------------------------------------------------------------- what a capture is

#: one line per workload of ``vmapsim capture`` (vmapsim.traces.capture_load)
WORKLOAD_TEXT = {
    "fork": "fork and thread storms (kernel stacks)",
    "large": "BPF array maps of 36 KiB..4 MiB and socket filters",
    "mixed": "fork/thread storms, BPF maps and socket filters interleaved",
    "long": "the mixed workload at a gentler pace with pauses",
    "none": "the machine's own load only",
}


def _roles() -> dict:
    import json

    path = TRACES_DIR / "roles.json"
    return json.loads(path.read_text())["captures"] if path.exists() else {}


def info(trace) -> dict:
    """What is known about a capture: ``kind`` (drained, undrained or dirty: whether the pools
    were emptied before the first snapshot), ``role`` (``development``: used to develop or tune
    the replay; ``held-out``: replayed only once it was done; None for a capture of your own),
    ``note``, ``kernel``, ``workload``, ``seconds``, ``possible_cpus``, ``online_cpus``, from its
    ``meta`` and ``kernel`` files and ``data/traces/roles.json``."""
    from .read import find_file, read_meta

    kinds = {n: d for _, _, n, d in kind_captures()}
    d = kinds[str(trace)] if str(trace) in kinds else trace_dir(trace)
    name = d.name
    meta = read_meta(find_file(d, "meta")) if any(
        (d / n).exists() for n in ("meta", "meta.gz")) else {}
    role = _roles().get(name, {}) if d.parent in (TRACES_DIR, TRACES_DIR / "tuning",
                                                 TRACES_DIR / "held-out") else {}
    kernel = (d / "kernel").read_text().strip() if (d / "kernel").exists() else role.get("kernel")
    if meta:
        kind = "drained" if meta.get("clean_pools", "1") == "1" else "undrained"
    else:
        kind = "dirty"
    seconds = meta.get("seconds")
    return {"name": name, "kind": kind, "role": role.get("role"), "note": role.get("note"),
            "kernel": kernel, "workload": meta.get("mode", role.get("workload")),
            "seconds": round(float(seconds), 1) if seconds else role.get("seconds"),
            "possible_cpus": int(meta["possible_cpus"]) if "possible_cpus" in meta else role.get("cpus"),
            "online_cpus": int(meta["online_cpus"]) if "online_cpus" in meta else role.get("cpus"),
            "made_with": role.get("made_with")}


def describe(trace) -> str:
    """One line saying what a capture is (for a reply's list of labels)."""
    i = info(trace)
    how = {"drained": "pools drained first", "undrained": "pools not drained first",
           "dirty": "a running system, pools as they were"}[i["kind"]]
    wl = WORKLOAD_TEXT.get(i["workload"] or "", i["workload"] or "unknown workload")
    cpus = f"{i['possible_cpus']} CPUs, " if i["possible_cpus"] else ""
    secs = f"{i['seconds']:g} s of " if i["seconds"] else ""
    role = {"development": "; used to develop the replay", "held-out": "; held out from its "
            "development"}.get(i["role"] or "", "")
    return (f"a real capture (Linux {i['kernel'] or 'version not recorded'}, {cpus}{how}): "
            f"{secs}{wl}{role}")
