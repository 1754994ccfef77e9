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
    assert "<table" in c._repr_html_() and "hold" not in c._repr_html_()   # no claims count


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


def _numbers(name="99-test"):
    n = report.Numbers(name)
    n.add("vmap_nodes", 8, source="kernel-source", design="linux-6.18", cpus=8)
    return n


def test_summary_quotes_the_message_answered_and_carries_its_payload():
    s = report.summary("99-test", title="a test", answers="M18",
                       parts=[("M18-rule1", "because " * 40), ("M18-rule2", "and so.")],
                       numbers=_numbers(), conclusion="done " * 30)
    lines = s.text.splitlines()
    assert lines[0] == "vmapsim 99-test: a test"
    assert "On Tue, Jun 16, 2026 at 07:07:57PM +0100, Matthew Wilcox wrote:" in lines
    assert "> - Write side has to RCU-free the objects that are stored in the tree" in lines
    assert max(len(ln) for ln in lines if not ln.startswith(("> ", "http"))) <= 72
    assert "claims" not in s.text and "build/report" not in s.text
    bundle = s._repr_mimebundle_()
    payload = bundle[report.SUMMARY_MIME]
    assert payload["answers"] == "M18" and [p["quote"] for p in payload["parts"]] == [
        "M18-rule1", "M18-rule2"]
    assert payload["numbers"]["numbers"][0]["value"] == 8
    assert "<table" in bundle["text/html"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(answers="M18", parts=[("M17-text", "x")]), "is from M17, not from M18"),
    (dict(answers="M16", parts=[("M16-real-issue-short", "x")]), "shorthand"),
    (dict(answers="M99", parts=[("M18-rule1", "x")]), "unknown message label"),
    (dict(answers="M18", parts=[]), "at least one"),
])
def test_summary_refuses_what_the_thread_does_not_hold(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        report.summary("99-test", title="t", numbers=_numbers(), conclusion="c", **kwargs)


def test_summary_refuses_a_wide_table():
    n = report.Numbers("x")
    n.add("h" * 79, 1, source="model")
    with pytest.raises(ValueError, match="more than 70"):
        report.summary("x", title="t", answers="M18", parts=[("M18-rule1", "a")], numbers=n,
                       conclusion="c")


def test_table_is_html_and_text_and_folds_long_tables():
    rows = [(f"t{i}", i, i * 1.5) for i in range(40)]
    t = report.table(("trace", "n", "x"), rows, title="forty rows", key=lambda r: r[1] % 10 == 0,
                     name="demo")
    html = t._repr_html_()
    assert html.count("<table") == 2 and "<details>" in html and "All 40 rows (4 shown above)" in html
    assert "download='demo.csv'" in html and "data:text/csv;base64," in html
    assert t.text().splitlines()[0].split() == ["trace", "n", "x"] and len(t.text().splitlines()) == 42
    assert t.csv().splitlines()[1] == "t0,0,0"
    short = report.table(("a",), [(1,), (2,)])
    assert "<details>" not in short._repr_html_() and repr(short) == short.text()
    with pytest.raises(ValueError, match="row 1 has 1 cells"):
        report.table(("a", "b"), [(1, 2), (1,)])


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
