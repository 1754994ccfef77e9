"""vmapsim.review.real_traces: the experiments behind notebook 05."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from vmapsim.errors import ParameterError  # noqa: E402
from vmapsim.review import real_traces  # noqa: E402


def test_behaviour_of_a_capture():
    b = real_traces.behaviour(trace="fork-s21")
    assert len(b.t) == len(b.offset_mib) == len(b.from_pool) > 1000
    assert (b.t[1:] >= b.t[:-1]).all()
    assert 0.2 < b.pool_fraction < 0.8
    assert b.lazy_max == 16384 and b.nodes == 2
    assert b.samples.shape[1] == 5 and len(b.samples) > 10
    assert "allocations" in b.line()
    for plot in (real_traces.plot_addresses, real_traces.plot_lazy, real_traces.plot_counts,
                 real_traces.plot_nodes):
        assert plot(b).axes


def test_fidelity_rows_and_bad_names():
    rows = real_traces.fidelity(traces=["fork-s21"], designs=("linux-6.18",))
    assert len(rows) == 1 and rows[0].agreement >= 0.99 and rows[0].workload == "fork"
    assert real_traces.plot_fidelity(rows).axes
    with pytest.raises(ParameterError, match="valid trace values: .*fork-s21"):
        real_traces.behaviour(trace="no-such-trace")
    assert real_traces.replay_cached("fork-s21") is real_traces.replay_cached("fork-s21")
