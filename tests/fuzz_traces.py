"""Mutating the real captures of data/traces/ and judging what the replay makes of them.

Shared by the property test (tests/test_fuzz_replay.py, bounded: a few seconds) and the long
run (bench/fuzz_replay.py --minutes N).  A mutation is a plain tuple drawn from integers, so
hypothesis and a seeded ``random.Random`` produce the same kind of thing, and a failing one can
be replayed by hand::

    (kind, trace, a, b, c, d)       # a, b, c, d: raw integers, reduced modulo what they index

Kinds (all on ``trace.txt``; snapshots and meta are left alone):

``delete``        remove an event line
``duplicate``     insert a copy of an event line right after it
``copy``          insert a copy of an event line at another place
``swap``          swap an event line with the next line
``swap-far``      swap two event lines anywhere in the file
``edit``          change one digit of a number in an event's fields (after ``event: ``)
``edit-header``   change one digit of the timestamp, CPU or PID of an event line
``control``       insert a control character (``\\v``, ``\\f``, ``\\r``, ``\\x1c``.., U+0085,
                  U+2028, NUL, ESC, ...) anywhere in an event line
``foreign``       insert an event of another subsystem, or a line of another tracer

Judgement (:func:`judge`), for every mutation, one of:

``error``     a :class:`~vmapsim.errors.VmapsimError` whose message names ``file:line``;
``warning``   the numbers changed, and a warning that the unmutated capture does not give
              (line numbers mapped back through the mutation) names a line at or after the
              mutated one, or an address of the mutated line;
``equal``     the numbers (``as_json()`` without ``warnings``) are those of the unmutated capture;
``plausible`` only for ``edit-header`` and for a swap of two lines with the same timestamp on
              different CPUs: the mutated file is a trace the kernel could have written (a
              timestamp moved within its CPU's order, a task migrated, two events of one
              microsecond logged in the other order -- tracefs prints microseconds but merges
              CPUs by nanoseconds), so no reader can tell it from a real one; the numbers may
              change without a warning, and these runs are counted apart;
``silent``    anything else that changed the numbers: a failure.

Anything that is not a :class:`VmapsimError` (a traceback) is a failure too.
"""
from __future__ import annotations

import gzip
import re
import shutil
import tempfile
from pathlib import Path

from vmapsim.errors import VmapsimError
from vmapsim.paths import TRACES_DIR
from vmapsim.traces.replay import replay

KINDS = ("delete", "duplicate", "copy", "swap", "swap-far", "edit", "edit-header", "control",
         "foreign")
CONTROLS = ["\v", "\f", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x00", "\x07",
            "\x1b", "\x7f", "\x0e"]
FOREIGN = [
    b"kmalloc: call_site=__vmalloc_node_range+0x1a0/0x6a0 ptr=000000001c8a9b5e bytes_req=64 "
    b"bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false",
    b"sched_switch: prev_comm=python3 prev_pid=4962 prev_prio=120 prev_state=S ==> "
    b"next_comm=swapper/0 next_pid=0 next_prio=120",
    b"vmalloc_extra: va_start=0xffffc90000010000",
    b"smp_call_function_many_cond <-on_each_cpu_cond_mask",
]
EVENT = re.compile(rb": (alloc_vmap_area|free_vmap_area_noflush|purge_vmap_area_lazy|"
                   rb"tracing_mark_write): ")
HEADER = re.compile(rb"^(\s*.*?-)(\d+)(\s+(?:\(\s*[-\d]+\)\s+)?\[)(\d+)(\]\s+(?:\S{4,6}\s+)?)"
                    rb"(\d+\.\d+)(:)")
NUMBER = re.compile(rb"0x[0-9a-f]+|\d+")
ADDR = re.compile(r"0x[0-9a-f]{8,}|\d{15,}")
LINE_REF = re.compile(r"(trace\.txt(?:\.gz)?:)(\d+)|(line )(\d+)")


class Trace:
    """One shipped capture: its lines (bytes, split on ``\\n``) and a scratch copy to mutate."""

    def __init__(self, name: str, workdir: Path):
        self.name = name
        self.src = TRACES_DIR / name
        raw = (self.src / "trace.txt.gz").read_bytes()
        self.lines = gzip.decompress(raw).split(b"\n")
        self.events = [i for i, ln in enumerate(self.lines) if EVENT.search(ln)]
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        for p in self.src.iterdir():
            if not p.name.startswith("trace.txt"):
                shutil.copyfile(p, self.dir / p.name)
        self.base = None

    def run(self, lines):
        (self.dir / "trace.txt").write_bytes(b"\n".join(lines))
        return replay(self.dir, "linux-6.18")

    def baseline(self):
        if self.base is None:
            r = self.run(self.lines)
            self.base = (_numbers(r), set(r.warnings))
        return self.base


def _numbers(res) -> dict:
    j = res.as_json()
    j.pop("warnings")
    return j


class Mutation:
    """The mutated lines plus what is needed to map line numbers back and to name the target."""

    def __init__(self, kind, lines, at, mapping, touched, plausible=False):
        self.kind, self.lines, self.at = kind, lines, at
        self.mapping = mapping          # mutated 1-based line -> original 1-based line or None
        self.touched = touched          # bytes of the lines involved (original and new)
        self.plausible = plausible


