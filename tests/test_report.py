"""vmapsim.report: claims tables, text tables, the mailing-list summary and widget binding."""
import pytest

from vmapsim import report
from vmapsim.errors import ParameterError


def test_claims_pass_and_fail():
    c = report.Claims()
    assert c.add("eight nodes", 8, "x == 8", "mm/vmalloc.c:vmap_init_nodes") == 8
    c.add("close enough", 3.1, "isclose(x, 3.0, rel_tol=0.05)", "here")
    c.add("callable check", [1, 2], lambda v: len(v) == 2, "here")
    c.verify()
    c.add("wrong", 7, "x == 8", "there")
    c.add("broken check", 1, "x ==", "there")
    with pytest.raises(report.ClaimFailed, match="'wrong' does not hold: value 7, check x == 8"):
        c.verify()
    assert [r[0] for r in c.rows()] == ["ok", "ok", "ok", "FAILED", "FAILED"]
    assert "SyntaxError" in c.failed[1].error
    assert "<table>" in c._repr_html_() and "3/5 hold" in c._repr_html_()


def test_claims_without_claims_fail():
    with pytest.raises(report.ClaimFailed, match="no claims"):
        report.Claims().verify()


def test_text_table_aligns_and_enforces_width():
    t = report.text_table(("name", "n"), [("a", 1), ("bbb", 1000)])
    assert t.splitlines() == ["name     n", "----  ----", "a        1", "bbb   1000"]
    with pytest.raises(ValueError, match="more than 80"):
        report.text_table(("x",), [("y" * 81,)])
    with pytest.raises(ValueError, match="row 1 has 1 cells"):
        report.text_table(("a", "b"), [(1,)])


def test_summary_is_quoted_wrapped_and_carries_the_mimetype():
    s = report.summary("99-test", question="why " * 60, who="Someone (1 Jan 2026)",
                       header=("a", "b"), rows=[(1, 2.5)], conclusion="because " * 40)
    lines = s.text.splitlines()
    assert lines[0] == "vmapsim 99-test"
    assert sum(ln.startswith("> why") for ln in lines) >= 3
    assert max(map(len, lines)) <= 80
    bundle = s._repr_mimebundle_()
    assert bundle[report.SUMMARY_MIME] == {"notebook": "99-test", "text": s.text}


def test_summary_refuses_a_wide_table():
    with pytest.raises(ValueError, match="more than 78"):
        report.summary("x", question="q", who="w", header=("h" * 79,), rows=[], conclusion="c")


def test_control_line():
    assert report.control_line({"cpus": 8, "design": "linux-6.18", "f": 0.25}) == (
        "controls: cpus=8, design=linux-6.18, f=0.25")


def test_bind_prints_controls_and_one_line_errors(capsys):
    import ipywidgets

    def experiment(cpus):
        if cpus < 1:
            raise ParameterError(f"cpus must be in 1..8, got {cpus}")
        return cpus * 2

    shown = []
    w = report.bind(experiment, shown.append, cpus=ipywidgets.IntSlider(value=3, min=-2, max=8))
    assert w.children[0].continuous_update is False
    w.children[0].value = 4
    w.children[0].value = -1
    out = capsys.readouterr().out
    assert shown[-1] == 8
    assert "controls: cpus=4" in out
    assert "controls: cpus=-1\nParameterError: cpus must be in 1..8, got -1" in out
    assert "Traceback" not in out
