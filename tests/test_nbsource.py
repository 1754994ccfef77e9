"""The py:percent source format and the build/pull round trip of tools/nb.py."""
import json
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT

from vmapsim.notebook import (
    SourceError,
    build_notebook,
    inject_parameters,
    parse_source,
    stripped_problems,
    to_source,
)

SRC = '''
# %% [markdown]
# # Title
#
# > quoted question

# %%
import os

# %% tags=["parameters"]
cpus = 8


# %%
print(cpus)
'''


def test_parse_cells_kinds_tags_and_blank_lines():
    cells = parse_source(SRC)
    assert [(c.kind, c.tags) for c in cells] == [
        ("markdown", []), ("code", []), ("code", ["parameters"]), ("code", [])]
    assert cells[0].source == "# Title\n\n> quoted question"
    assert cells[2].source == "cpus = 8"


def test_build_is_stripped_deterministic_and_valid():
    text = build_notebook(SRC)
    assert text == build_notebook(SRC)
    nb = json.loads(text)
    nbformat.validate(nbformat.from_dict(nb))
    assert stripped_problems(nb) == []
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_pull_round_trip():
    nb = nbformat.reads(build_notebook(SRC), as_version=4)
    assert build_notebook(to_source(nb)) == build_notebook(SRC)


@pytest.mark.parametrize("bad, where", [
    ("x = 1\n# %%\n", ":1: text before the first"),
    ("# %% [markdown]\nnot a comment\n", ":2: markdown lines must start with '# '"),
    ("# %% tags=[parameters]\n", ":1: tags must be a JSON list"),
    ("# %% [raw]\n", ":1: cannot read cell marker"),
    ("# %%\n%matplotlib inline\n", ":1: IPython magics"),
])
def test_source_errors_name_file_and_line(bad, where):
    with pytest.raises(SourceError, match=where.replace("[", r"\[").replace("(", r"\(")):
        parse_source(bad, "nb.py")


def test_stripped_problems_lists_outputs_counts_and_widget_state():
    nb = json.loads(build_notebook(SRC))
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    nb["cells"][1]["execution_count"] = 3
    nb["metadata"]["widgets"] = {}
    assert len(stripped_problems(nb)) == 3


def test_inject_parameters_after_the_parameters_cell():
    nb = nbformat.reads(build_notebook(SRC.replace("cpus = 8\n", "cpus = 8\ndesign = 'a'\n")),
                        as_version=4)
    inject_parameters(nb, cpus=-1, design="x")
    assert nb.cells[3].metadata.tags == ["injected-parameters"]
    assert "cpus = -1\ndesign = 'x'" in nb.cells[3].source


def test_unknown_parameter_is_named_with_the_notebooks_parameters():
    """A typo (cpsu=64) used to be injected as a new variable and ignored."""
    from vmapsim.errors import ParameterError
    from vmapsim.notebook import parameter_names

    nb = nbformat.reads(build_notebook(SRC.replace("cpus = 8\n", "cpus = 8\nx: int = 1\na, b = 1, 2\n")),
                        as_version=4)
    assert parameter_names(nb) == ["cpus", "x", "a", "b"]
    with pytest.raises(ParameterError, match=r"^unknown parameter 'cpsu' for the notebook; its "
                                             r"parameters: cpus, x, a, b$"):
        inject_parameters(nb, cpsu=64)
    assert len(nb.cells) == 4


def test_report_tool_refuses_a_parameter_typo(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "report.py"), "00-overview", "-p",
                           "cpsu=64", "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert "\n" not in err and "'cpsu'" in err
    assert "00-overview: cpus, design, max_cpus, areas, free_fraction, seed" in err
    assert not (tmp_path / "out").exists()


def test_nb_check_passes_on_the_repository():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "nb.py"), "check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st

# str.splitlines() also splits on these, so a "line" must not contain them
_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_line = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=_BREAKS),
                max_size=30)


@st.composite
def _cells(draw):
    out = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["code", "markdown"]))
        lines = draw(st.lists(_line, min_size=1, max_size=4))
        if kind == "code":
            lines = [ln for ln in lines if not ln.lstrip().startswith(("%", "!", "# %%"))]
            lines = [ln for ln in lines if ln.strip()] or ["x = 1"]
        else:
            lines = [ln.strip() or "text" for ln in lines]
        tags = draw(st.sampled_from([[], ["parameters"]]))
        out.append((kind, "\n".join(lines), tags))
    return out


@settings(max_examples=60, deadline=None)
@given(_cells())
def test_build_pull_build_is_a_fixed_point(cells):
    nb = nbformat.v4.new_notebook(cells=[
        (nbformat.v4.new_code_cell if k == "code" else nbformat.v4.new_markdown_cell)(
            source=s, metadata={"tags": t} if t else {}) for k, s, t in cells])
    text = to_source(nb)
    built = nbformat.reads(build_notebook(text), as_version=4)
    assert [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in built.cells] == [
        (k, s, t) for k, s, t in cells]
    assert build_notebook(to_source(built)) == build_notebook(text)
