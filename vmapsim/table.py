"""Tables a notebook shows: an HTML table in the page and in JupyterLab, the same rows as fixed-width
text in the ``.txt`` summary and the mail reply.

:func:`table` makes a :class:`Table` (``_repr_html_`` for the page, :meth:`Table.text` for mail);
long tables fold under ``<details>`` with the rows that carry the argument shown and a CSV link.
:func:`format_value` is the one way a number is printed in both forms.
"""
from __future__ import annotations

import html
import textwrap
from typing import Sequence

__all__ = ["format_value", "text_table", "table", "Table", "WIDTH", "wrap_note"]

#: maximum line length of a mailing-list summary
WIDTH = 80


def format_value(v) -> str:
    """How tables print a value: ints with thousands separators from 100,000, floats to 4
    significant digits, numpy scalars as Python ones."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 100_000 else str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if hasattr(v, "item") and getattr(v, "shape", None) == ():  # numpy scalar
        return format_value(v.item())
    return str(v)


_fmt = format_value


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


# --------------------------------------------------------------------------- tables

class Table:
    """A table that shows as an HTML table in JupyterLab and in the exported page, and as
    fixed-width text (:meth:`text`, ``repr``) in ``print``, the ``.txt`` and the ``.eml``.

    Longer than *fold* rows, the page shows the rows *key* picks (a predicate on a row, or row
    indices; default: the first *fold*) and folds the whole table, with a CSV download, under a
    ``<details>`` element.  *notes* are footnote lines printed under the table.
    """

    def __init__(self, header: Sequence, rows: Sequence[Sequence], *, title: str | None = None,
                 notes: Sequence[str] = (), key=None, fold: int = 16, name: str | None = None):
        self.header = tuple(header)
        self.rows = [tuple(r) for r in rows]
        for i, r in enumerate(self.rows):
            if len(r) != len(self.header):
                raise ValueError(f"table row {i} has {len(r)} cells, the header has "
                                 f"{len(self.header)}")
        self.title, self.notes, self.fold, self.name = title, list(notes), fold, name
        if key is None:
            self.shown = list(range(min(len(self.rows), fold)))
        elif callable(key):
            self.shown = [i for i, r in enumerate(self.rows) if key(r)]
        else:
            self.shown = sorted(set(key))

    @property
    def folded(self) -> bool:
        return len(self.rows) > self.fold

    def text(self, width: int | None = None) -> str:
        """Every row as fixed-width text, then the notes (ValueError if wider than *width*)."""
        out = text_table(self.header, self.rows, width=width)
        if self.notes:
            notes = [ln for n in self.notes for ln in wrap_note(n, width or 100)]
            out += "\n\n" + "\n".join(notes)
        return out

    def csv(self) -> str:
        import csv
        import io
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.header)
        for r in self.rows:
            w.writerow([_fmt(v) for v in r])
        return buf.getvalue()

    def _html_table(self, rows) -> str:
        cells = [[_fmt(v) for v in r] for r in rows]
        numeric = [bool(cells) and all(_is_num(r[j]) or r[j] in ("-", "") for r in cells)
                   for j in range(len(self.header))]
        style = "style='text-align:{}; white-space:normal'"
        head = "".join(f"<th {style.format('right' if numeric[j] else 'left')}>"
                       f"{html.escape(_fmt(h))}</th>" for j, h in enumerate(self.header))
        body = "".join("<tr>" + "".join(
            f"<td {style.format('right' if numeric[j] else 'left')}>{html.escape(v)}</td>"
            for j, v in enumerate(r)) + "</tr>" for r in cells)
        return (f"<table class='vmapsim-table' style='table-layout:auto; margin-left:0'>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def _repr_html_(self) -> str:
        import base64

        parts = ["<div class='vmapsim-table' style='overflow-x:auto'>"]
        if self.title:
            parts.append(f"<p><b>{html.escape(self.title)}</b></p>")
        if not self.folded:
            parts.append(self._html_table(self.rows))
        else:
            parts.append(self._html_table([self.rows[i] for i in self.shown]))
            data = base64.b64encode(self.csv().encode()).decode()
            fname = (self.name or "table") + ".csv"
            parts.append(f"<details><summary>All {len(self.rows)} rows ({len(self.shown)} "
                         f"shown above)</summary>{self._html_table(self.rows)}"
                         f"<p><a download='{html.escape(fname)}' href='data:text/csv;base64,"
                         f"{data}'>Download the {len(self.rows)} rows as CSV</a></p></details>")
        if self.notes:
            parts.append("<p style='font-size:90%'>" + "<br>".join(html.escape(n)
                                                                    for n in self.notes) + "</p>")
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:
        return ((self.title + "\n") if self.title else "") + self.text()


def table(header: Sequence, rows: Sequence[Sequence], **kwargs) -> Table:
    """A :class:`Table` (HTML in the notebook and the page, fixed-width text for mail); display
    it as a cell's last expression or with ``display()``."""
    return Table(header, rows, **kwargs)


# --------------------------------------------------------------------------- summary


def wrap_note(line: str, width: int) -> list[str]:
    """A footnote ``[a] text`` wrapped to *width* with the text's indentation."""
    head, _, rest = line.partition(" ")
    # a single condition longer than the line (it has no space to break at) is cut, so that
    # the reply keeps its column limit
    return textwrap.wrap(rest, width, initial_indent=head + " ",
                         subsequent_indent=" " * (len(head) + 1), break_on_hyphens=False,
                         break_long_words=True) or [line]
