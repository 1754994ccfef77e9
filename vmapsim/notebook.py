"""Notebook plumbing shared by ``tools/nb.py``, ``tools/report.py`` and the test suite.

Notebooks are *authored* as py:percent sources (``notebooks/src/NN-name.py``) and *built* into
stripped ``notebooks/NN-name.ipynb`` (no outputs, no execution counts, no widget state), which
is what JupyterLab opens and what git stores.  The source format is the subset of jupytext's
``py:percent`` that we need:

* ``# %%`` starts a code cell; ``# %% [markdown]`` a markdown cell whose lines are ``# text``
  (or a bare ``#`` for an empty line); ``tags=["parameters"]`` after either marker sets tags.
* Blank lines around a cell are dropped; nothing but blank lines may precede the first marker.
* No IPython magics: call :func:`vmapsim.report.setup` instead of ``%matplotlib inline``.

This module also injects parameters the way papermill does (a cell tagged
``injected-parameters`` right after the cell tagged ``parameters``) and executes a notebook with
nbclient, turning a failing cell into :class:`NotebookFailed` whose message holds the cell's
source and its error (no ANSI colour codes).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

MARKER = re.compile(r"^# %%(?P<rest>.*)$")
HEADER = re.compile(r"^\s*(?P<md>\[(markdown|md)\])?\s*(tags=(?P<tags>\[.*\]))?\s*$")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class SourceError(ValueError):
    """A py:percent source does not follow the format above; the message names file and line."""


class NotebookFailed(RuntimeError):
    """A notebook cell raised while executing.

    ``headline`` is one line (notebook, cell number, error); ``str()`` adds the cell source and
    the error text the kernel reported.
    """

    def __init__(self, path, cell_index, source, ename, evalue, traceback):
        self.path, self.cell_index, self.source = str(path), cell_index, source
        self.ename, self.evalue, self.traceback = ename, evalue, traceback
        self.headline = f"{self.path}: cell {cell_index} failed: {ename}: {evalue}"
        super().__init__(
            f"{self.headline}\n--- cell {cell_index} source ---\n{source}\n--- error ---\n{traceback}")


# --------------------------------------------------------------------------- py:percent <-> ipynb

@dataclass
class Cell:
    kind: str          # "code" or "markdown"
    source: str
    tags: list


def parse_source(text: str, name: str = "<source>") -> list[Cell]:
    """Split a py:percent text into cells (see the module docstring for the format)."""
    cells: list[Cell] = []
    lines: list[str] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        m = MARKER.match(line)
        if m:
            h = HEADER.match(m.group("rest"))
            if not h:
                raise SourceError(f"{name}:{lineno}: cannot read cell marker {line!r}; use '# %%', "
                                  "'# %% [markdown]' and optionally tags=[\"parameters\"]")
            try:
                tags = json.loads(h.group("tags")) if h.group("tags") else []
            except json.JSONDecodeError:
                raise SourceError(f"{name}:{lineno}: tags must be a JSON list of strings") from None
            lines = []
            cells.append(Cell("markdown" if h.group("md") else "code", "", tags))
            cells[-1].lines, cells[-1].start = lines, lineno
            continue
        if lines is None:
            if line.strip():
                raise SourceError(f"{name}:{lineno}: text before the first '# %%' cell marker")
            continue
        if cells[-1].kind == "markdown" and line.strip():
            if not (line == "#" or line.startswith("# ")):
                raise SourceError(f"{name}:{lineno}: markdown lines must start with '# ' (or be '#')")
            line = line[2:]
        elif cells[-1].kind == "markdown":
            line = ""
        lines.append(line)
    for cell in cells:
        body = cell.lines
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        cell.source = "\n".join(body)
        if cell.kind == "code" and re.search(r"^\s*[%!]", cell.source, re.M):
            raise SourceError(f"{name}:{cell.start}: IPython magics and shell escapes are not "
                              "supported; use vmapsim.report.setup() for inline plots")
        del cell.lines, cell.start
    return cells


def build_notebook(text: str, name: str = "<source>") -> str:
    """Return the stripped .ipynb JSON text for a py:percent source (deterministic: same in, same out)."""
    import nbformat

    cells = []
    for i, cell in enumerate(parse_source(text, name)):
        meta = {"tags": cell.tags} if cell.tags else {}
        make = nbformat.v4.new_code_cell if cell.kind == "code" else nbformat.v4.new_markdown_cell
        nb_cell = make(source=cell.source, metadata=meta)
        nb_cell["id"] = f"c{i:03d}"
        cells.append(nb_cell)
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def to_source(nb) -> str:
    """The py:percent text of a notebook (outputs dropped), for pulling Lab edits back into src/."""
    parts = []
    for cell in nb["cells"]:
        if cell["cell_type"] not in ("code", "markdown"):
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        tags = [t for t in tags if t != "injected-parameters"]
        header = "# %%" + (" [markdown]" if cell["cell_type"] == "markdown" else "")
        if tags:
            header += " tags=" + json.dumps(tags)
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            src = "\n".join(("# " + ln) if ln else "#" for ln in src.splitlines())
        parts.append(header + "\n" + src.strip("\n") + "\n")
    return "\n".join(parts)


def stripped_problems(nb) -> list[str]:
    """What keeps a notebook from being committable: outputs, execution counts, widget state."""
    problems = []
    if "widgets" in nb.get("metadata", {}):
        problems.append("metadata.widgets (saved widget state)")
    for i, cell in enumerate(nb["cells"]):
        if cell.get("outputs"):
            problems.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has an execution count")
        if "execution" in cell.get("metadata", {}):
            problems.append(f"cell {i} has execution timestamps")
    return problems


# --------------------------------------------------------------------------- parameters, execution

def parameter_names(nb) -> list[str]:
    """Names the cell tagged ``parameters`` assigns at its top level, in order."""
    import ast

    names: list[str] = []
    for c in nb.cells:
        if "parameters" not in c.get("metadata", {}).get("tags", []):
            continue
        src = c.source if isinstance(c.source, str) else "".join(c.source)
        try:
            body = ast.parse(src).body
        except SyntaxError:
            body = []
            names += [m.group(1) for m in re.finditer(r"^([A-Za-z_]\w*)\s*=", src, re.M)]
        for node in body:
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name) and n.id not in names:
                        names.append(n.id)
        break
    return names


def check_parameters(nb, params, label: str = "the notebook") -> None:
    """ParameterError naming the first of *params* that the ``parameters`` cell does not assign,
    and listing the ones it does (a typo such as ``cpsu=64`` must not be ignored)."""
    from .errors import ParameterError

    names = parameter_names(nb)
    unknown = [k for k in params if k not in names]
    if unknown:
        raise ParameterError(f"unknown parameter {unknown[0]!r} for {label}; its parameters: "
                             f"{', '.join(names) or '(none)'}")


def inject_parameters(nb, **params):
    """Insert a cell tagged ``injected-parameters`` after the ``parameters`` cell (papermill's way).

    A name the ``parameters`` cell does not assign raises :class:`~vmapsim.errors.ParameterError`
    (:func:`check_parameters`)."""
    import nbformat

    if not params:
        return nb
    idx = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not idx:
        raise ValueError("notebook has no cell tagged 'parameters' to inject after")
    check_parameters(nb, params)
    src = "# Injected parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(src, metadata={"tags": ["injected-parameters"]})
    cell["id"] = "injected-parameters"
    nb.cells.insert(idx[0] + 1, cell)
    return nb


#: per-cell time limit of `make report` (full-size runs); the test suite uses the default 600 s
REPORT_CELL_TIMEOUT = int(os.environ.get("VMAPSIM_CELL_TIMEOUT", "3600"))


WAIT_SLICE = 1.0   # seconds: the longest single wait for a kernel message (see sliced_get_msg)


def sliced_get_msg(get_msg, step: float = WAIT_SLICE):
    """Wrap a kernel channel's async ``get_msg(timeout=)`` so no single wait exceeds *step*.

    Why: pyzmq's asyncio poll wakes on the socket's edge-triggered ``ZMQ_FD``; when that wake-up
    is missed, the message sits in the socket until the poll's own timeout, where a final
    non-blocking poll finds it.  nbclient waits for a cell's ``execute_reply`` with one poll of
    the whole per-cell timeout (600 s) and for its outputs with no timeout at all, so a missed
    wake-up stalled a run for ~600 s with the kernel idle (seen in the suite and in
    ``make report``).  Polling in slices bounds such a stall by *step* while keeping the
    caller's overall *timeout* (``queue.Empty`` once it has passed) and its messages unchanged.
    """
    import time
    from queue import Empty

    async def get(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = step if deadline is None else max(0.0, min(step, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get


def _client_class():
    """nbclient's NotebookClient whose shell and IOPub waits go through :func:`sliced_get_msg`."""
    from nbclient import NotebookClient

    class SlicedWaitClient(NotebookClient):
        async def async_start_new_kernel_client(self):
            kc = await super().async_start_new_kernel_client()   # a fresh client every time
            for channel in (kc.shell_channel, kc.iopub_channel):
                channel.get_msg = sliced_get_msg(channel.get_msg)
            return kc

    return SlicedWaitClient


def execute(path, params: dict | None = None, timeout: int = 600, fast: bool | None = None,
            label: str | None = None):
    """Execute the notebook at *path* (with *params* injected) and return the executed notebook.

    The kernel runs in the notebook's directory.  ``fast`` sets ``VMAPSIM_FAST`` for the kernel
    (``None``: inherit).  *timeout* is per cell, in seconds.  Raises :class:`NotebookFailed`
    naming the notebook as *label* (default: the path) and the failing cell: a cell that
    raised, one that ran past *timeout*, or the kernel dying under it.
    """
    import nbformat
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    check_parameters(nb, params or {}, label or str(path))
    inject_parameters(nb, **(params or {}))
    env_before = os.environ.get("VMAPSIM_FAST")
    if fast is not None:
        os.environ["VMAPSIM_FAST"] = "1" if fast else "0"
    current = {"cell": None}

    def on_cell_start(cell, cell_index):
        current["cell"] = cell

    client = _client_class()(nb, timeout=timeout, kernel_name="python3",
                            extra_arguments=["--colors=nocolor",
                                             "--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent.resolve())}},
                            on_cell_start=on_cell_start, shutdown_kernel="immediate")
    failure = None
    try:
        client.execute()
    except CellExecutionError:
        failure = _failure(label or path, nb)
    except (CellTimeoutError, DeadKernelError) as exc:
        what = (f"did not finish within {timeout} s (per-cell limit; VMAPSIM_CELL_TIMEOUT "
                "raises it for make report)" if isinstance(exc, CellTimeoutError)
                else "the kernel died while running it")
        failure = _stopped(label or path, nb, current["cell"], type(exc).__name__, what)
    finally:
        if fast is not None:
            if env_before is None:
                os.environ.pop("VMAPSIM_FAST", None)
            else:
                os.environ["VMAPSIM_FAST"] = env_before
    if failure is not None:
        raise failure
    return nb


def _number(nb, target) -> int:
    """1-based number of *target* among the committed (non-injected) cells."""
    i = 0
    for cell in nb.cells:
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            i += 1
        if cell is target:
            return i
    return -1


def _stopped(path, nb, cell, ename, what) -> NotebookFailed:
    if cell is None:
        return NotebookFailed(path, -1, "", ename, what, "")
    return NotebookFailed(path, _number(nb, cell), cell.source, ename, what, f"{ename}: {what}")


def _failure(path, nb) -> NotebookFailed:
    """The first error output, with the cell numbered 1-based as in the committed notebook."""
    i = 0
    for cell in nb.cells:
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            i += 1
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                tb = ANSI.sub("", "\n".join(out.get("traceback", [])))
                return NotebookFailed(path, i, cell.source, out.get("ename", "?"),
                                      ANSI.sub("", out.get("evalue", "")), tb)
    return NotebookFailed(path, -1, "", "CellExecutionError", "no error output found", "")


def error_outputs(nb) -> list[dict]:
    """All error outputs of an executed notebook (used by tests that expect a clean one-line error)."""
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def cell_seconds(nb) -> list[tuple[int, float]]:
    """(1-based cell number, seconds) per executed code cell, from nbclient's timing metadata."""
    from datetime import datetime

    out, i = [], 0
    for cell in nb.cells:
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            i += 1
        ex = cell.get("metadata", {}).get("execution", {})
        t0, t1 = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if t0 and t1:
            d = datetime.fromisoformat(t1.replace("Z", "+00:00")) - datetime.fromisoformat(
                t0.replace("Z", "+00:00"))
            out.append((i, d.total_seconds()))
    return out
