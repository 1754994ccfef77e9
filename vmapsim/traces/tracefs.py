"""The kernel side of ``vmapsim capture``: tracefs settings, their exact restore, the lock and the
state file that make an interrupted capture undoable (see :mod:`vmapsim.traces.capture`).

* :func:`take_lock`: the exclusive lock (:data:`LOCK_NAME` in :data:`RUN_DIR`, ``flock``, released
  by the kernel when the process dies, even by ``kill -9``).
* The state file (:data:`STATE_NAME` in :data:`RUN_DIR`, JSON, written atomically and fsync'ed):
  the original value of every setting, written before the first change; each setting is marked
  ``changed`` in it before it is written.  :data:`RUN_DIR` is a tmpfs emptied at boot, like the
  settings it records; a state file whose ``boot_id`` is not the running one is void.
* :class:`Session` changes settings through the state file; :func:`apply_restore` puts back the
  changed ones (latest first), reads each back, and unmounts tracefs if the capture mounted it;
  :func:`restore` is ``vmapsim capture --restore``.
* :class:`Guard`: SIGINT, SIGTERM and SIGHUP become :class:`Interrupted` once; later ones are
  remembered, and all of :data:`BLOCKED` are blocked while settings are restored.
"""
from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from ..errors import CaptureError

__all__ = ["TRACEFS", "PROC", "CPU_DIR", "RUN_DIR", "LOCK_NAME", "STATE_NAME", "EVENTS", "SIGNALS",
           "BLOCKED", "Interrupted", "Guard", "Session", "take_lock", "load_state", "state_path",
           "boot_id", "stale_state_error", "read", "write", "apply_restore", "restore_one",
           "check_platform", "mount_if_needed", "check_tracefs", "restore"]

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


