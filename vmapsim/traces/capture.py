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

Output directory: ``vmallocinfo.before``, ``trace.txt``, ``vmallocinfo.after``, ``kernel``
(``uname -r``), ``meta`` (``key=value`` lines: ``mode``, ``seed``, ``clean_pools``,
``possible_cpus``, and extra facts: ``online_cpus``, ``seconds``, ``trace_clock``,
``lost_events``, ``external_drop_caches`` (pool drains by others during the workload, from
/proc/vmstat ``drop_slab``), ``workload_*`` counts).
"""
from __future__ import annotations

import os
import platform
import signal
import subprocess
import time
from pathlib import Path

from ..errors import CaptureError
from ..params import check_choice, check_float, check_int, check_seed
from .capture_load import DEFAULT_SECONDS, WORKLOADS, run_workload

__all__ = ["capture", "add_arguments", "run", "cpu_list_count", "MARKERS"]

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


def _marker(text: str) -> None:
    with open(TRACEFS / "trace_marker", "w") as f:
        f.write(text + "\n")


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


def capture(outdir, workload: str = "mixed", seconds: float | None = None, seed: int = 1,
            log=print) -> dict:
    """Record a trace into *outdir* (see the module docstring); returns the meta dict."""
    workload = check_choice("workload", workload, WORKLOADS)
    seconds = DEFAULT_SECONDS[workload] if seconds is None else check_float("seconds", seconds, 0.1, 3600)
    seed = check_seed("seed", seed)
    outdir = Path(outdir)
    settings = _Settings(log)
    old_term = signal.getsignal(signal.SIGTERM)

    def _on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_term)
    try:
        _check_environment(settings)
        outdir.mkdir(parents=True, exist_ok=True)
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
        _marker(MARKERS["drop_caches"])
        clean = 1
        try:
            (PROC / "sys/vm/drop_caches").write_text("2")
        except OSError as exc:
            clean = 0
            log(f"capture: drop_caches failed ({exc}); pools may not be empty at the start")
        _marker(MARKERS["before_begin"])
        before = _snapshot()
        _marker(MARKERS["before_end"])
        log(f"capture: running workload {workload} for {seconds:g} s (seed {seed})")
        t0 = time.monotonic()
        shrinks0 = _vmstat("drop_slab")
        counts = run_workload(workload, seconds, seed, log=log)
        elapsed = time.monotonic() - t0
        external = max(0, _vmstat("drop_slab") - shrinks0)
        _marker(MARKERS["after_begin"])
        after = _snapshot()
        _marker(MARKERS["after_end"])
        (TRACEFS / "tracing_on").write_text("0")
        lost = _lost_events()
        trace = (TRACEFS / "trace").read_text()
        (TRACEFS / "trace").write_text("")
        (outdir / "vmallocinfo.before").write_text(before)
        (outdir / "trace.txt").write_text(trace)
        (outdir / "vmallocinfo.after").write_text(after)
        (outdir / "kernel").write_text(platform.release() + "\n")
        meta = {"mode": workload, "seed": seed, "clean_pools": clean, "possible_cpus": possible,
                "online_cpus": online, "seconds": round(elapsed, 3), "trace_clock": "global",
                "lost_events": lost, "external_drop_caches": external}
        meta.update({f"workload_{k}": v for k, v in counts.items()})
        (outdir / "meta").write_text("".join(f"{k}={v}\n" for k, v in meta.items()))
        if lost:
            log(f"capture: WARNING: the trace buffer lost {lost} events; replay will say so")
        if external:
            log(f"capture: WARNING: someone wrote to drop_caches {external} time(s) during the "
                "workload (untraced pool drains); replay will say so")
        return meta
    finally:
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


def run(args) -> int:
    meta = capture(args.dir, args.workload, args.seconds, args.seed)
    print(f"captured {args.dir}: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    return 0
