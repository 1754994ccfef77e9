"""The plotting functions of vmapsim.review return their figure without displaying it: each
``plot_*`` hands its figure back through ``figures.finished`` (closed in pyplot, so the inline
backend does not show it a second time at the end of the cell)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REVIEW = Path(__file__).resolve().parent.parent / "vmapsim" / "review"


def _plot_functions():
    for path in sorted(REVIEW.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("plot_"):
                yield path.name, node


def test_every_plot_function_returns_a_finished_figure():
    found = list(_plot_functions())
    assert len(found) >= 20
    bad = []
    for fname, fn in found:
        returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
        calls_show = [n for n in ast.walk(fn) if isinstance(n, ast.Call)
                      and getattr(n.func, "attr", getattr(n.func, "id", "")) in ("show", "display")]
        ok = returns and all(isinstance(r.value, ast.Call) and getattr(r.value.func, "id", "")
                             == "finished" for r in returns)
        if not ok or calls_show:
            bad.append(f"{fname}:{fn.lineno} {fn.name}")
    assert not bad, "plot_* must `return finished(fig)` and never show it: " + ", ".join(bad)


def test_a_finished_figure_is_closed_but_still_drawable():
    plt = pytest.importorskip("matplotlib.pyplot")
    from vmapsim.review import scaling
    from vmapsim.review.figures import finished

    plt.close("all")
    bl = scaling.rcu_backlog()
    fig = scaling.plot_rcu_backlog(bl)
    assert plt.get_fignums() == []          # nothing left for the inline backend to show
    fig.canvas.draw()                       # ... yet the returned figure renders
    fig2, _ = plt.subplots()
    assert finished(fig2) is fig2 and plt.get_fignums() == []
