"""``vmapsim capture DIR``: record a real vmalloc trace on this machine, leaving the kernel as it was.

As root on Linux with tracefs and the ``vmalloc:*`` events (v6.9+), it

1. checks the arguments and the output directory (an existing one is refused unless
   ``--force``; nothing is created before the capture has succeeded), takes an exclusive lock
   (``/run/vmapsim-capture.lock``: a second capture is refused, because both would share the
   kernel's one trace buffer) and refuses to start while a state file of an interrupted capture
   exists;
2. writes the **state file** (``/run/vmapsim-capture.state``, JSON; :mod:`.tracefs` has the
   details) *before the first change*, mounts tracefs at /sys/kernel/tracing if needed, reads the original value of every
   setting it will change, and records each change in the state file before making it;
3. checks that nobody else is tracing (``current_tracer`` ``nop``, no other event enabled, no
   vmalloc event enabled, no event filter, PID filter or CPU mask in the way);
4. sets ``kptr_restrict=1`` (real addresses in /proc/vmallocinfo for root), a per-CPU
   ``buffer_size_kb`` of ``--buffer-kb`` (default 128 MiB), ``trace_clock=global`` (one clock for
   all CPUs, so events merge by time), the three vmalloc events on;
5. starts tracing, writes 2 to ``/proc/sys/vm/drop_caches`` (the ``vmap-node`` shrinker then
   fully decays every pool, so the invisible pools are known to be empty), snapshots
   /proc/vmallocinfo between two ``trace_marker`` lines, runs the workload, snapshots again
   between two markers, stops tracing and reads the trace;
6. restores every setting with SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGTSTP blocked, reads each
   back, unmounts tracefs if it mounted it, deletes the state file, and only then writes the
   output directory (through temporary names renamed at the end: an interrupted capture leaves
   no directory and no partial file behind).

Interrupted (Ctrl-C, SIGTERM, SIGHUP) at any point, it restores and exits with 128 + the signal
(130, 143, 129).  Killed outright (``kill -9``) or by a crash of the machine's Python, the state
file stays: the next capture refuses to start, and ``vmapsim capture --restore`` puts back the
originals it recorded (it refuses while another capture holds the lock; after a reboot the state
file is void and is removed, since a reboot resets every tracing setting).

**What cannot be put back exactly** (kernel/trace/trace.c, 6.18):

* the trace buffer's previous *content* (the capture clears it);
* an *unexpanded* buffer.  At boot the ring buffer is kept at its minimum (two pages per CPU) and
  ``buffer_size_kb`` reads ``7 (expanded: 1408)``: 7 KiB now, 1408 KiB (``trace_buf_size``) once
  tracing is first used.  Writing ``buffer_size_kb`` -- any value, 7 included -- or enabling an
  event expands it for good (``__tracing_resize_ring_buffer()`` and ``tracing_update_buffers()``
  set ``ring_buffer_expanded``, which nothing clears).  The capture then restores the size the
  next user of tracing would have got, 1408 KiB per CPU (writing 7 would leave them a 7 KiB
  buffer), and says so; the memory stays allocated until reboot.  A buffer that was already
  expanded is restored to its exact size, per CPU when the CPUs' sizes differed (``X``).

``--no-drain`` skips step 5's ``drop_caches`` (the pools keep what the machine put there: an
"undrained" capture, ``clean_pools=0``).  ``--with perf`` also records the same events with
``perf record -a -k mono`` into ``perf.data`` (the snapshot times go into ``meta`` as
CLOCK_MONOTONIC nanoseconds, ``marker_*_ns``, since perf does not see ``trace_marker``; its pid is
in the state file, so ``--restore`` stops a perf left running by a ``kill -9``); ``--with
trace-cmd`` saves the buffer with ``trace-cmd extract`` into ``trace.dat`` after the tracefs text
is read (``trace-cmd record`` needs to write ``/proc/sys/kernel/ftrace_enabled``, which some
kernels refuse; ``extract`` does not, see docs/recording-formats.md section 6); the event filters
``extract`` clears are recorded in the state file first and put back.  The tools write into a
private temporary directory; their files join the output with the others.  ``vmapsim replay``
then replays the tool's file; the tracefs text of the same run stays beside it (``replay
--recording trace.txt``).

Output directory: ``vmallocinfo.before``, ``trace.txt``, ``vmallocinfo.after``, ``kernel``
(``uname -r``), ``meta`` (``key=value`` lines: ``mode``, ``seed``, ``clean_pools``,
``possible_cpus``, and extra facts: ``online_cpus``, ``seconds``, ``trace_clock``,
``lost_events``, ``external_drop_caches`` (pool drains by others during the workload, from
/proc/vmstat ``drop_slab``), ``workload_*`` counts).
"""
from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import CaptureError, ParameterError
from ..params import check_choice, check_float, check_int, check_seed
from . import tracefs as tfs
from .capture_load import DEFAULT_SECONDS, WORKLOADS, run_workload
from .tracefs import EVENTS, LOCK_NAME, STATE_NAME, Interrupted, restore

