"""vmapsim.traces.replay on the real traces in data/traces/, on a synthetic trace written by the model
itself, and on bad input."""
import gzip
import json
import random
import shutil
import subprocess
import sys

import pytest

from vmapsim.designs import make_design
from vmapsim.errors import ParameterError, TraceError
from vmapsim.traces.captures import capture_dirs
from vmapsim.traces.replay import MISS_CAUSES, replay
from vmapsim.vmalloc.vmap_area import PAGE_SIZE, VMALLOC_END, VMALLOC_START

TRACES = list(capture_dirs().values())
JSON_KEYS = {"allocs", "matched", "agreement", "final_state_equal", "misses_by_cause", "warnings"}


def test_there_are_at_least_three_real_traces():
    assert len(TRACES) >= 3
    modes = {(p / "meta").read_text().split("mode=")[1].split()[0] for p in TRACES}
    assert len(modes) >= 3, "traces must come from different workloads"


@pytest.mark.parametrize("trace", TRACES, ids=[p.name for p in TRACES])
def test_real_trace_agreement_and_final_state(trace):
    res = replay(trace, "linux-6.18")
    assert res.allocs > 1000
    assert res.agreement >= 0.99, res.table()
    assert res.final_state_equal, res.table()
    assert sum(res.misses_by_cause.values()) == res.allocs - res.matched
    assert set(res.misses_by_cause) <= set(MISS_CAUSES)


def test_plain_lowest_fit_baseline_is_far_off():
    res = replay(TRACES[0], "linux-6.8")
    assert res.agreement < 0.5
    assert res.misses_by_cause.get("kernel-pool-reuse", 0) > 0.3 * res.allocs


