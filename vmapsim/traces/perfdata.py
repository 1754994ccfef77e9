"""``perf.data`` files of ``perf record -e 'vmalloc:*'`` (tools/perf/Documentation/
perf.data-file-format.txt; docs/recording-formats.md section 4.2).

Only what a tracepoint recording needs is read: the header, the attributes (one per recorded
event; ``attr.config`` is the tracepoint id), the data records (``PERF_RECORD_SAMPLE`` with a raw
tracepoint payload, ``COMM``/``FORK`` for task names, ``LOST``) and the ``HEADER_TRACING_DATA``
feature, which carries the event format files the raw payloads are decoded with.  A file this
reader cannot decode correctly is refused with a one-line reason: pipe mode, compressed records
(``perf record -z``), big-endian files, sample types whose fields before ``RAW`` it cannot
skip.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..errors import TraceError
from .tracedat import RawRecord, parse_tracing_header

__all__ = ["PERF_MAGIC", "PerfData", "read_perf_data"]

PERF_MAGIC = b"PERFILE2"

# perf_event_attr.sample_type bits (include/uapi/linux/perf_event.h)
S_IP, S_TID, S_TIME, S_ADDR, S_READ, S_CALLCHAIN, S_ID, S_CPU, S_PERIOD, S_STREAM_ID, S_RAW = \
    (1 << i for i in range(11))
S_IDENTIFIER = 1 << 16
# record types
R_LOST, R_COMM, R_FORK, R_SAMPLE, R_COMPRESSED = 2, 3, 7, 9, 81
HEADER_TRACING_DATA = 1
PERF_TYPE_TRACEPOINT = 2


@dataclass
class _Attr:
    type: int
    config: int
    sample_type: int
    sample_id_all: bool
    clockid: int | None
    ids: list = field(default_factory=list)


@dataclass
class PerfData:
    """Decoded samples (:class:`RawRecord`, ns of the recording clock), with pid/tid and task names."""
    records: list            # [(RawRecord, pid, tid)], in time order
    formats: dict            # tracepoint id -> EventFormat
    comms: dict              # tid -> [(time, comm)], time order
    lost: int = 0
    clock: str = "perf"


def read_perf_data(data: bytes, path) -> PerfData:
    if data[:8] != PERF_MAGIC:
        raise TraceError(path, 0, "not a perf.data file (no PERFILE2 magic)")
    if len(data) < 104:
        raise TraceError(path, 0, "truncated perf.data header")
    hsize, attr_size = struct.unpack_from("<QQ", data, 8)
    if hsize == 16:
        raise TraceError(path, 0, "perf.data in pipe mode (perf record -o -): record to a file instead")
    if hsize != 104:
        raise TraceError(path, 0, f"perf.data header of {hsize} bytes is not supported (104 is)")
    a_off, a_size, d_off, d_size, _t_off, _t_size = struct.unpack_from("<6Q", data, 24)
    features = int.from_bytes(data[72:104], "little")
    if d_off + d_size > len(data):
        raise TraceError(path, 0, f"truncated perf.data: the data section ends at byte "
                                  f"{d_off + d_size}, the file at {len(data)} (perf record killed?)")
    attrs = []
    for p in range(a_off, a_off + a_size, attr_size):
        a_type, _a_sz, config, _period, sample_type, _rf, flags = struct.unpack_from("<IIQQQQQ", data, p)
        clockid = struct.unpack_from("<i", data, p + 92)[0] if flags >> 25 & 1 else None
        ids_off, ids_size = struct.unpack_from("<QQ", data, p + attr_size - 16)
        ids = list(struct.unpack_from(f"<{ids_size // 8}Q", data, ids_off)) if ids_size else []
        attrs.append(_Attr(a_type, config, sample_type, bool(flags >> 18 & 1), clockid, ids))
    if not attrs:
        raise TraceError(path, 0, "perf.data has no event attributes")
    by_id = {i: a for a in attrs for i in a.ids}
    # feature sections follow the data, one {offset, size} per set bit in bit order
    formats, cmdlines = {}, {}
    if features >> HEADER_TRACING_DATA & 1:
        idx = bin(features & ((1 << HEADER_TRACING_DATA) - 1)).count("1")
        f_off, f_size = struct.unpack_from("<QQ", data, d_off + d_size + 16 * idx)
        hdr = parse_tracing_header(data[f_off:f_off + f_size], path, f_off)
        formats, cmdlines = hdr.formats, hdr.cmdlines
    else:
        raise TraceError(path, 0, "perf.data has no tracing data (formats of the events): "
                                  "record tracepoints with perf record -e 'vmalloc:*'")
    first = attrs[0]
    records, side = [], []
    lost = 0
    pos, end = d_off, d_off + d_size
    while pos + 8 <= end:
        rtype, _misc, size = struct.unpack_from("<IHH", data, pos)
        if size < 8:
            raise TraceError(path, 0, f"corrupt perf.data record at byte {pos} (size {size})")
        rec = data[pos:pos + size]
        pos += size
        if rtype == R_SAMPLE:
            attr = first
            if len(attrs) > 1:
                attr = by_id.get(_sample_id(rec, first.sample_type, path), first)
            r = _sample(rec, attr, path)
            if r is not None:
                records.append(r)
        elif rtype in (R_COMM, R_FORK):
            t = _trailer_time(rec, first) if first.sample_id_all else None
            if rtype == R_COMM:
                pid, tid = struct.unpack_from("<II", rec, 8)
                comm = rec[16:].split(b"\0", 1)[0].decode("utf-8", "replace")
                side.append((t if t is not None else -1, 1, tid, comm))
            else:
                pid, ppid, tid, ptid, ftime = struct.unpack_from("<IIIIQ", rec, 8)
                side.append((ftime, 0, tid, ptid))
        elif rtype == R_LOST:
            lost += struct.unpack_from("<Q", rec, 16)[0]
        elif rtype == R_COMPRESSED:
            raise TraceError(path, 0, "compressed perf.data (perf record -z) is not supported: "
                                      "record without -z")
    records.sort(key=lambda r: r[0].ts)
    side.sort(key=lambda s: (s[0], s[1]))
    comms: dict[int, list] = {}
    for t, kind, tid, x in side:
        if kind == 1:
            comms.setdefault(tid, []).append((t, x))
        else:                                        # fork: the child has its parent's name
            parent = comms.get(x)
            if parent:
                comms.setdefault(tid, []).append((t, parent[-1][1]))
    for tid, pid in {(r[2], r[1]) for r in records}:
        if tid not in comms and pid in cmdlines:
            comms[tid] = [(-1, cmdlines[pid])]
    clock = "perf" if first.clockid is None else {1: "mono", 4: "mono_raw", 7: "boot", 0: "realtime",
                                                  11: "tai"}.get(first.clockid, str(first.clockid))
    return PerfData(records, formats, comms, lost, clock)


def _sample_id(rec: bytes, st: int, path) -> int:
    """The sample's id (``IDENTIFIER`` is first in the record; else ``ID`` after IP/TID/TIME/ADDR)."""
    if st & S_IDENTIFIER:
        return struct.unpack_from("<Q", rec, 8)[0]
    off = 8 + 8 * bool(st & S_IP) + 8 * bool(st & S_TID) + 8 * bool(st & S_TIME) + 8 * bool(st & S_ADDR)
    if st & S_ID:
        return struct.unpack_from("<Q", rec, off)[0]
    raise TraceError(path, 0, "perf.data with several events but no sample ids: cannot tell them apart")


