"""A built wheel holds every sub-package: import each module from the wheel in a scratch venv."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_wheel_contains_and_imports_every_subpackage(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True)
    if out.returncode and "No matching distribution" in out.stderr + out.stdout:
        pytest.skip("the package index is unreachable: cannot fetch the build backend")
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("vmapsim-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    packages = sorted({str(p.relative_to(ROOT).parent) for p in (ROOT / "vmapsim").rglob("__init__.py")})
    for pkg in packages:
        assert f"{pkg}/__init__.py" in names, pkg
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "vmapsim").rglob("*.py"))
    assert sorted(n for n in names if n.endswith(".py")) == modules

    # a scratch venv whose site-packages holds only the wheel; third-party dependencies come
    # from this interpreter's site-packages through a .pth line (appended after the wheel)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    zipfile.ZipFile(wheel).extractall(site)
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = ("import importlib, pkgutil, vmapsim, sys\n"
            "assert vmapsim.__file__.startswith(sys.argv[1]), vmapsim.__file__\n"
            "mods = [m.name for m in pkgutil.walk_packages(vmapsim.__path__, 'vmapsim.')\n"
            "        if m.name != 'vmapsim.__main__']\n"
            "for m in mods: importlib.import_module(m)\n"
            "from vmapsim.maple import MapleTree\n"
            "from vmapsim.designs import make_design\n"
            "make_design('linux-6.18').validate()\n"
            "print(len(mods))\n")
    r = subprocess.run([str(py), "-c", code, str(site)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.strip()) == len(modules) - 2      # all but vmapsim/__init__ and __main__
