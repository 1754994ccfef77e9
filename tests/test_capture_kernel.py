"""vmapsim capture on the real kernel: kill -9 then --restore, two captures at once, SIGINT and
SIGTERM, each leaving every tracing setting as it found it (root and tracefs only, else skipped).

Each test holds ``/run/vmapsim-tracefs.lock`` (flock), the machine-wide lock every tool that
touches this kernel's tracefs takes, and compares the settings before and after: tracefs mounted
or not, ``kptr_restrict``, ``tracing_on``, ``buffer_size_kb`` (top level and per CPU),
``trace_clock``, the three vmalloc events, every event filter.  They are read through a private tracefs mount, so
reading them changes nothing at /sys/kernel/tracing.  The one documented difference: a buffer
that was unexpanded (``7 (expanded: 1408)``) comes back expanded to 1408 KiB per CPU.
Captures are short (``--workload fork --seconds 1``, 4 MiB buffers)."""
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MACHINE_LOCK = Path("/run/vmapsim-tracefs.lock")
STATE = Path("/run/vmapsim-capture.state")
TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("alloc_vmap_area", "free_vmap_area_noflush", "purge_vmap_area_lazy")


def _usable() -> str:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux"
    try:
        if "tracefs" not in Path("/proc/filesystems").read_text():
            return "no tracefs in this kernel"
    except OSError:
        return "no /proc/filesystems"
    return ""


pytestmark = pytest.mark.skipif(bool(_usable()), reason=_usable() or "ok")


