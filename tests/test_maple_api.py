"""API surface of vmapsim.maple: bad input, iteration, find, walk, MA_STATE (kernel iteration tests)."""
import pytest

from vmapsim.maple import ULONG_MAX, XA_ZERO_ENTRY, MapleInvalid, MapleTree
from vmapsim.maple.state import MA_OVERFLOW, MA_UNDERFLOW


@pytest.mark.parametrize("call,needle", [
    (lambda mt: mt.store_range(-1, 5, 1), "-1"),
    (lambda mt: mt.store_range(0, 1 << 64, 1), str(1 << 64)),
    (lambda mt: mt.store_range(9, 3, 1), "first 9 > last 3"),
    (lambda mt: mt.insert_range(2.5, 3, 1), "2.5"),
    (lambda mt: mt.load("7"), "'7'"),
    (lambda mt: mt.erase(True), "True"),
    (lambda mt: mt.empty_area(0, 10, 0), "size"),
    (lambda mt: mt.empty_area(0, 8, 10), "smaller than size 10"),
    (lambda mt: mt.empty_area_rev(5, 4, 1), "min 5 > max 4"),
])
def test_bad_input_names_the_value(call, needle):
    mt = MapleTree(alloc_range=True)
    with pytest.raises(ValueError) as ei:
        call(mt)
    assert isinstance(ei.value, MapleInvalid) and isinstance(ei.value, ValueError) and needle in str(ei.value)


def test_numpy_style_integers_accepted():
    import numpy as np
    mt = MapleTree()
    mt.store_range(np.int64(5), np.uint64(9), "x")
    assert mt.load(np.int32(7)) == "x"


def _ranges(n=200):
    mt = MapleTree(alloc_range=True)
    for i in range(n + 1):
        mt.store_range(i * 10, i * 10 + 5, i)
    return mt


def test_items_walk_find_ranges():
    mt = _ranges()
    assert list(mt)[:3] == [(0, 5, 0), (10, 15, 1), (20, 25, 2)]
    assert len(list(mt.items())) == 201
    assert list(mt.items(33, 61)) == [(30, 35, 3), (40, 45, 4), (50, 55, 5), (60, 65, 6)]
    assert mt.walk(37) == (None, 36, 39)
    assert mt.walk(44) == (4, 40, 45)
    assert mt.find(37) == (40, 45, 4)
    assert mt.find(37, 39) is None
    assert mt.find(2001) == (2000, 2005, 200) and mt.find(2006) is None
    mt.store_range(40, 45, XA_ZERO_ENTRY)
    assert mt.find(37) == (50, 55, 5)                  # mt_find skips zero entries
    assert (40, 45, XA_ZERO_ENTRY) in list(mt.items())  # mas_for_each does not
    rs = list(mt.ranges())
    assert rs[0] == (0, 5, 0) and rs[1] == (6, 9, None) and rs[-1] == (2006, ULONG_MAX, None)
    assert all(a[1] + 1 == b[0] for a, b in zip(rs, rs[1:]))


def test_next_prev_test():
    """``next_prev_test`` (64-bit values)."""
    mt = _ranges(200)
    mas = mt.state(686)
    assert mas.walk() is None
    assert mas.next(1000) == 69 and (mas.index, mas.last) == (690, 695)
    assert mas.prev(0) == 68 and (mas.index, mas.last) == (680, 685)
    assert mas.next(1000) == 69
    assert mas.next(1000) == 70 and (mas.index, mas.last) == (700, 705)
    mas = mt.state(70)
    assert mas.walk() == 7
    assert mas.next(1000) == 8 and (mas.index, mas.last) == (80, 85)
    assert mas.prev(70) == 7 and (mas.index, mas.last) == (70, 75)
    level2 = (707, 1000, 710, 715, 720, 725)
    mas = mt.state(level2[0])
    assert mas.walk() is None
    assert mas.next(level2[1]) == level2[2] // 10 and (mas.index, mas.last) == (710, 715)
    mn = mas.node
    assert mas.next(level2[1]) == level2[4] // 10 and (mas.index, mas.last) == (720, 725)
    assert mn is not mas.node
    assert mas.prev(0) == 71 and (mas.index, mas.last) == (710, 715)
    mas = mt.state(2000)
    assert mas.walk() == 200 and (mas.index, mas.last) == (2000, 2005)
    assert mas.next(ULONG_MAX) is None and (mas.index, mas.last) == (0x7d6, ULONG_MAX)
    assert mas.prev(0) == 200 and (mas.index, mas.last) == (2000, 2005)
    mas = mt.state(10)
    assert mas.walk() == 1
    assert mas.prev(0) == 0 and (mas.index, mas.last) == (0, 5)
    assert mas.prev(0) is None and (mas.index, mas.last) == (0, 5) and mas.status == MA_UNDERFLOW
    mt.store_range(0, 5, None)
    mas = mt.state(10)
    mas.walk()
    assert mas.prev(0) is None and (mas.index, mas.last) == (0, 9)
    mt = MapleTree()
    mt.store(0, 0)
    mt.store(5, 5)
    assert mt.state(5).prev(4) is None


