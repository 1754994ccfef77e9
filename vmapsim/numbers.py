"""A notebook's key numbers as data: what ``build/report/<name>.json`` holds and its summary prints.

Every number a notebook's summary (and so its mailing-list reply) states is recorded once, with
where it comes from and the conditions that reproduce it::

    nums = report.Numbers("01-free-tree")
    nums.add("time per loop", r.us_per_op, "us", source="model", steady=False,
             fmt=".2f", **report.sim_conditions(r, warmup=0))
    nums.add("vmap_area size", 72, "B", source="kernel-source", design="linux-6.18")

``source`` is one of :data:`SOURCES`: ``model`` (vmapsim's models: the performance model, the
designs' allocators), ``real-trace`` (checked against a kernel recording), ``explorer`` (the
interleaving explorer), ``published`` (a figure from the thread or a paper) or
``kernel-source`` (a fact read from the kernel's code).  ``conditions`` use the parameter names of
the ``simulate``/``replay``/``explore`` commands (:data:`CONDITIONS`), so that an entry says how
to rerun it; ``steady`` is True for a steady-state performance figure, False for a transient
(e.g. a run without warm-up), None where the notion does not apply; the model's timings (model
numbers with ``steady`` True or False) carry the calibration's error band (:func:`error_band`).
``context`` (optional) holds facts that qualify a number without rerunning it, such as a real
capture's kind, whether it was held out from the model's development, its kernel build, CPUs,
workload and duration (written to the JSON, not to the table).

**How the band applies to a comparison of two designs** (the one rule every notebook uses,
:func:`compare`).  The band *b* is ``error_band`` of ``data/perf/calibration.json``: the largest
held-out error of a model time, model / published - 1, rounded up.  For two model times A and B
of different designs under the same conditions, with ratio r = A / B: **if |r - 1| < b, the
two are "not distinguishable by this model"**.  The rule is applied to the slower time over the
faster (r >= 1; :attr:`Comparison.factor`), so that it does not depend on which design is
named first: a design is told apart from another only when one takes more than (1 + *b*)
times the other's time (:func:`ratio_threshold`).  With *b* = 1.55 that is a factor 2.55.  The
rule assumes nothing about whether two designs' errors cancel; :func:`band_evidence` states
what the calibration says about ratios (the worst held-out error of the ``linux-6.8`` /
``linux-6.18`` ratio), and a notebook that compares against ``linux-6.8`` prints it beside its
verdicts.  A notebook may use a tighter band for a subset of designs only where it states the
held-out evidence for that subset (``compare(..., band=...)``).

A model number that ``vmapsim simulate`` reruns (a time with its design, cpus and workload)
says how in the JSON: ``rerun`` (:meth:`Number.command`), the command line with the number's
conditions, and ``rerun_value``, the key of its ``--json`` output that holds the number
(``us_per_op`` unless the notebook said otherwise).  The model is deterministic for a seed:
the command reproduces the value exactly, up to the digits the JSON keeps.

Bad input raises :class:`~vmapsim.errors.ParameterError` naming the field and the valid values.
:meth:`Numbers.table` renders the numbers as a :class:`~vmapsim.report.Table` whose text form is
what the summary prints, with one footnote per set of conditions.
"""
from __future__ import annotations

import json
import math
import numbers as _numbers
from dataclasses import dataclass, field
from functools import lru_cache

from .errors import ParameterError
from .paths import DATA_DIR

__all__ = ["Number", "Numbers", "SOURCES", "CONDITIONS", "error_band", "sim_conditions",
           "ratio_threshold", "compare", "Comparison", "band_evidence"]

SOURCES = ("model", "real-trace", "explorer", "published", "kernel-source")
#: condition keys: the parameter names of ``vmapsim simulate`` / ``replay`` / ``explore``, plus
#: design parameters a replay passes through ``replay(..., **params)`` (``bump``, ``lazy_list``
#: and ``rcu`` of ``rfc-v1``: without the bump overlay, 6.18's pool order, trees in RCU mode);
#: ``cost`` is ``simulate --cost NAME=VALUE`` (a constant of data/perf/costs.json moved, e.g. the
#: calibration's ``counters_share_line=1``; a string or a list of them); ``simulate``'s reader
#: CPUs (``reader``: the ``--reader`` string; ``readers_only``); ``settle`` (``--settle``)
CONDITIONS = ("design", "lookup", "cpus", "online_cpus", "workload", "loops", "warmup", "machine",
              "setup_scale", "seed", "trace", "scenario", "prefill", "bump", "lazy_list", "rcu",
              "cost", "reader", "readers_only", "settle")
