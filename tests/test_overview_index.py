"""vmapsim.review.overview.index_shape: the maple tree's shape for a vmalloc-like space, vs rb bounds."""
import pytest

from vmapsim.errors import ParameterError
from vmapsim.review import overview

pytest.importorskip("vmapsim.maple", reason="the maple tree is not in this build")


@pytest.mark.parametrize("n, bounds", [(0, (0, 0)), (1, (1, 1)), (2, (2, 2)), (3, (2, 2)),
                                       (4, (3, 3)), (6, (3, 4)), (10, (4, 5)), (1000, (10, 17))])
def test_rb_height_bounds(n, bounds):
    assert overview.rb_height_bounds(n) == bounds


def test_rb_upper_bound_is_reached_by_a_real_sparse_tree():
    # the sparsest red-black trees: h=1..6 need 1, 2, 4, 6, 10, 14 nodes
    assert [overview._rb_min_nodes(h) for h in range(1, 7)] == [1, 2, 4, 6, 10, 14]


def test_index_shape_counts_and_is_deterministic():
    a = overview.index_shape(areas=500, free_fraction=0.4, seed=3)
    b = overview.index_shape(areas=500, free_fraction=0.4, seed=3)
    assert a == b
    assert a.busy == 300 and 1 <= a.gaps <= 201
    assert a.maple_height >= 2 and a.maple_nodes >= a.busy // 16
    assert a.maple_bytes == 256 * a.maple_nodes
    assert a.rb_busy_height == overview.rb_height_bounds(300)


def test_nothing_freed_means_one_gap_above():
    s = overview.index_shape(areas=100, free_fraction=0.0)
    assert (s.busy, s.gaps) == (100, 1)


@pytest.mark.parametrize("kwargs, msg", [
    ({"areas": 0}, "areas must be in 1..100000, got 0"),
    ({"free_fraction": 1.5}, "free_fraction must be in 0.0..0.95, got 1.5"),
    ({"seed": -1}, "seed must be in 0..4294967295, got -1"),
])
def test_index_shape_bad_parameters(kwargs, msg):
    with pytest.raises(ParameterError, match=msg):
        overview.index_shape(**kwargs)
