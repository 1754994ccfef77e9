"""What every notebook uses: set-up, widget binding, the claims table and the mailing-list summary.

A notebook (see README "Contributing: notebooks") looks like::

    from vmapsim import report
    FAST = report.setup()            # inline plots, one-line errors for bad input, VMAPSIM_FAST
    # %% tags=["parameters"]
    cpus = 8
    # ... experiments are package functions; plots are separate functions ...
    report.bind(experiment, show, cpus=widgets.IntSlider(...))   # widgets only bind
    claims = report.Claims()
    claims.add("text", value, "x == 128", source="mm/vmalloc.c:vmap_init_nodes")
    claims.verify()                  # shows the table, raises ClaimFailed if any claim fails
    report.summary("00-overview", question=..., header=..., rows=..., conclusion=..., claims=claims)

``make report`` finds the summary in the executed notebook (mimetype :data:`SUMMARY_MIME`)
and writes it to ``build/report/<name>.txt``.
"""
from __future__ import annotations

import html
import math
import os
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .errors import VmapsimError

__all__ = ["setup", "fast", "bind", "progress_bar", "control_line", "Claims", "ClaimFailed", "summary", "Summary",
           "text_table", "SUMMARY_MIME", "WIDTH"]

#: mimetype under which a notebook emits its mailing-list summary (the exporter looks for it)
SUMMARY_MIME = "application/vnd.vmapsim.summary+json"
#: maximum line length of a mailing-list summary
WIDTH = 80


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
    return "controls: " + ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())


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
                f"claim {c.text!r} does not hold: value {_fmt(c.value)}, check {c.check}"
                + (f" ({c.error})" if c.error else "") for c in self.failed))

    def rows(self):
        return [("ok" if c.ok else "FAILED", c.text, _fmt(c.value), c.check, c.source)
                for c in self.claims]

    def text(self) -> str:
        return text_table(("", "claim", "value", "check", "source"), self.rows(), width=None)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{h}</th>"
                       for h in ("", "claim", "value", "check", "source"))
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(v))}</td>" for v in r)
            + "</tr>" for r in self.rows())
        return (f"<p><b>{html.escape(self.title)}</b> ({len(self.claims) - len(self.failed)}/"
                f"{len(self.claims)} hold)</p><table><tr>{head}</tr>{body}</table>")

    def __repr__(self) -> str:
        return self.text()


# --------------------------------------------------------------------------- summary

def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 100_000 else str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if hasattr(v, "item") and getattr(v, "shape", None) == ():  # numpy scalar
        return _fmt(v.item())
    return str(v)


def text_table(header: Sequence, rows: Sequence[Sequence], width: int | None = WIDTH) -> str:
    """A plain-text table with right-aligned numbers; raises ValueError if wider than *width*."""
    cells = [[_fmt(v) for v in header]] + [[_fmt(v) for v in r] for r in rows]
    ncol = len(cells[0])
    for i, r in enumerate(cells):
        if len(r) != ncol:
            raise ValueError(f"table row {i} has {len(r)} cells, the header has {ncol}")
    widths = [max(len(r[j]) for r in cells) for j in range(ncol)]
    numeric = [all(_is_num(r[j]) for r in cells[1:]) and len(cells) > 1 for j in range(ncol)]
    lines = []
    for i, r in enumerate(cells):
        lines.append("  ".join(v.rjust(w) if numeric[j] else v.ljust(w)
                               for j, (v, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if width is not None:
        for ln in lines:
            if len(ln) > width:
                raise ValueError(f"table line is {len(ln)} columns, more than {width}: {ln!r}")
    return "\n".join(lines)


def _is_num(s: str) -> bool:
    try:
        float(s.replace(",", "").rstrip("%x"))
        return True
    except ValueError:
        return False


@dataclass
class Summary:
    """The plain-text summary of one notebook, ready to paste into a mailing-list reply."""

    notebook: str
    text: str

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {
            "text/plain": self.text,
            "text/html": ("<pre class='vmapsim-summary' style='font-family: monospace; "
                          f"white-space: pre'>{html.escape(self.text)}</pre>"),
            SUMMARY_MIME: {"notebook": self.notebook, "text": self.text},
        }


def _wrap(text: str, prefix: str = "") -> list[str]:
    out = []
    for para in text.strip().split("\n\n"):
        out += textwrap.wrap(" ".join(para.split()), WIDTH - len(prefix) - 2,
                             initial_indent=prefix, subsequent_indent=prefix,
                             break_on_hyphens=False) or [prefix.rstrip()]
        out.append(prefix.rstrip())
    return out[:-1]


def summary(notebook: str, *, question: str, who: str, header: Sequence, rows: Sequence[Sequence],
            conclusion: str, claims: Claims | None = None, title: str | None = None,
            verb: str = "asked") -> Summary:
    """Build the mailing-list summary: the quoted question, a text table, the conclusion.

    *question* is the thread's wording, *who* its attribution (``"Matthew Wilcox, 13 Jun 2026"``),
    *verb* what the quoted text is (``"asked"``; ``"reported"`` for a kernel log).
    Every line is at most :data:`WIDTH` columns (ValueError otherwise).  Make it the last
    expression of the notebook's last cell so it is displayed; ``make report`` extracts it.
    """
    from . import __version__

    lines = [f"vmapsim {notebook}" + (f": {title}" if title else "")]
    lines += _wrap(f"{who} {verb}:")
    lines += _wrap(question, "> ")
    lines += ["", "Key numbers (recomputed by this run):", ""]
    lines += ["  " + ln for ln in text_table(header, rows, width=WIDTH - 2).splitlines()]
    lines += [""] + _wrap(conclusion)
    if claims is not None:
        n_ok = len(claims.claims) - len(claims.failed)
        lines += ["", f"{n_ok} of {len(claims.claims)} claims in the notebook hold for these numbers."]
    lines += [""] + _wrap(f"Evidence: build/report/{notebook}.html (vmapsim {__version__}, "
                          f"{'fast' if fast() else 'full'} run); rerun with `make report`.")
    lines = [ln.rstrip() for ln in lines]
    for ln in lines:
        if len(ln) > WIDTH:
            raise ValueError(f"summary line is {len(ln)} columns, more than {WIDTH}: {ln!r}")
    return Summary(notebook, "\n".join(lines) + "\n")