def test_cli_json_keys_exact():
    smallest = min(TRACES, key=lambda p: (p / "trace.txt.gz").stat().st_size)
    out = subprocess.run([sys.executable, "-m", "vmapsim", "replay", str(smallest), "--design",
                          "linux-6.18", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == JSON_KEYS
    assert 0.99 <= data["agreement"] <= 1 and isinstance(data["warnings"], list)
    human = subprocess.run([sys.executable, "-m", "vmapsim", "replay", str(smallest)],
                           capture_output=True, text=True, timeout=120)
    assert "agreement" in human.stdout and "final state equal: yes" in human.stdout


def _copy(trace, tmp_path):
    dst = tmp_path / trace.name
    shutil.copytree(trace, dst)
    return dst


def test_truncated_trace_is_refused_not_scored(tmp_path):
    d = _copy(TRACES[0], tmp_path)
    with gzip.open(d / "trace.txt.gz", "rt") as f:
        text = f.read()
    cut = text[: len(text) // 2]
    cut = cut[: cut.rindex("\n") + 60]          # end in the middle of a line
    (d / "trace.txt.gz").unlink()
    (d / "trace.txt").write_text(cut)
    with pytest.raises(TraceError, match=r"trace.txt:\d+: truncated"):
        replay(d)
    out = subprocess.run([sys.executable, "-m", "vmapsim", "replay", str(d), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "truncated" in out.stderr and out.stdout == ""


def test_trace_cut_at_a_line_boundary_warns_and_final_state_differs(tmp_path):
    d = _copy(TRACES[0], tmp_path)
    with gzip.open(d / "trace.txt.gz", "rt") as f:
        lines = f.readlines()
    (d / "trace.txt.gz").unlink()
    (d / "trace.txt").write_text("".join(lines[: len(lines) // 2]))
    res = replay(d)
    assert not res.final_state_equal
    assert any("no final-snapshot markers" in w for w in res.warnings)


def test_hashed_snapshot_is_refused(tmp_path):
    d = _copy(TRACES[0], tmp_path)
    (d / "vmallocinfo.before.gz").unlink()
    (d / "vmallocinfo.before").write_text(
        "0x00000000cb8973e5-0x0000000096ac2bda   20480 irq_init_percpu_irqstack+0xed/0x120 vmap\n")
    with pytest.raises(TraceError, match=r"vmallocinfo.before:1: .*kptr_restrict=0"):
        replay(d)


def test_unknown_design_lists_valid_names():
    with pytest.raises(ParameterError, match="linux-6.18"):
        replay(TRACES[0], "linux-9.9")
    with pytest.raises(TraceError, match="not a capture directory"):
        replay(TRACES[0] / "nope")


def _synthetic_capture(path, seed, cpus=2, steps=1500):
    """Run linux-6.18 itself and write what the kernel would have logged (one task per CPU, the
    drain in a kworker right after the free that crossed lazy_max_pages)."""
    rng = random.Random(seed)
    d = make_design("linux-6.18", possible_cpus=cpus, online_cpus=1)
    busy0 = [(VMALLOC_START + i * 64 * PAGE_SIZE, VMALLOC_START + i * 64 * PAGE_SIZE + 5 * PAGE_SIZE)
             for i in range(20)]
    d.load_state([(s, e, 0) for s, e in busy0], [])
    snap = lambda des: "".join(f"0x{s:x}-0x{e:x} {e - s:7d} kernel_clone+0x0/0x0 vmalloc\n"
                               for s, e in des.busy_areas()) + \
        "".join(f"0x{s:x}-0x{e:x} {e - s:7d} unpurged vm_area\n"
                for vn in des.nodes for s, e in ((v.va_start, v.va_end) for v in vn.lazy))
    path.mkdir()
    (path / "vmallocinfo.before").write_text(snap(d))
    lines = ["# tracer: nop\n#\n"]
    ts = [100.0]

    def emit(cpu, pid, body):
        ts[0] += 0.001
        lines.append(f"   task-{pid} [{cpu:03d}] ..... {ts[0]:.6f}: {body}\n")

    emit(0, 1, "tracing_mark_write: vmapsim: snapshot before begin")
    emit(0, 1, "tracing_mark_write: vmapsim: snapshot before end")
    live = []
    for _ in range(steps):
        cpu = rng.randrange(cpus)
        if rng.random() < 0.01:
            n = d.purge_vmap_area_lazy(cpu=cpu)           # e.g. vm_unmap_aliases() from a task
            emit(cpu, 3000 + cpu, f"purge_vmap_area_lazy: start=0x{VMALLOC_START:x} "
                 f"end=0x{VMALLOC_END:x} num_purged={n}")
        elif live and rng.random() < 0.48:
            a = live.pop(rng.randrange(len(live)))
            drain = d.vfree(a, cpu)
            emit(cpu, 1000 + cpu, f"free_vmap_area_noflush: va_start=0x{a:x} nr_lazy="
                 f"{d.lazy_nr() if not drain else 99999} nr_lazy_max={d.lazy_max_pages()}")
            if drain:
                n = sum(1 for k, _ in d.acct.events if k == "tlb_flush")
                purged = [h for h in d.acct.holds if h.lock == "vmap_purge_lock"]
                assert purged and n == 1
                emit(cpu, 2000 + cpu, f"purge_vmap_area_lazy: start=0x{VMALLOC_START:x} "
                     f"end=0x{VMALLOC_END:x} num_purged={d._last_npurged}")
        else:
            size = rng.choice([2, 3, 5, 5, 9, 33, 70]) * PAGE_SIZE
            align = rng.choice([PAGE_SIZE, 4 * PAGE_SIZE])
            a = d.alloc_vmap_area(size, align, cpu=cpu)
            emit(cpu, 1000 + cpu, f"alloc_vmap_area: va_start: {a} size={size} align={align} "
                 f"vstart=0x{VMALLOC_START:x} vend=0x{VMALLOC_END:x} failed=0")
            live.append(a)
    emit(0, 1, "tracing_mark_write: vmapsim: snapshot after begin")
    emit(0, 1, "tracing_mark_write: vmapsim: snapshot after end")
    (path / "trace.txt").write_text("".join(lines))
    (path / "vmallocinfo.after").write_text(snap(d))
    (path / "meta").write_text(f"mode=synthetic\nseed={seed}\nclean_pools=1\npossible_cpus={cpus}\n"
                               "online_cpus=1\n")


def test_model_generated_trace_replays_exactly(tmp_path, monkeypatch):
    from vmapsim.designs import linux618
    orig = linux618.Linux618.purge_finish

    def finish(self, batch):
        n = orig(self, batch)
        self._last_npurged = n
        return n

    monkeypatch.setattr(linux618.Linux618, "purge_finish", finish)
    _synthetic_capture(tmp_path / "syn", seed=5)
    res = replay(tmp_path / "syn")
    assert res.allocs > 500
    assert res.agreement == 1.0, res.table()
    assert res.final_state_equal
    assert len(res.purges) >= 1 and all(n == m for _, n, m in res.purges)