__all__ = ["BUFFER_KB", "EVENTS", "LOCK_NAME", "MARKERS", "STATE_NAME", "TOOLS", "Interrupted",
           "add_arguments", "capture", "cpu_list_count", "restore", "run"]

BUFFER_KB = 131072
#: trace_marker texts; the replay uses them to find the snapshot windows.
MARKERS = {
    "before_begin": "vmapsim: snapshot before begin",
    "before_end": "vmapsim: snapshot before end",
    "after_begin": "vmapsim: snapshot after begin",
    "after_end": "vmapsim: snapshot after end",
    "drop_caches": "vmapsim: drop_caches",
}
OUTPUT_FILES = ("vmallocinfo.before", "trace.txt", "vmallocinfo.after", "kernel", "meta")
#: ``--with``: recording tools besides tracefs, and the Debian package that has each
TOOLS = {"perf": "linux-perf", "trace-cmd": "trace-cmd"}


def cpu_list_count(text: str) -> int:
    """Number of CPUs in a list like ``0-1`` or ``0,2-5`` (/sys/devices/system/cpu/possible)."""
    n = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        n += (int(hi) - int(lo) + 1) if hi else 1
    return n


def _marker(text: str, times: dict | None = None) -> None:
    with open(tfs.TRACEFS / "trace_marker", "w") as f:
        f.write(text + "\n")
    if times is not None:
        key = next(k for k, v in MARKERS.items() if v == text)
        times[f"marker_{key}_ns"] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def _snapshot() -> bytes:
    data = (tfs.PROC / "vmallocinfo").read_bytes()
    first = data.split(None, 1)[0] if data.strip() else b""
    if not first.startswith(b"0xffff"):
        raise CaptureError(f"/proc/vmallocinfo shows no real addresses (first entry {first[:40]!r}); "
                           "kptr_restrict=1 and root are needed")
    return data


def _vmstat(key: str) -> int:
    try:
        for line in (tfs.PROC / "vmstat").read_text().split("\n"):
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except (OSError, ValueError):
        pass
    return 0


def _lost_events() -> int:
    lost = 0
    for stats in sorted((tfs.TRACEFS / "per_cpu").glob("cpu*/stats")):
        for line in stats.read_text().split("\n"):
            key, _, val = line.partition(":")
            if key.strip() in ("overrun", "dropped events"):
                try:
                    lost += int(val.split()[0])
                except (ValueError, IndexError):
                    pass
    return lost


