"""``vmapsim capture DIR``: record a real vmalloc trace on this machine.

As root on Linux with tracefs and the ``vmalloc:*`` events (v6.9+), it

1. checks root, tracefs (mounting it at /sys/kernel/tracing if needed) and the three events,
   and that nobody else is tracing (``current_tracer`` must be ``nop``, no other event enabled);
2. sets, remembering every old value: ``kptr_restrict=1`` (real addresses in
   /proc/vmallocinfo for root), a large per-CPU ``buffer_size_kb``, ``trace_clock=global`` (one
   clock for all CPUs, so events can be merged by time), the three vmalloc events on;
3. starts tracing, writes 2 to ``/proc/sys/vm/drop_caches`` (the ``vmap-node`` shrinker then
   fully decays every pool, so the invisible pools are known to be empty), snapshots
   /proc/vmallocinfo between two ``trace_marker`` lines, runs the workload, snapshots again
   between two markers, stops tracing and saves the trace text;
4. restores every setting it changed (and unmounts tracefs if it mounted it), also on Ctrl-C,
   SIGTERM or an error.

``--no-drain`` skips step 3's ``drop_caches`` (the pools keep what the machine put there: an
"undrained" capture, ``clean_pools=0``).  ``--with perf`` also records the same events with
``perf record -a -k mono`` into ``perf.data`` (the snapshot times go into ``meta`` as
CLOCK_MONOTONIC nanoseconds, ``marker_*_ns``, since perf does not see ``trace_marker``);
``--with trace-cmd`` saves the buffer with ``trace-cmd extract`` into ``trace.dat`` after the
tracefs text is read (``trace-cmd record`` needs to write ``/proc/sys/kernel/ftrace_enabled``,
which some kernels refuse; ``extract`` does not, see docs/recording-formats.md section 6).
``vmapsim replay`` then replays the tool's file; the tracefs text of the same run stays beside
it (``replay --recording trace.txt``).

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
import time
from pathlib import Path

from ..errors import CaptureError
from ..params import check_choice, check_float, check_int
from .capture_load import DEFAULT_SECONDS, WORKLOADS, run_workload

__all__ = ["MARKERS", "TOOLS", "add_arguments", "capture", "cpu_list_count", "run"]

TRACEFS = Path("/sys/kernel/tracing")
PROC = Path("/proc")
CPU_DIR = Path("/sys/devices/system/cpu")
EVENTS = ("alloc_vmap_area", "free_vmap_area_noflush", "purge_vmap_area_lazy")
BUFFER_KB = 131072
#: trace_marker texts; the replay uses them to find the snapshot windows.
MARKERS = {
    "before_begin": "vmapsim: snapshot before begin",
    "before_end": "vmapsim: snapshot before end",
    "after_begin": "vmapsim: snapshot after begin",
    "after_end": "vmapsim: snapshot after end",
    "drop_caches": "vmapsim: drop_caches",
}
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


class _Settings:
    """Writes files and remembers their old values; :meth:`restore` undoes them in reverse."""

    def __init__(self, log):
        self.saved: list[tuple[Path, str]] = []
        self.mounted = False
        self.log = log

    def set(self, path: Path, value: str, old: str | None = None) -> None:
        if old is None:
            old = path.read_text().strip()
        self.saved.append((path, old))
        path.write_text(value)

    def restore(self) -> list[str]:
        problems = []
        while self.saved:
            path, old = self.saved.pop()
            try:
                path.write_text(old)
            except OSError as exc:
                problems.append(f"could not restore {path} to {old!r}: {exc}")
        if self.mounted:
            r = subprocess.run(["umount", str(TRACEFS)], capture_output=True, text=True)
            if r.returncode:
                problems.append(f"could not unmount {TRACEFS}: {r.stderr.strip()}")
            self.mounted = False
        return problems


def _check_environment(settings: _Settings) -> None:
    if platform.system() != "Linux":
        raise CaptureError(f"capture needs Linux (this is {platform.system()})")
    if os.geteuid() != 0:
        raise CaptureError("capture needs root (tracefs, kptr_restrict and drop_caches are root-only)")
    if not (TRACEFS / "events").is_dir():
        if "tracefs" not in (PROC / "filesystems").read_text():
            raise CaptureError("this kernel has no tracefs (CONFIG_TRACING off)")
        r = subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
                           capture_output=True, text=True)
        if r.returncode:
            raise CaptureError(f"tracefs is not mounted and mounting it at {TRACEFS} failed: "
                               f"{r.stderr.strip()}")
        settings.mounted = True
    missing = [e for e in EVENTS if not (TRACEFS / "events" / "vmalloc" / e).is_dir()]
    if missing:
        raise CaptureError(f"tracefs has no vmalloc:{', vmalloc:'.join(missing)} event(s) "
                           "(they exist since Linux 6.9)")
    tracer = (TRACEFS / "current_tracer").read_text().strip()
    if tracer != "nop":
        raise CaptureError(f"tracefs is in use: current_tracer={tracer} (must be nop)")
    others = [e for e in (TRACEFS / "set_event").read_text().split() if not e.startswith("vmalloc:")]
    if others:
        raise CaptureError(f"tracefs is in use: events enabled: {', '.join(others[:5])}")


def _current_clock() -> str:
    text = (TRACEFS / "trace_clock").read_text()
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return "local"


def _marker(text: str, times: dict | None = None) -> None:
    with open(TRACEFS / "trace_marker", "w") as f:
        f.write(text + "\n")
    if times is not None:
        key = next(k for k, v in MARKERS.items() if v == text)
        times[f"marker_{key}_ns"] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def _snapshot() -> str:
    text = (PROC / "vmallocinfo").read_text()
    first = text.split(None, 1)[0] if text.strip() else ""
    if not first.startswith("0xffff"):
        raise CaptureError(f"/proc/vmallocinfo shows no real addresses (first entry {first!r}); "
                           "kptr_restrict=1 and root are needed")
    return text


def _vmstat(key: str) -> int:
    try:
        for line in (PROC / "vmstat").read_text().splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except (OSError, ValueError):
        pass
    return 0


def _lost_events() -> int:
    lost = 0
    for stats in sorted((TRACEFS / "per_cpu").glob("cpu*/stats")):
        for line in stats.read_text().splitlines():
            key, _, val = line.partition(":")
            if key.strip() in ("overrun", "dropped events"):
                try:
                    lost += int(val.split()[0])
                except (ValueError, IndexError):
                    pass
    return lost


class _Tool:
    """A recording tool run beside tracefs (``--with``): perf from before the first snapshot to
    after the last one; trace-cmd extract at the end."""

    def __init__(self, name, outdir: Path, log):
        self.name, self.outdir, self.log = name, outdir, log
        self.proc = None
        self.exe = shutil.which(name)
        if self.exe is None:
            raise CaptureError(f"--with {name}: {name} is not installed (Debian package "
                               f"{TOOLS[name]})")

    def start(self) -> None:
        if self.name != "perf":
            return
        cmd = [self.exe, "record", "-a", "-N", "--synth=task", "-k", "mono",
               "-o", str(self.outdir / "perf.data")]
        for e in EVENTS:
            cmd += ["-e", f"vmalloc:{e}"]
        self.err = open(self.outdir / ".perf.stderr", "w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:       # perf writes its header once it is recording
            if self.proc.poll() is not None:
                break
            p = self.outdir / "perf.data"
            if p.exists() and p.stat().st_size > 0:
                time.sleep(0.5)
                return
            time.sleep(0.1)
        self.stop()
        raise CaptureError(f"perf record did not start: {self._err_line()}")

    def _err_line(self) -> str:
        self.err.seek(0)
        lines = [ln.strip() for ln in self.err.read().splitlines() if ln.strip()]
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
        (self.outdir / ".perf.stderr").unlink(missing_ok=True)
        if rc not in (0, -signal.SIGINT, 130):
            raise CaptureError(f"perf record failed (status {rc}): {msg}")

    def extract(self) -> None:
        """``trace-cmd extract`` of the top-level buffer; every event filter it clears is put
        back, and a debugfs it mounted is unmounted."""
        if self.name != "trace-cmd":
            return
        filters = {}
        for f in (TRACEFS / "events").glob("**/filter"):
            try:
                text = f.read_text().strip()
            except OSError:
                continue
            if text and text != "none":
                filters[f] = text
        debugfs = _mounted("debugfs")
        r = subprocess.run([self.exe, "extract", "-o", str(self.outdir / "trace.dat")],
                           capture_output=True, text=True)
        for f, text in filters.items():
            try:
                f.write_text(text)
            except OSError as exc:
                self.log(f"capture: could not restore the filter {f}: {exc}")
        if not debugfs and _mounted("debugfs"):
            subprocess.run(["umount", "/sys/kernel/debug"], capture_output=True)
        if r.returncode or not (self.outdir / "trace.dat").exists():
            msg = (r.stderr.strip().splitlines() or ["no message"])[-1].strip()
            raise CaptureError(f"trace-cmd extract failed (status {r.returncode}): {msg}; the "
                               "tracefs text of the capture was saved")


def _mounted(fstype: str) -> bool:
    try:
        return any(line.split()[2] == fstype for line in (PROC / "mounts").read_text().splitlines()
                   if len(line.split()) > 2)
    except OSError:
        return False


def capture(outdir, workload: str = "mixed", seconds: float | None = None, seed: int = 1,
            log=print, drain: bool = True, with_tool: str | None = None) -> dict:
    """Record a trace into *outdir* (see the module docstring); returns the meta dict.

    *drain* False skips the ``drop_caches`` that empties the pools; *with_tool* (``"perf"``,
    ``"trace-cmd"``) records through that tool as well."""
    workload = check_choice("workload", workload, WORKLOADS)
    if with_tool is not None:
        with_tool = check_choice("with", with_tool, tuple(TOOLS))
    seconds = DEFAULT_SECONDS[workload] if seconds is None else check_float("seconds", seconds, 0.1, 3600)
    seed = check_int("seed", seed)
    outdir = Path(outdir)
    settings = _Settings(log)
    old_term = signal.getsignal(signal.SIGTERM)

    def _on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_term)
    tool = None
    try:
        _check_environment(settings)
        outdir.mkdir(parents=True, exist_ok=True)
        tool = _Tool(with_tool, outdir, log) if with_tool else None
        times = {} if with_tool == "perf" else None
        possible = cpu_list_count((CPU_DIR / "possible").read_text())
        online = cpu_list_count((CPU_DIR / "online").read_text())
        settings.set(TRACEFS / "tracing_on", "0")
        settings.set(PROC / "sys/kernel/kptr_restrict", "1")
        settings.set(TRACEFS / "buffer_size_kb", str(BUFFER_KB),
                     old=(TRACEFS / "buffer_size_kb").read_text().split()[0])
        settings.set(TRACEFS / "trace_clock", "global", old=_current_clock())
        (TRACEFS / "trace").write_text("")
        for e in EVENTS:
            settings.set(TRACEFS / "events" / "vmalloc" / e / "enable", "1")
        settings.set(TRACEFS / "tracing_on", "1", old="0")
        if tool:
            tool.start()
        clean = 0
        if drain:
            _marker(MARKERS["drop_caches"], times)
            clean = 1
            try:
                (PROC / "sys/vm/drop_caches").write_text("2")
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
        (TRACEFS / "tracing_on").write_text("0")
        if tool:
            tool.stop()
        lost = _lost_events()
        trace = (TRACEFS / "trace").read_text()
        (outdir / "vmallocinfo.before").write_text(before)
        (outdir / "trace.txt").write_text(trace)
        (outdir / "vmallocinfo.after").write_text(after)
        (outdir / "kernel").write_text(platform.release() + "\n")
        if tool:
            tool.extract()
        (TRACEFS / "trace").write_text("")
        meta = {"mode": workload, "seed": seed, "clean_pools": clean, "possible_cpus": possible,
                "online_cpus": online, "seconds": round(elapsed, 3), "trace_clock": "global",
                "lost_events": lost, "external_drop_caches": external}
        meta.update({f"workload_{k}": v for k, v in counts.items()})
        if with_tool:
            meta["recorded_with"] = with_tool
        if times:
            meta.update(times)
        (outdir / "meta").write_text("".join(f"{k}={v}\n" for k, v in meta.items()))
        if lost:
            log(f"capture: WARNING: the trace buffer lost {lost} events; replay will say so")
        if external:
            log(f"capture: WARNING: someone wrote to drop_caches {external} time(s) during the "
                "workload (untraced pool drains); replay will say so")
        return meta
    finally:
        if tool is not None and tool.proc is not None:
            try:
                tool.stop()
            except CaptureError as exc:
                log(f"capture: {exc}")
        problems = settings.restore()
        signal.signal(signal.SIGTERM, old_term)
        for p in problems:
            log(f"capture: {p}")


def add_arguments(parser) -> None:
    parser.add_argument("dir", help="output directory")
    parser.add_argument("--workload", default="mixed", choices=WORKLOADS,
                        help="what to run while tracing (none: record the machine's own load)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="workload duration (default: 10, long: 60)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the workload's random choices")
    parser.add_argument("--no-drain", action="store_true",
                        help="do not empty the pools first (drop_caches): an undrained capture")
    parser.add_argument("--with", dest="with_tool", choices=tuple(TOOLS), default=None,
                        help="also record through perf (perf.data) or trace-cmd (trace.dat)")


def run(args) -> int:
    meta = capture(args.dir, args.workload, args.seconds, args.seed, drain=not args.no_drain,
                   with_tool=args.with_tool)
    print(f"captured {args.dir}: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    return 0
