"""Ports of the table-driven tests of ``lib/test_maple_tree.c`` (Linux 6.12..6.19-rc, 64-bit values).

Each test names the kernel function it comes from.  ``xa_mk_value(x)`` is the Python int ``x``;
kernel pointers (``&tree``, ``ptr``) are plain Python objects.  Allocation tables hold
``/proc/self/maps`` byte addresses shifted right by 12, exactly as the kernel test does.
"""
import os

import pytest

from vmapsim.maple import ULONG_MAX, XA_ZERO_ENTRY, MapleBusy, MapleExists, MapleTree

MTREE_ALLOC_MAX = 0x2000000000000
PTR = object()
TREE = object()


def check_load(mt, index, ptr):
    got = mt.load(index)
    assert got is ptr or (got == ptr and type(got) is type(ptr)), f"load {index}: {got!r} != {ptr!r}"


def check_store_range(mt, start, end, ptr):
    mt.store_range(start, end, ptr)
    for i in range(start, end + 1):
        check_load(mt, i, ptr)


def check_insert_range(mt, start, end, ptr, expect_exists=False):
    if expect_exists:
        with pytest.raises(MapleExists):
            mt.insert_range(start, end, ptr)
        return
    mt.insert_range(start, end, ptr)
    for i in range(start, end + 1):
        check_load(mt, i, ptr)


