"""vmapsim.perf.sweep: local processes, in-process, and a Dask LocalCluster give the same table."""
import pytest

import vmapsim
from vmapsim.designs import DESIGNS
from vmapsim.errors import ParameterError
from vmapsim.perf.sweep import SweepTable, grid


@pytest.fixture(autouse=True)
def fake_design(monkeypatch):
    monkeypatch.setitem(DESIGNS, "fake-global", "_perf_fake_design:FakeGlobal")


CONFIGS = grid(design=["fake-global"], cpus=[1, 2, 4], workload=["fix_size_alloc_test"], loops=[60])


def _strip(t: SweepTable):
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in t.records]


def test_in_process_sweep_is_a_table_in_config_order():
    t = vmapsim.perf.sweep(CONFIGS, processes=1)
    assert list(t.column("cpus")) == [1, 2, 4]
    assert t.column("ops").tolist() == [60, 120, 240]
    assert t.to_numpy()["cpus"].tolist() == [1, 2, 4]
    assert len(t.where(cpus=2)) == 1
    assert t.lock_wait("vmap_area_lock")[0] == 0.0


def test_dask_local_cluster_gives_the_same_table():
    distributed = pytest.importorskip("dask.distributed")
    local = vmapsim.perf.sweep(CONFIGS, processes=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = vmapsim.perf.sweep(CONFIGS, client=client)
    assert _strip(remote) == _strip(local)


def test_bad_sweep_configs_are_refused_before_running():
    with pytest.raises(ParameterError, match="unknown simulate\\(\\) parameter 'cpu'"):
        vmapsim.perf.sweep([{"cpu": 2}])
    with pytest.raises(ParameterError, match="grid axis cpus must be a list"):
        grid(cpus=4)
