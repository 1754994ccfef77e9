"""The Python maple tree against the kernel's, operation by operation.

``tests/data/maple_oracle.txt.gz`` holds operation scripts and the output of the kernel's own
``lib/maple_tree.c`` (Linux 6.12, Debian ``linux-source-6.12``, built in the userspace harness
of ``tools/testing/radix-tree`` by ``tools/maple_oracle``): every return value, the height and
node count after every operation, and node-by-node dumps (types, ranges, pivots, entries,
gaps, largest-gap offsets) at checkpoints.  Replaying a script must reproduce it exactly, in
plain and alloc trees, RCU mode toggled on and off along the way.
"""
import gzip
import os
from pathlib import Path

import pytest
from maple_replay import run

DATA = Path(__file__).parent / "data" / "maple_oracle.txt.gz"


def load_scripts():
    text = gzip.open(DATA, "rt").read()
    scripts = []
    for chunk in text.split("# script ")[1:]:
        name, rest = chunk.split("\n", 1)
        ops, rest = rest.split("# expect\n", 1)
        expect = rest.split("# end\n", 1)[0]
        scripts.append((name, ops.splitlines(), expect.splitlines()))
    return scripts


SCRIPTS = load_scripts()
FAST = os.environ.get("VMAPSIM_FAST") == "1"


def test_fixture_is_substantial():
    assert len(SCRIPTS) >= 30
    assert sum(len(ops) for _, ops, _ in SCRIPTS) > 20000


@pytest.mark.parametrize("name,ops,expect", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_replay_matches_kernel(name, ops, expect):
    got, mt = run(ops)
    for i, (e, g) in enumerate(zip(expect, got)):
        assert g == e, f"{name}: output line {i} differs from the kernel's"
    assert len(got) == len(expect)
    mt.validate()


@pytest.mark.parametrize("name,ops,expect", SCRIPTS[::6], ids=[s[0] for s in SCRIPTS[::6]])
def test_replay_through_hooked_access(name, ops, expect):
    """The same scripts with a (no-op) HookedAccess attached: the step-by-step reader and
    writer paths the explorer drives give the kernel's answers too."""
    from vmapsim.maple.access import CountingAccess
    acc = CountingAccess()
    got, mt = run(ops, rcu_access=acc)
    assert got == expect
    assert acc.counts.get(("load", "pivots"), 0) > 0 and acc.counts.get(("store", "slot"), 0) > 0