#: conditions ``vmapsim simulate`` takes, and its option for each (:meth:`Number.command`)
SIMULATE_OPTIONS = {"design": "--design", "lookup": "--lookup", "cpus": "--cpus",
                    "workload": "--workload", "loops": "--loops", "machine": "--machine",
                    "seed": "--seed", "online_cpus": "--online-cpus", "warmup": "--warmup",
                    "setup_scale": "--setup-scale", "prefill": "--prefill", "cost": "--cost",
                    "settle": "--settle"}
#: the band used when data/perf/calibration.json states none
DEFAULT_BAND = 0.25
SOURCE_TEXT = {"model": "model", "real-trace": "real kernel trace", "explorer": "explorer",
               "published": "published", "kernel-source": "kernel source"}


@lru_cache(maxsize=None)
def error_band() -> float:
    """The performance model's error band as a fraction: ``error_band`` of
    ``data/perf/calibration.json`` if it has one, else 0.25 (+-25 %)."""
    try:
        data = json.loads((DATA_DIR / "perf" / "calibration.json").read_text())
    except (OSError, ValueError):
        return DEFAULT_BAND
    band = data.get("error_band")
    return float(band) if isinstance(band, (int, float)) and not isinstance(band, bool) \
        else DEFAULT_BAND


def ratio_threshold(band: float | None = None) -> float:
    """The factor by which one design's model time must exceed another's before this model can
    tell them apart: ``1 + band`` (the module docstring gives the rule: |ratio - 1| < band is
    not distinguishable, ratio taken as the slower over the faster; *band* defaults to
    :func:`error_band`)."""
    b = error_band() if band is None else float(band)
    if not (math.isfinite(b) and b >= 0):
        raise ParameterError(f"band must be a finite fraction >= 0, got {band!r}")
    return 1.0 + b


@dataclass(frozen=True)
class Comparison:
    """Model time *a* of one design against *b* of another (same conditions otherwise)."""

    a: float
    b: float
    threshold: float

    @property
    def ratio(self) -> float:
        """``a / b``."""
        return self.a / self.b

    @property
    def factor(self) -> float:
        """The slower time over the faster one (>= 1)."""
        return max(self.a, self.b) / min(self.a, self.b)

    @property
    def distinguishable(self) -> bool:
        """The project's rule: not distinguishable when |factor - 1| < band, where
        :attr:`threshold` is 1 + band (so distinguishable when factor >= threshold)."""
        return self.factor >= self.threshold

    def verdict(self) -> str:
        """``distinguishable`` or ``not distinguishable by this model``."""
        return "distinguishable" if self.distinguishable else "not distinguishable by this model"

    def text(self) -> str:
        """``1.03x: not distinguishable by this model (needs >= 2.15x either way)``."""
        return f"{self.ratio:.2f}x: {self.verdict()} (needs >= {self.threshold:.2f}x either way)"


def compare(a: float, b: float, band: float | None = None) -> Comparison:
    """Model time *a* against *b* under the band rule of the module docstring (*band*: the
    calibration's by default; a tighter one only with its evidence stated)."""
    for name, v in (("a", a), ("b", b)):
        if isinstance(v, bool) or not isinstance(v, _numbers.Real) or not math.isfinite(v) \
                or v <= 0:
            raise ParameterError(f"compare: {name} must be a positive time, got {v!r}")
    return Comparison(float(a), float(b), ratio_threshold(band))


