"""Differential test of every design: one random operation sequence drives them all, and after
every step each design's busy / lazy / free / pool state is checked against the others.

* ``linux-6.18`` and ``rfc-maple-busy`` have the same policy: always identical;
* ``maple-nofree``, ``maple-nofree-sharded`` and ``rfc-v1`` without its overlays and with an
  address-ordered lazy queue have the same policy (gap search): always identical;
* the two groups are identical until the first aligned request that the rb-tree descent and
  the padded gap search answer differently; that request must be aligned, the gap design's
  address must be the padded rule on the shared free space and 6.18's must fit at or below it;
* a trivial reference (sorted live intervals) checks every design's busy set, and the padded
  rule evaluated by brute force over the free ranges checks every gap-search placement;
* ``rfc-v1`` as posted (bump chunks on) and ``linux-6.8`` keep their invariants and their busy
  set equals the live set.
"""
import os

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from vmapsim.designs import make_design
from vmapsim.vmalloc.vmap_area import PAGE_SIZE, VMALLOC_END, VMALLOC_START

FAST = os.environ.get("VMAPSIM_FAST") == "1"

GROUP_A = {"linux-6.18": {}, "rfc-maple-busy": {}}
GROUP_B = {"maple-nofree": {}, "maple-nofree-sharded": {},
           "rfc-v1/plain": {"bump": False, "lazy_list": False}}
OTHERS = {"rfc-v1": {}, "linux-6.8": {}}
SUB_START = VMALLOC_START + (1 << 36)          # a sub-range request (not pool-eligible)
SUB_END = SUB_START + (1 << 34)


def padded_gap_reference(free, size, align, vstart, vend):
    """The gap designs' rule over sorted free ranges: the lowest free range whose part inside
    ``[vstart, vend)`` holds ``size + align - 1`` (``size`` when 6.18 would not pad), aligned up.

    Unlike 6.18's rb-tree (and :func:`lowest_fit_reference`), a block is measured after it is
    clipped to the window: ``mas_empty_area`` searches ``[vstart, vend - 1]`` only."""
    need = size + align - 1 if align > PAGE_SIZE and vend - vstart != size else size
    for s, e in free:
        s, e = max(s, vstart), min(e, vend)
        if e - s >= need:
            a = (s + align - 1) & ~(align - 1)
            return a if a + size <= e else None
    return None


def _state(d):
    return (d.busy_areas(), d.lazy_areas(), d.free_ranges(), d.pools())


class Designs(RuleBasedStateMachine):
    """Base machine; subclasses choose whether aligned requests are made."""

    ALIGNED = True

    @initialize(cpus=st.sampled_from([1, 2, 3]))
    def make(self, cpus):
        self.d = {}
        for name, kw in {**GROUP_A, **GROUP_B, **OTHERS}.items():
            self.d[name] = make_design(name.split("/")[0], possible_cpus=cpus, **kw)
        self.cpus = cpus
        self.live = {name: [] for name in self.d}     # parallel lists of (addr, size)
        self.same = True

    @rule(pages=st.integers(1, 12), shift=st.integers(0, 4), cpu=st.integers(0, 2),
          sub=st.booleans())
    def alloc(self, pages, shift, cpu, sub):
        size = pages * PAGE_SIZE
        align = PAGE_SIZE << (shift if self.ALIGNED else 0)
        cpu %= self.cpus
        vstart, vend = (SUB_START, SUB_END) if sub else (VMALLOC_START, VMALLOC_END)
        before = {n: self.d[n].free_ranges() for n in ("linux-6.18", "maple-nofree")}
        got = {}
        for name, d in self.d.items():
            got[name] = d.alloc_vmap_area(size, align, vstart, vend, cpu=cpu)
            assert got[name] is not None
            self.live[name].append((got[name], size))
        a, b = got["linux-6.18"], got["maple-nofree"]
        # the gap designs' free-space choice is the padded rule, by brute force
        if any(s <= b and b + size <= e for s, e in before["maple-nofree"]):
            ref = padded_gap_reference(before["maple-nofree"], size, align, vstart, vend)
            assert b == ref, (b, ref, size, align)
        if self.same and a != b:
            assert align > PAGE_SIZE, "page-aligned requests must never differ"
            assert before["linux-6.18"] == before["maple-nofree"]
            assert a < b, "the rb descent takes a block at or below the padded rule's"
            self.same = False

    @precondition(lambda self: any(self.live.values()))
    @rule(data=st.data(), cpu=st.integers(0, 2))
    def free(self, data, cpu):
        i = data.draw(st.integers(0, len(self.live["linux-6.18"]) - 1))
        for name, d in self.d.items():
            addr, _ = self.live[name].pop(i)
            d.vfree(addr, cpu=cpu % self.cpus)

    @rule()
    def purge(self):
        for d in self.d.values():
            d.purge_vmap_area_lazy()

    @rule()
    def shrink(self):
        for d in self.d.values():
            d.vmap_node_shrink_scan()

    @invariant()
    def consistent(self):
        if not hasattr(self, "d"):
            return
        for name, d in self.d.items():
            d.validate()
            assert d.busy_areas() == sorted((a, a + s) for a, s in self.live[name]), name
        for group in (GROUP_A, GROUP_B):
            states = {n: _state(self.d[n]) for n in group}
            first = next(iter(states.values()))
            for n, s in states.items():
                assert s == first, f"{n} differs from its group"
        if self.same:
            assert _state(self.d["linux-6.18"]) == _state(self.d["maple-nofree"])


class PageAligned(Designs):
    ALIGNED = False

    @invariant()
    def never_diverge(self):
        assert not hasattr(self, "d") or self.same


Mixed = Designs
_settings = settings(max_examples=12 if FAST else 80, stateful_step_count=30 if FAST else 60,
                     deadline=None)
TestPageAligned = PageAligned.TestCase
TestPageAligned.settings = _settings
TestMixedAlignment = Mixed.TestCase
TestMixedAlignment.settings = _settings
