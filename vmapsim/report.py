"""What every notebook uses: set-up, widget binding, tables, the claims table, the key numbers and
the reply to the thread.

A notebook (see README "Contributing: notebooks") looks like::

    from vmapsim import report
    FAST = report.setup()            # inline plots, one-line errors for bad input, VMAPSIM_FAST
    # %% tags=["parameters"]
    cpus = 8
    # ... experiments are package functions; plots are separate functions ...
    report.bind(experiment, show, cpus=widgets.IntSlider(...))   # widgets only bind
    report.table(("design", "us/op"), rows)                       # an HTML table in the page
    claims = report.Claims()
    claims.add("text", value, "x == 128", source="mm/vmalloc.c:vmap_init_nodes")
    claims.verify()                  # shows the table, raises ClaimFailed if any claim fails
    nums = report.Numbers("00-overview")                          # vmapsim.numbers
    nums.add("vmap nodes", 8, source="kernel-source", design="linux-6.18", cpus=8)
    report.summary("00-overview", title=..., answers="M14",
                   parts=[("M14-text", "answer ...")], numbers=nums, rows="cpus",
                   conclusion=...)

``make report`` finds the summary in the executed notebook (mimetype :data:`SUMMARY_MIME`)
and writes ``build/report/<name>.txt``, ``<name>.eml`` (:mod:`vmapsim.reply`) and
``<name>.json`` (the numbers).
"""
from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .errors import ParameterError, VmapsimError
from .numbers import Numbers, sim_conditions
from .table import WIDTH, Table, format_value, table, text_table

__all__ = ["setup", "fast", "bind", "progress_bar", "control_line", "Claims", "ClaimFailed", "summary", "Summary",
           "text_table", "table", "Table", "Numbers", "sim_conditions", "SUMMARY_MIME", "WIDTH"]

#: mimetype under which a notebook emits its mailing-list summary (the exporter looks for it)
SUMMARY_MIME = "application/vnd.vmapsim.summary+json"


# --------------------------------------------------------------------------- set-up

def fast() -> bool:
    """True when ``VMAPSIM_FAST=1`` (the test suite): notebooks shrink their parameters."""
    return os.environ.get("VMAPSIM_FAST") == "1"


def setup() -> bool:
    """Prepare a notebook kernel; call it in the first code cell.  Returns :func:`fast`.

    Turns on inline matplotlib (never ipympl: it does not survive the HTML export) and makes a
    :class:`~vmapsim.errors.VmapsimError` raised by a cell show as one line
    (``ParameterError: cpus must be in 1..1024, got -4``) instead of a traceback.  The cell
    still fails, so a headless run stops there.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to set up
        return fast()
    ip = get_ipython()
    if ip is not None:
        ip.run_line_magic("matplotlib", "inline")
        ip.set_custom_exc((VmapsimError,), _one_line_error)
    return fast()


def _one_line_error(shell, etype, evalue, tb, tb_offset=None):
    # IPython discards the handler's return value for exceptions raised while running a cell,
    # so publish the one-line "traceback" ourselves: ipykernel sends it as the cell's error.
    line = f"{etype.__name__}: {evalue}"
    shell._showtraceback(etype, evalue, [line])
    return [line]


# --------------------------------------------------------------------------- widgets

def control_line(values: dict) -> str:
    """``controls: cpus=8, design=linux-6.18`` -- the line every widget output starts with."""
    return "controls: " + ", ".join(f"{k}={format_value(v)}" for k, v in values.items())


def progress_bar(description: str = "sweep") -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback for :func:`vmapsim.perf.sweep.sweep` that shows an
    ipywidgets progress bar in a notebook (created at the first call)."""
    state = {}

    def report(done: int, total: int) -> None:
        if "bar" not in state:
            import ipywidgets
            from IPython.display import display
            state["bar"] = ipywidgets.IntProgress(min=0, max=total, description=description)
            display(state["bar"])
        state["bar"].value = done

    return report


def bind(experiment: Callable[..., Any], show: Callable[[Any], Any], /, **controls):
    """Bind widget *controls* to ``show(experiment(**values))``; returns the ``interactive``.

    On every change the output shows the control-values line, then the plot and text that
    *show* produces (if *show* returns a matplotlib Figure it is displayed and closed).  A
    :class:`VmapsimError` from the experiment is shown as its one-line message.  Sliders are set
    to ``continuous_update=False`` so dragging runs the experiment once, on release.
    """
    import ipywidgets

    def update(**values):
        print(control_line(values))
        try:
            result = experiment(**values)
        except VmapsimError as exc:
            print(f"{type(exc).__name__}: {exc}")
            return
        fig = show(result)
        if fig is not None and hasattr(fig, "savefig"):
            import matplotlib.pyplot as plt
            from IPython.display import display

            display(fig)
            plt.close(fig)

    update.__name__ = getattr(experiment, "__name__", "experiment")
    w = ipywidgets.interactive(update, **controls)
    for child in w.children:
        if hasattr(child, "continuous_update"):
            child.continuous_update = False
    return w


# --------------------------------------------------------------------------- claims

class ClaimFailed(AssertionError):
    """One or more claims of a notebook do not hold for the recomputed values."""


_SAFE = {"abs": abs, "min": min, "max": max, "len": len, "round": round, "all": all, "any": any,
         "sorted": sorted, "set": set, "sum": sum, "math": math, "isclose": math.isclose,
         "True": True, "False": False, "None": None}


@dataclass
class Claim:
    text: str
    value: Any
    check: str
    source: str
    ok: bool
    error: str = ""


