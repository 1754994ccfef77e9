"""The package's folders are its architecture: import rules, module size, a rule per package,
and a repository that stands on its own (no machine paths, no tracker numbers)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "vmapsim"
CORE = ("maple", "vmalloc", "designs", "traces", "explore", "perf")
#: third-party modules only the notebook frame and ``review`` may import
PRESENTATION = ("matplotlib", "IPython", "ipywidgets", "nbformat", "nbclient", "nbconvert")


def _modules():
    for p in sorted(PKG.rglob("*.py")):
        rel = p.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield p, parts


def _imports(path: Path, parts: list[str]):
    """(absolute module name, line) of every import in *path*, relative ones resolved."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    here = ["vmapsim"] + parts if is_pkg else ["vmapsim"] + parts[:-1]
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                yield a.name, n.lineno
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = here[:len(here) - (n.level - 1)]
                mod = ".".join(base + ([n.module] if n.module else []))
                if not n.module:
                    for a in n.names:
                        yield mod + "." + a.name, n.lineno
                    continue
            else:
                mod = n.module
            yield mod, n.lineno


def _layer(mod: str) -> str | None:
    p = mod.split(".")
    if p[0] != "vmapsim":
        return None
    return p[1] if len(p) > 1 else ""


def test_core_packages_never_import_review_or_presentation():
    bad = []
    for path, parts in _modules():
        if not parts or parts[0] not in CORE:
            continue
        for mod, line in _imports(path, parts):
            if _layer(mod) == "review" or mod.split(".")[0] in PRESENTATION:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


def test_maple_imports_nothing_else_of_vmapsim():
    bad = []
    for path, parts in _modules():
        if parts[:1] != ["maple"]:
            continue
        for mod, line in _imports(path, parts):
            if _layer(mod) is not None and _layer(mod) != "maple":
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


def test_vmalloc_building_blocks_import_only_shared_contracts():
    bad = []
    for path, parts in _modules():
        if parts[:1] != ["vmalloc"]:
            continue
        for mod, line in _imports(path, parts):
            if _layer(mod) not in (None, "vmalloc", "errors", "params"):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


def test_the_rule_checker_sees_a_violation(tmp_path):
    """The import walker resolves relative imports: a planted violation is found."""
    p = tmp_path / "x.py"
    p.write_text("from ..review import scaling\nfrom ..maple import MapleTree\nfrom . import sim\n"
                 "import matplotlib.pyplot\n")
    got = sorted(m for m, _ in _imports(p, ["perf", "x"]))
    assert got == ["matplotlib.pyplot", "vmapsim.maple", "vmapsim.perf.sim", "vmapsim.review"]
    assert [_layer(m) for m in got] == [None, "maple", "perf", "review"]


def test_no_private_names_cross_modules():
    bad = []
    for path, parts in _modules():
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and (n.level or (n.module or "").startswith("vmapsim")):
                for a in n.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{path.relative_to(ROOT)}:{n.lineno} imports {a.name}")
    assert not bad, "\n".join(bad)


def test_every_package_states_its_rule_and_modules_stay_small():
    for init in PKG.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and ("Rule" in doc or init.parent == PKG or "rule" in doc.lower()), init
    long = [(p.relative_to(ROOT), n) for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 650]
    assert not long, long


def test_packages_are_in_the_wheel_configuration():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'packages = ["vmapsim"]' not in text
    assert re.search(r"\[tool\.setuptools\.packages\.find\][^\[]*include = \[\"vmapsim\*\"\]", text)


# --------------------------------------------------------------------------- self-contained
#: what a machine path or a tracker reference looks like (built here so this file does not match)
_MACHINE = re.compile("(?<![\\w.])/(" + "|".join(["wo" + "rk", "tm" + "p", "ro" + "ot", "ho" + "me",
                                                 "Us" + "ers"]) + ")/|\\.\\./sha" + "red/")
_TRACKER = re.compile(r"\b[Ii]ssues? ?#?\d+\b|\b[Tt]ask ?#\d+\b")
_TEXT = ("*.py", "*.md", "*.json", "*.txt", "*.yml", "*.toml", "*.sh", "*.cfg", "Makefile", "README*")


def _project_text_files():
    roots = [ROOT / d for d in ("vmapsim", "notebooks/src", "docs", "data", "tests", "bench",
                                "tools", ".ci")]
    seen = set()
    for r in roots:
        for pat in _TEXT:
            for p in r.rglob(pat):
                if p.is_file() and p not in seen and "recordings" not in p.parts:
                    seen.add(p)
                    yield p
    for name in ("README.md", "ARCHITECTURE.md", "Makefile", "pyproject.toml", "environment.yml"):
        yield ROOT / name


def test_no_machine_paths_and_no_tracker_numbers():
    bad = []
    for p in _project_text_files():
        try:
            text = p.read_text()
        except UnicodeDecodeError:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if _MACHINE.search(line) or _TRACKER.search(line):
                bad.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("line,hit", [("see /wo" + "rk/notes/x.md", True), ("cd /tm" + "p/cap", True),
                                      ("the ../sha" + "red/thread folder", True), ("cc -I../sha" + "red -I.", False), ("iss" + "ue 7's floor", True),
                                      ("/sys/kernel/tracing", False), ("docs/rcu-review.md", False),
                                      ("maple-tree mm#1", False)])
def test_the_path_and_tracker_patterns(line, hit):
    assert bool(_MACHINE.search(line) or _TRACKER.search(line)) is hit


# --------------------------------------------------------------------------- registries fail loudly
def test_every_cli_command_imports_and_has_its_contract():
    import importlib

    from vmapsim import cli
    for name, (module, help_text) in cli.COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(mod.add_arguments) and callable(mod.run), name
        assert help_text
    assert set(cli.build_parser()._subparsers._group_actions[0].choices) == set(cli.COMMANDS)


def test_every_scenario_comes_from_a_builder_module():
    from vmapsim.explore import scenarios
    fams = {sid: scenarios.family(sid) for sid in scenarios.ids()}
    assert set(fams.values()) == {"lookup", "bump", "tree", "alloc"}
    assert all(scenarios.get(sid) is not None for sid in list(fams)[:3])
