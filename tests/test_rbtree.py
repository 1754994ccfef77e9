"""The augmented rb-tree (vmapsim.vmalloc.rbtree) and the free-space operations (vmapsim.vmalloc.free_space).

* a hypothesis state machine drives the free tree with merges, allocations (every fit type) and
  erasures, checks red-black, ordering, list and ``subtree_max_size`` invariants after every
  step (``validate``) and compares the free set with a trivial interval-list reference;
* the search equals a brute-force rule: the lowest fit for ``align <= PAGE_SIZE``, and for
  aligned requests the same descent evaluated on brute-force subtree maxima (no cached
  augmentation), which also lies at or below the lowest block of ``size + align - 1``.
"""
import os
import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from vmapsim.vmalloc.free_space import (
    FL_FIT_TYPE,
    LE_FIT_TYPE,
    NE_FIT_TYPE,
    RE_FIT_TYPE,
    alloc_vmap_area_range,
    classify_va_fit_type,
    is_within_this_va,
    lowest_fit_reference,
    merge_or_add_vmap_area,
)
from vmapsim.vmalloc.rbtree import OverlapError, RBTree
from vmapsim.vmalloc.vmap_area import PAGE_SIZE, VmapArea

FAST = os.environ.get("VMAPSIM_FAST") == "1"
P = PAGE_SIZE
LO, HI = 16 * P, 4096 * P


def _ref_subtree_max(n):
    if n is None:
        return 0
    return max(n.va_end - n.va_start, _ref_subtree_max(n.rb_left), _ref_subtree_max(n.rb_right))


def _ref_descent(tree, size, align, vstart, adjust):
    """find_vmap_lowest_match() evaluated with brute-force subtree maxima."""
    node = tree.root
    length = size + align - 1 if adjust else size
    while node is not None:
        if _ref_subtree_max(node.rb_left) >= length and vstart < node.va_start:
            node = node.rb_left
            continue
        if is_within_this_va(node, size, align, vstart):
            return node
        if _ref_subtree_max(node.rb_right) >= length:
            node = node.rb_right
            continue
        while True:
            node = node.rb_parent
            if node is None:
                return None
            if is_within_this_va(node, size, align, vstart):
                return node
            if _ref_subtree_max(node.rb_right) >= length and vstart <= node.va_start:
                vstart = node.va_start + 1
                node = node.rb_right
                break
    return None


class FreeTreeMachine(RuleBasedStateMachine):
    """The kernel's free tree against a sorted list of free (start, end) intervals."""

    @initialize()
    def setup(self):
        self.tree = RBTree(augment=True)
        merge_or_add_vmap_area(self.tree, VmapArea(LO, HI))
        self.free = [(LO, HI)]
        self.busy = []
        self.fits = set()

    @rule(pages=st.integers(1, 40), align_shift=st.integers(0, 4), off=st.integers(0, 200))
    def alloc(self, pages, align_shift, off):
        size, align = pages * P, P << align_shift
        vstart = LO + off * P
        adjust = align > P
        blocks = list(self.free)
        ref = lowest_fit_reference(blocks, size, align, vstart, HI, adjust=False)
        bound = lowest_fit_reference(blocks, size, align, vstart, HI, adjust=True)
        brute = _ref_descent(self.tree, size, align, vstart, adjust)
        want = None
        if brute is not None:
            want = (max(brute.va_start, vstart) + align - 1) & ~(align - 1)
            want = want if want + size <= HI else None
        addr, fit = alloc_vmap_area_range(self.tree, size, align, vstart, HI)
        assert addr == want, "search differs from the descent on brute-force subtree maxima"
        if not adjust:
            assert addr == ref, "page-aligned search must be the lowest fit"
        elif addr is not None and bound is not None:
            assert addr <= bound, "aligned search went above the lowest size+align-1 block"
        if addr is not None:
            assert addr % align == 0 and addr >= vstart
            self.fits.add(fit)
            self._take(addr, addr + size)
            self.busy.append((addr, addr + size))

    @rule(data=st.data())
    def free_one(self, data):
        if not self.busy:
            return
        i = data.draw(st.integers(0, len(self.busy) - 1))
        s, e = self.busy.pop(i)
        merge_or_add_vmap_area(self.tree, VmapArea(s, e))
        self._give(s, e)

    @rule(data=st.data())
    def overlap_is_refused(self, data):
        if not self.busy:
            return
        s, e = self.busy[data.draw(st.integers(0, len(self.busy) - 1))]
        # a range overlapping free space is refused (kernel: WARN in find_va_links)
        for fs, fe in self.free:
            with pytest.raises(OverlapError):
                self.tree.find_va_links(VmapArea(fs, fe))
            break

    def _take(self, s, e):
        out = []
        for fs, fe in self.free:
            if fe <= s or fs >= e:
                out.append((fs, fe))
                continue
            assert fs <= s and e <= fe, "allocation not inside one free block"
            if fs < s:
                out.append((fs, s))
            if e < fe:
                out.append((e, fe))
        self.free = out

    def _give(self, s, e):
        merged = sorted(self.free + [(s, e)])
        out = []
        for fs, fe in merged:
            if out and out[-1][1] == fs:
                out[-1] = (out[-1][0], fe)
            else:
                out.append((fs, fe))
        self.free = out

    @invariant()
    def tree_matches_reference(self):
        self.tree.validate()
        assert [(v.va_start, v.va_end) for v in self.tree] == self.free