def band_evidence(path=None) -> dict:
    """What the calibration says about the band's two readings (``data/perf/calibration.json``):

    * ``time_factor``: the worst held-out time as a factor, max(model / published, published /
      model), with its point (``time_point``);
    * ``ratio_factor``: the worst held-out error of a ratio of two designs' times, the
      ``linux-6.8`` / ``linux-6.18`` ratio at one job count of Rezki's v1 and v3's before / after
      wall time, as a factor, with its point (``ratio_point``);
    * ``band``, ``threshold`` (:func:`ratio_threshold`)."""
    data = json.loads(((DATA_DIR / "perf" / "calibration.json") if path is None
                       else path).read_text())
    pts = data["points"]
    held = [p for p in pts if p["set"] == "held-out" and p["kind"] in ("v1 us per pair",
                                                                        "wall time")]
    worst_t = max(held, key=lambda p: max(p["model"] / p["published"],
                                          p["published"] / p["model"]))
    v1 = {(p["design"], p["jobs"]): p for p in pts if p["kind"] == "v1 us per pair"}
    ratios = []
    for (d, j), p in v1.items():
        q = v1.get(("linux-6.18", j))
        if d == "linux-6.8" and q and p["set"] == q["set"] == "held-out":
            ratios.append((f"v1 linux-6.8 / linux-6.18 at {j} jobs",
                           (p["model"] / q["model"]) / (p["published"] / q["published"])))
    ratios += [(p["id"], p["model"] / p["published"]) for p in pts
               if p["kind"] == "ratio" and p["set"] == "held-out"]
    worst_r = max(ratios, key=lambda r: max(r[1], 1 / r[1]))
    band = float(data["error_band"])
    return {"band": band, "threshold": ratio_threshold(band),
            "time_factor": max(worst_t["model"] / worst_t["published"],
                               worst_t["published"] / worst_t["model"]),
            "time_point": f"{worst_t['kind']}, {worst_t['id']}",
            "ratio_factor": max(worst_r[1], 1 / worst_r[1]), "ratio_point": worst_r[0],
            "held_out_ratios": len(ratios)}


def sim_conditions(result, **extra) -> dict:
    """The conditions of a :class:`vmapsim.perf.simulate.SimResult` (design, lookup, cpus,
    online_cpus, workload, loops, machine, seed), plus *extra* (``warmup=``, ``setup_scale=``,
    ``prefill=``: what the call passed that the result does not record)."""
    cond = {k: getattr(result, k) for k in ("design", "lookup", "cpus", "online_cpus", "workload",
                                            "loops", "machine", "seed")}
    cond.update(extra)
    return cond


def _check_value(name: str, value):
    if hasattr(value, "item") and getattr(value, "shape", None) == ():   # numpy scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (_numbers.Real, str)):
        raise ParameterError(f"number {name!r}: value must be a number or a string, got "
                             f"{value!r} ({type(value).__name__}); write a bool as a word")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(f"number {name!r}: value must be finite, got {value!r}")
    if isinstance(value, _numbers.Integral):
        return int(value)
    if isinstance(value, _numbers.Real):
        return float(value)
    return value


