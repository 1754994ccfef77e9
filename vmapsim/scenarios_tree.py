"""Scenarios A*, B*: what a lockless reader of the index can observe.

:func:`index_race` -- a writer updates the index (one or two stores) while a reader
loads one or two indices under RCU.
"""
from __future__ import annotations

from types import SimpleNamespace

from .params import check_choice
from .rcu import Violation
from .scenarios import Scenario, Thread, builder_source, register

__all__ = ["index_race"]

PATTERNS = ("overwrite", "erase-insert", "two-stores")
TREE_MODES = ("slot",)


def index_race(pattern: str = "overwrite", read_order: str = "forward",
               tree_mode: str = "slot") -> Scenario:
    """``overwrite``: W stores B over A's exact range (A1).  ``erase-insert``: W erases
    A then inserts B at the same range, vmalloc's real pattern (A2).  ``two-stores``:
    W stores C at i1 then D at i2; R loads i1 then i2 (``forward``) or i2 then i1
    (``reverse``) and the outcome is which of C, D it saw (B1, B2)."""
    check_choice("pattern", pattern, PATTERNS)
    check_choice("read_order", read_order, ("forward", "reverse"))
    check_choice("tree_mode", tree_mode, TREE_MODES)
    knobs = dict(pattern=pattern, read_order=read_order, tree_mode=tree_mode)
    i1, i2 = 0x1000, 0x5000

    def setup(w):
        A = w.obj("A", kind="vmap_area")
        B = w.obj("B", kind="vmap_area")
        C = w.obj("C", kind="vmap_area")
        D = w.obj("D", kind="vmap_area")
        ranges = [(i1, i1 + 0xfff, A)] if pattern != "two-stores" else []
        tree = w.index("tree", ranges)
        return SimpleNamespace(tree=tree, A=A, B=B, C=C, D=D)

    def writer(ctx, s):
        if pattern == "overwrite":
            yield ctx.index_store(s.tree, i1, i1 + 0xfff, s.B)
        elif pattern == "erase-insert":
            yield ctx.index_erase(s.tree, i1)
            yield ctx.index_store(s.tree, i1, i1 + 0xfff, s.B)
        else:
            yield ctx.index_store(s.tree, i1, i1 + 0xfff, s.C)
            yield ctx.index_store(s.tree, i2, i2 + 0xfff, s.D)

    def reader(ctx, s):
        yield ctx.rcu_read_lock()
        if pattern != "two-stores":
            v = yield ctx.index_load(s.tree, i1)
            ctx.check(v is s.A or v is s.B,
                      f"load({i1:#x}) returned {getattr(v, 'name', 'NULL')}, neither A nor B")
        else:
            order = (i1, i2) if read_order == "forward" else (i2, i1)
            for i in order:
                v = yield ctx.index_load(s.tree, i)
                ctx.observe(i, getattr(v, "name", None))
        yield ctx.rcu_read_unlock()

    def outcome(w, s):
        if pattern != "two-stores":
            return None
        seen = "".join(x for x in ("C", "D") if x in (w.obs.get(i1), w.obs.get(i2)))
        return seen or "none"

    return Scenario(id="index_race", title=f"index {pattern}",
                    description=f"W: {pattern}; R reads under RCU ({read_order}).",
                    threads=[Thread("W", writer), Thread("R", reader)], setup=setup,
                    outcome=outcome if pattern == "two-stores" else None,
                    source=builder_source("index_race", knobs), knobs=knobs)


register("A1", "one store of B over A's exact range: reader sees A or B, never NULL",
         index_race, "never", pattern="overwrite")
register("A2", "erase A then insert B at the same range (vmalloc's pattern): NULL is seen",
         index_race, "violation", pattern="erase-insert")
register("B1", "two stores C then D, reader loads C's index then D's", index_race, "outcomes",
         outcomes={"none", "C", "D", "CD"}, pattern="two-stores", read_order="forward")
register("B2", "two stores C then D, reader loads D's index first (LKMM also allows D only)",
         index_race, "outcomes", outcomes={"none", "C", "CD"}, lkmm_extra={"D"},
         pattern="two-stores", read_order="reverse")
