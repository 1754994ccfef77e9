"""Shared fixtures: run notebooks headless with nbclient, once per parameter set per test run.

``run_notebook(name, **params)`` executes ``notebooks/<name>.ipynb`` (in fast mode: the suite
runs with ``VMAPSIM_FAST=1``) with *params* injected after its ``parameters`` cell, and returns
the executed notebook.  Results are cached for the session, so every test that looks at the
same notebook with the same parameters shares one execution.  A failing cell raises
:class:`vmapsim.notebook.NotebookFailed`; use ``executed_or_fail`` to turn it into a test
failure whose message is the cell's source and error.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))

os.environ.setdefault("VMAPSIM_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


class _Runs:
    def __init__(self):
        self.cache = {}

    def __call__(self, name: str, **params):
        from vmapsim.notebook import NotebookFailed, execute

        key = (name, tuple(sorted((k, repr(v)) for k, v in params.items())))
        if key not in self.cache:
            try:
                self.cache[key] = execute(NOTEBOOK_DIR / f"{name}.ipynb", params=params,
                                          label=f"notebooks/{name}.ipynb")
            except NotebookFailed as exc:
                self.cache[key] = exc
        result = self.cache[key]
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture(scope="session")
def run_notebook():
    """Session-cached notebook runner: ``run_notebook("00-overview", cpus=4)``."""
    return _Runs()


@pytest.fixture(scope="session")
def executed_or_fail(run_notebook):
    """Like run_notebook, but a failing cell fails the test with the cell source and error only."""
    from vmapsim.notebook import NotebookFailed

    def run(name: str, **params):
        failure = None
        try:
            return run_notebook(name, **params)
        except NotebookFailed as exc:
            failure = str(exc)
        pytest.fail(failure, pytrace=False)  # outside the except: no chained traceback

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (``item.rep_call``) so fixtures can see a failure."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