@dataclass
class Claims:
    """A table of claims, each with the value recomputed in this run and the check it must pass.

    ``check`` is a Python expression in ``x`` (the value), e.g. ``"x == 128"``,
    ``"0.99 <= x <= 1"``, ``"isclose(x, 3.2, rel_tol=0.05)"``, or a callable returning a bool.
    """

    title: str = "Claims checked in this run"
    claims: list = field(default_factory=list)

    def add(self, text: str, value, check, source: str):
        """Record a claim and evaluate its check now; returns *value*."""
        try:
            if callable(check):
                ok, shown = bool(check(value)), getattr(check, "__name__", "check")
            else:
                ok, shown = bool(eval(check, {"__builtins__": {}}, dict(_SAFE, x=value))), check
            err = ""
        except Exception as exc:  # a broken check is a failed claim, not a crash of the table
            ok, shown, err = False, str(check), f"{type(exc).__name__}: {exc}"
        self.claims.append(Claim(text, value, shown, source, ok, err))
        return value

    @property
    def failed(self) -> list:
        return [c for c in self.claims if not c.ok]

    def verify(self) -> None:
        """Display the table; raise :class:`ClaimFailed` listing every claim that does not hold."""
        try:
            from IPython.display import display

            display(self)
        except ImportError:
            print(self.text())
        if not self.claims:
            raise ClaimFailed("no claims were recorded")
        if self.failed:
            raise ClaimFailed("; ".join(
                f"claim {c.text!r} does not hold: value {format_value(c.value)}, check {c.check}"
                + (f" ({c.error})" if c.error else "") for c in self.failed))

    def rows(self):
        return [("ok" if c.ok else "FAILED", c.text, format_value(c.value), c.check, c.source)
                for c in self.claims]

    def text(self) -> str:
        return text_table(("", "claim", "value", "check", "source"), self.rows(), width=None)

    def _repr_html_(self) -> str:
        return Table(("", "claim", "value", "check", "source"), self.rows(),
                     title=self.title)._repr_html_()

    def __repr__(self) -> str:
        return self.text()


# --------------------------------------------------------------------------- summary

@dataclass
class Summary:
    """A notebook's answer to one message of the thread, ready to send as a reply.

    ``payload`` is what ``make report`` turns into ``<name>.txt``, ``<name>.eml`` and
    ``<name>.json`` (:mod:`vmapsim.reply`); ``text`` is the ``.txt`` as this kernel renders it.
    """

    notebook: str
    text: str
    payload: dict
    numbers: Any = None

    def _repr_mimebundle_(self, include=None, exclude=None):
        numbers_html = "".join(
            (f"<p><b>{html.escape(title)}</b></p>" if title else "") + t._repr_html_()
            for title, t in self.numbers.tables(self.payload.get("rows"))) \
            if self.numbers is not None else ""
        return {
            "text/plain": self.text,
            "text/html": (numbers_html + "<p><b>The reply</b> (<code>make report</code> writes it "
                          f"as {html.escape(self.notebook)}.txt and .eml)</p>"
                          "<pre class='vmapsim-summary' style='font-family: monospace; "
                          f"white-space: pre'>{html.escape(self.text)}</pre>"),
            SUMMARY_MIME: self.payload,
        }


def summary(notebook: str, *, title: str, answers: str, parts: Sequence, numbers,
            conclusion: str, rows=None, glossary: dict | None = None) -> Summary:
    """The notebook's reply to message *answers* (a label, ``"M18"``).

    *parts* is a list of ``(quote_id, answer)``: each passage of *answers* the reply quotes
    (ids of ``data/thread/quotes.json``, in the message's order), with the answer printed under
    it.  *numbers* (a :class:`~vmapsim.numbers.Numbers`) is the key-number table, printed from it
    (*rows*: see :meth:`~vmapsim.numbers.Numbers.table`; a mapping ``{group: rows}`` prints
    one table per group of numbers, :meth:`~vmapsim.numbers.Numbers.tables`) and written as
    ``<name>.json``;
    *conclusion* follows it.  Our lines are wrapped to 72 columns (ValueError if the table is
    wider than 70).  The reply ends with the labels it uses, each explained in one line
    (:func:`vmapsim.reply.glossary`); *glossary* gives the descriptions only the notebook knows
    (``{"migrate-pte": "..."}``).  Make it the last expression of the last cell: ``make
    report`` extracts it.
    """
    from . import __version__, reply
    if not isinstance(numbers, Numbers) or numbers.notebook != notebook:
        raise ParameterError(f"summary needs the Numbers of {notebook!r}, got {numbers!r}")
    if not parts:
        raise ParameterError("summary needs at least one (quote_id, answer) part")
    reply.check_parts(answers, [q for q, _ in parts])
    run = "fast" if fast() else "full"
    table_text = []
    for heading, tbl in numbers.tables(rows):
        if heading:
            table_text += ([""] if table_text else []) + [f"{heading}:"]
        table_text += tbl.text(width=reply.WIDTH - 2).splitlines()
    words = "\n".join([a for _, a in parts] + table_text + [conclusion or ""])
    labels = reply.glossary(words, [n.conditions for n in numbers], glossary, answers)
    payload = {"notebook": notebook, "title": title, "answers": answers,
               "parts": [{"quote": q, "answer": a} for q, a in parts],
               "table": table_text, "rows": rows, "conclusion": conclusion,
               "glossary": labels, "run": run, "version": __version__,
               "numbers": numbers.as_json(run=run, vmapsim=__version__)}
    text = reply.txt(payload, os.environ.get(reply.URL_ENV) or None)
    return Summary(notebook, text, payload, numbers)