def mutate(tr: Trace, kind: str, a: int, b: int, c: int, d: int) -> Mutation:
    """Apply mutation *kind* to *tr* (see the module docstring); a..d are reduced as needed."""
    lines = list(tr.lines)
    ev = tr.events
    i = ev[a % len(ev)]
    n = len(lines)
    ident = lambda m: m  # noqa: E731

    def after_delete(p):
        return lambda m: m if m <= p else m + 1

    def after_insert(p):            # new line is 1-based p + 1
        return lambda m: m if m <= p else (None if m == p + 1 else m - 1)

    if kind == "delete":
        gone = lines.pop(i)
        return Mutation(kind, lines, i + 1, after_delete(i), [gone])
    if kind in ("duplicate", "copy"):
        p = i + 1 if kind == "duplicate" else ev[b % len(ev)] + 1
        lines.insert(p, lines[i])
        return Mutation(kind, lines, min(i, p) + 1, after_insert(p), [lines[p]])
    if kind in ("swap", "swap-far"):
        j = i + 1 if kind == "swap" else ev[b % len(ev)]
        if j >= n - 1 or j == i:
            j = i - 1
        lines[i], lines[j] = lines[j], lines[i]
        swap = {i + 1: j + 1, j + 1: i + 1}
        hi, hj = HEADER.match(lines[i]), HEADER.match(lines[j])
        same_us = bool(hi and hj and hi.group(6) == hj.group(6) and hi.group(4) != hj.group(4))
        return Mutation(kind, lines, min(i, j) + 1, lambda m: swap.get(m, m),
                        [lines[i], lines[j]], plausible=same_us)
    if kind == "edit" or kind == "edit-header":
        line = lines[i]
        m = EVENT.search(line)
        h = HEADER.match(line)
        if kind == "edit":
            spans = [t.span() for t in NUMBER.finditer(line, m.end())]
        else:
            spans = [h.span(g) for g in (2, 4, 6)] if h else []
        if not spans:
            return Mutation(kind, lines, i + 1, ident, [line])
        s, e = spans[b % len(spans)]
        tok = line[s:e]
        digits = [k for k in range(len(tok)) if chr(tok[k]) in "0123456789abcdef"
                  and not (tok.startswith(b"0x") and k < 2)]
        k = digits[c % len(digits)]
        alphabet = "0123456789abcdef" if tok.startswith(b"0x") else "0123456789"
        old = chr(tok[k])
        new = [x for x in alphabet if x != old][d % (len(alphabet) - 1)]
        lines[i] = line[:s + k] + new.encode() + line[s + k + 1:]
        return Mutation(kind, lines, i + 1, ident, [line, lines[i]],
                        plausible=(kind == "edit-header"))
    if kind == "control":
        line = lines[i]
        ch = CONTROLS[b % len(CONTROLS)].encode("utf-8")
        p = c % (len(line) + 1)
        lines[i] = line[:p] + ch + line[p:]
        return Mutation(kind, lines, i + 1, ident, [line, lines[i]])
    if kind == "foreign":
        h = HEADER.match(lines[i])
        body = FOREIGN[b % len(FOREIGN)]
        new = (h.group(0) + b" " + body) if h else body
        lines.insert(i + 1, new)
        return Mutation(kind, lines, i + 1, after_insert(i + 1), [new])
    raise ValueError(kind)


def _normalise(warnings, mapping) -> set:
    def repl(m):
        if m.group(1):
            k = mapping(int(m.group(2)))
            return f"{m.group(1)}{'NEW' if k is None else k}"
        k = mapping(int(m.group(4)))
        return f"{m.group(3)}{'NEW' if k is None else k}"
    return {LINE_REF.sub(repl, w) for w in warnings}


def _names_target(w: str, mut: Mutation) -> bool:
    for m in LINE_REF.finditer(w):
        num = m.group(2) or m.group(4)
        if num == "NEW" or int(num) >= mut.at - 1:
            return True
    text = b" ".join(mut.touched).decode("utf-8", "replace")
    addrs = {int(x, 16) if x.startswith("0x") else int(x) for x in ADDR.findall(text)}
    return any((int(x, 16) if x.startswith("0x") else int(x)) in addrs for x in ADDR.findall(w))


def judge(tr: Trace, mut: Mutation):
    """``(outcome, detail)`` for *mut* on *tr* (see the module docstring)."""
    base_numbers, base_warnings = tr.baseline()
    try:
        res = tr.run(mut.lines)
    except VmapsimError as exc:
        msg = str(exc)
        if re.search(r"\S+:\d+: ", msg) and not re.search(r":0: ", msg):
            return "error", msg
        return "silent", f"error without file:line: {msg}"
    numbers = _numbers(res)
    if numbers == base_numbers:
        return "equal", ""
    new = _normalise(res.warnings, mut.mapping) - _normalise(base_warnings, lambda m: m)
    named = [w for w in new if _names_target(w, mut)]
    if named:
        return "warning", named[0]
    if mut.plausible:
        return "plausible", _diff(base_numbers, numbers)
    return "silent", f"{_diff(base_numbers, numbers)}; new warnings: {sorted(new)[:3]}"


def _diff(a, b) -> str:
    return ", ".join(f"{k}: {a[k]} -> {b[k]}" for k in a if a[k] != b.get(k))


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="vmapsim-fuzz-"))