def check_seq(mt, mx):
    """``check_seq``: insert 0..max one by one, checking every load after each insert."""
    assert mt.empty()
    for i in range(mx + 1):
        mt.insert(i, i)
        for j in range(0, i + 1, max(1, i // 16)):
            check_load(mt, j, j)
        if i:
            assert mt.height()
        check_load(mt, i + 1, None)


# ---------------------------------------------------------------- sequences and node counts
def test_check_seq_1000_node_counts():
    """``check_seq(mt, 1000)`` (plain tree) and the same in an alloc tree.

    The kernel test prints ``mt_nr_allocated()``; the values 73 and 76 were measured by
    running the Linux 6.12 userspace harness (tools/testing/radix-tree) on these sequences.
    """
    mt = MapleTree()
    check_seq(mt, 1000)
    mt.validate()
    assert (mt.height(), mt.node_count()) == (3, 73)
    mt = MapleTree(alloc_range=True)
    check_seq(mt, 1000)
    mt.validate()
    assert (mt.height(), mt.node_count()) == (3, 76)
    assert mt.memory_bytes() == 76 * 256


def test_check_rev_seq_1000_toggling_rcu():
    """``check_rev_seq(mt, 1000)``: reverse inserts, RCU toggled after each; 76 nodes (measured, 6.12)."""
    mt = MapleTree(alloc_range=True)
    mx = 1000
    for i in range(mx, 0, -1):
        mt.insert(i, i)
        for j in range(i, mx + 1, 37):
            check_load(mt, j, j)
        check_load(mt, i - 1, None)
        mt.set_rcu(True)
        assert mt.height()
        mt.set_rcu(False)
        assert mt.height()
    check_load(mt, mx + 1, None)
    mt.validate()
    assert (mt.height(), mt.node_count()) == (3, 76)


def test_maple_tree_seed_insert_load():
    """The insert/load sequence of ``maple_tree_seed()``."""
    s = [5015, 5014, 5017, 25, 1000, 1001, 1002, 1003, 1005, 0, 5003, 5002]
    mt = MapleTree()
    check_load(mt, s[0], None)
    mt.insert(s[9], TREE)
    check_load(mt, s[9], TREE)
    check_load(mt, s[0], None)
    mt.insert(s[10], PTR)
    check_load(mt, s[9], TREE)
    check_load(mt, s[11], None)
    check_load(mt, s[10], PTR)

    mt = MapleTree()
    mt.insert(s[0], TREE)
    with pytest.raises(MapleExists):
        mt.insert(s[0], TREE)
    check_load(mt, s[0], TREE)
    check_load(mt, s[1], None)
    mt.insert(s[1], PTR)
    check_load(mt, s[1], PTR)
    check_load(mt, s[0], TREE)
    mt.insert(s[6], PTR)
    mt.insert(s[7], TREE)
    for i, p in ((0, TREE), (1, PTR), (6, PTR), (7, TREE)):
        check_load(mt, s[i], p)

    mt = MapleTree()
    mt.insert(s[5], PTR)
    mt.insert(s[7], TREE)
    mt.insert(s[6], PTR)
    for i, p in ((5, PTR), (6, PTR), (7, TREE)):
        check_load(mt, s[i], p)

    mt = MapleTree()
    vals = [PTR, TREE, PTR, TREE, PTR, TREE, PTR, TREE, PTR, TREE]
    for i in range(4):
        mt.insert(s[i], vals[i])
    for i in range(4, 10):
        mt.insert(s[i], vals[i])
        for j in range(min(i + 1, 8)):
            check_load(mt, s[j], vals[j])
    check_load(mt, s[9], TREE)
    mt.validate()
    check_seq(mt2 := MapleTree(), 16)
    mt2.validate()


@pytest.mark.parametrize("kind", ["lower", "upper", "mid"])
def test_check_bound_splits(kind):
    """``check_lower_bound_split``, ``check_upper_bound_split``, ``check_mid_split``."""
    mt = MapleTree()
    huge = 4000 * 1000 * 1000
    if kind == "mid":
        mt.insert(8000 * 1000 * 1000, 8000 * 1000 * 1000)
        mt.insert(0, 0)
    if kind in ("lower", "mid"):
        i = huge
        while i > 4096:
            mt.insert(i, i)
            j = huge
            while j >= i:
                check_load(mt, j - 1, None)
                check_load(mt, j, j)
                check_load(mt, j + 1, None)
                j //= 2
            i //= 2
    else:
        i = 4096
        while i < huge:
            mt.insert(i, i)
            check_load(mt, i, i)
            check_load(mt, i + 1, None)
            i *= 2
    mt.validate()


# ---------------------------------------------------------------- check_ranges
def _seq(mt, n):
    for i in range(n + 1):
        mt.insert(i, i)


def test_check_ranges():
    """``check_ranges``: overlapping stores, multi-level overwrites, in-place and RCU modifications, heights."""
    r = [10, 15, 20, 25, 17, 22, 9, 1000, 100, 200, 45, 168, 118, 128]
    mt = MapleTree()
    check_insert_range(mt, r[0], r[1], r[0])
    check_insert_range(mt, r[2], r[3], r[2])
    check_insert_range(mt, r[4], r[5], r[4], expect_exists=True)
    assert mt.height()
    check_store_range(mt, r[4], r[5], r[4])
    check_store_range(mt, r[6], r[7], r[6])
    check_store_range(mt, r[8], r[9], r[8])
    assert mt.height()
    mt.destroy()
    assert not mt.height()

    for n, (a, b, v) in ((50, (5, 47, 47)), (100, (r[10], r[11], r[10])), (200, (r[10], r[11], r[10])),
                         (30, (6, 18, 6))):
        mt = MapleTree()
        _seq(mt, n)
        check_store_range(mt, a, b, v)
        assert mt.height()
        mt.validate()

    # Overwrite across multiple levels.
    mt = MapleTree()
    _seq(mt, 400)
    check_store_range(mt, r[12], r[13], r[12])
    for i in (140, 141, 142, 143, 130, 131, 132, 133, 134, 135):
        mt.erase(i)
    check_load(mt, r[12], r[12])
    check_load(mt, r[13], r[12])
    check_load(mt, r[13] - 1, r[12])
    check_load(mt, r[13] + 1, r[13] + 1)
    check_load(mt, 135, None)
    check_load(mt, 140, None)
    assert mt.height()
    mt.validate()

    # Overwrite multiple levels at the end of the tree (slot 7)
    mt = MapleTree()
    _seq(mt, 400)
    check_store_range(mt, 353, 361, 353)
    check_store_range(mt, 347, 352, 347)
    check_load(mt, 346, 346)
    for i in range(347, 353):
        check_load(mt, i, 347)
    for i in range(353, 362):
        check_load(mt, i, 353)
    check_load(mt, 362, 362)
    mt.validate()

    mt = MapleTree()
    _seq(mt, 400)
    check_store_range(mt, 352, 364, None)
    check_store_range(mt, 351, 363, 352)
    check_load(mt, 350, 350)
    check_load(mt, 351, 352)
    for i in range(352, 364):
        check_load(mt, i, 352)
    check_load(mt, 364, None)
    check_load(mt, 365, 365)
    mt.validate()

    mt = MapleTree()
    _seq(mt, 400)
    check_store_range(mt, 352, 364, None)
    check_store_range(mt, 351, 364, 352)
    check_load(mt, 350, 350)
    for i in range(351, 365):
        check_load(mt, i, 352)
    check_load(mt, 365, 365)
    mt.validate()

    mt = MapleTree()
    _seq(mt, 400)
    check_store_range(mt, 362, 367, 362)
    check_store_range(mt, 353, 361, 353)
    mt.validate()
    assert mt.height()

    mt = MapleTree()
    for i in range(501):
        check_store_range(mt, i * 5, (i + 1) * 5, i * 5)
    for a, b, v in ((2400, 2400, 2400), (2411, 2411, 2411), (2412, 2412, 2412),
                    (2396, 2400, 4052020), (2402, 2402, 2402)):
        check_store_range(mt, a, b, v)
    mt.validate()

    mt = MapleTree()
    for i in range(501):
        check_store_range(mt, i * 5, (i + 1) * 5, i * 5)
    for a, b, v in ((2422, 2422, 2422), (2424, 2424, 2424), (2425, 2425, 2), (2460, 2470, None),
                    (2435, 2460, 2435), (2461, 2470, 2461)):
        check_store_range(mt, a, b, v)
    assert mt.height()
    mt.validate()

    # Check in-place modifications (alloc tree)
    mt = MapleTree(alloc_range=True)
    for i in range(501):
        val = i * 5 + 1
        val2 = val + 4
        check_store_range(mt, val, val2, val)
    for i in range(10):                       # append without touching any boundaries
        val = val2 + 5
        val2 = val + 4
        check_store_range(mt, val, val2, val)
    val = val2
    for i in range(10):                       # append to the end of the last range
        val += 5
        mt.store_range(val, ULONG_MAX, val)
    for i in range(10, 30, 2):                # the range and a part of the next one
        val = i * 5 + 1
        check_store_range(mt, val, val + 5, val)
    for i in range(50, 70, 2):                # a part of the range and the next one
        val2 = i * 5
        check_store_range(mt, val2 - 5, val2, val2 - 5)
    for i in range(100, 130, 3):              # expand, partly overwriting both neighbours
        check_store_range(mt, i * 5 - 5, i * 5 + 1, i * 5 - 5)
    mt.set_rcu(True)
    for i in range(150, 180, 3):              # the same in RCU mode
        check_store_range(mt, i * 5 - 5, i * 5 + 1, i * 5 - 5)
    assert mt.height()
    mt.validate()

    # Test rebalance gaps
    mt = MapleTree(alloc_range=True)
    for i in range(51):
        check_store_range(mt, i * 10, (i + 1) * 10, i * 10)
    for v in (161, 162, 163):
        check_store_range(mt, v, v, v)
    check_store_range(mt, 240, 249, None)
    for v in (200, 210, 220, 230):
        mt.erase(v)
    assert mt.height()
    mt.validate()

    mt = MapleTree(alloc_range=True)
    for i in range(501):
        check_store_range(mt, i * 10, (i + 1) * 10, i * 10)
    check_store_range(mt, 4600, 4959, 1)
    mt.validate()
    assert mt.height()

    mt = MapleTree(alloc_range=True)
    for i in range(501):
        check_store_range(mt, i * 10, (i + 1) * 10, i * 10)
    for v in (4811, 4812, 4861, 4862):
        check_store_range(mt, v, v, v)
    check_store_range(mt, 4842, 4849, None)
    mt.validate()
    assert mt.height()

    # Cause a 3 child split all the way up the tree.
    mt = MapleTree(alloc_range=True)
    for i in range(1301):
        check_store_range(mt, i * 10, (i + 1) * 10, i * 10)
        assert mt.height() < 4
    for i in range(5, 215, 10):
        check_store_range(mt, 11450 + i, 11450 + i + 1, None)
    for i in range(5, 65, 10):
        check_store_range(mt, 11770 + i, 11770 + i + 1, None)
    assert mt.height() < 4
    for i in range(5, 45, 10):
        check_store_range(mt, 11700 + i, 11700 + i + 1, None)
    assert mt.height() >= 4
    mt.validate()

    # triple split across multiple levels.
    mt = MapleTree(alloc_range=True)
    for i in range(1201):
        check_store_range(mt, i * 10, (i + 1) * 10, i * 10)
        assert mt.height() < 4
    for i in range(5, 455, 10):
        check_store_range(mt, 7800 + i, 7800 + i + 1, None)
    for i in range(1, 16):
        check_store_range(mt, 8185 + i, 8185 + i + 1, 8185 + i)
    assert mt.height() < 4
    check_store_range(mt, 8184, 8184, 8184)
    assert mt.height() == 4
    mt.validate()


# ---------------------------------------------------------------- allocation tables (64-bit)
ALLOC_RANGES = [
    0x565234af2000, 0x565234af4000, 0x565234af4000, 0x565234af9000, 0x565234af9000, 0x565234afb000,
    0x565234afc000, 0x565234afd000, 0x565234afd000, 0x565234afe000, 0x565235def000, 0x565235e10000,
    0x7f36d4bfd000, 0x7f36d4ee2000, 0x7f36d4ee2000, 0x7f36d4f04000, 0x7f36d4f04000, 0x7f36d504c000,
    0x7f36d504c000, 0x7f36d5098000, 0x7f36d5098000, 0x7f36d5099000, 0x7f36d5099000, 0x7f36d509d000,
    0x7f36d509d000, 0x7f36d509f000, 0x7f36d509f000, 0x7f36d50a5000, 0x7f36d50b9000, 0x7f36d50db000,
    0x7f36d50db000, 0x7f36d50dc000, 0x7f36d50dc000, 0x7f36d50fa000, 0x7f36d50fa000, 0x7f36d5102000,
    0x7f36d5102000, 0x7f36d5103000, 0x7f36d5103000, 0x7f36d5104000, 0x7f36d5104000, 0x7f36d5105000,
    0x7fff5876b000, 0x7fff5878d000, 0x7fff5878e000, 0x7fff58791000, 0x7fff58791000, 0x7fff58793000,
]
ALLOC_HOLES = [
    0x565234afb000, 0x565234afc000, 0x1000,
    0x565234afe000, 0x565235def000, 0x12F1000,
    0x565235e10000, 0x7f36d4bfd000, 0x28E49EDED000,
]
U64 = (1 << 64) - 1


def _alloc_tree():
    mt = MapleTree(alloc_range=True)
    mt.store_range(MTREE_ALLOC_MAX, ULONG_MAX, XA_ZERO_ENTRY)
    for i in range(0, len(ALLOC_RANGES), 2):
        s, e = ALLOC_RANGES[i] >> 12, (ALLOC_RANGES[i + 1] >> 12) - 1
        check_insert_range(mt, s, e, ALLOC_RANGES[i] >> 12)
        mt.validate()
    return mt


def test_check_alloc_range():
    """``check_alloc_range``: 3 hole searches and 8 ``mtree_alloc_range`` requests."""
    mt = _alloc_tree()
    mn = 0x565234af2000
    for i in range(0, len(ALLOC_HOLES), 3):
        assert mt.empty_area(mn >> 12, ALLOC_HOLES[i + 1] >> 12, ALLOC_HOLES[i + 2] >> 12) == ALLOC_HOLES[i] >> 12
        mn = ALLOC_HOLES[i + 1]
    req = [  # min, max, size, expected, ok
        (0x565234af9000, 0x7fff58791000, 0x1000, 0x565234afb000, True),
        (0x0, 0x7fff58791000, 0x1F00, 0x0, True),
        (34148797436 << 12, 0x7fff587AF000, 0x3000, 34148798629 << 12, True),      # ascend
        (34148798623 << 12, 34148798683 << 12, 0x15000, 0, False),                 # failing
        (34148798623 << 12, 0x7fff587AF000, 0x10000, 34148798632 << 12, True),     # fill entire gap
        (0, U64, U64, 0, False),                                                   # walk off the root
        (0, U64, 4503599618982063 << 12, 34359052178 << 12, False),                # too large
        (34148798648 << 12, 34148798648 << 12, 4096, 34148798648 << 12, True),     # single entry
    ]
    for mnv, mxv, size, expected, ok in req:
        if ok:
            assert mt.alloc_range(size >> 12, mnv >> 12, mnv >> 12, mxv >> 12) == expected >> 12
        else:
            with pytest.raises(MapleBusy):
                mt.alloc_range(size >> 12, mnv >> 12, mnv >> 12, mxv >> 12)
        mt.validate()


def test_check_alloc_rev_range():
    """``check_alloc_rev_range``: 3 reverse hole searches, 7 ``mtree_alloc_rrange``, erase then exact refit."""
    mt = _alloc_tree()
    mn = 0
    for i in range(0, len(ALLOC_HOLES), 3):
        mas = mt.state()
        from vmapsim.maple.gaps import mas_empty_area_rev
        assert mas_empty_area_rev(mas, mn, ALLOC_HOLES[i + 1] >> 12, ALLOC_HOLES[i + 2] >> 12) == 0
        assert mas.last + 1 == ALLOC_HOLES[i + 1] >> 12
        assert mas.index == (ALLOC_HOLES[i + 1] >> 12) - (ALLOC_HOLES[i + 2] >> 12)
        mn = ALLOC_HOLES[i + 1] >> 12
    req = [
        (0x565234af9000, 0x7fff58791000, 0x1000, 0x7fff5878d << 12, True),
        (0x0, 0x565234AF0 << 12, 0x3000, 0x565234AEE << 12, True),               # max - 3
        (0x0, U64, 0x1000, 562949953421311 << 12, True),
        (0x0, 0x7F36D5109 << 12, 0x4000, 0x7F36D5106 << 12, True),
        (0x0, 34148798628 << 12, 19 << 12, 34148797418 << 12, True),              # ascend
        (0x0, U64, 562915594369134 << 12, 0, False),                              # too big
        (34148798725 << 12, 34148798725 << 12, 1 << 12, 34148798725 << 12, True), # single space
    ]
    for mnv, mxv, size, expected, ok in req:
        if ok:
            assert mt.alloc_rrange(size >> 12, mnv >> 12, mnv >> 12, mxv >> 12) == expected >> 12
        else:
            with pytest.raises(MapleBusy):
                mt.alloc_rrange(size >> 12, mnv >> 12, mnv >> 12, mxv >> 12)
        mt.validate()
    mt.erase(34148798727)
    mt.erase(34148798725)
    assert mt.alloc_rrange(210253414, TREE, 0, 34359052173) == 34148798725
    mt.validate()


def test_alloc_range_einval():
    """``mtree_alloc_range``: -EINVAL without MT_FLAGS_ALLOC_RANGE, for reserved entries, size 0, tiny windows."""
    with pytest.raises(ValueError, match="alloc_range"):
        MapleTree().alloc_range(1, PTR, 0, 100)
    mt = MapleTree(alloc_range=True)
    with pytest.raises(ValueError, match="XA_ZERO_ENTRY"):
        mt.alloc_range(1, XA_ZERO_ENTRY, 0, 100)
    with pytest.raises(ValueError, match="size"):
        mt.alloc_rrange(0, PTR, 0, 100)
    with pytest.raises(ValueError, match="smaller than size 10"):
        mt.empty_area(0, 8, 10)
    with pytest.raises(ValueError, match="min 9 > max 8"):
        mt.empty_area_rev(9, 8, 1)


# ---------------------------------------------------------------- empty areas
def test_check_empty_area_window():
    """``check_empty_area_window``: 14 queries around holes [0, 9] and [160, 169]."""
    mt = MapleTree(alloc_range=True)
    for i in range(1, 21):
        mt.store_range(i * 10, i * 10 + 9, i)
    mt.store_range(160, 169, None)
    rev, fwd = mt.empty_area_rev, mt.empty_area
    with pytest.raises(MapleBusy):
        rev(5, 90, 10)
    with pytest.raises(MapleBusy):
        rev(6, 90, 5)
    assert rev(5, 90, 5) == 5
    assert rev(5, 217, 9) == 161
    assert rev(100, 218, 3) == 216
    with pytest.raises(MapleBusy):
        rev(100, 218, 16)
    with pytest.raises(MapleBusy):
        rev(167, 200, 4)
    with pytest.raises(MapleBusy):
        rev(100, 162, 4)
    assert fwd(0, 100, 9) == 0
    assert fwd(0, 100, 4) == 0
    with pytest.raises(MapleBusy):
        fwd(0, 100, 11)
    with pytest.raises(MapleBusy):
        fwd(5, 100, 6)
    with pytest.raises(ValueError):
        fwd(0, 8, 10)
    assert fwd(100, 165, 3) == 160          # the kernel calls this one without asserting
    with pytest.raises(MapleBusy):
        fwd(100, 163, 6)


def test_check_empty_area_fill():
    """``check_empty_area_fill``: 25,000 searches filling exactly ``max``, then -EBUSY, then a refit.

    The kernel test only checks the last search succeeds; 631603200 is the kernel 6.12 result
    of that search (measured on the userspace harness).
    """
    mx = 0x25D78000
    mt = MapleTree(alloc_range=True)
    for shift in range(12, 17):
        size = 1 << shift
        for _ in range(5000):
            mas = mt.state(0)
            from vmapsim.maple.gaps import mas_empty_area
            from vmapsim.maple.write import mas_store
            assert mas_empty_area(mas, 0, mx, size) == 0
            assert mas.last == mas.index + size - 1
            mas_store(mas, size)
    with pytest.raises(MapleBusy):
        mt.empty_area(0, mx, 0x1000)
    for i in range(629440511, 629440801, 6):
        mt.store_range(i, i + 5, i)
    mt.erase(631668735)
    mt.erase(629506047)
    assert mt.empty_area(629506048, 690000000, 0x5000) == 631603200
    mt.validate()


def test_check_gap_combining():
    """``check_gap_combining`` (64-bit ``seq100``, ``seq2000``, ``seq400``)."""
    seq100 = [74, 75, 76, 50, 100, 2, 44, 45, 46, 43, 20, 50, 3, 80, 81, 82, 76, 2, 79, 85, 4]
    mt = MapleTree(alloc_range=True)
    index = seq100[0]
    _seq(mt, 100)
    mt.erase(seq100[2])
    check_load(mt, seq100[2], None)
    mt.erase(seq100[1])
    check_load(mt, seq100[1], None)
    mas = mt.state(index)
    assert mas.find() == index
    mn1 = mas.node
    mas.next()
    assert mas.next() == index + 4
    assert mn1 is not mas.node                          # test the test
    assert mt.empty_area_rev(seq100[3], seq100[4], seq100[5]) == index + 1
    mt.erase(seq100[6])
    check_load(mt, seq100[6], None)
    mt.erase(seq100[7])
    check_load(mt, seq100[7], None)
    mt.erase(seq100[8])
    index = seq100[9]
    mas = mt.state(index)
    assert mas.find() == index
    mn1 = mas.node
    assert mas.next() == index + 4
    mas.next()
    assert mn1 is not mas.node
    assert mt.empty_area_rev(seq100[10], seq100[11], seq100[12]) == seq100[6]
    mt.store(seq100[13], None)
    check_load(mt, seq100[13], None)
    check_load(mt, seq100[14], seq100[14])
    mt.store(seq100[14], None)
    check_load(mt, seq100[13], None)
    check_load(mt, seq100[14], None)
    assert mt.empty_area_rev(seq100[16], seq100[15], seq100[17]) == seq100[13]
    mt.validate()
    mt.store_range(seq100[18], seq100[14], None)
    mt.erase(seq100[15])
    assert mt.empty_area_rev(seq100[16], seq100[19], seq100[20]) == seq100[18]
    mt.validate()

    seq2000 = [1152, 1151, 1100, 1200, 2]
    mt = MapleTree(alloc_range=True)
    _seq(mt, 2000)
    mt.erase(seq2000[0])
    mt.erase(seq2000[1])
    assert mt.empty_area_rev(seq2000[2], seq2000[3], seq2000[4]) == seq2000[1]
    mt.validate()

    seq400 = [286, 318, 256, 260, 266, 270, 275, 280, 290, 398, 286, 310]
    mt = MapleTree(alloc_range=True)
    _seq(mt, 400)
    mt.store_range(seq400[0], seq400[1], None)
    mt.validate()
    mt = MapleTree(alloc_range=True)
    _seq(mt, 400)
    for k in (2, 3, 4, 5, 0, 6, 7, 8):
        mt.store_range(seq400[k], seq400[9], seq400[k])
    mt.store_range(seq400[10], seq400[11], seq400[10])
    mt.validate()


# ---------------------------------------------------------------- structural edge cases
def test_check_node_overwrite_and_spanning_relatives():
    """``check_node_overwrite`` (4000 ranges, one NULL store over 480 of them) and ``check_spanning_relatives``."""
    mt = MapleTree(alloc_range=True)
    for i in range(4000):
        mt.store_range(i * 100, i * 100 + 50, i * 100)
    mt.store_range(319951, 367950, None)
    mt.validate()
    mt = MapleTree(alloc_range=True)
    for i in range(1001):
        mt.store_range(i * 10, i * 10 + 5, i)
    mt.store_range(9365, 9955, None)
    mt.validate()


def test_check_deficient_node_and_bnode_min_spanning():
    """``check_deficient_node`` and ``check_bnode_min_spanning``."""
    mt = MapleTree(alloc_range=True)
    for count in list(range(10)) + list(range(20, 39)) + [10, 11]:
        mt.store(count, count)
    mt.validate()
    mt = MapleTree(alloc_range=True)
    for i in range(50, -1, -1):
        mt.store_range(i * 10, i * 10 + 9, PTR)
    mt.store_range(240, 509, None)
    mt.validate()


def test_check_store_null():
    """``check_store_null``: NULL stores on empty, single-entry and node trees."""
    mt = MapleTree(alloc_range=True)
    mt.store_range(0, ULONG_MAX, None)
    assert mt.empty()
    mt.store_range(3, 10, None)
    assert mt.empty()
    mt.store(0, PTR)
    mt.store_range(0, ULONG_MAX, None)
    assert mt.empty()
    mt.store(0, PTR)
    mt.store_range(0, 5, None)
    assert mt.empty()
    mt.store(0, PTR)
    mt.store_range(2, 5, None)
    assert not mt.empty() and mt.height() == 0
    mt = MapleTree(alloc_range=True)
    mt.store_range(1, 3, PTR)
    assert mt.height() == 1
    mt.store_range(0, ULONG_MAX, None)
    assert mt.empty() and mt.height() == 0


def test_check_root_expand():
    """``check_root_expand``: the root-entry form and its expansion into a leaf."""
    mt = MapleTree(alloc_range=True)
    assert mt.walk(3) == (None, 0, ULONG_MAX)
    mt.store(1, PTR)
    assert mt.walk(0)[0] is None
    assert mt.walk(1)[0] is PTR
    assert mt.walk(2)[0] is None
    mt = MapleTree()
    mt.store(0, PTR)
    assert mt.height() == 0 and mt.node_count() == 0          # lone entry lives in ma_root
    assert mt.walk(5) == (None, 1, ULONG_MAX)
    mas = mt.state(0, 100)
    assert mas.walk() is PTR and mas.last == 0
    mas = mt.state(0)
    mas.walk()
    assert mas.next() is None and mas.index == 1 and mas.last == ULONG_MAX
    mas = mt.state(1)
    assert mas.prev() is PTR and (mas.index, mas.last) == (0, 0)
    # an internal-looking entry cannot live in ma_root: it is expanded into a leaf
    mt = MapleTree()
    mt.store(0, XA_ZERO_ENTRY)
    assert mt.height() == 1 and mt.load(0) is None and mt.walk(0)[0] is XA_ZERO_ENTRY


def test_check_fuzzer_sequences():
    """``check_fuzzer``: the first five of the nine fuzzer-found sequences, each validated."""
    seqs = [
        [("i", 88, 0xb1), ("i", 84, 0xa9), ("i", 2, 0x5), ("i", 4, 0x9), ("i", 14, 0x1d), ("i", 7, 0xf),
         ("i", 12, 0x19), ("i", 18, 0x25), ("r", 8, 18, 0x11)],
        [("s", 87, 0xaf), ("s", 0, 0x1), ("l", 4), ("i", 4, 0x9), ("s", 8, 0x11), ("s", 44, 0x59),
         ("s", 68, 0x89), ("s", 2, 0x5), ("i", 43, 0x57), ("i", 24, 0x31), ("i", 844, 0x699),
         ("s", 84, 0xa9), ("s", 4, 0x9), ("e", 4), ("l", 5), ("e", 0)],
        [("r", 0, ULONG_MAX, 0x1), ("s", 4, 0x9), ("e", 5), ("e", 0), ("e", 4), ("s", 5, 0xb), ("e", 5),
         ("s", 5, 0xb), ("e", 5), ("e", 4), ("s", 4, 0x9), ("s", 444, 0x379), ("s", 0, 0x1), ("l", 0),
         ("s", 5, 0xb), ("e", 0)],
        [("i", 261, 0x20b), ("s", 516, 0x409), ("s", 6, 0xd), ("i", 5, 0xb), ("i", 1256, 0x9d1),
         ("s", 4, 0x9), ("e", 1), ("s", 56, 0x71), ("i", 1, 0x3), ("s", 24, 0x31), ("e", 1),
         ("i", 2263, 0x11af), ("i", 446, 0x37d), ("r", 6, 45, 0xd), ("r", 3, 446, 0x7)],
        [("s", 48, 0x61), ("s", 3, 0x7), ("l", 0), ("s", 88, 0xb1), ("s", 81, 0xa3), ("i", 0, 0x1),
         ("i", 8, 0x11), ("i", 4, 0x9), ("i", 2480, 0x1361), ("i", ULONG_MAX, 0xffffffffffffffff),
         ("e", ULONG_MAX)],
    ]
    for seq in seqs:
        mt = MapleTree()
        for op in seq:
            if op[0] == "i":
                try:
                    mt.insert(op[1], op[2])
                except MapleExists:
                    pass
            elif op[0] == "s":
                mt.store(op[1], op[2])
            elif op[0] == "r":
                mt.store_range(op[1], op[2], op[3])
            elif op[0] == "e":
                mt.erase(op[1])
            else:
                mt.load(op[1])
            mt.validate()


def test_empty_area_needs_alloc_range_tree():
    """Kernel fact (checked on the 6.12 harness): without MT_FLAGS_ALLOC_RANGE, range_64 internal
    nodes carry no gaps, so ``mas_empty_area`` cannot descend once the tree has two levels."""
    for alloc, expect in ((False, None), (True, 0)):
        mt = MapleTree(alloc_range=alloc)
        for i in (1, 5, 13, 3, 7, 9, 11, 15):
            mt.insert(i, 0)
        assert mt.height() == 2
        if expect is None:
            with pytest.raises(MapleBusy):
                mt.empty_area(0, 2, 1)
        else:
            assert mt.empty_area(0, 2, 1) == expect


def test_insert_full_range_over_single_leaf_overwrites():
    """Kernel quirk (checked on the 6.12 harness): ``mtree_insert_range(0, ULONG_MAX)`` on a
    one-leaf tree is a ``wr_new_root`` store, which ``mas_insert`` does not check for
    existing entries: it succeeds and replaces them.  Over a deeper tree it is -EEXIST."""
    mt = MapleTree()
    mt.store(5, 7)
    mt.insert_range(0, ULONG_MAX, 9)
    assert mt.load(5) == 9 and mt.height() == 1
    mt = MapleTree()
    for i in range(40):
        mt.store(i * 3, i)
    with pytest.raises(MapleExists):
        mt.insert_range(0, ULONG_MAX, 9)


def test_check_spanning_store_height():
    """``check_spanning_store_height`` (radix-tree maple.c, 64-bit): singletons until height 3,
    then one store over [90, 140] collapses the tree to height 2."""
    mt = MapleTree(alloc_range=True)
    index = 0
    while mt.height() != 3:
        mt.store(index, index)
        index += 1
    mt.store_range(90, 140, index)
    assert mt.height() == 2
    mt.validate()


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("VMAPSIM_FAST") == "1", reason="about 30 s; run without VMAPSIM_FAST")
def test_check_collapsing_rebalance():
    """``check_collapsing_rebalance`` (radix-tree maple.c): build a height-6 tree of overlapping
    ranges, then erase every entry from the right with ``mas_erase``/``mas_prev``."""
    mt = MapleTree(alloc_range=True)
    i = 0
    while mt.height() < 6:
        mt.store_range(i, i + 10, i)
        i += 9
    mas = mt.state(ULONG_MAX)
    while True:
        mas.erase()
        if mas.prev(0) is None:
            break
    mt.validate()
    assert list(mt) == [] and mt.height() == 0


def test_check_erase_testset():
    """``check_erase_testset`` (radix-tree maple.c), in RCU mode as in the kernel, and without."""
    s = [5015, 5014, 5017, 25, 1000, 1001, 1002, 1003, 1005, 0,
         6003, 6002, 6008, 6012, 6015, 7003, 7002, 7008, 7012, 7015,
         8003, 8002, 8008, 8012, 8015, 9003, 9002, 9008, 9012, 9015,
         10003, 10002, 10008, 10012, 10015, 11003, 11002, 11008, 11012, 11015,
         12003, 12002, 12008, 12012, 12015, 13003, 13002, 13008, 13012, 13015,
         14003, 14002, 14008, 14012, 14015, 15003, 15002, 15008, 15012, 15015]
    for rcu in (True, False):
        mt = MapleTree(rcu=rcu)
        entry = [PTR, mt]

        def ins(i):
            mt.insert(s[i], entry[i % 2])

        def chk(i):
            check_load(mt, s[i], entry[i % 2])

        def era(i):
            assert mt.erase(s[i]) is entry[i % 2]

        for i in range(4):
            ins(i)
        for i in range(4):
            chk(i)
        era(1)
        chk(0)
        check_load(mt, s[1], None)
        for i in (2, 3):
            chk(i)
        era(2)
        chk(0)
        check_load(mt, s[1], None)
        check_load(mt, s[2], None)
        ins(1)
        ins(2)
        for i in range(4):
            chk(i)
        chk(3)
        era(1)
        chk(0)
        check_load(mt, s[1], None)
        for i in (2, 3):
            chk(i)
        ins(1)
        for i, probe in ((0, 5016), (1, 5013), (2, 5018)):
            chk(i)
            check_load(mt, probe, None)
        chk(3)
        era(2)                                     # erase 5017 to check append
        chk(0)
        check_load(mt, 5016, None)
        chk(1)
        check_load(mt, 5013, None)
        check_load(mt, s[2], None)
        check_load(mt, 5018, None)
        chk(3)
        root_node = mt._root
        ins(2)
        for i in range(4):
            chk(i)
        era(2)
        chk(0)
        check_load(mt, s[2], None)
        era(0)
        check_load(mt, s[0], None)
        ins(4)                                     # 1000 < Should not split
        check_load(mt, s[0], None)
        chk(1)
        check_load(mt, s[2], None)
        chk(4)
        check_load(mt, 999, None)
        check_load(mt, 1001, None)
        assert (mt._root is not root_node) == rcu
        assert mt._root.leaf                       # should not have split
        # Coalesce testing
        ins(0)
        ins(2)
        for i in range(5, 25):
            ins(i)
            for j in range(i, -1, -1):
                chk(j)
        gone = set()
        for k in (14, 16, 13, 15, 17, 18, 19, 20, 21, 22):
            era(k)
            gone.add(k)
            for i in range(25):
                if i in gone:
                    check_load(mt, s[i], None)
                else:
                    chk(i)
        for i in (23, 24):
            era(i)
        for i in range(25):
            if i >= 13:
                check_load(mt, s[i], None)
            else:
                chk(i)
        # Shrinking tree test
        for i in range(13, len(s)):
            ins(i)
        for i in range(18, len(s)):
            era(i)
            for j in range(len(s)):
                if j < 18 or j > i:
                    chk(j)
                else:
                    check_load(mt, s[j], None)
        for i in range(18):
            era(i)
            for j in range(len(s)):
                if 18 > j > i:
                    chk(j)
                else:
                    check_load(mt, s[j], None)
        ins(8)
        ins(9)
        era(8)
        mt.validate()


def test_check_find():
    """``check_find`` (64-bit): powers of four with XA_ZERO_ENTRY at 64, mas_find/mt_for_each,
    an entry at ULONG_MAX, mt_find windows and mas_prev from the top."""
    mt = MapleTree()
    val = 0
    mt.insert(val, val)
    val += 1
    top = 4398046511104
    for _ in range(21):
        mt.insert(val, XA_ZERO_ENTRY if val == 64 else val)
        val <<= 2
    mas = mt.state(0)
    val = 0
    while (entry := mas.find(268435456)) is not None:
        assert entry is XA_ZERO_ENTRY if val == 64 else entry == val
        val = (val << 2) or 1
    assert val == 268435456 << 2
    seen = [e for _, _, e in mt.items(0, 300) if e is not XA_ZERO_ENTRY]   # mt_for_each skips zero
    assert seen == [0, 1, 4, 16, 256]
    mt.insert(ULONG_MAX, (1 << 63) - 1)
    got = [e for _, _, e in mt if e is not XA_ZERO_ENTRY]
    assert got[-2:] == [top >> 2, (1 << 63) - 1] and len(got) == 22   # the kernel reaches val == top there
    assert mt.erase(ULONG_MAX) == (1 << 63) - 1
    assert mt.find(17, 512) == (256, 256, 256)
    assert mt.find(17, 20) is None
    mt.insert(ULONG_MAX, (1 << 63) - 1)
    mas = mt.state(1048576)
    assert mas.find(1048576) == 1048576
    mas = mt.state(ULONG_MAX)
    mas.find(ULONG_MAX)
    entry = mas.prev(0)
    index, last = mas.index, mas.last
    mt.erase(ULONG_MAX)
    mas = mt.state(ULONG_MAX)
    assert mas.prev(0) == entry and (mas.index, mas.last) == (index, last) and entry == top >> 2
    assert mt.state(0).prev(0) is None
    mt.validate()


def test_null_leaf_after_erasing_the_whole_range():
    """Kernel behaviour (checked on the 6.12 harness, found by the differential replay):
    erasing the single entry of a ``[0, ULONG_MAX]`` leaf is an exact-fit store, leaving a
    one-slot NULL leaf (height 1), not an empty tree; the searches then compute that slot's
    size in unsigned long arithmetic (2**64 wraps to 0): the reverse search fails, the
    forward one works unless its window is the whole index space."""
    mt = MapleTree(alloc_range=True)
    mt.store_range(0, ULONG_MAX, 7)
    assert mt.erase(7) == 7
    assert mt.height() == 1 and not mt.empty() and list(mt) == []
    with pytest.raises(MapleBusy):
        mt.empty_area(0, ULONG_MAX, 1)
    with pytest.raises(MapleBusy):
        mt.empty_area_rev(116, 399, 1)
    assert mt.empty_area(116, 399, 1) == 116
    with pytest.raises(MapleBusy):
        mt.alloc_rrange(1, 5, 116, 399)
    mt.validate()
