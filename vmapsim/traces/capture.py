"""``vmapsim capture DIR``: record a real vmalloc trace on this machine, leaving the kernel as it was.

As root on Linux with tracefs and the ``vmalloc:*`` events (v6.9+), it

1. checks the arguments and the output directory (an existing one is refused unless
   ``--force``; nothing is created before the capture has succeeded), takes an exclusive lock
   (:data:`LOCK_NAME` in :data:`RUN_DIR`: a second capture is refused, because both would share
   the kernel's one trace buffer) and refuses to start while a state file of an interrupted
   capture exists;
2. writes the **state file** (:data:`STATE_NAME` in :data:`RUN_DIR`, JSON) *before the first
   change*, mounts tracefs at /sys/kernel/tracing if needed, reads the original value of every
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

Output directory: ``vmallocinfo.before``, ``trace.txt``, ``vmallocinfo.after``, ``kernel``
(``uname -r``), ``meta`` (``key=value`` lines: ``mode``, ``seed``, ``clean_pools``,
``possible_cpus``, and extra facts: ``online_cpus``, ``seconds``, ``trace_clock``,
``lost_events``, ``external_drop_caches`` (pool drains by others during the workload, from
/proc/vmstat ``drop_slab``), ``workload_*`` counts).
"""
from __future__ import annotations

import fcntl
import json
import os
import platform
import signal
import subprocess
import threading
import time
from pathlib import Path

from ..errors import CaptureError, ParameterError
from ..params import check_choice, check_float, check_int, check_seed
from .capture_load import DEFAULT_SECONDS, WORKLOADS, run_workload

__all__ = ["capture", "restore", "add_arguments", "run", "cpu_list_count", "MARKERS",
           "Interrupted", "STATE_NAME", "LOCK_NAME"]

TRACEFS = Path("/sys/kernel/tracing")
PROC = Path("/proc")
CPU_DIR = Path("/sys/devices/system/cpu")
#: where the lock and the state file live: a tmpfs emptied at boot, like the settings they guard
RUN_DIR = Path("/run")
LOCK_NAME = "vmapsim-capture.lock"
STATE_NAME = "vmapsim-capture.state"
EVENTS = ("alloc_vmap_area", "free_vmap_area_noflush", "purge_vmap_area_lazy")
BUFFER_KB = 131072
#: signals that interrupt a capture (each exits with 128 + its number after the restore)
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: signals blocked while the settings are put back
BLOCKED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP}
#: trace_marker texts; the replay uses them to find the snapshot windows.
MARKERS = {
    "before_begin": "vmapsim: snapshot before begin",
    "before_end": "vmapsim: snapshot before end",
    "after_begin": "vmapsim: snapshot after begin",
    "after_end": "vmapsim: snapshot after end",
    "drop_caches": "vmapsim: drop_caches",
}
OUTPUT_FILES = ("vmallocinfo.before", "trace.txt", "vmallocinfo.after", "kernel", "meta")


