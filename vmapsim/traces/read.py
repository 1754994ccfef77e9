"""Reading a capture: tracefs text with the ``vmalloc:*`` events, /proc/vmallocinfo snapshots, meta.

Formats (tracefs ``events/vmalloc/*/format`` on 6.18, include/trace/events/vmalloc.h)::

    TASK-PID [CPU] FLAGS TIMESTAMP: alloc_vmap_area: va_start: %lu size=%lu align=%lu vstart=0x%lx vend=0x%lx failed=%d
    TASK-PID [CPU] FLAGS TIMESTAMP: free_vmap_area_noflush: va_start=0x%lx nr_lazy=%lu nr_lazy_max=%lu
    TASK-PID [CPU] FLAGS TIMESTAMP: purge_vmap_area_lazy: start=0x%lx end=0x%lx num_purged=%u

and /proc/vmallocinfo lines ``0xSTART-0xEND SIZE caller ...`` (``unpurged vm_area`` for lazy
areas, listed per node after all busy areas; mm/vmalloc.c vmalloc_info_show()).

Bad input never turns into a silently wrong number: a malformed or truncated line, a snapshot
with hashed (``kptr_restrict=0``) or hidden addresses, overlapping areas, or timestamps that go
backwards on one CPU raise :class:`~vmapsim.errors.TraceError` naming the file, the line and
the problem; foreign events and lines of other tracers are skipped and reported as warnings.
Files may be gzip-compressed (``name.gz`` is used when ``name`` is absent).
"""
from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TraceError

__all__ = ["Event", "Trace", "Snapshot", "read_trace", "read_snapshot", "read_meta", "open_text",
           "find_file", "ALLOC", "FREE", "PURGE", "MARK", "BODY_FORMATS"]

ALLOC, FREE, PURGE, MARK = "alloc", "free", "purge", "mark"
KERNEL_SPACE = 0xFFFF800000000000

_LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
                   r"(?:[^\s]{4,6}\s+)?(?P<ts>\d+\.\d+):\s+(?P<rest>.*)$")
_EVENT = re.compile(r"^(?P<ev>[\w]+):\s(?P<body>.*)$")
_ALLOC = re.compile(r"^va_start: (\d+) size=(\d+) align=(\d+) vstart=0x([0-9a-f]+) "
                    r"vend=0x([0-9a-f]+) failed=(-?\d+)\s*$")
_FREE = re.compile(r"^va_start=0x([0-9a-f]+) nr_lazy=(\d+) nr_lazy_max=(\d+)\s*$")
_PURGE = re.compile(r"^start=0x([0-9a-f]+) end=0x([0-9a-f]+) num_purged=(\d+)\s*$")
_FAST = re.compile(
    r"^[ \t]*(.*?)-(\d+)[ \t]+(?:\([ \t]*[-\d]+\)[ \t]+)?\[(\d+)\][ \t]+(?:\S{4,6}[ \t]+)?(\d+\.\d+):[ \t]+"
    r"(?:alloc_vmap_area: va_start: (\d+) size=(\d+) align=(\d+) vstart=0x([0-9a-f]+) "
    r"vend=0x([0-9a-f]+) failed=(-?\d+)|free_vmap_area_noflush: va_start=0x([0-9a-f]+) "
    r"nr_lazy=(\d+) nr_lazy_max=(\d+))[ \t]*$", re.M)
#: the ``print fmt`` text of each event (shared by every text form: tracefs, trace-cmd, perf)
BODY_FORMATS = {ALLOC: _ALLOC, FREE: _FREE, PURGE: _PURGE}
_LOST = re.compile(r"^\s*CPU:(\d+) \[LOST (\d+) EVENTS\]")
_SNAP = re.compile(r"^0x([0-9a-f]+)-0x([0-9a-f]+)\s+(\d+)\s*(.*)$")


@dataclass(slots=True)
class Event:
    """One trace event.  ``kind`` is ALLOC/FREE/PURGE/MARK; fields by kind:

    ALLOC: ``addr size align vstart vend failed``; FREE: ``addr nr_lazy nr_lazy_max``;
    PURGE: ``start end npurged``; MARK: ``text``."""
    ts: float
    cpu: int
    pid: int
    comm: str
    kind: str
    line: int
    addr: int = 0
    size: int = 0
    align: int = 0
    vstart: int = 0
    vend: int = 0
    failed: int = 0
    nr_lazy: int = 0
    nr_lazy_max: int = 0
    npurged: int = 0
    text: str = ""


@dataclass
class Trace:
    path: str
    events: list            # sorted by time (stable)
    lost_events: int = 0
    warnings: list = field(default_factory=list)