def test_check_rev_find_and_find_2():
    """``check_rev_find`` and ``check_find_2``."""
    mt = _ranges(200)
    mas = mt.state(1000)
    assert mas.find_rev(1000) == 100
    assert mas.find_rev(1000) is None
    assert mt.state(999).find_rev(997) is None
    mas = mt.state(1000)
    assert mas.find_rev(900) == 100 and mas.find_rev(900) == 99
    mas = mt.state(20)
    assert [mas.find_rev(0) for _ in range(4)] == [2, 1, 0, None]
    mt = MapleTree()
    assert list(mt) == []
    for i in range(256):
        mt.insert(i, i)
        assert [e for _, _, e in mt] == list(range(i + 1))
    for i in range(256):
        assert mt.erase(i) == i
        assert [e for _, _, e in mt] == list(range(i + 1, 256))


def test_check_iteration_store_while_iterating():
    """``check_iteration``: overwrite part of the current entry during ``mas_for_each``."""
    mt = MapleTree(alloc_range=True)
    for i in range(126):
        mt.store_range(i * 10, i * 10 + 9, i)
    mas = mt.state(0)
    i = 0
    while (val := mas.find(925)) is not None:
        assert (mas.index, mas.last) == (i * 10, i * 10 + 9)
        if i == 92:
            mas.index, mas.last = 925, 929
            mas.store(val)
        i += 1
    assert mas.find(ULONG_MAX) == i
    mas = mt.state(0)
    i = 0
    while (val := mas.find(765)) is not None:
        assert (mas.index, mas.last) == (i * 10, i * 10 + 9)
        if i == 76:
            mas.index, mas.last = 760, 765
            mas.store(val)
        i += 1
    assert mas.find(ULONG_MAX) == 76
    mt.validate()


def test_check_state_handling_node_tree():
    """Part of ``check_state_handling``: next/prev/find limits, overflow and underflow on a tree with nodes."""
    mt = MapleTree(alloc_range=True)
    p1, p2, p3 = object(), object(), object()
    mt.store_range(0x1000, 0x1500, p1)
    mt.store_range(0x2000, 0x2500, p2)
    mt.store_range(0x3000, 0x3500, p3)
    mas = mt.state(0)
    assert mas.next(ULONG_MAX) is p1 and (mas.index, mas.last) == (0x1000, 0x1500)
    assert mas.next(0x2100) is p2 and (mas.index, mas.last) == (0x2000, 0x2500)
    assert mas.next(0x2999) is None and (mas.index, mas.last) == (0x2501, 0x2fff)
    assert mas.status == MA_OVERFLOW
    assert mas.next(ULONG_MAX) is p3 and (mas.index, mas.last) == (0x3000, 0x3500)
    assert mas.next(ULONG_MAX) is None and (mas.index, mas.last) == (0x3501, ULONG_MAX)
    assert mas.status == MA_OVERFLOW
    assert mas.prev(0) is p3
    assert mas.prev(0) is p2
    assert mas.prev(0x1600) is None and (mas.index, mas.last) == (0x1501, 0x1fff)
    assert mas.status == MA_UNDERFLOW
    assert mas.prev(0) is p1
    mas = mt.state(0x1600)
    assert mas.walk() is None and (mas.index, mas.last) == (0x1501, 0x1fff)
    mas = mt.state(0x1200)
    assert mas.find(ULONG_MAX) is p1 and mas.find(ULONG_MAX) is p2
    assert mas.find(0x2700) is None and (mas.index, mas.last) == (0x2501, 0x2fff)
    assert mas.find(0x5000) is p3
    assert mas.find(ULONG_MAX) is None and (mas.index, mas.last) == (0x3501, ULONG_MAX)
    assert mas.find_rev(0) is p3 and mas.find_rev(0) is p2 and mas.find_rev(0) is p1
    assert mas.find_rev(0) is None and (mas.index, mas.last) == (0, 0x0fff)