def _check_condition(name: str, key: str, value):
    if key not in CONDITIONS:
        raise ParameterError(f"number {name!r}: unknown condition {key!r}; valid conditions: "
                             f"{', '.join(CONDITIONS)}")
    if isinstance(value, (list, tuple)):
        return [_check_condition(name, key, v) for v in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    if not isinstance(value, (str, int, float, bool)):
        raise ParameterError(f"number {name!r}: condition {key} must be a string, number or a "
                             f"list of them, got {value!r}")
    return value


@dataclass
class Number:
    """One key number (see the module docstring for the fields)."""

    name: str
    value: float | int | str
    unit: str
    source: str
    steady: bool | None
    conditions: dict
    error_band: float | None = None
    fmt: str | None = field(default=None, repr=False)
    context: dict | None = None
    #: what the band bounds: ``"time"`` (a model time, +-band) or ``"ratio"`` (a ratio of two
    #: designs' times: told apart only beyond :func:`ratio_threshold`); None without a band
    band_applies: str | None = None
    #: the key-number table the number is printed in (:meth:`Numbers.table`'s *group*)
    group: str | None = None
    #: where the value is in ``vmapsim simulate --json`` (dotted key), for a number
    #: :meth:`command` reruns; None means ``us_per_op``
    measure: str | None = None

    def as_json(self) -> dict:
        d = {"name": self.name, "value": self.value, "unit": self.unit, "source": self.source,
             "steady": self.steady, "conditions": dict(self.conditions)}
        if self.error_band is not None:
            d["error_band"] = self.error_band
            d["error_band_applies"] = self.band_applies
            if self.band_applies == "ratio":
                d["distinguishable_beyond"] = round(ratio_threshold(self.error_band), 4)
        cmd = self.command()
        if cmd:
            d["rerun"] = cmd
            d["rerun_value"] = self.measure or "us_per_op"
        if self.context:
            d["context"] = dict(self.context)
        if self.group:
            d["group"] = self.group
        return d

    def command(self) -> str | None:
        """``python -m vmapsim simulate ... --json`` with this number's conditions, whose
        ``us_per_op`` (or :attr:`measure`) is the number: for a model time (unit ``us...``, a
        time band) whose
        conditions are all ``simulate`` options and name a design, CPUs and workload; else
        None."""
        c = self.conditions
        if self.source != "model" or self.steady is None or self.band_applies != "time" \
                or not self.unit.startswith("us") or not {"design", "cpus", "workload"} <= set(c) \
                or any(k not in SIMULATE_OPTIONS for k in c):
            return None
        parts = ["python -m vmapsim simulate"]
        for k, opt in SIMULATE_OPTIONS.items():
            if k not in c:
                continue
            vals = c[k] if isinstance(c[k], list) else [c[k]]
            if k != "cost" and len(vals) != 1:
                return None
            parts += [f"{opt} {_cond_text(v)}" for v in vals]
        if self.steady is False and "warmup" not in c:
            parts.append("--cold")
        return " ".join(parts + ["--json"])

    def shown(self) -> str:
        """The value as the tables print it (``fmt`` applied, no unit)."""
        if self.fmt and not isinstance(self.value, str):
            return format(self.value, self.fmt)
        from .table import format_value
        return format_value(self.value)

    def kind(self) -> str:
        """``model, steady state, +-25 % (calibration band)``: the source and how to read it."""
        what = [SOURCE_TEXT[self.source]]
        if self.steady is True:
            what.append("steady state")
        elif self.steady is False:
            what.append("not steady state")
        if self.error_band is not None:
            if self.band_applies == "ratio":
                what.append(f"apart only from x{ratio_threshold(self.error_band):.2f} "
                            f"(band +-{self.error_band:.0%})")
            else:
                what.append(f"+-{self.error_band:.0%} (calibration band)")
        return ", ".join(what)

    def condition_items(self, leave_out=()) -> tuple:
        return tuple((k, _cond_text(v)) for k, v in self.conditions.items() if k not in leave_out)

    def describe(self, leave_out=()) -> str:
        """``model, steady state, +-25 %: design=linux-6.18 cpus=16 ...`` (conditions in
        *leave_out* omitted)."""
        cond = " ".join(f"{k}={v}" for k, v in self.condition_items(leave_out))
        return self.kind() + (f": {cond}" if cond else "")


def _footnotes(groups: dict) -> list[str]:
    """Footnote lines for ``{(kind, conditions): letter}``: numbers of one kind whose conditions
    share some ``key=value`` get one line with the shared part, then a line per letter with the
    rest."""
    by_kind: dict[str, list] = {}
    for (kind, cond), letter in groups.items():
        by_kind.setdefault(kind, []).append((letter, cond))
    order = {m: i for i, m in enumerate(groups.values())}
    blocks = []   # (position of the first letter, lines), printed in letter order
    for kind, entries in by_kind.items():
        common = [kv for kv in entries[0][1] if all(kv in c for _, c in entries[1:])]
        # group only where each member still has a condition of its own to show
        if len(entries) > 1 and common and all(len(c) > len(common) for _, c in entries):
            letters = ",".join(m.strip("[]") for m, _ in entries)
            block = [f"[{letters}] {kind}: " + " ".join(f"{k}={v}" for k, v in common)]
            for m, c in entries:
                block.append(f"{m} " + " ".join(f"{k}={v}" for k, v in c if (k, v) not in common))
            blocks.append((order[entries[0][0]], block))
        else:
            for m, c in entries:
                cond = " ".join(f"{k}={v}" for k, v in c)
                blocks.append((order[m], [f"{m} {kind}" + (f": {cond}" if cond else "")]))
    return [ln for _, block in sorted(blocks, key=lambda b: b[0]) for ln in block]


def _unit_suffix(n: Number) -> str:
    return f" {n.unit}" if n.unit else ""


def _header(name: str, unit: str, title: str = "") -> str:
    """A column's title: the name, and the unit unless the name already says it or the table's
    title does (``"time per op (us)"``)."""
    return f"{name} {unit}" if unit and unit not in name and f"({unit})" not in title else name


def _cond_text(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(map(_cond_text, v)) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class Numbers:
    """The key numbers of one notebook (``report.Numbers("01-free-tree")``)."""

    def __init__(self, notebook: str):
        if not isinstance(notebook, str) or not notebook:
            raise ParameterError(f"Numbers needs the notebook's name, got {notebook!r}")
        self.notebook = notebook
        self.numbers: list[Number] = []

    def add(self, name: str, value, unit: str = "", *, source: str, steady: bool | None = None,
            band: bool | None = None, ratio: bool = False, fmt: str | None = None,
            context: dict | None = None, group: str | None = None, measure: str | None = None,
            **conditions):
        """Record one number and return *value*.

        *band*: whether the model's error band applies (default: for ``source="model"`` numbers
        that say ``steady=True`` or ``False``, i.e. the performance model's timings).  *ratio*:
        the number is a ratio (or a relative difference) of two designs' model times, so the
        band applies as the comparison rule of the module docstring (:func:`ratio_threshold`),
        not as +-band.  *group* names the table it is printed in (:meth:`table`); *measure*
        the dotted key of ``vmapsim simulate --json`` that holds the value when it is not
        ``us_per_op`` (e.g. ``find_latency_us.mean``).  *fmt* is
        the format spec the tables print the value with (``".2f"``); *context* the facts that
        qualify it (see the module docstring: strings, numbers, bools or None).  Raises
        ParameterError for an unknown *source* or condition, a value that is neither a number
        nor a string, a *steady* that is not True/False/None, a *context* that is not such a
        mapping, or a number recorded twice with the same conditions.
        """
        if not isinstance(name, str) or not name.strip():
            raise ParameterError(f"a number needs a name, got {name!r}")
        if source not in SOURCES:
            raise ParameterError(f"number {name!r}: unknown source {source!r}; valid sources: "
                                 f"{', '.join(SOURCES)}")
        if steady not in (True, False, None):
            raise ParameterError(f"number {name!r}: steady must be True, False or None, "
                                 f"got {steady!r}")
        if not isinstance(unit, str):
            raise ParameterError(f"number {name!r}: unit must be a string, got {unit!r}")
        checked = _check_value(name, value)
        cond = {k: _check_condition(name, k, v) for k, v in conditions.items()}
        if band is None:   # a performance figure of the model: it says steady or not
            band = source == "model" and steady is not None and not isinstance(checked, str)
        if any(n.name == name and n.conditions == cond and n.group == group
               for n in self.numbers):
            raise ParameterError(f"number {name!r} is recorded twice with the same conditions "
                                 f"{cond}")
        if context is not None:
            if not isinstance(context, dict) or not all(
                    isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool)))
                    for k, v in context.items()):
                raise ParameterError(f"number {name!r}: context must map names to strings, "
                                     f"numbers, bools or None, got {context!r}")
        if group is not None and (not isinstance(group, str) or not group.strip()):
            raise ParameterError(f"number {name!r}: group must be a non-empty string, got "
                                 f"{group!r}")
        if ratio and source != "model":
            raise ParameterError(f"number {name!r}: ratio=True is for model numbers, got "
                                 f"source {source!r}")
        self.numbers.append(Number(name, checked, unit, source, steady, cond,
                                   error_band() if band or ratio else None, fmt,
                                   dict(context) if context else None,
                                   ("ratio" if ratio else "time") if band or ratio else None,
                                   group, measure))
        return value

    def __len__(self) -> int:
        return len(self.numbers)

    def __iter__(self):
        return iter(self.numbers)

    def get(self, name: str, **conditions) -> Number:
        """The one number called *name* whose conditions include *conditions*."""
        hits = [n for n in self.numbers if n.name == name
                and all(n.conditions.get(k) == v for k, v in conditions.items())]
        if len(hits) != 1:
            raise ParameterError(f"{len(hits)} numbers match {name!r} {conditions}; "
                                 f"names: {', '.join(dict.fromkeys(n.name for n in self.numbers))}")
        return hits[0]

    def as_json(self, **extra) -> dict:
        """``{"notebook": ..., "numbers": [...]}`` (plus *extra* top-level keys)."""
        return {"notebook": self.notebook, **extra,
                "numbers": [n.as_json() for n in self.numbers]}

    # ------------------------------------------------------------------ the table
    def tables(self, rows=None) -> list:
        """``[(title, Table)]``: one table of all numbers (*rows* as :meth:`table`), or, when
        *rows* is a mapping ``{group: rows}``, one table per group in that order, titled by the
        group (every number must be in one of them)."""
        if not isinstance(rows, dict):
            return [(None, self.table(rows))]
        missing = [g for g in self.groups() if g not in rows]
        if missing:
            raise ParameterError(f"{self.notebook}: numbers of groups {missing} have no table; "
                                 f"tables: {list(rows)}")
        return [(g, self.table(r, title=g, group=g)) for g, r in rows.items()]

    def groups(self) -> list:
        """The groups of the numbers, in the order they were first used (None: no group)."""
        return list(dict.fromkeys(n.group for n in self.numbers))

    def table(self, rows=None, title: str = "Key numbers", group=...):
        """The numbers as a :class:`~vmapsim.report.Table`.

        *rows* ``None``: one line per number (``number``, ``value``, ``where``).  *rows* a
        condition name or a tuple of them (``"design"``, ``("trace", "design")``): one line per
        value of those conditions, one column per number name (with its unit).  Either way the
        conditions not shown in the table become footnotes ``[a]``, ``[b]``... (the *where*
        column, or the column header), one per distinct set.  *group*: only the numbers of that
        group (default: all).
        """
        from .table import Table

        if not self.numbers:
            raise ParameterError(f"{self.notebook}: no numbers were recorded")
        if group is not ...:
            sub = Numbers(self.notebook)
            sub.numbers = [n for n in self.numbers if n.group == group]
            if not sub.numbers:
                raise ParameterError(f"{self.notebook}: no numbers in group {group!r}; groups: "
                                     f"{self.groups()}")
            return sub.table(rows, title)
        keys = () if rows is None else ((rows,) if isinstance(rows, str) else tuple(rows))
        for k in keys:
            if k not in CONDITIONS:
                raise ParameterError(f"table rows: unknown condition {k!r}; valid conditions: "
                                     f"{', '.join(CONDITIONS)}")
        notes: dict[tuple, str] = {}

        def mark(n: Number) -> str:
            key = (n.kind(), n.condition_items(leave_out=keys))
            if key not in notes:
                notes[key] = f"[{chr(ord('a') + len(notes)) if len(notes) < 26 else len(notes)}]"
            return notes[key]

        if not keys:
            body = [(n.name, n.shown() + _unit_suffix(n), mark(n)) for n in self.numbers]
            header = ("number", "value", "where")
        else:
            missing = [n.name for n in self.numbers if not all(k in n.conditions for k in keys)]
            if missing:
                raise ParameterError(f"table rows by {', '.join(keys)}: numbers without that "
                                     f"condition: {', '.join(dict.fromkeys(missing))}")
            cols = list(dict.fromkeys((n.name, n.unit) for n in self.numbers))
            row_ids = list(dict.fromkeys(tuple(_cond_text(n.conditions[k]) for k in keys)
                                         for n in self.numbers))
            cells, marks = {}, {}
            col_marks = {c: [] for c in cols}
            for n in self.numbers:
                rid = tuple(_cond_text(n.conditions[k]) for k in keys)
                if (rid, (n.name, n.unit)) in cells:
                    raise ParameterError(f"table rows by {', '.join(keys)}: two numbers "
                                         f"{n.name!r} for {rid}")
                cells[(rid, (n.name, n.unit))] = n.shown()
                marks[(rid, (n.name, n.unit))] = m = mark(n)
                if m not in col_marks[(n.name, n.unit)]:
                    col_marks[(n.name, n.unit)].append(m)
            # one set of conditions per column: its letter goes in the header; several: in
            # every cell of the column
            header = tuple(keys) + tuple(
                _header(name, unit, title) + (f" {col_marks[(name, unit)][0]}"
                                       if len(col_marks[(name, unit)]) == 1 else "")
                for name, unit in cols)
            body = [rid + tuple(
                (cells[(rid, c)] + ("" if len(col_marks[c]) == 1 else f" {marks[(rid, c)]}"))
                if (rid, c) in cells else "-" for c in cols) for rid in row_ids]
        if len(notes) == 1:   # one set of conditions for everything: no letters needed
            header = tuple(h.replace("[a]", "").rstrip() for h in header)
            body = [tuple(c for c in r) for r in body] if keys else [r[:2] for r in body]
            if not keys:
                header = header[:2]
            kind, cond = next(iter(notes))
            footnotes = ["(all) " + kind + (": " + " ".join(f"{k}={v}" for k, v in cond)
                                             if cond else "")]
        else:
            footnotes = _footnotes(notes)
        return Table(header, body, title=title, notes=footnotes)
