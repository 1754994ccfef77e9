"""Scenarios A*, B*, E2*, F*: what a lockless reader of the *real* maple tree can see.

The tree is :class:`vmapsim.maple.MapleTree`, attached to the explorer with
:func:`vmapsim.explore.maple_hook.attach`, so the writer's node stores and the reader's walk
interleave access by access.  ``tree_mode`` is ``rcu`` (``MT_FLAGS_USE_RCU``:
copy-on-write node replacement, dead marks, old nodes freed after a grace period),
``inplace`` (no RCU mode: node stores rewrite the live node word by word, as
``mas_wr_node_store``'s copy-back does) or ``slot`` (the one-op index model of
:class:`vmapsim.explore.world.RangeIndex`, for comparison).

Builders:

* :func:`index_race` -- A1/A2 (one index, one or two stores) and B1/B2 (two stores,
  two loads; outcome scenarios);
* :func:`node_race` -- F1 (a stable entry read while another one is inserted into the
  same leaf), E2 (a node freed without a grace period under an owner's walk) and F2
  (``XA_ZERO_ENTRY`` seen by the advanced-API walk).
"""
from __future__ import annotations

from types import SimpleNamespace

from ...params import check_choice
from . import Scenario, Thread, builder_source, register

__all__ = ["index_race", "node_race", "make_tree", "TREE_MODES"]

PATTERNS = ("overwrite", "erase-insert", "two-stores")
TREE_MODES = ("rcu", "inplace", "slot")


def make_tree(w, name: str, ranges, tree_mode: str, alloc_range: bool = False,
              node_free: str = "call_rcu"):
    """Build the initial index (outside any thread) and attach it to world ``w``."""
    check_choice("tree_mode", tree_mode, TREE_MODES)
    if tree_mode == "slot":
        return w.index(name, ranges)
    from ...maple import MapleTree
    from ..maple_hook import attach
    t = MapleTree(alloc_range=alloc_range, rcu=tree_mode == "rcu")
    for first, last, entry in ranges:
        t.store_range(first, last, entry)
    attach(w, t, name, node_free)
    return t


def _is_zero(v) -> bool:
    """``xa_is_zero``."""
    from ..world import zero_like
    return zero_like(v)


def _load(env, tree, index):
    return env.tree_load(tree, index)


def _walk(env, tree, index):
    return env.tree_walk(tree, index)


def _store(env, tree, first, last, entry):
    return env.tree_store_range(tree, first, last, entry)


def _erase(env, tree, index):
    return env.tree_erase(tree, index)


def index_race(pattern: str = "overwrite", read_order: str = "forward",
               tree_mode: str = "rcu", others: int = 3) -> Scenario:
    """``overwrite``: W stores B over A's exact range (A1).  ``erase-insert``: W erases
    A then inserts B at the same range, vmalloc's real pattern (A2).  ``two-stores``:
    W stores C at i1 then D at i2; R loads i1 then i2 (``forward``) or i2 then i1
    (``reverse``) and the outcome is which of C, D it saw (B1, B2).  ``others``
    unrelated areas are stored first so the tree has a real leaf node."""
    check_choice("pattern", pattern, PATTERNS)
    check_choice("read_order", read_order, ("forward", "reverse"))
    check_choice("tree_mode", tree_mode, TREE_MODES)
    knobs = dict(pattern=pattern, read_order=read_order, tree_mode=tree_mode, others=others)
    i1, i2 = 0x10000, 0x50000

    def setup(w):
        A, B, C, D = (w.obj(n, kind="vmap_area") for n in "ABCD")
        ranges = [(0x100000 + k * 0x10000, 0x100000 + k * 0x10000 + 0xfff, w.obj(f"O{k}"))
                  for k in range(others)]
        if pattern != "two-stores":
            ranges.append((i1, i1 + 0xfff, A))
        tree = make_tree(w, "mt", ranges, tree_mode)
        return SimpleNamespace(tree=tree, A=A, B=B, C=C, D=D)

    def writer(ctx, s):
        if pattern == "overwrite":
            yield from ctx.call(_store, s.tree, i1, i1 + 0xfff, s.B)
        elif pattern == "erase-insert":
            yield from ctx.call(_erase, s.tree, i1)
            yield from ctx.call(_store, s.tree, i1, i1 + 0xfff, s.B)
        else:
            yield from ctx.call(_store, s.tree, i1, i1 + 0xfff, s.C)
            yield from ctx.call(_store, s.tree, i2, i2 + 0xfff, s.D)

    def reader(ctx, s):
        yield ctx.rcu_read_lock()
        if pattern != "two-stores":
            v = yield from ctx.call(_load, s.tree, i1 + 0x800)
            ctx.check(v is s.A or v is s.B,
                      f"load({i1 + 0x800:#x}) returned {getattr(v, 'name', 'NULL')}, neither A nor B")
        else:
            order = (i1, i2) if read_order == "forward" else (i2, i1)
            for i in order:
                v = yield from ctx.call(_load, s.tree, i + 0x800)
                ctx.observe(i, getattr(v, "name", None))
        yield ctx.rcu_read_unlock()

    def outcome(w, s):
        seen = "".join(x for x in ("C", "D") if x in (w.obs.get(i1), w.obs.get(i2)))
        return seen or "none"

    return Scenario(id="index_race", title=f"index {pattern}",
                    description=f"W: {pattern} on the {tree_mode} tree; R loads under RCU "
                                f"({read_order}).",
                    threads=[Thread("W", writer), Thread("R", reader)], setup=setup,
                    outcome=outcome if pattern == "two-stores" else None,
                    source=builder_source("index_race", knobs), knobs=knobs,
                    kernel="lib/maple_tree.c: mtree_load, mas_wr_slot_store, mas_wr_node_store")


