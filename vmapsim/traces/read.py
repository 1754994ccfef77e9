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

One definition of a line everywhere (:func:`read_lines`): the bytes between two ``b"\\n"``.
Nothing else ends a line -- not ``\\r``, ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, U+0085 or U+2028,
which ``str.splitlines()`` and text-mode files would split on -- because the kernel writes one
event per ``\\n`` and a task name may hold any byte but NUL.  A control character in a task
name or a ``trace_marker`` text is part of it; one anywhere else after the timestamp makes the
line an error naming file:line.  Only regular files are read (a FIFO, a device or ``/dev/zero`` behind a link is
refused before it is opened), and ``meta`` values the replay computes with are checked.
"""
from __future__ import annotations

import gzip
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TraceError

__all__ = ["Event", "Trace", "Snapshot", "read_trace", "read_snapshot", "read_meta", "open_text",
           "read_lines", "read_bytes", "check_regular", "find_file", "ALLOC", "FREE", "PURGE", "MARK", "META_INTS",
           "BODY_FORMATS"]

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
#: C0 controls but TAB, DEL and C1 controls: never in what the kernel prints after the task name
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
#: meta keys the tools compute with -> smallest valid value (all are decimal integers)
META_INTS = {"possible_cpus": 1, "online_cpus": 1, "clean_pools": 0, "lost_events": 0,
             "external_drop_caches": 0, "seed": 0}


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


def check_regular(path: Path) -> None:
    """Refuse anything but a regular file (after links) before opening it: a FIFO would block
    the reader, a device such as /dev/zero never ends."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise TraceError(path, 0, f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise TraceError(path, 0, f"not a regular file ({kind}); a capture holds regular files")


def read_bytes(path) -> bytes:
    """The whole content of *path* (gunzipped for ``.gz``), as bytes; TraceError on failure."""
    p = Path(path)
    check_regular(p)
    try:
        if p.suffix == ".gz":
            with gzip.open(p, "rb") as fh:
                return fh.read()
        with open(p, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise TraceError(p, 0, f"cannot read: {exc}") from None
    except MemoryError:
        raise TraceError(p, 0, "too large to read into memory") from None


def read_lines(path) -> tuple[list[str], bool]:
    """``(lines, complete)``: the file split on ``b"\\n"`` only (see the module docstring),
    decoded as UTF-8 (invalid bytes become U+FFFD), without the newline; *complete* is False
    when the last line has no ``\\n`` (a truncated file)."""
    data = read_bytes(path)
    parts = data.decode("utf-8", errors="replace").split("\n")
    if parts[-1] == "":
        parts.pop()
        return parts, True
    return parts, False


def open_text(path):
    """A text stream of *path* (gunzipped for ``.gz``) for callers that need one; lines are
    ``\\n``-separated only (``newline="\\n"``: no ``\\r`` translation)."""
    p = Path(path)
    check_regular(p)
    if p.suffix == ".gz":
        return gzip.open(p, "rt", errors="replace", newline="\n")
    return open(p, "rt", errors="replace", newline="\n")


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
    lines, complete = read_lines(path)
    if not complete and lines[-1].strip():
        raise TraceError(path, len(lines), f"truncated line {lines[-1].strip()[:60]!r} "
                                           "(the file ends in the middle of a line)")
    text = "\n".join(lines)
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
            raise TraceError(path, lineno, f"not a tracefs event line: {line.strip()[:80]!r}")
        cpu, pid, ts = int(m.group("cpu")), int(m.group("pid")), float(m.group("ts"))
        rest = m.group("rest").rstrip()
        c = _CONTROL.search(rest)
        if c and not rest.startswith("tracing_mark_write: "):
            raise TraceError(path, lineno, f"control character {ord(c.group()):#04x} in the event "
                                           f"text {rest[:80]!r} (only a task name or a trace_marker "
                                           "text may hold one)")
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
                raise TraceError(path, lineno, _bad_fields(ev, body, False))
            a, sz, al, vs, ve, fl = f.groups()
            events.append(Event(ts, cpu, pid, comm, ALLOC, lineno, int(a), int(sz), int(al),
                                int(vs, 16), int(ve, 16), int(fl)))
        elif ev == "free_vmap_area_noflush":
            f = _FREE.match(body)
            if not f:
                raise TraceError(path, lineno, _bad_fields(ev, body, False))
            a, nl, nm = f.groups()
            events.append(Event(ts, cpu, pid, comm, FREE, lineno, int(a, 16), 0, 0, 0, 0, 0,
                                int(nl), int(nm)))
        elif ev == "purge_vmap_area_lazy":
            f = _PURGE.match(body)
            if not f:
                raise TraceError(path, lineno, _bad_fields(ev, body, False))
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
    lines, complete = read_lines(path)
    busy, lazy = [], []
    node, last_lazy = 0, -1
    spans = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if lineno == len(lines) and not complete:
            raise TraceError(path, lineno, f"truncated vmallocinfo line: {line.strip()[:80]!r}")
        m = _SNAP.match(line.strip())
        if not m:
            raise TraceError(path, lineno, f"malformed vmallocinfo line: {line.strip()[:80]!r}")
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
    """``key=value`` lines; TraceError for a line without ``=``, a key given twice, or a value of
    :data:`META_INTS` that is not a decimal integer at or above its minimum."""
    meta = {}
    path = Path(path)
    lines, _ = read_lines(path)
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise TraceError(path, lineno, f"expected key=value, got {line[:60]!r}")
        k, _, v = line.partition("=")
        k, v = k.strip(), v.strip()
        if k in meta:
            raise TraceError(path, lineno, f"{k} given twice")
        if k in META_INTS:
            if not re.fullmatch(r"[0-9]+", v) or int(v) < META_INTS[k]:
                raise TraceError(path, lineno, f"{k} must be a decimal integer >= {META_INTS[k]}, "
                                               f"got {v[:40]!r}")
        meta[k] = v
    if "possible_cpus" in meta and "online_cpus" in meta and \
            int(meta["online_cpus"]) > int(meta["possible_cpus"]):
        raise TraceError(path, 0, f"online_cpus={meta['online_cpus']} exceeds possible_cpus="
                                  f"{meta['possible_cpus']}")
    return meta
