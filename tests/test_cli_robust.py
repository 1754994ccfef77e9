"""Bad input at the command line: exit status 2 and one line, never a traceback; a closed pipe is
quiet; seeds never alias; work is estimated before a long run starts."""
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from vmapsim.errors import ParameterError, TraceError
from vmapsim.params import SEED_MAX, check_float, check_int, check_seed
from vmapsim.paths import TRACES_DIR

ROOT = Path(__file__).resolve().parent.parent


def vmapsim(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "vmapsim", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120, **kw)


def one_line_error(p, *words):
    assert p.returncode == 2, (p.returncode, p.stderr)
    err = p.stderr.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("args, words", [
    (["simulate", "--cpus", "²"], ["cpus must be an integer"]),
    (["simulate", "--cpus", "+-3"], ["cpus must be an integer"]),
    (["simulate", "--cpus", "٣"], ["cpus must be an integer"]),
    (["simulate", "--loops", "1_000"], ["loops must be an integer"]),
    (["simulate", "--workload", "test_vmalloc", "--mask", "0xZZ"], ["run_test_mask"]),
    (["simulate", "--cost", "node_visit_ns=inf"], ["node_visit_ns"]),
    (["simulate", "--cost", "node_visit_ns=1e308"], ["node_visit_ns must be in"]),
    (["simulate", "--cost", "coherence_overlap=2"], ["coherence_overlap must be in 0.0..1.0"]),
    (["simulate", "--cost", "handoff_extra_queue=0"], ["handoff_extra_queue"]),
    (["simulate", "--setup-scale", "nan"], ["setup_scale"]),
    (["simulate", "--seed", "4294967296"], ["seed must be in 0..4294967295"]),
    (["simulate", "--seed", "-1"], ["seed must be in 0..4294967295"]),
    (["explore", "A1", "--seed", "-1"], ["seed must be in 0..4294967295"]),
    (["explore", "A1", "--runs", "1e9"], ["runs must be an integer"]),
    (["simulate", "--no-such-option"], ["unrecognized arguments"]),
    (["replay"], ["the following arguments are required"]),
])
def test_bad_input_exits_2_with_one_line(args, words):
    one_line_error(vmapsim(*args), *words)


def test_mask_accepts_hex():
    assert check_int("run_test_mask", "0x1f", lo=1, hex_ok=True) == 31
    with pytest.raises(ParameterError, match="0x hex"):
        check_int("run_test_mask", "0xZZ", hex_ok=True)


def test_a_run_too_big_is_refused_before_it_starts_naming_both_limits():
    p = vmapsim("simulate", "--cpus", "1024", "--loops", "1000000", "--cold")
    one_line_error(p, "--max-ops", "--max-seconds", "2,048,000,000 operations")
    p = vmapsim("simulate", "--cpus", "1024", "--loops", "1000000")       # + the steady warm-up
    one_line_error(p, "--max-ops", "--max-seconds")
    p = vmapsim("simulate", "--loops", "100", "--cold", "--max-ops", "10")   # a limit one can lower
    one_line_error(p, "about 200 operations")
    p = vmapsim("simulate", "--loops", "100", "--cold", "--max-ops", "1000", "--json")  # and raise
    assert p.returncode == 0, p.stderr


def test_explore_runs_are_estimated_against_both_limits():
    p = vmapsim("explore", "A1", "--strategy", "random", "--runs", "1000000000")
    one_line_error(p, "--max-ops", "--max-seconds", "1,000,000,000 executions")
    p = vmapsim("explore", "A1", "--strategy", "random", "--runs", "100000", "--max-seconds", "0.5")
    one_line_error(p, "--max-seconds", "100,000 executions, ~")


def test_closed_pipe_is_one_line_and_status_2():
    r, w = os.pipe()
    os.close(r)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "vmapsim", "replay", str(TRACES_DIR / "fork-s71"),
                        "--json"], stdout=w, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    os.close(w)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "standard output was closed" in p.stderr
    assert "Traceback" not in p.stderr


def test_seeds_never_alias():
    assert check_seed("seed", 0) == 0 and check_seed("seed", SEED_MAX) == SEED_MAX
    for bad in (-1, SEED_MAX + 1, 2**32, "4294967296", "-0x1"):
        with pytest.raises(ParameterError, match="seed"):
            check_seed("seed", bad)
    from vmapsim.explore.api import explore
    from vmapsim.perf.simulate import simulate
    for f in (lambda s: simulate(loops=1, seed=s), lambda s: explore("A1", "random", runs=1, seed=s)):
        with pytest.raises(ParameterError, match=r"seed must be in 0\.\.4294967295, got -1"):
            f(-1)


def test_check_int_and_float_read_ascii_only():
    for bad in ("²", "٣", "+-3", "-+3", "1_0", "", " ", "0x10"):
        with pytest.raises(ParameterError):
            check_int("n", bad)
    assert check_int("n", " +12 ") == 12 and check_int("n", "-3") == -3
    for bad in ("inf", "-inf", "nan", "1e999", "٣", float("inf")):
        with pytest.raises(ParameterError):
            check_float("x", bad)
    assert check_float("x", "2.5e-3") == 2.5e-3


# ----------------------------------------------------------------------------- capture dirs
@pytest.fixture
def capture_dir(tmp_path):
    d = tmp_path / "cap"
    shutil.copytree(TRACES_DIR / "fork-s71", d)
    return d


def test_meta_with_a_bad_number_is_one_line(capture_dir):
    meta = capture_dir / "meta"
    meta.write_text(meta.read_text().replace("possible_cpus=2", "possible_cpus=abc"))
    one_line_error(vmapsim("replay", str(capture_dir)), "meta:4: possible_cpus must be a decimal")


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory"])
def test_trace_that_is_not_a_regular_file_is_refused_before_reading(capture_dir, kind):
    (capture_dir / "trace.txt.gz").unlink()
    t = capture_dir / "trace.txt"
    if kind == "dev-zero":
        t.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(t)
    else:
        t.mkdir()
    from vmapsim.traces.replay import replay
    done = []

    def run():
        try:
            replay(capture_dir)
        except TraceError as exc:
            done.append(str(exc))
    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(30)
    want = "no recording found" if kind == "directory" else "not a regular file"
    assert done and want in done[0], "the reader blocked or read it"
    one_line_error(vmapsim("replay", str(capture_dir)), want)


def test_capture_into_an_existing_file_is_one_line(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    one_line_error(vmapsim("capture", str(f)), "exists and is not a directory")
    one_line_error(vmapsim("capture", str(tmp_path)), "exists; use --force")
