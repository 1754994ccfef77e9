"""Every notebook runs headless, is committed stripped and in sync with its source, and follows the
conventions the report and the export rely on."""
import json
import re

import pytest
from conftest import NOTEBOOK_DIR, NOTEBOOKS, ROOT

from vmapsim.export import WIDGET_STATE, summary_text
from vmapsim.notebook import build_notebook, error_outputs, stripped_problems

pytestmark = pytest.mark.notebook


def test_there_are_notebooks():
    assert "00-overview" in NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stripped_and_in_sync_with_source(name):
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    src = NOTEBOOK_DIR / "src" / f"{name}.py"
    assert src.exists(), f"{path.name} has no source notebooks/src/{name}.py"
    assert stripped_problems(json.loads(path.read_text())) == [], "run tools/nb.py build"
    assert path.read_text() == build_notebook(src.read_text(), str(src)), (
        f"{path.name} is out of date with {src.name}: run .venv/bin/python tools/nb.py build")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_follows_conventions(name):
    nb = json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text())
    cells = [dict(c, source="".join(c["source"])) for c in nb["cells"]]
    assert cells[0]["cell_type"] == "markdown" and "\n>" in "\n" + cells[0]["source"], (
        "the first cell must quote the thread's question (a '> ' blockquote)")
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    code = "\n".join(c["source"] for c in cells if c["cell_type"] == "code")
    assert "report.setup()" in code, "call vmapsim.report.setup() in the first code cell"
    assert "ipympl" not in code and "%matplotlib widget" not in code
    assert "report.summary(" in cells[-1]["source"], "the last cell must emit report.summary(...)"
    assert "claims.verify()" in code or ".verify()" in code, "a claims table must be verified"


def _heading_text(md: str) -> str:
    """A markdown heading as the page shows it: links, code and emphasis marks dropped."""
    md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)
    return " ".join(re.sub(r"[`*]", "", md).split())


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_source_heading_reaches_the_page(name):
    """A heading written in the source (``# ## ...``) is on the page: in a markdown cell of the
    built notebook and in its HTML (code is hidden there, so a heading that fell into a code
    cell, a markdown cell without its ``# %% [markdown]`` marker, would silently vanish)."""
    import html as _html

    from vmapsim.export import to_html
    from vmapsim.notebook import parse_source

    src = NOTEBOOK_DIR / "src" / f"{name}.py"
    cells = parse_source(src.read_text(), str(src))
    stray = [line for c in cells if c.kind == "code" for line in c.source.splitlines()
             if re.match(r"#\s?#{1,6} \S", line)]
    assert stray == [], f"{src.name}: markdown heading(s) inside a code cell: {stray}"
    headings = [_heading_text(m.group(1)) for line in src.read_text().splitlines()
                if (m := re.match(r"#\s?#{1,6} (\S.*)$", line))]
    assert headings, f"{src.name} has no heading"
    import nbformat

    nb = nbformat.reads((NOTEBOOK_DIR / f"{name}.ipynb").read_text(), as_version=4)
    md = "\n".join(_heading_text(c["source"].replace("\n", " \n "))
                   for c in nb["cells"] if c["cell_type"] == "markdown")
    # the page's text without tags or whitespace (inline tags such as <code> split words)
    page = "".join(_html.unescape(re.sub(r"<[^>]+>", "", to_html(nb))).split())
    missing_md = [h for h in headings if h not in md]
    missing_page = [h for h in headings if "".join(h.split()) not in page]
    assert missing_md == [] and missing_page == [], (
        f"{name}: headings not in a markdown cell {missing_md}, not on the page {missing_page}")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_headless(name, executed_or_fail):
    nb = executed_or_fail(name)
    assert error_outputs(nb) == []
    text = summary_text(nb)
    assert all(len(line) <= 72 for line in text.splitlines()
               if not line.startswith(">") and not re.fullmatch(r"https?://\S+", line))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_widget_outputs_are_saved_and_print_controls(name, executed_or_fail):
    nb = executed_or_fail(name)
    views = [o for c in nb.cells for o in c.get("outputs", [])
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    if not views:
        pytest.skip(f"{name} has no widget")
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    outputs = [o for m in state.values() if m["model_name"] == "OutputModel"
               for o in m["state"].get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "controls: " in printed, "widget output must start with report.control_line(...)"


def test_overview_parameters_are_injected(run_notebook):
    nb = run_notebook("00-overview", cpus=64, design="linux-6.8")
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "cpus=64 design=linux-6.8 areas=1024 free_fraction=0.3 seed=0 fast=True" in printed
    assert nb.cells[[i for i, c in enumerate(nb.cells)
                     if "parameters" in c.metadata.get("tags", [])][0] + 1].metadata["tags"] == [
        "injected-parameters"]


# (a negative CPU count is the case of test_make_report_fails_clearly_on_a_bad_parameter below;
# one kernel run per bad value keeps the suite short)
@pytest.mark.parametrize("params, expect", [
    ({"design": "rfc-v9"}, r"^ParameterError: unknown design 'rfc-v9'; valid design values: "
                           r"linux-6\.18, linux-6\.8$"),
])
def test_bad_parameter_gives_one_clear_line(run_notebook, params, expect):
    from vmapsim.notebook import NotebookFailed

    with pytest.raises(NotebookFailed) as info:
        run_notebook("00-overview", **params)
    exc = info.value
    assert exc.ename == "ParameterError"
    # what the reader sees in the notebook: exactly one line, no traceback from deep inside
    assert re.match(expect, exc.traceback), exc.traceback
    assert "\n" not in exc.traceback.strip()
    assert "vmap_node_geometry" in exc.source  # it stopped at the validation cell


def test_make_report_fails_clearly_on_a_bad_parameter(tmp_path, capsys):
    """The report driver names the notebook, the cell and the parameter, and exits 1."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("report_tool", ROOT / "tools" / "report.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["00-overview", "-p", "cpus=-1", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert ("notebooks/00-overview.ipynb: cell 4 failed: ParameterError: "
            "cpus must be in 1..8192, got -1") in out
    assert "1 of 1 notebook(s) failed" in out
    # the error part is the one line the reader saw, not a traceback from deep inside
    assert "--- error ---\nParameterError: cpus must be in 1..8192, got -1\n" in out
    assert "Traceback" not in out
    assert not list(tmp_path.iterdir())


def test_a_cell_that_runs_too_long_is_named(tmp_path):
    from vmapsim.notebook import NotebookFailed, build_notebook, execute

    nb = tmp_path / "99-slow.ipynb"
    nb.write_text(build_notebook("# %%\nx = 1\n\n# %%\nimport time\ntime.sleep(30)\n"))
    with pytest.raises(NotebookFailed) as info:
        execute(nb, timeout=2, label="notebooks/99-slow.ipynb")
    assert info.value.headline == ("notebooks/99-slow.ipynb: cell 2 failed: CellTimeoutError: did "
                                   "not finish within 2 s (per-cell limit; VMAPSIM_CELL_TIMEOUT "
                                   "raises it for make report)")
    assert "time.sleep(30)" in str(info.value)