# --------------------------------------------------------------------------- --with
class _Tool:
    """A recording tool run beside tracefs (``--with``): perf from before the first snapshot to
    after the last one; trace-cmd extract at the end.  Both write into *staging*."""

    def __init__(self, name, staging: Path, log):
        self.name, self.staging, self.log = name, staging, log
        self.proc = None
        self.err = None
        self.exe = shutil.which(name)
        if self.exe is None:
            raise CaptureError(f"--with {name}: {name} is not installed (Debian package "
                               f"{TOOLS[name]})")

    def start(self, session) -> None:
        if self.name != "perf":
            return
        out = self.staging / "perf.data"
        cmd = [self.exe, "record", "-a", "-N", "--synth=task", "-k", "mono", "-o", str(out)]
        for e in EVENTS:
            cmd += ["-e", f"vmalloc:{e}"]
        self.err = open(self.staging / "perf.stderr", "w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        session.state["tool_pid"] = self.proc.pid       # --restore stops it after a kill -9
        session.save()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:       # perf writes its header once it is recording
            if self.proc.poll() is not None:
                break
            if out.exists() and out.stat().st_size > 0:
                time.sleep(0.5)
                return
            time.sleep(0.1)
        self.stop()
        raise CaptureError(f"perf record did not start: {self._err_line()}")

    def _err_line(self) -> str:
        if self.err is None:
            return "no message"
        self.err.seek(0)
        lines = [ln.strip() for ln in self.err.read().split("\n") if ln.strip()]
        return lines[-1] if lines else "no message"

    def stop(self) -> None:
        """Stop perf (SIGINT, as Ctrl-C would); a no-op for trace-cmd."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc, self.proc = self.proc.returncode, None
        msg = self._err_line()
        self.err.close()
        if rc not in (0, -signal.SIGINT, 130):
            raise CaptureError(f"perf record failed (status {rc}): {msg}")

    def extract(self, session) -> str | None:
        """``trace-cmd extract`` of the top-level buffer into *staging*; every event filter it
        clears is recorded in the state file first and put back, and a debugfs it mounted is
        unmounted.  Returns the failure message, or None."""
        if self.name != "trace-cmd":
            return None
        found = []
        for f in sorted((tfs.TRACEFS / "events").glob("*/*/filter")):    # events, not subsystems
            try:
                text = tfs.read(f)
            except OSError:
                continue
            if _real_filter(text):
                found.append((f"filter:{f.relative_to(tfs.TRACEFS)}", f, text))
        session.add_settings(found)
        debugfs = _mounted("debugfs")
        r = subprocess.run([self.exe, "extract", "-o", str(self.staging / "trace.dat")],
                           capture_output=True, text=True)
        session.put_back_filters(self.log)
        if not debugfs and _mounted("debugfs"):
            subprocess.run(["umount", "/sys/kernel/debug"], capture_output=True)
        if r.returncode or not (self.staging / "trace.dat").exists():
            msg = ([x for x in r.stderr.strip().split("\n") if x.strip()] or ["no message"])[-1]
            return (f"trace-cmd extract failed (status {r.returncode}): {msg.strip()}; the "
                    "tracefs text of the capture was saved")
        return None


def _real_filter(text: str) -> bool:
    """Is *text*, read from an event's ``filter`` file, a filter to put back?  ``none`` is no
    filter; a text starting with ``#`` is a comment or the error a failed write left (a
    subsystem's ``filter`` file reads as comment lines when nothing is set there: writing that
    back sets a parse error on every event of the subsystem, so it is never written)."""
    text = text.strip()
    return bool(text) and text != "none" and not text.startswith("#") and "parse_error" not in text


def _mounted(fstype: str) -> bool:
    try:
        return any(len(f) > 2 and f[2] == fstype
                   for f in (x.split() for x in (tfs.PROC / "mounts").read_text().split("\n")))
    except OSError:
        return False


# --------------------------------------------------------------------------- output directory
def _check_outdir(outdir, force: bool) -> Path:
    out = Path(outdir)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise CaptureError(f"{out} exists and is not a directory")
        if not force:
            raise CaptureError(f"{out} exists; use --force to replace the capture files in it")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise CaptureError(f"cannot create {out}: {parent} is not writable")
    return out


def _write_output(out: Path, files: dict) -> None:
    """Write *files* (name -> bytes) into *out*: temporary names first, renamed at the end; on
    any failure or interruption the files and directories created here are removed again."""
    created, tmps = [], []
    try:
        missing = []
        d = out
        while not d.exists():
            missing.append(d)
            d = d.parent
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
        for name, data in files.items():
            tmp = out / f".{name}.vmapsim-partial"
            tmps.append(tmp)
            tmp.write_bytes(data)
        for name in files:                          # a stale .gz would be read instead of it
            gz = out / f"{name}.gz"
            if gz.exists():
                gz.unlink()
        for name in files:
            os.replace(out / f".{name}.vmapsim-partial", out / name)
        tmps = []
    except BaseException:
        for t in tmps:
            try:
                t.unlink()
            except OSError:
                pass
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass
        raise


# --------------------------------------------------------------------------- capture
def capture(outdir, workload: str = "mixed", seconds: float | None = None, seed: int = 1,
            log=print, force: bool = False, buffer_kb: int = BUFFER_KB, drain: bool = True,
            with_tool: str | None = None) -> dict:
    """Record a trace into *outdir* (see the module docstring); returns the meta dict.

    *drain* False skips the ``drop_caches`` that empties the pools; *with_tool* (``"perf"``,
    ``"trace-cmd"``) records through that tool as well."""
    workload = check_choice("workload", workload, WORKLOADS)
    if with_tool is not None:
        with_tool = check_choice("with", with_tool, tuple(TOOLS))
    seconds = DEFAULT_SECONDS[workload] if seconds is None else check_float("seconds", seconds, 0.1, 3600)
    seed = check_seed("seed", seed)
    buffer_kb = check_int("buffer_kb", buffer_kb, lo=64, hi=16 << 20)
    out = _check_outdir(outdir, force)
    tfs.check_platform()
    staging = Path(tempfile.mkdtemp(prefix="vmapsim-capture-")) if with_tool else None
    try:
        tool = _Tool(with_tool, staging, log) if with_tool else None
        return _capture(out, workload, seconds, seed, log, buffer_kb, drain, tool)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _capture(out, workload, seconds, seed, log, buffer_kb, drain, tool) -> dict:
    guard = tfs.Guard()
    guard.install()
    lock = None
    session = None
    result = None
    problems = []
    try:
        try:
            lock = tfs.take_lock()
            old = tfs.load_state()
            if old is not None:
                if old.get("boot_id") and old.get("boot_id") != tfs.boot_id():
                    log(f"capture: removing the state file of a capture from before the last "
                        f"reboot (pid {old.get('pid', '?')}); a reboot reset every setting")
                    tfs.state_path().unlink()
                elif not old.get("mounted") and not any(x.get("changed") for x in old["settings"]):
                    log(f"capture: removing the state file of a capture (pid {old.get('pid', '?')}) "
                        "that was stopped before it changed anything")
                    tfs.state_path().unlink()
                else:
                    raise tfs.stale_state_error(old)
            session = tfs.Session(log)
            if tool is not None:
                session.state["staging"] = str(tool.staging)
            session.save()                                   # before the first change
            tfs.mount_if_needed(session)
            possible = cpu_list_count((tfs.CPU_DIR / "possible").read_text())
            online = cpu_list_count((tfs.CPU_DIR / "online").read_text())
            tfs.check_tracefs(online)                           # read-only
            session.state["settings"] = tfs.original_settings()
            session.save()
            try:
                result = _record(session, workload, seconds, seed, possible, online, buffer_kb,
                                 log, drain, tool)
            finally:
                if tool is not None and tool.proc is not None:
                    try:
                        tool.stop()
                    except CaptureError as exc:
                        log(f"capture: {exc}")
        finally:
            guard.armed = False          # from here a signal is remembered, never raised
    finally:
        guard.block()
        try:
            if session is not None:
                lines, problems = session.restore()
                for p in problems:
                    log(f"capture: {p}")
                if problems:
                    log(f"capture: the state file {tfs.state_path()} keeps the originals: fix the "
                        "above, then run `vmapsim capture --restore`")
                for line in lines:
                    log(f"capture: restored {line}")
            if lock is not None:
                os.close(lock)
        finally:
            guard.release()
    if problems:
        raise CaptureError("the kernel's tracing settings could not all be restored: "
                           + "; ".join(problems))
    if guard.pending:
        raise Interrupted(guard.pending)
    files, meta, failure = result
    guard2 = tfs.Guard()
    guard2.install()
    try:
        try:
            _write_output(out, files)
        finally:
            guard2.armed = False
    finally:
        guard2.release()
    if guard2.pending:
        raise Interrupted(guard2.pending)
    if failure:
        raise CaptureError(failure)
    return meta


def _record(session, workload, seconds, seed, possible, online, buffer_kb, log, drain, tool):
    """Steps 4 and 5 of the module docstring; returns ``(files, meta, tool failure or None)``."""
    session.set("tracing_on", "0")
    session.set("kptr_restrict", "1")
    session.set("buffer_size_kb", str(buffer_kb))
    session.set("trace_clock", "global")
    tfs.write(tfs.TRACEFS / "trace", "")
    for e in EVENTS:
        session.set(f"vmalloc:{e}", "1")
    session.set("tracing_on", "1")
    times = {} if tool is not None and tool.name == "perf" else None
    if tool is not None:
        tool.start(session)
    clean = 0
    if drain:
        _marker(MARKERS["drop_caches"], times)
        clean = 1
        try:
            tfs.write(tfs.PROC / "sys/vm/drop_caches", "2")
        except OSError as exc:
            clean = 0
            log(f"capture: drop_caches failed ({exc}); pools may not be empty at the start")
    _marker(MARKERS["before_begin"], times)
    before = _snapshot()
    _marker(MARKERS["before_end"], times)
    log(f"capture: running workload {workload} for {seconds:g} s (seed {seed})")
    t0 = time.monotonic()
    shrinks0 = _vmstat("drop_slab")
    counts = run_workload(workload, seconds, seed, log=log)
    elapsed = time.monotonic() - t0
    external = max(0, _vmstat("drop_slab") - shrinks0)
    _marker(MARKERS["after_begin"], times)
    after = _snapshot()
    _marker(MARKERS["after_end"], times)
    tfs.write(tfs.TRACEFS / "tracing_on", "0")
    if tool is not None:
        tool.stop()
    lost = _lost_events()
    trace = (tfs.TRACEFS / "trace").read_bytes()
    failure = tool.extract(session) if tool is not None else None
    tfs.write(tfs.TRACEFS / "trace", "")
    meta = {"mode": workload, "seed": seed, "clean_pools": clean, "possible_cpus": possible,
            "online_cpus": online, "seconds": round(elapsed, 3), "trace_clock": "global",
            "lost_events": lost, "external_drop_caches": external}
    meta.update({f"workload_{k}": v for k, v in counts.items()})
    if tool is not None:
        meta["recorded_with"] = tool.name
    if times:
        meta.update(times)
    if lost:
        log(f"capture: WARNING: the trace buffer lost {lost} events; replay will say so")
    if external:
        log(f"capture: WARNING: someone wrote to drop_caches {external} time(s) during the "
            "workload (untraced pool drains); replay will say so")
    files = {"vmallocinfo.before": before, "trace.txt": trace, "vmallocinfo.after": after,
             "kernel": (platform.release() + "\n").encode(),
             "meta": "".join(f"{k}={v}\n" for k, v in meta.items()).encode()}
    if tool is not None:
        for name in ("perf.data", "trace.dat"):
            if (tool.staging / name).exists():
                files[name] = (tool.staging / name).read_bytes()
    return files, meta, failure


# --------------------------------------------------------------------------- CLI
def add_arguments(parser) -> None:
    parser.add_argument("dir", nargs="?", help="output directory (must not exist, unless --force)")
    parser.add_argument("--workload", default="mixed", choices=WORKLOADS,
                        help="what to run while tracing (none: record the machine's own load)")
    parser.add_argument("--seconds", default=None,
                        help="workload duration (default: 10, long: 60)")
    parser.add_argument("--seed", default="1", help="seed of the workload's random choices")
    parser.add_argument("--force", action="store_true",
                        help="replace the capture files of an existing output directory")
    parser.add_argument("--buffer-kb", default=str(BUFFER_KB),
                        help="per-CPU trace buffer during the capture, KiB (default %(default)s)")
    parser.add_argument("--restore", action="store_true",
                        help="put back the settings of an interrupted capture (from its state file)")
    parser.add_argument("--no-drain", action="store_true",
                        help="do not empty the pools first (drop_caches): an undrained capture")
    parser.add_argument("--with", dest="with_tool", choices=tuple(TOOLS), default=None,
                        help="also record through perf (perf.data) or trace-cmd (trace.dat)")


def run(args) -> int:
    if args.restore:
        if args.dir is not None:
            raise ParameterError("--restore takes no output directory")
        restore()
        return 0
    if args.dir is None:
        raise ParameterError("output directory missing: vmapsim capture DIR (or --restore)")
    seconds = None if args.seconds is None else check_float("seconds", args.seconds, 0.1, 3600)
    meta = capture(args.dir, args.workload, seconds, args.seed, force=args.force,
                   buffer_kb=args.buffer_kb, drain=not args.no_drain, with_tool=args.with_tool)
    print(f"captured {args.dir}: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    return 0
