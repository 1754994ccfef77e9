"""vmapsim.traces.read: parsing tracefs text and vmallocinfo, and refusing bad input with file:line."""
import gzip

import pytest

from vmapsim.errors import TraceError
from vmapsim.traces.read import (
    ALLOC,
    FREE,
    MARK,
    PURGE,
    read_meta,
    read_snapshot,
    read_trace,
)

HDR = "# tracer: nop\n#\n"
A = ("         python3-12256   [000] .....  1032.682164: alloc_vmap_area: va_start: 18446683600575528960 "
     "size=20480 align=16384 vstart=0xffffc90000000000 vend=0xffffe8ffffffffff failed=0\n")
F = ("     kworker/1:1-41      [001] .....  1032.708507: free_vmap_area_noflush: va_start=0xffffc90000568000 "
     "nr_lazy=2786 nr_lazy_max=16384\n")
PU = ("     kworker/1:1-41      [001] .....  1032.900000: purge_vmap_area_lazy: start=0xffffc90000568000 "
      "end=0xffffc9000056d000 num_purged=1\n")
M = "         python3-12256   [000] ...1.  1031.302132: tracing_mark_write: vmapsim: drop_caches\n"
SNAP_LINE = "0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0xed/0x120 vmap\n"


def _write(tmp_path, name, text, gz=False):
    p = tmp_path / (name + (".gz" if gz else ""))
    if gz:
        with gzip.open(p, "wt") as f:
            f.write(text)
    else:
        p.write_text(text)
    return p


def test_parses_every_event_kind_and_sorts_by_time(tmp_path):
    m1 = M.replace("[000]", "[001]")
    t = read_trace(_write(tmp_path, "trace.txt", HDR + A + m1 + F + PU, gz=True))
    assert [e.kind for e in t.events] == [MARK, ALLOC, FREE, PURGE]
    a = t.events[1]
    assert (a.addr, a.size, a.align, a.cpu, a.pid, a.comm) == (18446683600575528960, 20480, 16384, 0, 12256, "python3")
    assert t.events[2].nr_lazy == 2786 and t.events[3].npurged == 1
    assert t.warnings == []


def test_comm_with_dashes_and_spaces(tmp_path):
    line = A.replace("python3-12256", "Web Content-foo-77")
    t = read_trace(_write(tmp_path, "trace.txt", HDR + line))
    assert (t.events[0].comm, t.events[0].pid) == ("Web Content-foo", 77)


def test_truncated_last_line_is_an_error_naming_the_line(tmp_path):
    p = _write(tmp_path, "trace.txt", HDR + A + A[:90])
    with pytest.raises(TraceError, match=r"trace.txt:4: truncated"):
        read_trace(p)


def test_reordered_lines_are_an_error(tmp_path):
    late = A.replace("1032.682164", "1033.000000")
    p = _write(tmp_path, "trace.txt", HDR + late + A)
    with pytest.raises(TraceError, match=r":4: timestamp .* earlier .* reordered"):
        read_trace(p)


def test_foreign_events_and_other_tracers_are_warnings(tmp_path):
    sched = "          <idle>-0       [001] d..2.  1032.700000: sched_switch: prev_comm=swapper/1 prev_pid=0\n"
    func = "          <idle>-0       [001] d..2.  1032.700001: tick_nohz_idle_enter <-do_idle\n"
    t = read_trace(_write(tmp_path, "trace.txt", HDR + A + sched + func + F))
    assert len(t.events) == 2
    text = " ".join(t.warnings)
    assert "trace.txt:4: foreign event 'sched_switch'" in text
    assert "trace.txt:5: 1 line(s) from another tracer" in text


def test_garbage_and_lost_events(tmp_path):
    with pytest.raises(TraceError, match=r":3: not a tracefs event line"):
        read_trace(_write(tmp_path, "trace.txt", HDR + "hello world\n"))
    t = read_trace(_write(tmp_path, "t2.txt", HDR + "CPU:1 [LOST 12 EVENTS]\n" + A))
    assert t.lost_events == 12 and "lost 12 events" in t.warnings[0]
    with pytest.raises(TraceError, match="malformed alloc_vmap_area"):
        read_trace(_write(tmp_path, "t3.txt", HDR + A.replace("size=", "sz=") + F))


