"""Property: every mutation of a real capture gives a file:line error, a warning naming the
affected events, or the unmutated numbers (tests/fuzz_traces.py says how each is judged).

Bounded to a few seconds on the smallest capture; ``bench/fuzz_replay.py --minutes 10`` is the
long run over every capture."""
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_traces as fz


@pytest.fixture(scope="module")
def trace():
    work = fz.workdir()
    tr = fz.Trace("fork-s71", work)
    tr.baseline()
    yield tr
    shutil.rmtree(work, ignore_errors=True)


_int = st.integers(0, 2**30)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(fz.KINDS), a=_int, b=_int, c=_int, d=_int)
def test_no_mutation_changes_a_number_silently(trace, kind, a, b, c, d):
    outcome, detail = fz.judge(trace, fz.mutate(trace, kind, a, b, c, d))
    assert outcome != "silent", f"{(kind, trace.name, a, b, c, d)}: {detail}"


@pytest.mark.parametrize("kind", fz.KINDS)
def test_each_kind_once(trace, kind):
    outcome, detail = fz.judge(trace, fz.mutate(trace, kind, 1234567, 7654321, 42, 5))
    assert outcome in ("error", "warning", "equal", "plausible"), detail
