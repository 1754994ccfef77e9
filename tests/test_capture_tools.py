"""vmapsim capture --no-drain and --with perf|trace-cmd against the fake /proc and tracefs of
test_capture (the tools themselves are faked: no kernel tracing here)."""
import subprocess

import pytest
from test_capture import _settings, fake  # noqa: F401  (the fixture)

from vmapsim.errors import CaptureError, ParameterError
from vmapsim.traces import capture as cap

QUIET = {"log": lambda *_: None}


def test_no_drain_leaves_the_pools_and_says_so(fake):  # noqa: F811
    meta = cap.capture(fake / "out", workload="none", seconds=0.1, drain=False, **QUIET)
    assert meta["clean_pools"] == 0
    assert (fake / "proc/sys/vm/drop_caches").read_text() == ""          # never written
    assert cap.MARKERS["drop_caches"] not in (fake / "tracing/trace_marker").read_text()
    assert "clean_pools=0" in (fake / "out/meta").read_text()


def test_with_a_missing_tool_is_refused_in_one_line_and_restores(fake, monkeypatch):  # noqa: F811
    before = {p: v for p, v in _settings(fake).items()}
    monkeypatch.setattr(cap.shutil, "which", lambda name: None)
    for tool, package in cap.TOOLS.items():
        with pytest.raises(CaptureError, match=f"--with {tool}: {tool} is not installed .*{package}"):
            cap.capture(fake / "o", workload="none", seconds=0.1, with_tool=tool, **QUIET)
    assert {p: v for p, v in _settings(fake).items()} == before
    with pytest.raises(ParameterError, match="with"):
        cap.capture(fake / "o", workload="none", seconds=0.1, with_tool="ftrace", **QUIET)


def test_with_trace_cmd_extracts_after_the_text_and_puts_filters_back(fake, monkeypatch):  # noqa: F811
    flt = fake / "tracing/events/vmalloc/alloc_vmap_area/filter"
    flt.write_text("size > 4096\n")
    monkeypatch.setattr(cap.shutil, "which", lambda name: "/usr/bin/" + name)
    calls = []

    def fake_run(cmd, **kw):
        if cmd[:2] == ["/usr/bin/trace-cmd", "extract"]:
            calls.append(cmd)
            flt.write_text("none\n")                      # what trace-cmd extract does to filters
            (fake / "out" / "trace.dat").write_bytes(b"\x17\x08Dtracing7\0")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(cap.subprocess, "run", fake_run)
    meta = cap.capture(fake / "out", workload="none", seconds=0.1, with_tool="trace-cmd", **QUIET)
    assert calls and calls[0][-1] == str(fake / "out" / "trace.dat")
    assert meta["recorded_with"] == "trace-cmd"
    assert {p.name for p in (fake / "out").iterdir()} >= {"trace.txt", "trace.dat", "meta"}
    assert flt.read_text().strip() == "size > 4096"


def test_trace_cmd_extract_failure_is_one_line(fake, monkeypatch):  # noqa: F811
    monkeypatch.setattr(cap.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(cap.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, "", "trace-cmd: Operation not permitted\n  Can't enable ftrace\n"))
    with pytest.raises(CaptureError, match=r"trace-cmd extract failed \(status 1\): Can't enable "
                                           "ftrace; the tracefs text of the capture was saved"):
        cap.capture(fake / "out", workload="none", seconds=0.1, with_tool="trace-cmd", **QUIET)
    assert (fake / "out" / "trace.txt").exists()
    assert (fake / "tracing/tracing_on").read_text().strip() == "1"      # restored


def test_cli_has_the_options():
    import argparse
    p = argparse.ArgumentParser()
    cap.add_arguments(p)
    a = p.parse_args(["d", "--no-drain", "--with", "perf"])
    assert a.no_drain and a.with_tool == "perf"