class Interrupted(KeyboardInterrupt):
    """The capture was stopped by signal ``signum`` (after restoring); the CLI exits 128 + it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def cpu_list_count(text: str) -> int:
    """Number of CPUs in a list like ``0-1`` or ``0,2-5`` (/sys/devices/system/cpu/possible)."""
    n = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        n += (int(hi) - int(lo) + 1) if hi else 1
    return n


# --------------------------------------------------------------------------- signals
class _Guard:
    """Turns SIGINT/SIGTERM/SIGHUP into :class:`Interrupted` exactly once.

    The handler disarms itself before raising, so a second signal (a second Ctrl-C 90 ms after
    the first) can never interrupt the restore: it is only remembered.  In a forked child (the
    fork workload) the handler exits the child at once instead of unwinding into the parent's
    restore code."""

    def __init__(self):
        self.pid = os.getpid()
        self.armed = True
        self.pending = None
        self.old = {}
        self.blocked = False

    def _handler(self, signum, frame):
        if os.getpid() != self.pid:
            os._exit(128 + signum)
        if self.armed:
            self.armed = False
            raise Interrupted(signum)
        if self.pending is None:
            self.pending = signum

    def install(self):
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self.old[s] = signal.signal(s, self._handler)

    def block(self):
        if threading.current_thread() is threading.main_thread():
            signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
            self.blocked = True

    def release(self):
        """Unblock (pending signals are delivered now, to the disarmed handler) and put the
        previous handlers back."""
        self.armed = False
        if self.blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, BLOCKED)
            self.blocked = False
        for s, h in self.old.items():
            signal.signal(s, h)
        self.old = {}


# --------------------------------------------------------------------------- lock, state file
def _lock_path() -> Path:
    return RUN_DIR / LOCK_NAME


def _state_path() -> Path:
    return RUN_DIR / STATE_NAME


def _take_lock() -> int:
    """The exclusive capture lock (released by the kernel when the process dies)."""
    try:
        fd = os.open(_lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise CaptureError(f"cannot open the capture lock {_lock_path()}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise CaptureError(f"another vmapsim capture is running (pid {holder}); one capture at a "
                           "time: captures share the kernel's one trace buffer") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _boot_id() -> str:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _load_state() -> dict | None:
    p = _state_path()
    try:
        text = p.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CaptureError(f"cannot read the capture state file {p}: {exc.strerror}") from None
    try:
        state = json.loads(text)
        if not isinstance(state, dict) or not isinstance(state.get("settings"), list):
            raise ValueError("not a capture state")
    except ValueError as exc:
        raise CaptureError(f"the capture state file {p} is unreadable ({exc}); look at it, then "
                           "remove it by hand") from None
    return state


def _save_state(state: dict) -> None:
    """Write the state file atomically and durably (a crash leaves the old or the new one)."""
    p = _state_path()
    tmp = p.with_name(p.name + ".tmp")
    data = json.dumps(state, indent=1).encode()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, p)
        dfd = os.open(p.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise CaptureError(f"cannot write the capture state file {p}: {exc.strerror}; without it "
                           "an interrupted capture could not be undone") from None


def _stale_state_error(state: dict) -> CaptureError:
    changed = [s["name"] for s in state["settings"] if s.get("changed")]
    what = ", ".join(changed) or "nothing yet"
    if state.get("mounted"):
        what += " (and tracefs was mounted)"
    return CaptureError(
        f"a capture (pid {state.get('pid', '?')}, started {state.get('started', '?')}) was "
        f"interrupted before it restored the kernel's tracing settings ({what} changed); run "
        "`vmapsim capture --restore` to put back the originals it recorded")


# --------------------------------------------------------------------------- settings
def _read(path: Path) -> str:
    return path.read_text().strip()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _clock_name(text: str) -> str:
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return text.split()[0] if text.split() else "local"


def _per_cpu_buffers() -> dict:
    return {str(p): _read(p) for p in sorted((TRACEFS / "per_cpu").glob("cpu*/buffer_size_kb"))}


def _original_settings() -> list[dict]:
    """Every setting the capture will change, with its original value and what restores it."""
    out = [{"name": "tracing_on", "path": str(TRACEFS / "tracing_on"),
            "original": _read(TRACEFS / "tracing_on")}]
    kp = PROC / "sys/kernel/kptr_restrict"
    out.append({"name": "kptr_restrict", "path": str(kp), "original": _read(kp)})
    buf = _read(TRACEFS / "buffer_size_kb")
    entry = {"name": "buffer_size_kb", "path": str(TRACEFS / "buffer_size_kb"), "original": buf}
    words = buf.split()
    if "(expanded:" in buf:
        entry["restore"] = buf.split("(expanded:")[1].strip(" )")
        entry["note"] = (f"the buffer was unexpanded ({buf!r}: {words[0]} KiB per CPU, "
                         f"{entry['restore']} KiB once tracing is used); the kernel cannot return "
                         f"to that state, so it is restored to {entry['restore']} KiB per CPU, the "
                         "size the next user of tracing would have got")
    elif words and words[0] == "X":
        entry["per_cpu"] = _per_cpu_buffers()
    elif words and words[0].isdigit():
        entry["restore"] = words[0]
    else:
        raise CaptureError(f"cannot read buffer_size_kb ({buf!r})")
    out.append(entry)
    out.append({"name": "trace_clock", "path": str(TRACEFS / "trace_clock"),
                "original": _clock_name(_read(TRACEFS / "trace_clock"))})
    for e in EVENTS:
        p = TRACEFS / "events" / "vmalloc" / e / "enable"
        out.append({"name": f"vmalloc:{e}", "path": str(p), "original": _read(p)})
    for s in out:
        s["changed"] = False
    return out


def _current(s: dict) -> str:
    text = _read(Path(s["path"]))
    return _clock_name(text) if s["name"] == "trace_clock" else text


def _restore_one(s: dict) -> str:
    """Put setting *s* back; return a line ``name: now -> restored``."""
    path = Path(s["path"])
    now = _current(s)
    if now == s["original"]:
        return f"{s['name']}: {now!r} (unchanged)"
    if "per_cpu" in s:
        for p, v in s["per_cpu"].items():
            _write(Path(p), v)
        got = _per_cpu_buffers()
        if got != s["per_cpu"]:
            raise OSError(f"per-CPU sizes read back as {got}")
        return f"{s['name']}: {now!r} -> per CPU {s['per_cpu']}"
    value = s.get("restore", s["original"])
    _write(path, value)
    back = _current(s)
    if not _same(s["name"], back, value):
        raise OSError(f"reads back as {back!r}")
    if s.get("note"):
        return f"{s['name']}: {now!r} -> {back!r} (original {s['original']!r}: {s['note']})"
    return f"{s['name']}: {now!r} -> {back!r}"


def _same(name: str, back: str, value: str) -> bool:
    """Does *back*, read after writing *value*, show it took?  A buffer size reads back rounded
    up to whole sub-buffer pages (4080 bytes of data each): up to 3 KiB more than written."""
    if name == "buffer_size_kb" and back.isdigit() and value.isdigit():
        return 0 <= int(back) - int(value) < 4
    return back.split()[:1] == value.split()[:1]


def _is_mounted() -> bool:
    try:
        mounts = (PROC / "mounts").read_text().split("\n")
    except OSError:
        return (TRACEFS / "events").is_dir()
    return any(len(m.split()) > 2 and m.split()[1] == str(TRACEFS) for m in mounts)


def _apply_restore(state: dict) -> tuple[list[str], list[str]]:
    """Restore every changed setting of *state* (latest change first), then unmount tracefs if
    the capture mounted it.  Returns ``(report lines, problems)``; call with signals blocked."""
    lines, problems = [], []
    changed = [s for s in state["settings"] if s.get("changed")]
    changed.sort(key=lambda s: s.get("order", 0), reverse=True)
    for s in changed:
        try:
            lines.append(_restore_one(s))
        except OSError as exc:
            problems.append(f"could not restore {s['name']} ({s['path']}) to {s['original']!r}: "
                            f"{getattr(exc, 'strerror', None) or exc}")
    if state.get("mounted") and _is_mounted():
        r = subprocess.run(["umount", str(TRACEFS)], capture_output=True, text=True)
        if r.returncode:
            problems.append(f"could not unmount {TRACEFS}: {r.stderr.strip()}")
        else:
            lines.append(f"tracefs: unmounted from {TRACEFS} (it was not mounted before)")
    return lines, problems


class _Session:
    """The state file, the settings changed so far, and their restore."""

    def __init__(self, log):
        self.log = log
        self.state = {"version": 1, "pid": os.getpid(), "boot_id": _boot_id(),
                      "started": time.strftime("%Y-%m-%d %H:%M:%S"), "kernel": platform.release(),
                      "tracefs": str(TRACEFS), "mounted": False, "settings": []}
        self.saved = False
        self.order = 0

    def save(self):
        _save_state(self.state)
        self.saved = True

    def setting(self, name) -> dict:
        return next(s for s in self.state["settings"] if s["name"] == name)

    def set(self, name: str, value: str) -> None:
        """Record that *name* is about to change (state file first), then write *value*."""
        s = self.setting(name)
        if not s["changed"]:
            self.order += 1
            s["changed"], s["order"] = True, self.order
            self.save()
        _write(Path(s["path"]), value)

    def restore(self) -> list[str]:
        lines, problems = _apply_restore(self.state)
        if not problems and self.saved:
            try:
                _state_path().unlink()
            except FileNotFoundError:
                pass
        return lines, problems


# --------------------------------------------------------------------------- environment
def _check_platform() -> None:
    if platform.system() != "Linux":
        raise CaptureError(f"capture needs Linux (this is {platform.system()})")
    if os.geteuid() != 0:
        raise CaptureError("capture needs root (tracefs, kptr_restrict and drop_caches are root-only)")


def _mount_if_needed(session: _Session) -> None:
    if (TRACEFS / "events").is_dir():
        return
    try:
        has = "tracefs" in (PROC / "filesystems").read_text()
    except OSError:
        has = False
    if not has:
        raise CaptureError("this kernel has no tracefs (CONFIG_TRACING off)")
    session.state["mounted"] = True          # recorded before the mount itself
    session.save()
    r = subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
                       capture_output=True, text=True)
    if r.returncode:
        raise CaptureError(f"tracefs is not mounted and mounting it at {TRACEFS} failed: "
                           f"{r.stderr.strip()}")


def _check_tracefs(online: int) -> None:
    missing = [e for e in EVENTS if not (TRACEFS / "events" / "vmalloc" / e).is_dir()]
    if missing:
        raise CaptureError(f"tracefs has no vmalloc:{', vmalloc:'.join(missing)} event(s) "
                           "(they exist since Linux 6.9)")
    tracer = _read(TRACEFS / "current_tracer")
    if tracer != "nop":
        raise CaptureError(f"tracefs is in use: current_tracer={tracer} (must be nop)")
    enabled = _read(TRACEFS / "set_event").split()
    others = [e for e in enabled if not e.startswith("vmalloc:")]
    if others:
        raise CaptureError(f"tracefs is in use: events enabled: {', '.join(others[:5])}")
    if enabled:
        raise CaptureError(f"tracefs is in use: {', '.join(enabled)} already enabled (another "
                           "tracer, or a capture of an older vmapsim that was killed: disable "
                           "them by hand)")
    for e in EVENTS:
        d = TRACEFS / "events" / "vmalloc" / e
        state = _read(d / "enable")
        if state != "0":
            raise CaptureError(f"tracefs is in use: vmalloc:{e} enable={state!r}")
        for f in ("filter", "trigger"):
            if (d / f).exists():
                text = _read(d / f)
                if text and text != "none" and not text.startswith("#"):
                    raise CaptureError(f"vmalloc:{e} has a {f} ({text[:60]!r}): the trace would "
                                       "miss events; remove it first")
    for f in ("set_event_pid", "set_event_notrace_pid"):
        if (TRACEFS / f).exists() and _read(TRACEFS / f):
            raise CaptureError(f"{f} is set ({_read(TRACEFS / f)[:40]!r}): the trace would miss "
                               "the events of other tasks; clear it first")
    mask_file = TRACEFS / "tracing_cpumask"
    if mask_file.exists():
        try:
            mask = int(_read(mask_file).replace(",", ""), 16)
        except ValueError:
            mask = -1
        if mask != -1 and bin(mask).count("1") < online:
            raise CaptureError(f"tracing_cpumask={_read(mask_file)} leaves out online CPUs: the "
                               "trace would miss their events; reset it first")


def _marker(text: str) -> None:
    with open(TRACEFS / "trace_marker", "w") as f:
        f.write(text + "\n")


def _snapshot() -> bytes:
    data = (PROC / "vmallocinfo").read_bytes()
    first = data.split(None, 1)[0] if data.strip() else b""
    if not first.startswith(b"0xffff"):
        raise CaptureError(f"/proc/vmallocinfo shows no real addresses (first entry {first[:40]!r}); "
                           "kptr_restrict=1 and root are needed")
    return data


def _vmstat(key: str) -> int:
    try:
        for line in (PROC / "vmstat").read_text().split("\n"):
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except (OSError, ValueError):
        pass
    return 0


def _lost_events() -> int:
    lost = 0
    for stats in sorted((TRACEFS / "per_cpu").glob("cpu*/stats")):
        for line in stats.read_text().split("\n"):
            key, _, val = line.partition(":")
            if key.strip() in ("overrun", "dropped events"):
                try:
                    lost += int(val.split()[0])
                except (ValueError, IndexError):
                    pass
    return lost


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
            log=print, force: bool = False, buffer_kb: int = BUFFER_KB) -> dict:
    """Record a trace into *outdir* (see the module docstring); returns the meta dict."""
    workload = check_choice("workload", workload, WORKLOADS)
    seconds = DEFAULT_SECONDS[workload] if seconds is None else check_float("seconds", seconds, 0.1, 3600)
    seed = check_seed("seed", seed)
    buffer_kb = check_int("buffer_kb", buffer_kb, lo=64, hi=16 << 20)
    out = _check_outdir(outdir, force)
    _check_platform()
    guard = _Guard()
    guard.install()
    lock = None
    session = None
    result = None
    problems = []
    try:
        try:
            lock = _take_lock()
            old = _load_state()
            if old is not None:
                if old.get("boot_id") and old.get("boot_id") != _boot_id():
                    log(f"capture: removing the state file of a capture from before the last "
                        f"reboot (pid {old.get('pid', '?')}); a reboot reset every setting")
                    _state_path().unlink()
                elif not old.get("mounted") and not any(x.get("changed") for x in old["settings"]):
                    log(f"capture: removing the state file of a capture (pid {old.get('pid', '?')}) "
                        "that was stopped before it changed anything")
                    _state_path().unlink()
                else:
                    raise _stale_state_error(old)
            session = _Session(log)
            session.save()                                   # before the first change
            _mount_if_needed(session)
            possible = cpu_list_count((CPU_DIR / "possible").read_text())
            online = cpu_list_count((CPU_DIR / "online").read_text())
            _check_tracefs(online)                           # read-only
            session.state["settings"] = _original_settings()
            session.save()
            result = _record(session, workload, seconds, seed, possible, online, buffer_kb, log)
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
                    log(f"capture: the state file {_state_path()} keeps the originals: fix the "
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
    files, meta = result
    guard2 = _Guard()
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
    return meta


def _record(session, workload, seconds, seed, possible, online, buffer_kb, log):
    """Steps 4 and 5 of the module docstring; returns ``(files, meta)``."""
    session.set("tracing_on", "0")
    session.set("kptr_restrict", "1")
    session.set("buffer_size_kb", str(buffer_kb))
    session.set("trace_clock", "global")
    _write(TRACEFS / "trace", "")
    for e in EVENTS:
        session.set(f"vmalloc:{e}", "1")
    session.set("tracing_on", "1")
    _marker(MARKERS["drop_caches"])
    clean = 1
    try:
        _write(PROC / "sys/vm/drop_caches", "2")
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
    _write(TRACEFS / "tracing_on", "0")
    lost = _lost_events()
    trace = (TRACEFS / "trace").read_bytes()
    _write(TRACEFS / "trace", "")
    meta = {"mode": workload, "seed": seed, "clean_pools": clean, "possible_cpus": possible,
            "online_cpus": online, "seconds": round(elapsed, 3), "trace_clock": "global",
            "lost_events": lost, "external_drop_caches": external}
    meta.update({f"workload_{k}": v for k, v in counts.items()})
    if lost:
        log(f"capture: WARNING: the trace buffer lost {lost} events; replay will say so")
    if external:
        log(f"capture: WARNING: someone wrote to drop_caches {external} time(s) during the "
            "workload (untraced pool drains); replay will say so")
    files = {"vmallocinfo.before": before, "trace.txt": trace, "vmallocinfo.after": after,
             "kernel": (platform.release() + "\n").encode(),
             "meta": "".join(f"{k}={v}\n" for k, v in meta.items()).encode()}
    return files, meta


def restore(log=print) -> list[str]:
    """``vmapsim capture --restore``: put back the settings an interrupted capture recorded in
    the state file; returns the report lines (empty if there was nothing to restore)."""
    _check_platform()
    guard = _Guard()
    guard.install()
    lock = None
    try:
        try:
            lock = _take_lock()
            state = _load_state()
        finally:
            guard.armed = False
        if state is None:
            log(f"capture --restore: no state file ({_state_path()}): nothing to restore")
            return []
        if state.get("boot_id") and state.get("boot_id") != _boot_id():
            _state_path().unlink()
            log(f"capture --restore: the state file is from before the last reboot (pid "
                f"{state.get('pid', '?')}, started {state.get('started', '?')}); a reboot reset "
                "every tracing setting: state file removed, nothing to restore")
            return []
        if state.get("tracefs") and state["tracefs"] != str(TRACEFS):
            raise CaptureError(f"the state file was written for tracefs at {state['tracefs']}, "
                               f"not {TRACEFS}")
        if any(s.get("changed") for s in state["settings"]) and not (TRACEFS / "events").is_dir():
            raise CaptureError(f"tracefs is not mounted at {TRACEFS}: mount it (mount -t tracefs "
                               f"nodev {TRACEFS}), then run --restore again")
        guard.block()
        lines, problems = _apply_restore(state)
        if problems:
            raise CaptureError("; ".join(problems) + f"; the state file {_state_path()} is kept")
        _state_path().unlink()
        for line in lines:
            log(f"capture --restore: {line}")
        log(f"capture --restore: done (capture of pid {state.get('pid', '?')}, started "
            f"{state.get('started', '?')}); state file removed")
        return lines
    finally:
        if lock is not None:
            os.close(lock)
        guard.release()
        if guard.pending:
            raise Interrupted(guard.pending)


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
                   buffer_kb=args.buffer_kb)
    print(f"captured {args.dir}: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    return 0