NODE_CASES = ("insert-beside", "erase-beside", "zero-entry", "insert-split", "erase-spanning",
              "erase-rebalance")
#: insert-split: entries [6k, 6k+4] for k = 1..SPLIT_FILL fill the root leaf (two slots each,
#: with the NULL gaps), so that the insert of [6(SPLIT_FILL+1), +2] is a split store (checked
#: by tests/test_explore_catalogue.py)
SPLIT_FILL = 7
#: erase-spanning / erase-rebalance: entries [6k, 6k+4] for k = 1..SPAN_FILL make a tree of
#: height 2 with three leaves (O1-O8, O9-O13, O14-O16, in the port); erasing O8, the last entry
#: of the first leaf, is a spanning store (its NULL range joins the next leaf's leading gap);
#: erasing O14 leaves the last leaf short and is a rebalance (both checked by
#: tests/test_explore_catalogue.py).  (erased entry, the owner's entry read meanwhile)
SPAN_FILL = 16
SPAN_CASES = {"erase-spanning": (8, 9), "erase-rebalance": (14, 15)}


def node_race(case: str = "insert-beside", tree_mode: str = "rcu", node_free: str = "call_rcu",
              zero_filter: bool = False) -> Scenario:
    """One leaf node, a reader and a writer touching the same node.

    * ``insert-beside`` (F1): X is stable at [15, 20]; W inserts Y at [5, 9]; R (under
      RCU) loads 17 and must get X.
    * ``erase-beside`` (E2): the leaf holds A (owned by R) and X; W erases X; R walks to
      A under RCU.  ``node_free="kfree"`` frees the replaced node at once instead of after
      a grace period (a negative control: the maple tree itself never does that in RCU
      mode).
    * ``insert-split`` (F1-cow-split): the leaf is full (X among ``SPLIT_FILL`` entries); W
      inserts Y, which splits the leaf (``mas_split``: new leaves and a new root); R loads
      X's index and must get X.
    * ``erase-spanning`` (E2-span) / ``erase-rebalance`` (E2-rebalance): a tree of height 2
      (``SPAN_FILL`` entries, three leaves); W erases the entry whose erase is a spanning
      store / a rebalance (:data:`SPAN_CASES`), R (under RCU) walks to its own entry X next to
      it, in the leaf the store rewrites, and must get X.
    * ``zero-entry`` (F2): a reserved range holds ``XA_ZERO_ENTRY``; R uses the
      advanced-API walk (``mas_walk``) there and dereferences what it gets, with or
      without an ``xa_is_zero`` filter; W stores an unrelated area meanwhile.
    """
    check_choice("case", case, NODE_CASES)
    check_choice("tree_mode", tree_mode, TREE_MODES)
    check_choice("node_free", node_free, ("call_rcu", "kfree"))
    knobs = dict(case=case, tree_mode=tree_mode, node_free=node_free, zero_filter=zero_filter)

    def setup(w):
        from ...maple import XA_ZERO_ENTRY
        X, Y, A = w.obj("X", size=6), w.obj("Y", size=5), w.obj("A", size=4)
        if case == "insert-beside":
            ranges = [(15, 20, X)]
        elif case == "insert-split":
            ranges = [(6 * k, 6 * k + 4, X if k == 2 else w.obj(f"O{k}", size=5))
                      for k in range(1, SPLIT_FILL + 1)]
        elif case == "erase-beside":
            ranges = [(5, 8, A), (15, 20, X)]
        elif case in SPAN_CASES:
            mine = SPAN_CASES[case][1]
            ranges = [(6 * k, 6 * k + 4, X if k == mine else w.obj(f"O{k}", size=5))
                      for k in range(1, SPAN_FILL + 1)]
        else:
            ranges = [(5, 8, A), (15, 20, XA_ZERO_ENTRY)]
        tree = make_tree(w, "mt", ranges, tree_mode, node_free=node_free)
        return SimpleNamespace(tree=tree, X=X, Y=Y, A=A)

    def writer(ctx, s):
        if case == "insert-beside":
            yield from ctx.call(_store, s.tree, 5, 9, s.Y)
        elif case == "insert-split":
            yield from ctx.call(_store, s.tree, 6 * SPLIT_FILL + 6, 6 * SPLIT_FILL + 8, s.Y)
        elif case == "erase-beside":
            yield from ctx.call(_erase, s.tree, 17)
        elif case in SPAN_CASES:
            yield from ctx.call(_erase, s.tree, 6 * SPAN_CASES[case][0])
        else:
            yield from ctx.call(_store, s.tree, 30, 40, s.Y)

    def reader(ctx, s):
        yield ctx.rcu_read_lock()
        if case in ("insert-beside", "insert-split"):
            i = 17 if case == "insert-beside" else 14
            v = yield from ctx.call(_load, s.tree, i)
            ctx.check(v is s.X, f"load({i}) returned {getattr(v, 'name', 'NULL')}, not X "
                      "(a torn in-place node update)")
        elif case == "erase-beside":
            v = yield from ctx.call(_walk, s.tree, 6)
            ctx.check(v is s.A, f"the owner's walk to A returned {getattr(v, 'name', v)}")
        elif case in SPAN_CASES:
            i = 6 * SPAN_CASES[case][1] + 2
            v = yield from ctx.call(_walk, s.tree, i)
            ctx.check(v is s.X, f"the owner's walk to X ({i}) returned {getattr(v, 'name', v)}")
        else:
            v = yield from ctx.call(_walk, s.tree, 17)
            if zero_filter and _is_zero(v):
                v = None
            if v is not None:
                yield ctx.read(v, "size", text="entry->size (dereference the walk's result)")
        yield ctx.rcu_read_unlock()

    titles = {"insert-beside": "insert beside a stable entry",
              "insert-split": "insert that splits a stable entry's leaf",
              "erase-beside": "erase beside an owned entry", "zero-entry": "reserved range",
              "erase-spanning": "erase beside an owned entry that is a spanning store",
              "erase-rebalance": "erase beside an owned entry that rebalances its leaf"}
    return Scenario(id="node_race", title=titles[case],
                    description=f"{titles[case]} on the {tree_mode} tree"
                                + (", replaced nodes freed at once" if node_free == "kfree" else "")
                                + (", reader filters zero entries" if zero_filter else ""),
                    threads=[Thread("W", writer), Thread("R", reader)], setup=setup,
                    source=builder_source("node_race", knobs), knobs=knobs,
                    kernel="lib/maple_tree.c: mtree_lookup_walk, mas_walk, mas_wr_node_store, "
                           "mas_wr_spanning_store, mas_rebalance, ma_free_rcu")


