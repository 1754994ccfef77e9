"""environment.yml (conda route) lists the same packages with the same lower bounds as pyproject."""
import re
import tomllib

import yaml
from conftest import ROOT

#: pip name -> conda-forge name(s) where they differ ("dask[distributed]" is two conda packages)
PIP_TO_CONDA = {"dask[distributed]": ["dask", "distributed"]}
REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*(>=\s*[^,;\s]+)?")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(req: str):
    m = REQ.match(req)
    assert m, f"cannot read requirement {req!r}"
    return m.group(1), (m.group(2) or "").replace(" ", "")


def pyproject_requirements() -> dict:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra, items in data["project"].get("optional-dependencies", {}).items():
        reqs += [r for r in items if not r.startswith("vmapsim")]
    out = {}
    for r in reqs:
        name, bound = _split(r)
        for conda_name in PIP_TO_CONDA.get(name, [re.sub(r"\[.*\]", "", name)]):
            out[_norm(conda_name)] = bound
    return out


def environment_requirements() -> dict:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert dep.get("pip") == ["-e ."], "the only pip entry must be the project itself"
            continue
        name, bound = _split(dep)
        if _norm(name) not in ("python", "pip"):
            out[_norm(name)] = bound
    return out


def test_same_packages_and_lower_bounds():
    py, env = pyproject_requirements(), environment_requirements()
    assert sorted(set(py) - set(env)) == [], "in pyproject.toml but not in environment.yml"
    assert sorted(set(env) - set(py)) == [], "in environment.yml but not in pyproject.toml"
    differ = {n: (py[n], env[n]) for n in py if py[n] != env[n]}
    assert differ == {}, "lower bounds differ (pyproject, environment.yml)"


def test_python_floor_matches():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    floor = data["project"]["requires-python"]
    assert f"python{floor}" in env["dependencies"]


def test_drift_is_detected(tmp_path, monkeypatch):
    """The check above can fail: a changed bound in a copy of environment.yml is caught."""
    text = (ROOT / "environment.yml").read_text().replace("numpy>=", "numpy>=0.1,<9 #")
    fake = tmp_path / "environment.yml"
    fake.write_text(text)
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    import test_environment_yml as mod

    monkeypatch.setattr(mod, "ROOT", tmp_path)
    py, env = mod.pyproject_requirements(), mod.environment_requirements()
    assert py["numpy"] != env["numpy"]