def _sample(rec: bytes, attr: _Attr, path):
    st = attr.sample_type
    if attr.type != PERF_TYPE_TRACEPOINT or not st & S_RAW:
        return None
    off = 8
    if st & S_IDENTIFIER:
        off += 8
    if st & S_IP:
        off += 8
    pid = tid = -1
    if st & S_TID:
        pid, tid = struct.unpack_from("<ii", rec, off)
        off += 8
    t = 0
    if st & S_TIME:
        t = struct.unpack_from("<Q", rec, off)[0]
        off += 8
    if st & S_ADDR:
        off += 8
    if st & S_ID:
        off += 8
    if st & S_STREAM_ID:
        off += 8
    cpu = 0
    if st & S_CPU:
        cpu = struct.unpack_from("<I", rec, off)[0]
        off += 8
    if st & S_PERIOD:
        off += 8
    if st & S_READ:
        raise TraceError(path, 0, "perf.data samples with read values (PERF_SAMPLE_READ) are not supported")
    if st & S_CALLCHAIN:
        nr = struct.unpack_from("<Q", rec, off)[0]
        off += 8 + 8 * nr
    size = struct.unpack_from("<I", rec, off)[0]
    raw = rec[off + 4:off + 4 + size]
    return (RawRecord(t, cpu, raw), pid, tid)


def _trailer_time(rec: bytes, attr: _Attr):
    """``sample_id_all`` trailer of a side record: tid, time, id, stream id, cpu, identifier."""
    st = attr.sample_type
    n = 8 * sum(bool(st & b) for b in (S_TID, S_TIME, S_ID, S_STREAM_ID, S_CPU, S_IDENTIFIER))
    if not st & S_TIME or len(rec) < 8 + n:
        return None
    off = len(rec) - n + (8 if st & S_TID else 0)
    return struct.unpack_from("<Q", rec, off)[0]