SNAP = """0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0xed/0x120 vmap
0xffffc90000010000-0xffffc90000015000   20480 kernel_clone+0xb8/0x400 pages=4 vmalloc N0=4
0xffffc90000005000-0xffffc90000007000    8192 acpi_os_map_iomem+0x1bc/0x1e0 ioremap
0xffffc90000020000-0xffffc90000025000   20480 unpurged vm_area
0xffffc90000040000-0xffffc90000045000   20480 unpurged vm_area
0xffffc90000030000-0xffffc90000035000   20480 unpurged vm_area
"""


def test_snapshot_busy_lazy_and_lazy_nodes(tmp_path):
    s = read_snapshot(_write(tmp_path, "vmallocinfo.before", SNAP), nr_nodes=2)
    assert len(s.busy) == 3 and s.busy[1][2] == "kernel_clone+0xb8/0x400"
    assert [n for _, _, n in s.lazy] == [0, 0, 1]          # the address drop starts node 1


@pytest.mark.parametrize("text,problem", [
    (SNAP.replace("0xffffc90000010000-0xffffc90000015000", "0xffffc90000004000-0xffffc90000009000"),
     "overlaps"),
    ("0x00000000cb8973e5-0x0000000096ac2bda   20480 irq_init_percpu_irqstack+0xed/0x120 vmap\n",
     "hashed pointers"),
    ("0x0000000000000000-0x0000000000000000   20480 kernel_clone\n", "hidden"),
    (SNAP.replace("   20480 kernel_clone", "   20481 kernel_clone"), "size 20481 differs"),
    (SNAP + "0xffffc90000100000-0xffffc90000105000   20480 kernel_clone+0xb8/0x400\n",
     "busy area listed after the unpurged"),
    (SNAP[:-20], "truncated"),
])
def test_bad_snapshots_name_file_line_and_problem(tmp_path, text, problem):
    p = _write(tmp_path, "vmallocinfo.before", text)
    with pytest.raises(TraceError, match=problem) as exc:
        read_snapshot(p, 2)
    assert "vmallocinfo.before" in str(exc.value)


def test_area_freed_while_the_snapshot_was_read_is_a_warning(tmp_path):
    text = SNAP + "0xffffc90000010000-0xffffc90000015000   20480 unpurged vm_area\n"
    s = read_snapshot(_write(tmp_path, "vmallocinfo.after", text), 2)
    assert (0xffffc90000010000, 0xffffc90000015000) not in {(a, b) for a, b, _ in s.busy}
    assert (0xffffc90000010000, 0xffffc90000015000) in {(a, b) for a, b, _ in s.lazy}
    assert "listed busy and again lazy" in s.warnings[0]


def test_meta(tmp_path):
    assert read_meta(_write(tmp_path, "meta", "mode=fork\nseed=3\n")) == {"mode": "fork", "seed": "3"}
    with pytest.raises(TraceError, match="meta2:2: expected key=value"):
        read_meta(_write(tmp_path, "meta2", "mode=fork\nbogus\n"))


def test_only_a_newline_ends_a_line(tmp_path):
    """\\v, \\f, \\r, \\x1c-\\x1e, U+0085, U+2028/9 end a line for str.splitlines() and text-mode
    files, never for the kernel: a line holding one is one line, parsed or named file:line."""
    for ch in ("\v", "\f", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"):
        t = read_trace(_write(tmp_path, "t.txt", HDR + A.replace("python3", "py" + ch + "thon3") + F))
        assert [e.kind for e in t.events] == [ALLOC, FREE] and t.events[0].line == 3
        snap = read_snapshot(_write(tmp_path, "s", SNAP_LINE.replace(" vmap", ch + " vmap")))
        assert len(snap.busy) == 1
        with pytest.raises(TraceError, match=r"meta:1: seed must be a decimal integer"):
            read_meta(_write(tmp_path, "meta", f"seed=3{ch}possible_cpus=9\n"))
        with pytest.raises(TraceError, match=r"t2\.txt:3: (control character|malformed alloc_vmap_area)"):
            read_trace(_write(tmp_path, "t2.txt", HDR + A.replace("align=", "al" + ch + "ign=")))


def test_meta_numbers_are_checked(tmp_path):
    for text, problem in (("possible_cpus=abc\n", "meta:1: possible_cpus must be a decimal integer >= 1"),
                          ("possible_cpus=0\n", "possible_cpus must be a decimal integer >= 1"),
                          ("lost_events=-1\n", "lost_events must be a decimal integer >= 0"),
                          ("seed=1\nseed=2\n", "meta:2: seed given twice"),
                          ("possible_cpus=2\nonline_cpus=4\n", "online_cpus=4 exceeds possible_cpus=2")):
        with pytest.raises(TraceError, match=problem):
            read_meta(_write(tmp_path, "meta", text))
