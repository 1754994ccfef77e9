"""vmapsim capture against a fake /proc, tracefs and /run: refuses without root/tracefs/events,
writes the layout with exact meta keys, and never leaves the kernel changed: state file before the
first change, exclusive lock, restore on every signal (exit 128 + signal), ``--restore`` after
``kill -9``, exact values (the unexpanded buffer excepted, and said), no output on interrupt.

The same scenarios on the real tracefs are in tests/test_capture_kernel.py (root only)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vmapsim.errors import CaptureError, ParameterError
from vmapsim.traces import capture as cap
from vmapsim.traces import tracefs as tfs

ROOT = Path(__file__).resolve().parent.parent
SNAP = "0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0xed/0x120 vmap\n"
ORIGINAL = {"tracing/tracing_on": "1", "tracing/buffer_size_kb": "7 (expanded: 1408)",
            "tracing/trace_clock": "[local] global counter", "proc/sys/kernel/kptr_restrict": "0",
            **{f"tracing/events/vmalloc/{e}/enable": "0" for e in cap.EVENTS}}
#: what the fake reads after a capture: the unexpanded buffer comes back expanded (documented)
RESTORED = {**{k: v.split()[0] for k, v in ORIGINAL.items()},
            "tracing/buffer_size_kb": "1408", "tracing/trace_clock": "local"}


def make_fake(root: Path) -> None:
    tr = root / "tracing"
    for e in cap.EVENTS:
        (tr / "events" / "vmalloc" / e).mkdir(parents=True)
        (tr / "events" / "vmalloc" / e / "enable").write_text("0\n")
        (tr / "events" / "vmalloc" / e / "filter").write_text("none\n")
    for c in (0, 1):
        (tr / "per_cpu" / f"cpu{c}").mkdir(parents=True)
        (tr / "per_cpu" / f"cpu{c}" / "stats").write_text("entries: 3\noverrun: 0\n")
        (tr / "per_cpu" / f"cpu{c}" / "buffer_size_kb").write_text("7\n")
    files = {"tracing_on": "1\n", "current_tracer": "nop\n", "set_event": "\n",
             "buffer_size_kb": "7 (expanded: 1408)\n", "trace_clock": "[local] global counter\n",
             "trace": "# tracer: nop\n", "trace_marker": "", "set_event_pid": "",
             "tracing_cpumask": "3\n"}
    for k, v in files.items():
        (tr / k).write_text(v)
    proc = root / "proc"
    (proc / "sys" / "kernel" / "random").mkdir(parents=True)
    (proc / "sys" / "vm").mkdir(parents=True)
    (proc / "sys" / "kernel" / "kptr_restrict").write_text("0\n")
    (proc / "sys" / "kernel" / "random" / "boot_id").write_text("boot-1\n")
    (proc / "sys" / "vm" / "drop_caches").write_text("")
    (proc / "vmallocinfo").write_text(SNAP)
    (proc / "vmstat").write_text("drop_slab 4\n")
    (proc / "filesystems").write_text("nodev\ttracefs\n")
    cpu = root / "cpu"
    cpu.mkdir()
    (cpu / "possible").write_text("0-1\n")
    (cpu / "online").write_text("0-1\n")
    (root / "run").mkdir()


def point_at(root: Path, patch) -> None:
    patch(tfs, "TRACEFS", root / "tracing")
    patch(tfs, "PROC", root / "proc")
    patch(tfs, "CPU_DIR", root / "cpu")
    patch(tfs, "RUN_DIR", root / "run")
    patch(tfs.os, "geteuid", lambda: 0)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    make_fake(tmp_path)
    point_at(tmp_path, monkeypatch.setattr)
    return tmp_path


def settings(root) -> dict:
    return {k: (root / k).read_text().strip() for k in ORIGINAL}


def quiet(*_):
    pass


# A child process running the CLI against the fake tree (kill -9 / signals / two at once).
CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from vmapsim.traces import tracefs as tfs
    from vmapsim import cli
    root = Path(sys.argv[2])
    tfs.TRACEFS, tfs.PROC, tfs.CPU_DIR, tfs.RUN_DIR = (root / "tracing", root / "proc",
                                                       root / "cpu", root / "run")
    tfs.os.geteuid = lambda: 0
    sys.exit(cli.main(["capture"] + sys.argv[3:]))
""")


