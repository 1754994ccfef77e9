"""vmapsim capture --no-drain and --with perf|trace-cmd against the fake /proc and tracefs of
test_capture (the tools themselves are faked: no kernel tracing here)."""
import subprocess
from pathlib import Path

import pytest
from test_capture import ORIGINAL, RESTORED, fake, settings  # noqa: F401  (the fixture)

from vmapsim.errors import CaptureError, ParameterError
from vmapsim.traces import capture as cap

QUIET = {"log": lambda *_: None}


def test_no_drain_leaves_the_pools_and_says_so(fake):  # noqa: F811
    meta = cap.capture(fake / "out", workload="none", seconds=0.1, drain=False, **QUIET)
    assert meta["clean_pools"] == 0
    assert (fake / "proc/sys/vm/drop_caches").read_text() == ""          # never written
    assert cap.MARKERS["drop_caches"] not in (fake / "tracing/trace_marker").read_text()
    assert "clean_pools=0" in (fake / "out/meta").read_text()


def test_with_a_missing_tool_is_refused_in_one_line_and_changes_nothing(fake, monkeypatch):  # noqa: F811
    monkeypatch.setattr(cap.shutil, "which", lambda name: None)
    for tool, package in cap.TOOLS.items():
        with pytest.raises(CaptureError, match=f"--with {tool}: {tool} is not installed .*{package}"):
            cap.capture(fake / "o", workload="none", seconds=0.1, with_tool=tool, **QUIET)
    assert settings(fake) == ORIGINAL and not (fake / "o").exists()
    with pytest.raises(ParameterError, match="with"):
        cap.capture(fake / "o", workload="none", seconds=0.1, with_tool="ftrace", **QUIET)


def test_with_trace_cmd_extracts_after_the_text_and_puts_filters_back(fake, monkeypatch):  # noqa: F811
    """(A filter on a vmalloc event refuses the capture; trace-cmd clears every other one too.)"""
    flt = fake / "tracing/events/sched/sched_switch/filter"
    flt.parent.mkdir(parents=True)
    flt.write_text("prev_pid > 1\n")
    # a subsystem's filter file reads as comments when nothing is set; an event whose last filter
    # write failed reads as the error: neither is a filter, and writing either back would set one
    subsystem = fake / "tracing/events/sched/filter"
    subsystem.write_text("### global filter ###\n# Use this to set filters for multiple events.\n")
    failed = fake / "tracing/events/sched/sched_wakeup/filter"
    failed.parent.mkdir()
    failed.write_text("### global filter ###\n^\nparse_error: Couldn't find or set field\n")
    monkeypatch.setattr(cap.shutil, "which", lambda name: "/usr/bin/" + name)
    calls = []

    def fake_run(cmd, **kw):
        if cmd[:2] == ["/usr/bin/trace-cmd", "extract"]:
            calls.append(cmd)
            state = (fake / "run" / cap.STATE_NAME).read_text()
            assert "filter:events/sched/sched_switch/filter" in state     # recorded first
            assert "events/sched/filter" not in state and "sched_wakeup" not in state
            flt.write_text("none\n")                      # what trace-cmd extract does to filters
            Path(cmd[-1]).write_bytes(b"\x17\x08Dtracing7\0")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(cap.subprocess, "run", fake_run)
    meta = cap.capture(fake / "out", workload="none", seconds=0.1, with_tool="trace-cmd", **QUIET)
    assert calls and calls[0][-1].endswith("trace.dat")
    assert meta["recorded_with"] == "trace-cmd"
    assert {p.name for p in (fake / "out").iterdir()} >= {"trace.txt", "trace.dat", "meta"}
    assert flt.read_text().strip() == "prev_pid > 1"
    assert subsystem.read_text().startswith("### global filter") and "parse_error" in failed.read_text()
    assert (fake / "out" / "trace.dat").read_bytes().startswith(b"\x17\x08Dtracing")
    assert settings(fake) == RESTORED


def test_trace_cmd_extract_failure_is_one_line(fake, monkeypatch):  # noqa: F811
    monkeypatch.setattr(cap.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(cap.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, "", "trace-cmd: Operation not permitted\n  Can't enable ftrace\n"))
    with pytest.raises(CaptureError, match=r"trace-cmd extract failed \(status 1\): Can't enable "
                                           "ftrace; the tracefs text of the capture was saved"):
        cap.capture(fake / "out", workload="none", seconds=0.1, with_tool="trace-cmd", **QUIET)
    assert (fake / "out" / "trace.txt").exists() and not (fake / "out" / "trace.dat").exists()
    assert settings(fake) == RESTORED


def test_cli_has_the_options():
    import argparse
    p = argparse.ArgumentParser()
    cap.add_arguments(p)
    a = p.parse_args(["d", "--no-drain", "--with", "perf"])
    assert a.no_drain and a.with_tool == "perf"


def test_restore_stops_a_perf_left_running_by_a_kill_9(fake, tmp_path):  # noqa: F811
    import json
    import shutil
    import time
    perf = tmp_path / "perf"                       # a process whose comm is "perf"
    shutil.copy(shutil.which("sleep"), perf)
    p = subprocess.Popen([str(perf), "600"])
    t0 = time.monotonic()
    while Path(f"/proc/{p.pid}/comm").read_text().strip() != "perf" and time.monotonic() - t0 < 5:
        time.sleep(0.01)                           # until it has exec'd
    staging = tmp_path / "staging"
    staging.mkdir()
    try:
        (fake / "run" / cap.STATE_NAME).write_text(json.dumps(
            {"pid": 1, "boot_id": "boot-1", "tool_pid": p.pid, "staging": str(staging),
             "settings": []}))
        (fake / "proc" / str(p.pid)).symlink_to(f"/proc/{p.pid}")      # its real comm and stat
        lines = []
        cap.restore(log=lines.append)
        t0 = time.monotonic()
        while p.poll() is None and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        assert p.poll() is not None and any("perf record (pid" in x for x in lines)
        assert not staging.exists() and not (fake / "run" / cap.STATE_NAME).exists()
    finally:
        if p.poll() is None:
            p.kill()
