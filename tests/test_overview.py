"""vmapsim.review.overview: the vmap_node geometry of 6.18 and 6.8 against the kernel's formulas."""
import numpy as np
import pytest

from vmapsim.errors import ParameterError
from vmapsim.review import overview


@pytest.mark.parametrize("x, expect", [(0, 0), (1, 1), (2, 2), (3, 2), (8, 4), (9, 4), (1024, 11)])
def test_fls_matches_the_kernel(x, expect):
    assert overview.fls(x) == expect


@pytest.mark.parametrize("cpus, nodes, lazy", [
    (1, 1, 8192), (2, 2, 16384), (4, 4, 24576), (8, 8, 32768), (127, 127, 57344),
    (128, 128, 65536), (129, 128, 65536), (4096, 128, 106496),
])
def test_linux618_nodes_and_lazy_limit(cpus, nodes, lazy):
    g = overview.vmap_node_geometry(cpus=cpus)
    assert g.nr_vmap_nodes == nodes
    assert g.lazy_max_pages == lazy
    # one node: vmap_zone_size keeps its initial value 1 and the pools (and their lock) go unused
    assert g.zone_bytes == (65536 if nodes > 1 else 1)
    assert len(g.locks) == (1 + 3 * nodes if nodes > 1 else 3)
    assert "vmap_purge_lock" not in g.locks and g.mutexes == ("vmap_purge_lock",)


def test_lazy_limit_follows_online_cpus_and_page_size():
    g = overview.vmap_node_geometry(cpus=64, online_cpus=3, page_size=16384)
    assert g.nr_vmap_nodes == 64
    assert g.lazy_max_pages == 2 * (32 << 20) // 16384
    assert g.zone_bytes == 16 * 16384


def test_addresses_stripe_round_robin_over_nodes():
    g = overview.vmap_node_geometry(cpus=4)
    zone = g.zone_bytes
    addrs = np.array([0, zone - 1, zone, 3 * zone, 4 * zone, 5 * zone + 7])
    assert g.node_of(addrs).tolist() == [0, 0, 1, 3, 0, 1]
    assert overview.vmap_node_geometry(cpus=1).node_of(addrs).tolist() == [0] * 6


def test_linux68_has_one_busy_lock():
    g = overview.vmap_node_geometry(cpus=64, design="linux-6.8")
    assert (g.nr_vmap_nodes, g.pools, g.zone_bytes) == (1, False, 0)
    assert "vmap_area_lock" in g.locks and len(g.locks) == 3


@pytest.mark.parametrize("kwargs, msg", [
    ({"cpus": 0}, "cpus must be in 1..8192, got 0"),
    ({"cpus": "many"}, "cpus must be an integer"),
    ({"design": "maple"}, "unknown design 'maple'; valid design values: linux-6.18, linux-6.8"),
    ({"cpus": 4, "online_cpus": 5}, "online_cpus must be in 1..4"),
    ({"page_size": 12288}, "page_size must be a power of two"),
])
def test_bad_parameters_name_the_parameter(kwargs, msg):
    with pytest.raises(ParameterError, match=msg):
        overview.vmap_node_geometry(**kwargs)


def test_notebook_map_marks_missing_notebooks(tmp_path):
    (tmp_path / "00-overview.ipynb").write_text("{}")
    m = dict((n, s) for n, s, _ in overview.notebook_map(tmp_path))
    assert m["00-overview"] == "here" and m["04-scaling"] == "coming"
    assert len(m) == 8


def test_plot_geometry_returns_a_figure():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = overview.plot_geometry(overview.vmap_node_geometry(cpus=8))
    assert "8 CPUs -> 8 nodes" in fig.axes[0].get_title()
    plt.close(fig)


@pytest.mark.parametrize("cpus", [1, 2, 3, 8, 100, 128, 1000])
def test_agrees_with_the_allocator_model_constants(cpus):
    from vmapsim.vmalloc import vmap_area

    g = overview.vmap_node_geometry(cpus=cpus)
    assert g.lazy_max_pages == vmap_area.lazy_max_pages(cpus)
    assert g.nr_vmap_nodes == vmap_area.nr_vmap_nodes_for(cpus)


def test_busy_areas_split_over_the_nodes():
    s = overview.index_shape(areas=1024, free_fraction=0.3, seed=0)
    per = overview.busy_per_node(areas=1024, free_fraction=0.3, seed=0, cpus=8)
    assert len(per) == 8 and sum(per) == s.busy
    assert overview.busy_per_node(cpus=1) == [s.busy]


def test_notebook_map_numbers_questions_as_the_thread_data_does():
    from vmapsim import thread
    for name, topic in overview.NOTEBOOKS:
        for n in map(int, __import__("re").findall(r"\bQ(\d+)\b", topic)):
            assert thread.question(n)
    topics = dict(overview.NOTEBOOKS)
    assert topics["02-trylock-retry"].startswith("Q3, Q4")   # trylock is Q4, not Q2
    assert topics["03-lockless-find"].startswith("Q5")
    assert "inference" in topics["07-splats"]


def test_design_map_covers_every_design_under_review():
    from vmapsim.designs import design_names
    rows = dict(overview.design_map())
    assert list(rows) == design_names() and set(rows) == set(overview.DESIGN_NOTES)
    assert all(len(t) > 20 for t in rows.values())