def find_file(directory, name: str) -> Path:
    """``directory/name`` or ``directory/name.gz``; TraceError naming both if neither exists."""
    d = Path(directory)
    for p in (d / name, d / (name + ".gz")):
        if p.exists():
            return p
    raise TraceError(d / name, 0, f"missing (neither {name} nor {name}.gz in {d})")


def open_text(path):
    p = Path(path)
    if p.suffix == ".gz":
        return gzip.open(p, "rt", errors="replace")
    return open(p, "rt", errors="replace")


def read_trace(path) -> Trace:
    """Parse a tracefs text file; events are returned sorted by timestamp (stable)."""
    path = Path(path)
    events, warnings = [], []
    lost = 0
    last_ts: dict[int, tuple[float, int]] = {}
    foreign: dict[str, int] = {}
    other_lines = 0
    first_other = None
    seen_header = False
    try:
        with open_text(path) as fh:
            text = fh.read()
    except (OSError, EOFError) as exc:
        raise TraceError(path, 0, f"cannot read: {exc}") from None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n") and lines[-1].strip():
        raise TraceError(path, len(lines), f"truncated line {lines[-1].strip()[:60]!r} "
                                           "(the file ends in the middle of a line)")
    # fast path: the two frequent events, matched over the whole text by one regex
    done = set()
    lineno, pos = 1, 0
    for f in _FAST.finditer(text):
        lineno += text.count("\n", pos, f.start())
        pos = f.start()
        g = f.groups()
        if g[4] is not None:
            events.append(Event(float(g[3]), int(g[2]), int(g[1]), g[0].strip(), ALLOC, lineno,
                                int(g[4]), int(g[5]), int(g[6]), int(g[7], 16), int(g[8], 16),
                                int(g[9])))
        else:
            events.append(Event(float(g[3]), int(g[2]), int(g[1]), g[0].strip(), FREE, lineno,
                                int(g[10], 16), 0, 0, 0, 0, 0, int(g[11]), int(g[12])))
        done.add(lineno)
    for lineno, line in enumerate(lines, 1):
        if lineno in done or not line.strip():
            continue
        if line.startswith("#"):
            seen_header = True
            continue
        m = _LOST.match(line)
        if m:
            lost += int(m.group(2))
            warnings.append(f"{path}:{lineno}: CPU {m.group(1)} lost {m.group(2)} events")
            continue
        m = _LINE.match(line)
        if not m:
            if lineno == len(lines) and not line.endswith("\n"):
                raise TraceError(path, lineno, f"truncated line {line.strip()[:60]!r}")
            raise TraceError(path, lineno, f"not a tracefs event line: {line.strip()[:80]!r}")
        cpu, pid, ts = int(m.group("cpu")), int(m.group("pid")), float(m.group("ts"))
        rest = m.group("rest")
        em = _EVENT.match(rest)
        if not em:
            other_lines += 1
            first_other = first_other or lineno
            continue
        ev, body = em.group("ev"), em.group("body")
        comm = m.group("comm").strip()
        if ev == "alloc_vmap_area":
            f = _ALLOC.match(body)
            if not f:
                raise TraceError(path, lineno, _bad_fields(ev, body, lineno == len(lines)))
            a, sz, al, vs, ve, fl = f.groups()
            events.append(Event(ts, cpu, pid, comm, ALLOC, lineno, int(a), int(sz), int(al),
                                int(vs, 16), int(ve, 16), int(fl)))
        elif ev == "free_vmap_area_noflush":
            f = _FREE.match(body)
            if not f:
                raise TraceError(path, lineno, _bad_fields(ev, body, lineno == len(lines)))
            a, nl, nm = f.groups()
            events.append(Event(ts, cpu, pid, comm, FREE, lineno, int(a, 16), 0, 0, 0, 0, 0,
                                int(nl), int(nm)))
        elif ev == "purge_vmap_area_lazy":
            f = _PURGE.match(body)
            if not f:
                raise TraceError(path, lineno, _bad_fields(ev, body, lineno == len(lines)))
            a, b, n = f.groups()
            events.append(Event(ts, cpu, pid, comm, PURGE, lineno, int(a, 16), 0, 0, 0, int(b, 16),
                                0, 0, 0, int(n)))
        elif ev == "tracing_mark_write":
            events.append(Event(ts, cpu, pid, comm, MARK, lineno, text=body.strip()))
        else:
            if ev not in foreign:
                foreign[ev] = lineno
    if not seen_header and not events:
        raise TraceError(path, 0, "no tracefs header and no vmalloc events: not a trace file")
    for ev, lineno in foreign.items():
        warnings.append(f"{path}:{lineno}: foreign event {ev!r} ignored (and any later ones)")
    if other_lines:
        warnings.append(f"{path}:{first_other}: {other_lines} line(s) from another tracer ignored")
    events.sort(key=lambda e: e.line)
    for e in events:                       # one CPU's buffer is in time order: else reordered
        prev = last_ts.get(e.cpu)
        if prev is not None and e.ts < prev[0]:
            raise TraceError(path, e.line, f"timestamp {e.ts:.6f} on CPU {e.cpu} is earlier than "
                                           f"{prev[0]:.6f} at line {prev[1]}: lines reordered?")
        last_ts[e.cpu] = (e.ts, e.line)
    events.sort(key=lambda e: e.ts)
    return Trace(str(path), events, lost, warnings)