FreeTreeMachine.TestCase.settings = settings(max_examples=25 if FAST else 150, stateful_step_count=60,
                                             deadline=None)
TestFreeTree = FreeTreeMachine.TestCase


class PlainTreeMachine(RuleBasedStateMachine):
    """A busy/lazy tree (no augmentation) against a sorted list, with random inserts and erasures."""

    @initialize()
    def setup(self):
        self.tree = RBTree()
        self.ref = {}

    @rule(slot=st.integers(0, 300))
    def insert(self, slot):
        if slot in self.ref:
            return
        va = VmapArea(slot * 2 * P, slot * 2 * P + P)
        self.tree.insert(va)
        self.ref[slot] = va

    @rule(slot=st.integers(0, 300))
    def erase(self, slot):
        va = self.ref.pop(slot, None)
        if va is not None:
            self.tree.unlink(va)

    @rule(addr=st.integers(0, 610 * P))
    def lookup(self, addr):
        va = self.tree.find(addr)
        want = self.ref.get(addr // (2 * P))
        if want is not None and not (want.va_start <= addr < want.va_end):
            want = None
        assert va is want

    @invariant()
    def valid(self):
        self.tree.validate()
        assert [v.va_start for v in self.tree] == sorted(s * 2 * P for s in self.ref)


PlainTreeMachine.TestCase.settings = settings(max_examples=20 if FAST else 100, stateful_step_count=80,
                                              deadline=None)
TestPlainTree = PlainTreeMachine.TestCase


def test_every_fit_type_is_exercised_and_classified():
    t = RBTree(augment=True)
    merge_or_add_vmap_area(t, VmapArea(LO, LO + 100 * P))
    blk = t.root
    assert classify_va_fit_type(blk, LO, 10 * P) == LE_FIT_TYPE
    assert classify_va_fit_type(blk, LO + 90 * P, 10 * P) == RE_FIT_TYPE
    assert classify_va_fit_type(blk, LO + 10 * P, 10 * P) == NE_FIT_TYPE
    assert alloc_vmap_area_range(t, 10 * P, P, LO + 10 * P, HI) == (LO + 10 * P, NE_FIT_TYPE)
    assert [(v.va_start, v.va_end) for v in t] == [(LO, LO + 10 * P), (LO + 20 * P, LO + 100 * P)]
    assert alloc_vmap_area_range(t, 10 * P, P, LO, HI) == (LO, FL_FIT_TYPE)
    t.validate()


def test_random_sequences_match_the_reference_rule():
    """Long random sequences (beyond hypothesis' step counts): page-aligned choices are the lowest fit."""
    rng = random.Random(7)
    t = RBTree(augment=True)
    merge_or_add_vmap_area(t, VmapArea(LO, HI))
    live = []
    for step in range(600 if FAST else 4000):
        if live and rng.random() < 0.45:
            s, e = live.pop(rng.randrange(len(live)))
            merge_or_add_vmap_area(t, VmapArea(s, e))
            continue
        size = rng.randint(1, 12) * P
        align = P << rng.choice([0, 0, 0, 2, 3])
        blocks = [(v.va_start, v.va_end) for v in t]
        exact = lowest_fit_reference(blocks, size, align, LO, HI, adjust=False)
        bound = lowest_fit_reference(blocks, size, align, LO, HI)
        addr, _ = alloc_vmap_area_range(t, size, align, LO, HI)
        if align == P:
            assert addr == exact
        elif addr is not None:
            assert exact <= addr and (bound is None or addr <= bound)
        if addr is not None:
            live.append((addr, addr + size))
        if step % 200 == 0:
            t.validate()
    t.validate()



def test_insert_refuses_every_overlap_like_find_va_links():
    # insert() descends with one comparison per level and tests the overlap at its slot: it
    # refuses exactly what find_va_links refuses, with the same message and visits counted,
    # and otherwise counts the same descent
    from vmapsim.designs.base import Accounting
    rng = random.Random(7)
    refused = 0
    for _ in range(200):
        acct = Accounting()
        t = RBTree(False, acct)
        for s in rng.sample(range(0, 400, 2), rng.randint(0, 60)):
            t.insert(VmapArea(s * P, (s + 1) * P))
        for _ in range(20):
            s = rng.randrange(0, 400)
            va = VmapArea(s * P, (s + rng.randint(1, 5)) * P)
            v0 = acct.visited
            try:
                t.find_va_links(va)
                want = None
            except OverlapError as err:
                want = str(err)
            v1 = acct.visited
            try:
                t.insert(va)
                got = None
            except OverlapError as err:
                got = str(err)
                refused += 1
            assert got == want
            assert acct.visited - v1 == v1 - v0
            t.validate()
    assert refused > 100
