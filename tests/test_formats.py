"""Every recording form of tests/data/recordings/ (made on the project machine with tracefs,
trace-cmd and perf) is told by its content and read to the same events as the tracefs text of
the same buffer; bad files stop with one line naming the file."""
import gzip
import shutil

import pytest
from conftest import ROOT

from vmapsim.errors import TraceError
from vmapsim.traces import formats, tracedat
from vmapsim.traces.formats import detect, find_recording, load_recording, read_recording
from vmapsim.traces.replay import replay

REC = ROOT / "tests" / "data" / "recordings"
FORMS = {
    "tracefs/trace.txt": "tracefs",
    "trace-cmd/trace.txt": "tracefs",
    "trace-cmd/report.txt": "trace-cmd-report",
    "trace-cmd/trace.dat": "trace.dat",
    "trace-cmd/trace-v6.dat.gz": "trace.dat",
    "trace-cmd-instance/trace.txt": "tracefs",
    "trace-cmd-instance/report.txt": "trace-cmd-report",
    "trace-cmd-instance/trace.dat": "trace.dat",
    "perf/perf.data": "perf.data",
    "perf/perf-script.txt": "perf-script",
    "perf/perf-script-F.txt": "perf-script",
}
NOT = ["tracefs/vmallocinfo.before", "perf/README", "trace-cmd-record-error/stderr.txt"]


def _key(e, comm=True):
    return (e.ts, e.cpu, e.pid, e.kind, e.addr, e.size, e.align, e.vstart, e.vend, e.failed,
            e.nr_lazy, e.nr_lazy_max, e.npurged) + ((e.comm,) if comm else ())


_cache = {}


def events(rel):
    if rel not in _cache:
        _cache[rel] = [_key(e) for e in read_recording(REC / rel).events]
    return _cache[rel]


@pytest.mark.parametrize("rel", sorted(FORMS))
def test_form_is_told_by_content(rel, tmp_path):
    assert detect(REC / rel) == FORMS[rel]
    renamed = tmp_path / "anything"
    shutil.copy(REC / rel, renamed)
    assert detect(renamed) == FORMS[rel]


@pytest.mark.parametrize("rel", NOT)
def test_other_files_are_not_recordings(rel):
    assert detect(REC / rel) is None


@pytest.mark.parametrize("other", ["trace-cmd/report.txt", "trace-cmd/trace.dat",
                                   "trace-cmd/trace-v6.dat.gz"])
def test_trace_cmd_forms_give_the_tracefs_events(other):
    assert events(other) == events("trace-cmd/trace.txt")
    assert len(events(other)) == 4885


@pytest.mark.parametrize("other", ["trace-cmd-instance/report.txt", "trace-cmd-instance/trace.dat"])
def test_instance_buffer_forms_give_the_tracefs_events(other):
    assert events(other) == events("trace-cmd-instance/trace.txt")


def test_perf_data_gives_perf_script_events_with_task_names():
    assert events("perf/perf.data") == events("perf/perf-script-F.txt")
    assert len(events("perf/perf.data")) == 3628
    comms = {k[-1] for k in events("perf/perf.data")}
    assert "vmapsim load 07" in comms and any(c.startswith("kworker/") for c in comms)
    # the default text truncates to microseconds: same events, times within 1 us
    default = events("perf/perf-script.txt")
    assert [k[1:] for k in default] == [k[1:] for k in events("perf/perf.data")]
    assert all(0 <= a[0] - b[0] < 1.01e-6 for a, b in zip(events("perf/perf.data"), default))


def test_replay_finds_the_recording_and_prefers_the_tools_file(tmp_path):
    d = tmp_path / "cap"
    d.mkdir()
    for f in ("vmallocinfo.before", "vmallocinfo.after"):
        shutil.copy(REC / "trace-cmd" / f, d / f)
    shutil.copy(REC / "trace-cmd" / "trace.dat", d / "recording.bin")
    shutil.copy(REC / "trace-cmd" / "trace.txt", d / "buffer")
    path, form, warnings = find_recording(d)
    assert (path.name, form) == ("recording.bin", "trace.dat")
    assert "buffer (tracefs)" in warnings[0] and "--recording" in warnings[0]
    a, b = replay(d, recording="recording.bin"), replay(d, recording="buffer")
    assert a.records == b.records and a.final_state_equal == b.final_state_equal
    assert a.allocs == 2442 and a.agreement > 0.98


def test_trace_dat_without_zstandard_uses_trace_cmd_or_says_what_to_install(monkeypatch):
    monkeypatch.setattr(tracedat, "zstd_decompressor", lambda: None)
    monkeypatch.setattr(formats.shutil, "which", lambda name: None)
    with pytest.raises(TraceError, match=r"trace.dat: .*zstd-compressed: install .*zstandard"):
        read_recording(REC / "trace-cmd" / "trace.dat")
    # version 6 needs no decompressor
    assert len(read_recording(REC / "trace-cmd" / "trace-v6.dat.gz").events) == 4885


def test_trace_dat_through_trace_cmd_report(monkeypatch):
    if shutil.which("trace-cmd") is None:
        pytest.skip("trace-cmd is not installed")
    monkeypatch.setattr(tracedat, "zstd_decompressor", lambda: None)
    t = read_recording(REC / "trace-cmd" / "trace.dat")
    assert [_key(e) for e in t.events] == events("trace-cmd/trace.txt")
    assert any("decoded by trace-cmd report" in w for w in t.warnings)


@pytest.mark.parametrize("rel,cut", [("perf/perf.data", 300_000), ("trace-cmd/trace-v6.dat.gz", 7_000_000)])
def test_truncated_binary_is_refused_in_one_line(rel, cut, tmp_path):
    data = (REC / rel).read_bytes()
    if rel.endswith(".gz"):
        data = gzip.decompress(data)
    bad = tmp_path / "rec"
    bad.write_bytes(data[:cut])
    with pytest.raises(TraceError) as err:
        read_recording(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_binary_clock_is_reported():
    assert load_recording(REC / "trace-cmd", "trace.dat").clock == "local"
    assert load_recording(REC / "perf", "perf.data").clock == "perf"
