"""The Makefile's promises: no reinstall unless dependencies changed; one-line preflight errors."""
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import preflight  # noqa: E402


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_rerunning_make_does_not_reinstall():
    stamp = ROOT / ".venv" / ".installed-stamp"
    if not stamp.exists():
        pytest.skip("not running from a `make`-built venv")
    # -q: exit 0 iff the target is up to date, i.e. `make test`/`make report` would not reinstall
    assert subprocess.run(["make", "-q", "install"], cwd=ROOT).returncode == 0
    dry = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True)
    assert "pip install" not in dry.stdout and "pytest" in dry.stdout


def test_make_reinstalls_when_pyproject_is_newer(tmp_path):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    stamp = tmp_path / ".venv" / ".installed-stamp"
    stamp.touch()
    assert subprocess.run(["make", "-q", "install"], cwd=tmp_path).returncode == 0
    import os
    import time

    later = time.time() + 5
    os.utime(tmp_path / "pyproject.toml", (later, later))
    dry = subprocess.run(["make", "-n", "install"], cwd=tmp_path, capture_output=True, text=True)
    assert "pip install" in dry.stdout


def test_preflight_says_python_is_too_old_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "version_info", (3, 9, 18, "final", 0))
    assert preflight.main() == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "needs Python 3.11 or newer" in out and "3.9" in out


def test_preflight_says_index_is_unreachable_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    monkeypatch.delenv("VMAPSIM_SKIP_NETCHECK", raising=False)
    assert preflight.main() == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "cannot reach the package index http://127.0.0.1:9/simple/" in out


def test_make_without_python_says_so(tmp_path):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    proc = subprocess.run(["make", "install", "PYTHON=/nonexistent/python3.11"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "vmapsim needs Python 3.11 or newer: '/nonexistent/python3.11' not found" in proc.stdout


def test_make_lab_opens_the_notebooks_directory():
    dry = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True)
    line = [ln for ln in dry.stdout.splitlines() if "jupyter lab" in ln]
    assert line and "--notebook-dir=notebooks" in line[0]
    import os

    assert ("--allow-root" in line[0]) == (os.geteuid() == 0)
