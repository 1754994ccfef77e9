"""vmapsim capture against a fake /proc and tracefs: refuses without root/tracefs/events, writes the
layout with exact meta keys, and restores every setting (also when interrupted)."""
import subprocess
import sys

import pytest

from vmapsim.errors import CaptureError, ParameterError
from vmapsim.traces import capture as cap

SNAP = "0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0xed/0x120 vmap\n"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    tr = tmp_path / "tracing"
    for e in cap.EVENTS:
        (tr / "events" / "vmalloc" / e).mkdir(parents=True)
        (tr / "events" / "vmalloc" / e / "enable").write_text("0\n")
    (tr / "per_cpu" / "cpu0").mkdir(parents=True)
    (tr / "per_cpu" / "cpu0" / "stats").write_text("entries: 3\noverrun: 0\n")
    files = {"tracing_on": "1\n", "current_tracer": "nop\n", "set_event": "\n",
             "buffer_size_kb": "7 (expanded: 1408)\n", "trace_clock": "[local] global counter\n",
             "trace": "# tracer: nop\n", "trace_marker": ""}
    for k, v in files.items():
        (tr / k).write_text(v)
    proc = tmp_path / "proc"
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "vm").mkdir(parents=True)
    (proc / "sys" / "kernel" / "kptr_restrict").write_text("0\n")
    (proc / "sys" / "vm" / "drop_caches").write_text("")
    (proc / "vmallocinfo").write_text(SNAP)
    (proc / "vmstat").write_text("drop_slab 4\n")
    (proc / "filesystems").write_text("nodev\ttracefs\n")
    cpu = tmp_path / "cpu"
    cpu.mkdir()
    (cpu / "possible").write_text("0-1\n")
    (cpu / "online").write_text("0-1\n")
    monkeypatch.setattr(cap, "TRACEFS", tr)
    monkeypatch.setattr(cap, "PROC", proc)
    monkeypatch.setattr(cap, "CPU_DIR", cpu)
    monkeypatch.setattr(cap.os, "geteuid", lambda: 0)
    return tmp_path


def _settings(root):
    tr = root / "tracing"
    return {p: p.read_text() for p in [tr / "tracing_on", tr / "buffer_size_kb", tr / "trace_clock",
                                       root / "proc/sys/kernel/kptr_restrict"] +
            [tr / "events/vmalloc" / e / "enable" for e in cap.EVENTS]}


def test_settings_are_untouched_before_a_capture(fake):
    got = {p.relative_to(fake).as_posix(): v.split()[0] for p, v in _settings(fake).items()}
    assert got["tracing/trace_clock"] == "[local]" and got["tracing/buffer_size_kb"] == "7"


def test_capture_writes_layout_and_restores_settings(fake):
    out = fake / "out"
    meta = cap.capture(out, workload="none", seconds=0.1, seed=3, log=lambda *_: None)
    assert {p.name for p in out.iterdir()} == {"vmallocinfo.before", "trace.txt", "vmallocinfo.after",
                                               "kernel", "meta"}
    keys = [line.split("=")[0] for line in (out / "meta").read_text().splitlines()]
    assert keys[:4] == ["mode", "seed", "clean_pools", "possible_cpus"]
    assert meta["mode"] == "none" and meta["possible_cpus"] == 2 and meta["clean_pools"] == 1
    assert (fake / "proc/sys/vm/drop_caches").read_text() == "2"
    assert (fake / "proc/sys/kernel/kptr_restrict").read_text().strip() == "0"   # restored
    assert (fake / "tracing/tracing_on").read_text().strip() == "1"
    assert (fake / "tracing/trace_clock").read_text().strip() == "local"
    assert (fake / "tracing/buffer_size_kb").read_text().strip() == "7"
    markers = (fake / "tracing/trace_marker").read_text()
    assert markers.strip().endswith(cap.MARKERS["after_end"])


def test_interrupted_capture_restores_everything(fake, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cap, "run_workload", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cap.capture(fake / "out", workload="mixed", seconds=1, log=lambda *_: None)
    got = {p.relative_to(fake).as_posix(): v.strip() for p, v in _settings(fake).items()}
    assert got == {"tracing/tracing_on": "1", "tracing/buffer_size_kb": "7",
                   "tracing/trace_clock": "local", "proc/sys/kernel/kptr_restrict": "0",
                   **{f"tracing/events/vmalloc/{e}/enable": "0" for e in cap.EVENTS}}


def test_refusals_name_the_missing_piece(fake, monkeypatch):
    monkeypatch.setattr(cap.os, "geteuid", lambda: 1000)
    with pytest.raises(CaptureError, match="needs root"):
        cap.capture(fake / "o", workload="none", seconds=0.1)
    monkeypatch.setattr(cap.os, "geteuid", lambda: 0)
    import shutil
    shutil.rmtree(fake / "tracing/events/vmalloc/purge_vmap_area_lazy")
    with pytest.raises(CaptureError, match="vmalloc:purge_vmap_area_lazy"):
        cap.capture(fake / "o", workload="none", seconds=0.1)
    (fake / "tracing/events/vmalloc/purge_vmap_area_lazy").mkdir()
    (fake / "tracing/current_tracer").write_text("function\n")
    with pytest.raises(CaptureError, match="current_tracer=function"):
        cap.capture(fake / "o", workload="none", seconds=0.1)
    with pytest.raises(ParameterError, match="workload"):
        cap.capture(fake / "o", workload="bogus")


def test_hashed_vmallocinfo_is_refused(fake):
    (fake / "proc/vmallocinfo").write_text("0x00000000cb8973e5-0x0000000096ac2bda 20480 x vmap\n")
    with pytest.raises(CaptureError, match="no real addresses"):
        cap.capture(fake / "o", workload="none", seconds=0.1, log=lambda *_: None)
    assert (fake / "proc/sys/kernel/kptr_restrict").read_text().strip() == "0"


def test_cpu_list_count():
    assert cap.cpu_list_count("0-1\n") == 2
    assert cap.cpu_list_count("0,2-5,7") == 6


def test_cli_without_root_exits_nonzero(tmp_path):
    if __import__("os").geteuid() == 0:
        pytest.skip("running as root: the refusal is covered with a faked euid above")
    out = subprocess.run([sys.executable, "-m", "vmapsim", "capture", str(tmp_path / "c")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "root" in out.stderr