class Interrupted(KeyboardInterrupt):
    """The capture was stopped by signal ``signum`` (after restoring); the CLI exits 128 + it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum



# --------------------------------------------------------------------------- signals
class Guard:
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
def lock_path() -> Path:
    return RUN_DIR / LOCK_NAME


def state_path() -> Path:
    return RUN_DIR / STATE_NAME


def take_lock() -> int:
    """The exclusive capture lock (released by the kernel when the process dies)."""
    try:
        fd = os.open(lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise CaptureError(f"cannot open the capture lock {lock_path()}: {exc.strerror}") from None
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


def boot_id() -> str:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def load_state() -> dict | None:
    p = state_path()
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


def save_state(state: dict) -> None:
    """Write the state file atomically and durably (a crash leaves the old or the new one)."""
    p = state_path()
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


def stale_state_error(state: dict) -> CaptureError:
    changed = [s["name"] for s in state["settings"] if s.get("changed")]
    what = ", ".join(changed) or "nothing yet"
    if state.get("mounted"):
        what += " (and tracefs was mounted)"
    return CaptureError(
        f"a capture (pid {state.get('pid', '?')}, started {state.get('started', '?')}) was "
        f"interrupted before it restored the kernel's tracing settings ({what} changed); run "
        "`vmapsim capture --restore` to put back the originals it recorded")


# --------------------------------------------------------------------------- settings
def read(path: Path) -> str:
    return path.read_text().strip()


def write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def clock_name(text: str) -> str:
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return text.split()[0] if text.split() else "local"


def per_cpu_buffers() -> dict:
    return {str(p): read(p) for p in sorted((TRACEFS / "per_cpu").glob("cpu*/buffer_size_kb"))}


def original_settings() -> list[dict]:
    """Every setting the capture will change, with its original value and what restores it."""
    out = [{"name": "tracing_on", "path": str(TRACEFS / "tracing_on"),
            "original": read(TRACEFS / "tracing_on")}]
    kp = PROC / "sys/kernel/kptr_restrict"
    out.append({"name": "kptr_restrict", "path": str(kp), "original": read(kp)})
    buf = read(TRACEFS / "buffer_size_kb")
    entry = {"name": "buffer_size_kb", "path": str(TRACEFS / "buffer_size_kb"), "original": buf}
    words = buf.split()
    if "(expanded:" in buf:
        entry["restore"] = buf.split("(expanded:")[1].strip(" )")
        entry["note"] = (f"the buffer was unexpanded ({buf!r}: {words[0]} KiB per CPU, "
                         f"{entry['restore']} KiB once tracing is used); the kernel cannot return "
                         f"to that state, so it is restored to {entry['restore']} KiB per CPU, the "
                         "size the next user of tracing would have got")
    elif words and words[0] == "X":
        entry["per_cpu"] = per_cpu_buffers()
    elif words and words[0].isdigit():
        entry["restore"] = words[0]
    else:
        raise CaptureError(f"cannot read buffer_size_kb ({buf!r})")
    out.append(entry)
    out.append({"name": "trace_clock", "path": str(TRACEFS / "trace_clock"),
                "original": clock_name(read(TRACEFS / "trace_clock"))})
    for e in EVENTS:
        p = TRACEFS / "events" / "vmalloc" / e / "enable"
        out.append({"name": f"vmalloc:{e}", "path": str(p), "original": read(p)})
    for s in out:
        s["changed"] = False
    return out


def current(s: dict) -> str:
    text = read(Path(s["path"]))
    return clock_name(text) if s["name"] == "trace_clock" else text


def restore_one(s: dict) -> str:
    """Put setting *s* back; return a line ``name: now -> restored``."""
    path = Path(s["path"])
    now = current(s)
    if now == s["original"]:
        return f"{s['name']}: {now!r} (unchanged)"
    if "per_cpu" in s:
        for p, v in s["per_cpu"].items():
            write(Path(p), v)
        got = per_cpu_buffers()
        if got != s["per_cpu"]:
            raise OSError(f"per-CPU sizes read back as {got}")
        return f"{s['name']}: {now!r} -> per CPU {s['per_cpu']}"
    value = s.get("restore", s["original"])
    write(path, value)
    back = current(s)
    if not same(s["name"], back, value):
        raise OSError(f"reads back as {back!r}")
    if s.get("note"):
        return f"{s['name']}: {now!r} -> {back!r} (original {s['original']!r}: {s['note']})"
    return f"{s['name']}: {now!r} -> {back!r}"


def same(name: str, back: str, value: str) -> bool:
    """Does *back*, read after writing *value*, show it took?  A buffer size reads back rounded
    up to whole sub-buffer pages (4080 bytes of data each): up to 3 KiB more than written."""
    if name == "buffer_size_kb" and back.isdigit() and value.isdigit():
        return 0 <= int(back) - int(value) < 4
    return back.strip() == value.strip()


def is_mounted() -> bool:
    try:
        mounts = (PROC / "mounts").read_text().split("\n")
    except OSError:
        return (TRACEFS / "events").is_dir()
    return any(len(m.split()) > 2 and m.split()[1] == str(TRACEFS) for m in mounts)


def _is_perf(pid: int) -> bool:
    """Is *pid* a running (not zombie) process called ``perf``?"""
    try:
        if (PROC / str(pid) / "comm").read_text().strip() != "perf":
            return False
    except OSError:
        return False
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _stop_perf(pid: int) -> str:
    """Stop a ``perf record`` the capture started (SIGINT as Ctrl-C would, SIGKILL after 10 s)."""
    os.kill(pid, signal.SIGINT)
    for _ in range(100):
        if not _is_perf(pid):
            return f"perf record (pid {pid}): stopped"
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return f"perf record (pid {pid}): killed (it did not stop on SIGINT)"


def apply_restore(state: dict) -> tuple[list[str], list[str]]:
    """Restore every changed setting of *state* (latest change first), then unmount tracefs if
    the capture mounted it.  Returns ``(report lines, problems)``; call with signals blocked."""
    lines, problems = [], []
    pid = state.get("tool_pid")
    if pid and _is_perf(pid):
        lines.append(_stop_perf(pid))
    if state.get("staging") and Path(state["staging"]).is_dir():
        shutil.rmtree(state["staging"], ignore_errors=True)
    changed = [s for s in state["settings"] if s.get("changed")]
    changed.sort(key=lambda s: s.get("order", 0), reverse=True)
    for s in changed:
        try:
            lines.append(restore_one(s))
        except OSError as exc:
            problems.append(f"could not restore {s['name']} ({s['path']}) to {s['original']!r}: "
                            f"{getattr(exc, 'strerror', None) or exc}")
    if state.get("mounted") and is_mounted():
        r = subprocess.run(["umount", str(TRACEFS)], capture_output=True, text=True)
        if r.returncode:
            problems.append(f"could not unmount {TRACEFS}: {r.stderr.strip()}")
        else:
            lines.append(f"tracefs: unmounted from {TRACEFS} (it was not mounted before)")
    return lines, problems


class Session:
    """The state file, the settings changed so far, and their restore."""

    def __init__(self, log):
        self.log = log
        self.state = {"version": 1, "pid": os.getpid(), "boot_id": boot_id(),
                      "started": time.strftime("%Y-%m-%d %H:%M:%S"), "kernel": platform.release(),
                      "tracefs": str(TRACEFS), "mounted": False, "settings": []}
        self.saved = False
        self.order = 0

    def save(self):
        save_state(self.state)
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
        write(Path(s["path"]), value)

    def add_settings(self, found) -> None:
        """Record settings ``(name, path, original)`` a tool is about to change (changed from
        now on), with one write of the state file."""
        for name, path, original in found:
            self.order += 1
            self.state["settings"].append({"name": name, "path": str(path),
                                           "original": original, "changed": True,
                                           "order": self.order})
        if found:
            self.save()

    def put_back_filters(self, log) -> None:
        """Write back the event filters recorded by :meth:`add_settings` (trace-cmd cleared them)."""
        for s in self.state["settings"]:
            if s["name"].startswith("filter:"):
                try:
                    write(Path(s["path"]), s["original"])
                except OSError as exc:
                    log(f"capture: could not restore the filter {s['path']}: {exc}")

    def restore(self) -> list[str]:
        lines, problems = apply_restore(self.state)
        if not problems and self.saved:
            try:
                state_path().unlink()
            except FileNotFoundError:
                pass
        return lines, problems


# --------------------------------------------------------------------------- environment
def check_platform() -> None:
    if platform.system() != "Linux":
        raise CaptureError(f"capture needs Linux (this is {platform.system()})")
    if os.geteuid() != 0:
        raise CaptureError("capture needs root (tracefs, kptr_restrict and drop_caches are root-only)")


def mount_if_needed(session: Session) -> None:
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


def check_tracefs(online: int) -> None:
    missing = [e for e in EVENTS if not (TRACEFS / "events" / "vmalloc" / e).is_dir()]
    if missing:
        raise CaptureError(f"tracefs has no vmalloc:{', vmalloc:'.join(missing)} event(s) "
                           "(they exist since Linux 6.9)")
    tracer = read(TRACEFS / "current_tracer")
    if tracer != "nop":
        raise CaptureError(f"tracefs is in use: current_tracer={tracer} (must be nop)")
    enabled = read(TRACEFS / "set_event").split()
    others = [e for e in enabled if not e.startswith("vmalloc:")]
    if others:
        raise CaptureError(f"tracefs is in use: events enabled: {', '.join(others[:5])}")
    if enabled:
        raise CaptureError(f"tracefs is in use: {', '.join(enabled)} already enabled (another "
                           "tracer, or a capture of an older vmapsim that was killed: disable "
                           "them by hand)")
    for e in EVENTS:
        d = TRACEFS / "events" / "vmalloc" / e
        state = read(d / "enable")
        if state != "0":
            raise CaptureError(f"tracefs is in use: vmalloc:{e} enable={state!r}")
        for f in ("filter", "trigger"):
            if (d / f).exists():
                text = read(d / f)
                if text and text != "none" and not text.startswith("#"):
                    raise CaptureError(f"vmalloc:{e} has a {f} ({text[:60]!r}): the trace would "
                                       "miss events; remove it first")
    for f in ("set_event_pid", "set_event_notrace_pid"):
        if (TRACEFS / f).exists() and read(TRACEFS / f):
            raise CaptureError(f"{f} is set ({read(TRACEFS / f)[:40]!r}): the trace would miss "
                               "the events of other tasks; clear it first")
    mask_file = TRACEFS / "tracing_cpumask"
    if mask_file.exists():
        try:
            mask = int(read(mask_file).replace(",", ""), 16)
        except ValueError:
            mask = -1
        if mask != -1 and bin(mask).count("1") < online:
            raise CaptureError(f"tracing_cpumask={read(mask_file)} leaves out online CPUs: the "
                               "trace would miss their events; reset it first")


def restore(log=print) -> list[str]:
    """``vmapsim capture --restore``: put back the settings an interrupted capture recorded in
    the state file; returns the report lines (empty if there was nothing to restore)."""
    check_platform()
    guard = Guard()
    guard.install()
    lock = None
    try:
        try:
            lock = take_lock()
            state = load_state()
        finally:
            guard.armed = False
        if state is None:
            log(f"capture --restore: no state file ({state_path()}): nothing to restore")
            return []
        if state.get("boot_id") and state.get("boot_id") != boot_id():
            state_path().unlink()
            log(f"capture --restore: the state file is from before the last reboot (pid "
                f"{state.get('pid', '?')}, started {state.get('started', '?')}); a reboot reset "
                "every tracing setting: state file removed, nothing to restore")
            return []
        if state.get("tracefs") and state["tracefs"] != str(TRACEFS):
            raise CaptureError(f"the state file was written for tracefs at {state['tracefs']}, "
                               f"not {TRACEFS}")
        guard.block()
        mounted_here = False
        if any(s.get("changed") for s in state["settings"]) and not (TRACEFS / "events").is_dir():
            # unmounted since (the settings live on in the kernel): mount, restore, unmount
            r = subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
                               capture_output=True, text=True)
            if r.returncode:
                raise CaptureError(f"tracefs is not mounted at {TRACEFS} and mounting it failed: "
                                   f"{r.stderr.strip()}")
            mounted_here = not state.get("mounted")
            state["mounted"] = True
        lines, problems = apply_restore(state)
        if mounted_here:
            lines[-1:] = [x for x in lines[-1:] if not x.startswith("tracefs: unmounted")]
            lines.append(f"tracefs: mounted at {TRACEFS} for the restore and unmounted again")
        if problems:
            raise CaptureError("; ".join(problems) + f"; the state file {state_path()} is kept")
        state_path().unlink()
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