def child(root, *args):
    return subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), str(root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(cond, what, timeout=20.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def events_on(root):
    return lambda: (root / "tracing/events/vmalloc/purge_vmap_area_lazy/enable").read_text().strip() == "1"


# --------------------------------------------------------------------------- layout, refusals
def test_settings_are_untouched_before_a_capture(fake):
    assert settings(fake) == ORIGINAL


def test_capture_writes_layout_and_restores_settings(fake):
    out = fake / "out"
    meta = cap.capture(out, workload="none", seconds=0.1, seed=3, log=quiet)
    assert {p.name for p in out.iterdir()} == {"vmallocinfo.before", "trace.txt", "vmallocinfo.after",
                                               "kernel", "meta"}
    keys = [line.split("=")[0] for line in (out / "meta").read_text().splitlines()]
    assert keys[:4] == ["mode", "seed", "clean_pools", "possible_cpus"]
    assert meta["mode"] == "none" and meta["possible_cpus"] == 2 and meta["clean_pools"] == 1
    assert (fake / "proc/sys/vm/drop_caches").read_text() == "2"
    assert settings(fake) == RESTORED
    assert not (fake / "run" / cap.STATE_NAME).exists()
    markers = (fake / "tracing/trace_marker").read_text()
    assert markers.strip().endswith(cap.MARKERS["after_end"])


def test_interrupted_capture_restores_everything(fake, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cap, "run_workload", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cap.capture(fake / "out", workload="mixed", seconds=1, log=quiet)
    assert settings(fake) == RESTORED
    assert not (fake / "out").exists() and not (fake / "run" / cap.STATE_NAME).exists()


def test_refusals_name_the_missing_piece(fake, monkeypatch):
    monkeypatch.setattr(tfs.os, "geteuid", lambda: 1000)
    with pytest.raises(CaptureError, match="needs root"):
        cap.capture(fake / "o", workload="none", seconds=0.1)
    monkeypatch.setattr(tfs.os, "geteuid", lambda: 0)
    import shutil
    shutil.rmtree(fake / "tracing/events/vmalloc/purge_vmap_area_lazy")
    with pytest.raises(CaptureError, match="vmalloc:purge_vmap_area_lazy"):
        cap.capture(fake / "o", workload="none", seconds=0.1, log=quiet)
    (fake / "tracing/events/vmalloc/purge_vmap_area_lazy").mkdir()
    (fake / "tracing/events/vmalloc/purge_vmap_area_lazy/enable").write_text("0\n")
    (fake / "tracing/current_tracer").write_text("function\n")
    with pytest.raises(CaptureError, match="current_tracer=function"):
        cap.capture(fake / "o", workload="none", seconds=0.1, log=quiet)
    with pytest.raises(ParameterError, match="workload"):
        cap.capture(fake / "o", workload="bogus")
    assert settings(fake) == ORIGINAL and not (fake / "o").exists()


@pytest.mark.parametrize("file, text, match", [
    ("tracing/set_event", "vmalloc:alloc_vmap_area\n", "already enabled"),
    ("tracing/set_event_pid", "123\n", "set_event_pid is set"),
    ("tracing/events/vmalloc/alloc_vmap_area/filter", "size > 4096\n", "has a filter"),
    ("tracing/tracing_cpumask", "1\n", "leaves out online CPUs"),
])
def test_tracefs_in_use_is_refused_and_left_alone(fake, file, text, match):
    (fake / file).write_text(text)
    with pytest.raises(CaptureError, match=match):
        cap.capture(fake / "o", workload="none", seconds=0.1, log=quiet)
    assert settings(fake) == ORIGINAL


def test_hashed_vmallocinfo_is_refused(fake):
    (fake / "proc/vmallocinfo").write_text("0x00000000cb8973e5-0x0000000096ac2bda 20480 x vmap\n")
    with pytest.raises(CaptureError, match="no real addresses"):
        cap.capture(fake / "o", workload="none", seconds=0.1, log=quiet)
    assert settings(fake) == RESTORED and not (fake / "o").exists()


def test_cpu_list_count():
    assert cap.cpu_list_count("0-1\n") == 2
    assert cap.cpu_list_count("0,2-5,7") == 6


def test_cli_without_root_exits_nonzero(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: the refusal is covered with a faked euid above")
    out = subprocess.run([sys.executable, "-m", "vmapsim", "capture", str(tmp_path / "c")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "root" in out.stderr


# --------------------------------------------------------------------------- output directory
def test_existing_output_directory_needs_force(fake):
    out = fake / "out"
    out.mkdir()
    (out / "trace.txt.gz").write_text("old")
    (out / "notes").write_text("mine")
    with pytest.raises(CaptureError, match="exists; use --force"):
        cap.capture(out, workload="none", seconds=0.1, log=quiet)
    assert settings(fake) == ORIGINAL
    cap.capture(out, workload="none", seconds=0.1, log=quiet, force=True)
    names = {p.name for p in out.iterdir()}
    assert names == {"vmallocinfo.before", "trace.txt", "vmallocinfo.after", "kernel", "meta", "notes"}


def test_output_that_is_a_file_is_refused_in_one_line(fake):
    (fake / "file").write_text("x")
    with pytest.raises(CaptureError, match="exists and is not a directory"):
        cap.capture(fake / "file", workload="none", seconds=0.1, log=quiet, force=True)
    assert settings(fake) == ORIGINAL


def test_interrupt_while_writing_leaves_no_directory(fake, monkeypatch):
    out = fake / "a" / "b" / "out"
    real = Path.write_bytes
    calls = []

    def flaky(self, data):
        calls.append(self.name)
        if len(calls) == 3:
            raise cap.Interrupted(signal.SIGINT)
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(cap.Interrupted):
        cap.capture(out, workload="none", seconds=0.1, log=quiet)
    assert not (fake / "a").exists()
    assert settings(fake) == RESTORED


# --------------------------------------------------------------------------- state file, restore
def test_state_file_is_written_before_each_change(fake, monkeypatch):
    real = tfs.write
    state = fake / "run" / cap.STATE_NAME
    checked = []

    def write(path, value):
        for s in (json.loads(state.read_text())["settings"] if state.exists() else []):
            if s["path"] == str(path) and value != s.get("restore", s["original"]):
                assert s["changed"], f"{s['name']} changed before the state file said so"
                checked.append(s["name"])
        if str(path).startswith(str(fake / "tracing")) and path.name not in ("trace", "trace_marker"):
            assert state.exists(), f"{path} written before the state file"
        return real(path, value)

    monkeypatch.setattr(tfs, "write", write)
    cap.capture(fake / "out", workload="none", seconds=0.1, log=quiet)
    assert set(checked) >= {"tracing_on", "kptr_restrict", "buffer_size_kb", "trace_clock",
                            *(f"vmalloc:{e}" for e in cap.EVENTS)}


def test_kill_9_leaves_a_state_file_and_restore_puts_back_the_originals(fake):
    p = child(fake, str(fake / "out"), "--workload", "none", "--seconds", "30")
    try:
        wait_for(events_on(fake), "the child to enable the events")
    finally:
        p.kill()
        p.wait()
    assert settings(fake) != ORIGINAL                      # left changed, as after a real kill -9
    state = json.loads((fake / "run" / cap.STATE_NAME).read_text())
    assert {s["name"]: s["original"] for s in state["settings"]}["buffer_size_kb"] == \
        "7 (expanded: 1408)"
    with pytest.raises(CaptureError, match=r"interrupted before it restored .* `vmapsim capture "
                                           r"--restore"):
        cap.capture(fake / "out2", workload="none", seconds=0.1, log=quiet)
    lines = []
    cap.restore(log=lines.append)
    assert settings(fake) == RESTORED
    assert not (fake / "run" / cap.STATE_NAME).exists() and not (fake / "out").exists()
    assert any("unexpanded" in x for x in lines) and lines[-1].endswith("state file removed")
    cap.capture(fake / "out2", workload="none", seconds=0.1, log=quiet)   # usable again


def test_restore_cli_with_nothing_to_do_and_after_a_reboot(fake):
    lines = []
    assert cap.restore(log=lines.append) == [] and "nothing to restore" in lines[0]
    (fake / "run" / cap.STATE_NAME).write_text(json.dumps(
        {"pid": 1, "boot_id": "boot-0", "settings": [{"name": "kptr_restrict", "changed": True,
                                                      "path": "x", "original": "0"}]}))
    cap.restore(log=lines.append)
    assert "before the last reboot" in lines[-1]
    assert not (fake / "run" / cap.STATE_NAME).exists()


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                         (signal.SIGHUP, 129)])
def test_signals_restore_and_exit_128_plus_signal(fake, sig, status):
    p = child(fake, str(fake / "out"), "--workload", "none", "--seconds", "30")
    wait_for(events_on(fake), "the child to enable the events")
    p.send_signal(sig)
    time.sleep(0.09)                     # a second one 90 ms later changes nothing
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    assert p.returncode == status, err
    assert f"interrupted by {signal.Signals(sig).name}" in err and "Traceback" not in err
    assert settings(fake) == RESTORED
    assert not (fake / "out").exists() and not (fake / "run" / cap.STATE_NAME).exists()


def test_a_second_signal_cannot_interrupt_the_restore(fake, monkeypatch):
    real = tfs.restore_one
    seen = []

    def restore_one(s):
        if not seen:                       # Ctrl-C twice: the second arrives mid-restore
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        seen.append(s["name"])
        return real(s)

    def first_ctrl_c(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)

    monkeypatch.setattr(tfs, "restore_one", restore_one)
    monkeypatch.setattr(cap, "run_workload", first_ctrl_c)
    with pytest.raises(cap.Interrupted) as info:
        cap.capture(fake / "out", workload="mixed", seconds=1, log=quiet)
    assert info.value.signum == signal.SIGINT
    assert len(seen) == 4 + len(cap.EVENTS) and settings(fake) == RESTORED
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_two_captures_at_once_the_second_is_refused(fake):
    p = child(fake, str(fake / "out"), "--workload", "none", "--seconds", "2")
    try:
        wait_for(events_on(fake), "the first capture to start")
        with pytest.raises(CaptureError, match=r"another vmapsim capture is running \(pid \d+\)"):
            cap.capture(fake / "out2", workload="none", seconds=0.1, log=quiet)
        with pytest.raises(CaptureError, match="another vmapsim capture is running"):
            cap.restore(log=quiet)
        assert (fake / "tracing/trace").read_text() == ""     # the refusal touched nothing
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert settings(fake) == RESTORED and (fake / "out" / "trace.txt").exists()
    assert not (fake / "out2").exists()


@pytest.mark.parametrize("before, after", [
    ("7 (expanded: 1408)", "1408"),          # unexpanded: the size the next user would get
    ("2048", "2048"),                        # expanded: exact
])
def test_buffer_size_restore(fake, before, after):
    (fake / "tracing/buffer_size_kb").write_text(before + "\n")
    cap.capture(fake / "out", workload="none", seconds=0.1, log=quiet, buffer_kb=4096)
    assert (fake / "tracing/buffer_size_kb").read_text().strip() == after


def test_buffer_sizes_that_differ_per_cpu_are_restored_per_cpu(fake, monkeypatch):
    (fake / "tracing/buffer_size_kb").write_text("X\n")
    (fake / "tracing/per_cpu/cpu0/buffer_size_kb").write_text("1408\n")
    (fake / "tracing/per_cpu/cpu1/buffer_size_kb").write_text("2816\n")
    real = tfs.write

    def write(path, value):                  # the fake's top-level file sets every CPU
        real(path, value)
        if path.name == "buffer_size_kb" and path.parent.name == "tracing":
            for c in (0, 1):
                real(path.parent / f"per_cpu/cpu{c}/buffer_size_kb", value)
        elif path.name == "buffer_size_kb":
            vals = {_read(path.parent.parent / f"cpu{c}/buffer_size_kb") for c in (0, 1)}
            real(fake / "tracing/buffer_size_kb", vals.pop() if len(vals) == 1 else "X")

    def _read(p):
        return p.read_text().strip()

    monkeypatch.setattr(tfs, "write", write)
    cap.capture(fake / "out", workload="none", seconds=0.1, log=quiet, buffer_kb=4096)
    assert _read(fake / "tracing/per_cpu/cpu0/buffer_size_kb") == "1408"
    assert _read(fake / "tracing/per_cpu/cpu1/buffer_size_kb") == "2816"
    assert _read(fake / "tracing/buffer_size_kb") == "X"