@pytest.fixture(scope="module")
def machine_lock():
    fd = os.open(MACHINE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    t0 = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() - t0 > 900:
                os.close(fd)
                pytest.skip("the machine's tracefs lock stayed busy for 15 minutes")
            time.sleep(1)
    if STATE.exists():
        os.close(fd)
        pytest.skip(f"{STATE} exists: an interrupted capture awaits `vmapsim capture --restore`")
    yield
    os.close(fd)


def kernel_settings() -> dict:
    """Every setting a capture touches, read through a private mount of tracefs."""
    mounted = any(line.split()[1:2] == [str(TRACEFS)]
                  for line in Path("/proc/mounts").read_text().splitlines())
    out = {"mounted": mounted,
           "kptr_restrict": Path("/proc/sys/kernel/kptr_restrict").read_text().strip()}
    with tempfile.TemporaryDirectory() as mnt:
        subprocess.run(["mount", "-t", "tracefs", "nodev", mnt], check=True)
        try:
            t = Path(mnt)
            for f in ("tracing_on", "buffer_size_kb", "trace_clock", "current_tracer"):
                out[f] = (t / f).read_text().strip()
            out["per_cpu"] = {p.parent.name: p.read_text().strip()
                              for p in sorted(t.glob("per_cpu/cpu*/buffer_size_kb"))}
            for e in EVENTS:
                out[e] = (t / "events/vmalloc" / e / "enable").read_text().strip()
            out["event_filters"] = sorted(          # every event filter that is not "none"
                (str(f.relative_to(t)), f.read_text().strip())
                for f in t.glob("events/*/*/filter") if f.read_text().strip() != "none")
        finally:
            subprocess.run(["umount", mnt], check=True)
    return out


def expected_after(before: dict) -> dict:
    """*before*, with an unexpanded buffer at its expanded size (module docstring)."""
    want = dict(before)
    if "(expanded:" in before["buffer_size_kb"]:
        kib = int(before["buffer_size_kb"].split("(expanded:")[1].strip(" )"))
        size = str(-(-kib * 1024 // 4080) * 4080 >> 10)     # whole 4080-byte data pages
        want["buffer_size_kb"] = size
        want["per_cpu"] = {c: size for c in before["per_cpu"]}
    return want


def vmapsim(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "vmapsim", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_changed(proc, timeout=60):
    """Until the capture's state file says the vmalloc events are on (mid-capture)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"capture ended early: {proc.communicate()}")
        try:
            s = json.loads(STATE.read_text())
            if any(x["name"] == "vmalloc:purge_vmap_area_lazy" and x["changed"]
                   for x in s["settings"]):
                time.sleep(0.3)
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("capture did not reach the workload")


CAP = ("--workload", "fork", "--seconds", "1", "--buffer-kb", "4096")


def test_capture_leaves_the_kernel_as_it_found_it(machine_lock, tmp_path):
    before = kernel_settings()
    p = vmapsim("capture", str(tmp_path / "c"), *CAP)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert kernel_settings() == expected_after(before)
    from vmapsim.traces.replay import replay
    r = replay(tmp_path / "c")
    assert r.allocs > 0 and r.final_state_equal, r.warnings


def test_kill_9_then_restore(machine_lock, tmp_path):
    before = kernel_settings()
    p = vmapsim("capture", str(tmp_path / "c"), "--workload", "fork", "--seconds", "30",
                "--buffer-kb", "4096")
    wait_changed(p)
    p.kill()
    p.wait()
    left = kernel_settings()
    assert left != before and left["kptr_restrict"] == "1" and left["alloc_vmap_area"] == "1"
    again = vmapsim("capture", str(tmp_path / "d"), *CAP)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 2 and "`vmapsim capture --restore`" in err, err
    assert "\n" not in err.strip()
    r = vmapsim("capture", "--restore")
    out, err = r.communicate(timeout=60)
    assert r.returncode == 0, err
    assert "state file removed" in out
    assert kernel_settings() == expected_after(before)
    assert not STATE.exists() and not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_two_captures_at_once(machine_lock, tmp_path):
    before = kernel_settings()
    first = vmapsim("capture", str(tmp_path / "a"), "--workload", "fork", "--seconds", "3",
                    "--buffer-kb", "4096")
    wait_changed(first)
    second = vmapsim("capture", str(tmp_path / "b"), *CAP)
    _, err2 = second.communicate(timeout=60)
    _, err1 = first.communicate(timeout=300)
    assert second.returncode == 2 and "another vmapsim capture is running" in err2, err2
    assert first.returncode == 0, err1
    assert not (tmp_path / "b").exists()
    assert kernel_settings() == expected_after(before)
    from vmapsim.traces.replay import replay
    r = replay(tmp_path / "a")
    assert r.final_state_equal and r.agreement > 0.9, (r.agreement, r.warnings)


@pytest.mark.parametrize("sig, status, gap", [(signal.SIGINT, 130, 0.0), (signal.SIGTERM, 143, 0.09)])
def test_signal_restores_and_exits_128_plus_signal(machine_lock, tmp_path, sig, status, gap):
    before = kernel_settings()
    p = vmapsim("capture", str(tmp_path / "c"), "--workload", "fork", "--seconds", "30",
                "--buffer-kb", "4096")
    wait_changed(p)
    p.send_signal(sig)
    time.sleep(gap)
    p.send_signal(sig)                   # twice: the second must not interrupt the restore
    _, err = p.communicate(timeout=120)
    assert p.returncode == status, err
    assert "Traceback" not in err
    assert kernel_settings() == expected_after(before)
    assert not STATE.exists() and not (tmp_path / "c").exists()


def _perf_pids() -> set:
    out = set()
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and (p / "comm").read_text().strip() == "perf" and \
                    (p / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                out.add(int(p.name))
        except OSError:
            pass
    return out


@pytest.mark.skipif(not __import__("shutil").which("perf"), reason="perf not installed")
def test_kill_9_with_perf_then_restore_stops_perf(machine_lock, tmp_path):
    before, perfs = kernel_settings(), _perf_pids()
    p = vmapsim("capture", str(tmp_path / "c"), "--with", "perf", "--workload", "fork",
                "--seconds", "30", "--buffer-kb", "4096")
    wait_changed(p)
    t0 = time.monotonic()
    while not json.loads(STATE.read_text()).get("tool_pid") and time.monotonic() - t0 < 20:
        time.sleep(0.1)
    time.sleep(1)
    p.kill()
    p.wait()
    left = _perf_pids() - perfs
    assert left, "perf record should outlive the killed capture"
    r = vmapsim("capture", "--restore")
    out, err = r.communicate(timeout=60)
    assert r.returncode == 0, err
    assert "perf record (pid" in out
    assert not (_perf_pids() & left)
    assert kernel_settings() == expected_after(before) and not STATE.exists()


@pytest.mark.skipif(not __import__("shutil").which("trace-cmd"), reason="trace-cmd not installed")
def test_with_trace_cmd_leaves_the_kernel_as_it_found_it(machine_lock, tmp_path):
    before = kernel_settings()
    p = vmapsim("capture", str(tmp_path / "c"), "--with", "trace-cmd", *CAP)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert (tmp_path / "c" / "trace.dat").exists() and (tmp_path / "c" / "trace.txt").exists()
    assert kernel_settings() == expected_after(before)