def _bad_fields(ev, body, last):
    what = "truncated" if last else "malformed"
    return f"{what} {ev} event: {body.strip()[:80]!r}"


@dataclass
class Snapshot:
    """A /proc/vmallocinfo snapshot: ``busy`` ``(start, end, caller)``, ``lazy`` ``(start, end, node)``."""
    path: str
    busy: list
    lazy: list
    warnings: list = field(default_factory=list)
    #: ranges listed busy and then lazy (freed while the snapshot was read); kept in ``lazy`` only
    twice: list = field(default_factory=list)


def read_snapshot(path, nr_nodes: int = 1) -> Snapshot:
    """Parse /proc/vmallocinfo; the lazy node of an area is its position in the per-node listing
    (each node's list is address-sorted; an address drop starts the next node)."""
    path = Path(path)
    try:
        with open_text(path) as fh:
            lines = fh.readlines()
    except (OSError, EOFError) as exc:
        raise TraceError(path, 0, f"cannot read: {exc}") from None
    busy, lazy = [], []
    node, last_lazy = 0, -1
    spans = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if lineno == len(lines) and not line.endswith("\n"):
            raise TraceError(path, lineno, f"truncated vmallocinfo line: {line.strip()[:80]!r}")
        m = _SNAP.match(line.strip())
        if not m:
            what = "truncated" if lineno == len(lines) and not line.endswith("\n") else "malformed"
            raise TraceError(path, lineno, f"{what} vmallocinfo line: {line.strip()[:80]!r}")
        s, e, size = int(m.group(1), 16), int(m.group(2), 16), int(m.group(3))
        if s == 0 and e == 0:
            raise TraceError(path, lineno, "addresses are hidden (all zero): read it as root with "
                                           "kptr_restrict=1")
        if s < KERNEL_SPACE or e < KERNEL_SPACE:
            raise TraceError(path, lineno, f"address {s:#x} is not a kernel address: hashed pointers "
                                           "(kptr_restrict=0); capture with kptr_restrict=1")
        if e - s != size:
            raise TraceError(path, lineno, f"size {size} differs from end - start = {e - s}")
        rest = m.group(4)
        if rest.startswith("unpurged vm_area"):
            if s < last_lazy:
                node += 1
            last_lazy = s
            lazy.append((s, e, min(node, nr_nodes - 1)))
            spans.append((s, e, lineno))
        else:
            if lazy:
                raise TraceError(path, lineno, "busy area listed after the unpurged (lazy) areas: "
                                               "lines reordered?")
            busy.append((s, e, rest.split(None, 1)[0] if rest else ""))
            spans.append((s, e, lineno))
    if not spans:
        raise TraceError(path, 0, "empty snapshot")
    # vmalloc_info_show() prints the busy lists, then the lazy ones, each under its own lock: an
    # area freed in between is listed twice, busy then lazy.  That is the race, not corruption.
    lazy_ranges = {(s, e) for s, e, _ in lazy}
    twice = [(s, e) for s, e, _ in busy if (s, e) in lazy_ranges]
    warnings = []
    if twice:
        tw = set(twice)
        busy = [b for b in busy if (b[0], b[1]) not in tw]
        spans = [x for x in spans if (x[0], x[1]) not in tw or
                 x[2] > min(ln for s, e, ln in spans if (s, e) == (x[0], x[1]))]
        warnings.append(f"{path}: {len(twice)} area(s) listed busy and again lazy (freed while the "
                        f"snapshot was read, e.g. {twice[0][0]:#x}); taken as lazy")
    spans.sort()
    for (s1, e1, l1), (s2, e2, l2) in zip(spans, spans[1:]):
        if s2 < e1:
            raise TraceError(path, l2, f"area {s2:#x}-{e2:#x} overlaps {s1:#x}-{e1:#x} (line {l1})")
    return Snapshot(str(path), busy, lazy, warnings, twice)


def read_meta(path) -> dict:
    """``key=value`` lines; TraceError for a line without ``=``."""
    meta = {}
    path = Path(path)
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise TraceError(path, lineno, f"expected key=value, got {line[:60]!r}")
            k, _, v = line.partition("=")
            meta[k.strip()] = v.strip()
    return meta
