"""Binary recordings of trace-cmd (``trace.dat`` versions 6 and 7) and the tracing data they
share with ``perf.data``: event format files and the kernel's ring-buffer pages.

Layouts: docs/recording-formats.md section 4 (the man pages trace-cmd.dat.v6(5) and
trace-cmd.dat.v7(5), checked on the files in ``tests/data/recordings/``).  Event records are
decoded with the format files the recording carries (``events/<system>/<event>/format`` of the
recording kernel), never with hard-coded ids or offsets.

Version 7 files compress their sections with zstd.  They are read with the ``zstandard``
package (a dependency of vmapsim); where it cannot be imported, ``trace-cmd report`` is run
instead when it is installed (its text is read by :mod:`vmapsim.traces.formats`), else the
reader stops with a one-line message saying what to install.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from ..errors import TraceError

__all__ = ["EventFormat", "TracingHeader", "parse_format", "parse_tracing_header", "read_pages",
           "read_trace_dat", "RawRecord", "TRACE_DAT_MAGIC", "zstd_decompressor"]

TRACE_DAT_MAGIC = b"\x17\x08\x44tracing"

_FIELD = re.compile(r"field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                    r"(?:\s*signed:(?P<signed>\d+);)?")


@dataclass
class EventFormat:
    """One ``format`` file: ``fields`` maps a name to ``(offset, size, signed, is_string)``."""
    system: str
    name: str
    id: int
    fields: dict = field(default_factory=dict)

    def value(self, data: bytes, name: str):
        off, size, signed, is_str = self.fields[name]
        if is_str:
            if size == 0 or name == "buf" and size <= 1:
                raw = data[off:]
            else:
                raw = data[off:off + size]
            return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        if size == 8:
            return struct.unpack_from("<q" if signed else "<Q", data, off)[0]
        if size == 4:
            return struct.unpack_from("<i" if signed else "<I", data, off)[0]
        if size == 2:
            return struct.unpack_from("<h" if signed else "<H", data, off)[0]
        if size == 1:
            return struct.unpack_from("<b" if signed else "<B", data, off)[0]
        return int.from_bytes(data[off:off + size], "little", signed=bool(signed))


def parse_format(text: str, system: str = "") -> EventFormat | None:
    """Parse one event format file; None when it has no ``name:`` / ``ID:`` line."""
    name = ev_id = None
    fields = {}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("name:"):
            name = s[5:].strip()
        elif s.startswith("ID:"):
            try:
                ev_id = int(s[3:].strip())
            except ValueError:
                return None
        elif s.startswith("field:"):
            m = _FIELD.search(s)
            if not m:
                continue
            decl = m.group("decl").strip()
            fname = re.sub(r"\[.*\]$", "", decl.split()[-1]) if decl else ""
            is_str = decl.startswith("char ") and "[" in decl or decl.startswith("__data_loc char")
            fields[fname] = (int(m.group("off")), int(m.group("size")),
                             int(m.group("signed") or 0), is_str)
    if name is None or ev_id is None:
        return None
    return EventFormat(system, name, ev_id, fields)


@dataclass
class TracingHeader:
    """What the common start of a trace.dat (or perf's tracing data) holds."""
    version: str
    little: bool
    long_size: int
    page_size: int
    formats: dict = field(default_factory=dict)     # id -> EventFormat
    cmdlines: dict = field(default_factory=dict)    # pid -> comm
    end: int = 0                                    # offset after what was parsed


class _Buf:
    """A cursor over bytes with file:offset errors."""

    def __init__(self, data: bytes, path, base: int = 0):
        self.data, self.path, self.pos, self.base = data, path, 0, base

    def need(self, n: int, what: str) -> None:
        if self.pos + n > len(self.data):
            raise TraceError(self.path, 0, f"truncated trace file: {what} at byte "
                                           f"{self.base + self.pos} runs past the end")

    def u16(self, what="u16"):
        self.need(2, what)
        v = struct.unpack_from("<H", self.data, self.pos)[0]
        self.pos += 2
        return v

    def u32(self, what="u32"):
        self.need(4, what)
        v = struct.unpack_from("<I", self.data, self.pos)[0]
        self.pos += 4
        return v

    def u64(self, what="u64"):
        self.need(8, what)
        v = struct.unpack_from("<Q", self.data, self.pos)[0]
        self.pos += 8
        return v

    def cstr(self, what="string") -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise TraceError(self.path, 0, f"truncated trace file: {what} at byte "
                                           f"{self.base + self.pos} has no end")
        s = self.data[self.pos:end].decode("utf-8", "replace")
        self.pos = end + 1
        return s

    def bytes(self, n: int, what="data") -> bytes:
        self.need(n, what)
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def expect(self, tag: bytes) -> None:
        got = self.bytes(len(tag), tag.decode(errors="replace"))
        if got != tag:
            raise TraceError(self.path, 0, f"not a trace-cmd file: expected {tag!r} at byte "
                                           f"{self.base + self.pos - len(tag)}, found {got!r}")


def _start(buf: _Buf) -> tuple[str, bool, int, int]:
    buf.expect(TRACE_DAT_MAGIC)
    version = buf.cstr("version")
    endian = buf.bytes(1)[0]
    long_size = buf.bytes(1)[0]
    page_size = buf.u32("page size")
    if endian != 0:
        raise TraceError(buf.path, 0, "big-endian trace files are not supported")
    return version, True, long_size, page_size


def _formats_block(buf: _Buf, hdr: TracingHeader) -> None:
    """Ftrace formats (u32 count, u64 size + text each) then event systems."""
    for _ in range(buf.u32("ftrace format count")):
        n = buf.u64("format size")
        f = parse_format(buf.bytes(n, "format").decode("utf-8", "replace"), "ftrace")
        if f:
            hdr.formats[f.id] = f
    _event_systems(buf, hdr)


def _event_systems(buf: _Buf, hdr: TracingHeader) -> None:
    for _ in range(buf.u32("event system count")):
        system = buf.cstr("system name")
        for _ in range(buf.u32("event count")):
            n = buf.u64("format size")
            f = parse_format(buf.bytes(n, "format").decode("utf-8", "replace"), system)
            if f:
                hdr.formats[f.id] = f


def _cmdlines(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        pid, _, comm = line.strip().partition(" ")
        if pid.isdigit():
            out[int(pid)] = comm
    return out


def parse_tracing_header(data: bytes, path, base: int = 0, with_cmdlines: bool = True) -> TracingHeader:
    """Parse a version-6-layout tracing header (trace.dat v6, or perf's ``0.6`` tracing data):
    header page and event, the formats, kallsyms, printk formats and (optionally) cmdlines."""
    buf = _Buf(data, path, base)
    version, little, long_size, page_size = _start(buf)
    hdr = TracingHeader(version, little, long_size, page_size)
    buf.expect(b"header_page\0")
    buf.bytes(buf.u64("header_page size"))
    buf.expect(b"header_event\0")
    buf.bytes(buf.u64("header_event size"))
    _formats_block(buf, hdr)
    buf.bytes(buf.u32("kallsyms size"), "kallsyms")
    buf.bytes(buf.u32("printk size"), "printk formats")
    if with_cmdlines and buf.pos < len(buf.data):
        hdr.cmdlines = _cmdlines(buf.bytes(buf.u64("cmdlines size"), "cmdlines").decode("utf-8", "replace"))
    hdr.end = buf.pos
    return hdr


@dataclass
class RawRecord:
    """One decoded ring-buffer event: time in the recording clock's units (ns), CPU, payload."""
    ts: int
    cpu: int
    data: bytes


def read_pages(data: bytes, cpu: int, page_size: int, out: list, path) -> int:
    """Decode the ring-buffer pages of one CPU into *out*; returns the number of lost events
    (pages flagged ``RB_MISSED_EVENTS``; -1 each when the count was not stored)."""
    lost = 0
    for p in range(0, len(data) - 15, page_size):
        ts, commit = struct.unpack_from("<QQ", data, p)
        size = commit & ((1 << 30) - 1)
        if commit & (1 << 31):
            if commit & (1 << 30) and p + 16 + size + 8 <= len(data):
                lost += struct.unpack_from("<Q", data, p + 16 + size)[0]
            else:
                lost += 1
        pos, end = p + 16, p + 16 + min(size, page_size - 16)
        while pos + 4 <= end:
            h = struct.unpack_from("<I", data, pos)[0]
            tlen, delta = h & 0x1F, h >> 5
            if tlen == 29:                         # padding
                if delta == 0:
                    break
                length = struct.unpack_from("<I", data, pos + 4)[0]
                pos += 4 + length
                continue
            if tlen == 30:                         # time extend
                ts += delta + (struct.unpack_from("<I", data, pos + 4)[0] << 27)
                pos += 8
                continue
            if tlen == 31:                         # absolute time stamp
                abs_ts = delta | (struct.unpack_from("<I", data, pos + 4)[0] << 27)
                ts = (ts & ~((1 << 59) - 1)) | abs_ts
                pos += 8
                continue
            ts += delta
            if tlen == 0:
                length = struct.unpack_from("<I", data, pos + 4)[0]
                payload = data[pos + 8:pos + 4 + length]
                pos += 4 + length
            else:
                payload = data[pos + 4:pos + 4 + 4 * tlen]
                pos += 4 + 4 * tlen
            if pos > end:
                raise TraceError(path, 0, f"corrupt ring-buffer page of CPU {cpu} at byte {p}")
            out.append(RawRecord(ts, cpu, payload))
    return lost


def zstd_decompressor():
    """A function ``f(frame, size) -> bytes``, or None when the ``zstandard`` package is missing."""
    try:
        import zstandard
    except ImportError:
        return None
    d = zstandard.ZstdDecompressor()
    return lambda frame, size: d.decompress(frame, max_output_size=size)


@dataclass
class TraceDat:
    """A decoded trace.dat: its header and, per buffer, the raw records and lost counts."""
    header: TracingHeader
    buffers: dict = field(default_factory=dict)     # name -> (clock, [RawRecord], lost)
    options: dict = field(default_factory=dict)     # option id -> [data, ...]


class NeedZstd(Exception):
    """A version 7 file with zstd sections and no ``zstandard`` module."""


def read_trace_dat(data: bytes, path) -> TraceDat:
    """Decode a trace.dat of version 6 or 7 (see the module docstring)."""
    buf = _Buf(data, path)
    version, little, long_size, page_size = _start(buf)
    if version == "6":
        hdr = parse_tracing_header(data, path)
        buf.pos = hdr.end
        return _read_v6(buf, hdr, page_size)
    if version == "7":
        return _read_v7(buf, version, little, long_size, page_size)
    raise TraceError(path, 0, f"trace-cmd file version {version!r} is not supported (6 and 7 are)")


def _options(buf: _Buf, dat: TraceDat) -> None:
    """Version 6 options: u16 id, u32 size, data; an id of 0 (with no size) ends them."""
    while True:
        oid = buf.u16("option id")
        if oid == 0:
            return
        size = buf.u32("option size")
        dat.options.setdefault(oid, []).append(buf.bytes(size, "option"))


def _read_v6(buf: _Buf, hdr: TracingHeader, page_size: int) -> TraceDat:
    dat = TraceDat(hdr)
    cpus = buf.u32("cpu count")
    clock = "local"
    while True:
        tag = buf.data[buf.pos:buf.pos + 10]
        if tag.startswith(b"options  \0"):
            buf.pos += 10
            _options(buf, dat)
        elif tag.startswith(b"latency  \0"):
            raise TraceError(buf.path, 0, "latency-tracer trace file: no events to replay")
        elif tag.startswith(b"flyrecord\0"):
            buf.pos += 10
            break
        else:
            raise TraceError(buf.path, 0, f"trace.dat v6: unexpected section {tag!r} at byte {buf.pos}")
    for body in dat.options.get(4, []):
        clock = _current_clock(body)
    recs, lost = [], 0
    for cpu in range(cpus):
        off, size = buf.u64("cpu offset"), buf.u64("cpu size")
        lost += read_pages(buf.data[off:off + size], cpu, page_size, recs, buf.path)
    dat.buffers[""] = (clock, recs, lost)
    for body in dat.options.get(3, []):           # instance buffers (v6 BUFFER option)
        b = _Buf(body, buf.path)
        off = b.u64()
        name = b.cstr()
        sub = _Buf(buf.data, buf.path)
        sub.pos = off
        recs, lost = [], 0
        for cpu in range(cpus):
            o, s = sub.u64("cpu offset"), sub.u64("cpu size")
            lost += read_pages(buf.data[o:o + s], cpu, page_size, recs, buf.path)
        dat.buffers[name] = (clock, recs, lost)
    return dat


def _current_clock(body: bytes) -> str:
    text = body.split(b"\0", 1)[0].decode(errors="replace")
    m = re.search(r"\[(\w[\w-]*)\]", text)
    return m.group(1) if m else text.strip() or "local"


def _read_v7(buf: _Buf, version, little, long_size, page_size) -> TraceDat:
    comp = buf.cstr("compression name")
    buf.cstr("compression version")
    first = buf.u64("first options offset")
    dec = None
    if comp not in ("none", ""):
        if comp == "zstd":
            dec = zstd_decompressor()
            if dec is None:
                raise NeedZstd()
        elif comp == "zlib":
            import zlib
            dec = lambda frame, size: zlib.decompress(frame)      # noqa: E731
        else:
            raise TraceError(buf.path, 0, f"trace.dat compressed with {comp!r}: not supported "
                                          "(zstd and zlib are)")
    hdr = TracingHeader(version, little, long_size, page_size)
    dat = TraceDat(hdr)

    def section(off: int, want: int | None = None) -> _Buf:
        s = _Buf(buf.data, buf.path)
        s.pos = off
        sid, flags, _sname, size = s.u16(), s.u16(), s.u32(), s.u64("section size")
        if want is not None and sid != want:
            raise TraceError(buf.path, 0, f"trace.dat v7: section at byte {off} has id {sid}, "
                                          f"expected {want}")
        body = s.bytes(size, "section")
        if flags & 1:
            if dec is None:
                raise TraceError(buf.path, 0, "trace.dat v7: compressed section but no compression")
            b = _Buf(body, buf.path, off + 16)
            csize, usize = b.u32(), b.u32()
            body = dec(b.bytes(csize, "compressed section"), usize)
        return _Buf(body, buf.path, off + 16)

    off = first
    seen = set()
    while off and off not in seen:
        seen.add(off)
        s = section(off, 0)
        nxt = 0
        while s.pos < len(s.data):
            oid, size = s.u16("option id"), s.u32("option size")
            body = s.bytes(size, "option")
            if oid == 0:
                nxt = struct.unpack_from("<Q", body, 0)[0] if len(body) >= 8 else 0
                break
            dat.options.setdefault(oid, []).append(body)
        off = nxt
    opt = dat.options
    if 16 in opt:
        s = section(struct.unpack_from("<Q", opt[16][0])[0], 16)
    if 17 in opt:
        s = section(struct.unpack_from("<Q", opt[17][0])[0], 17)
        for _ in range(s.u32("ftrace format count")):
            f = parse_format(s.bytes(s.u64()).decode("utf-8", "replace"), "ftrace")
            if f:
                hdr.formats[f.id] = f
    if 18 in opt:
        s = section(struct.unpack_from("<Q", opt[18][0])[0], 18)
        _event_systems(s, hdr)
    if 21 in opt:
        s = section(struct.unpack_from("<Q", opt[21][0])[0], 21)
        hdr.cmdlines = _cmdlines(s.bytes(s.u64("cmdlines size")).decode("utf-8", "replace"))
    for body in opt.get(3, []):
        b = _Buf(body, buf.path)
        b.u64("flyrecord offset")
        name, clock = b.cstr("buffer name"), b.cstr("buffer clock")
        psize = b.u32("page size") if _has_page_size(body, b.pos) else page_size
        ncpu = b.u32("cpu count")
        recs, lost = [], 0
        for _ in range(ncpu):
            cpu, o, sz = b.u32("cpu"), b.u64("cpu offset"), b.u64("cpu size")
            raw = _cpu_data(buf, o, sz, dec)
            lost += read_pages(raw, cpu, psize, recs, buf.path)
        dat.buffers[name] = (clock, recs, lost)
    return dat


def _has_page_size(body: bytes, pos: int) -> bool:
    """trace-cmd 3.1.6 writes a u32 page size before the CPU count (the man page does not): tell
    the two layouts apart by which one makes the per-CPU table fill the option exactly."""
    rest = len(body) - pos
    if rest >= 8:
        ncpu = struct.unpack_from("<I", body, pos + 4)[0]
        if rest == 8 + 20 * ncpu:
            return True
    return False


def _cpu_data(buf: _Buf, off: int, size: int, dec) -> bytes:
    if size == 0:
        return b""
    if dec is None:
        return buf.data[off:off + size]
    b = _Buf(buf.data, buf.path)
    b.pos = off
    out = []
    for _ in range(b.u32("chunk count")):
        csize, usize = b.u32("chunk size"), b.u32("chunk size")
        out.append(dec(b.bytes(csize, "chunk"), usize))
    return b"".join(out)