register("A1", "one store of B over A's exact range: reader sees A or B, never NULL",
         index_race, "never", pattern="overwrite")
register("A2", "erase A then insert B at the same range (vmalloc's pattern): NULL is seen",
         index_race, "violation", pattern="erase-insert")
register("B1", "two stores C then D, reader loads C's index then D's", index_race, "outcomes",
         outcomes={"none", "C", "D", "CD"}, pattern="two-stores", read_order="forward")
register("B2", "two stores C then D, reader loads D's index first (LKMM also allows D only)",
         index_race, "outcomes", outcomes={"none", "C", "CD"}, lkmm_extra={"D"},
         pattern="two-stores", read_order="reverse",
         note="Sequentially consistent verdict.  Under the LKMM the outcome 'D only' is also "
              "allowed (litmus test MP+poonce+onces: no ordering between the reader's two "
              "loads); an SC checker cannot show it.")
register("E2", "negative control: maple node freed without a grace period under an owner's walk",
         node_race, "violation", case="erase-beside", node_free="kfree")
register("E2-rcu", "same with the replaced node freed after a grace period (RCU mode)",
         node_race, "never", case="erase-beside")
register("E2-span", "erase beside an owned entry that is a spanning store (two leaves "
                    "rewritten), RCU mode: the owner's walk always finds its entry", node_race,
         "never", case="erase-spanning")
register("E2-rebalance", "erase beside an owned entry that rebalances its leaf with a sibling, "
                         "RCU mode: the owner's walk always finds its entry", node_race, "never",
         case="erase-rebalance")
register("F1-inplace", "insert beside a stable entry, tree not in RCU mode: torn node seen",
         node_race, "violation", case="insert-beside", tree_mode="inplace")
register("F1-cow", "insert beside a stable entry in RCU mode (copy-on-write): always X",
         node_race, "never", case="insert-beside", tree_mode="rcu")
register("F1-cow-split", "insert that splits the stable entry's full leaf, RCU mode: always X",
         node_race, "never", case="insert-split", tree_mode="rcu")
register("F2", "mas_walk returns XA_ZERO_ENTRY for a reserved range; reader dereferences it",
         node_race, "violation", case="zero-entry")
register("F2-filter", "same with an xa_is_zero filter", node_race, "never", case="zero-entry",
         zero_filter=True)
