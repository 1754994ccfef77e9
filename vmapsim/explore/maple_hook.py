"""Running the real :class:`vmapsim.maple.MapleTree` under the explorer.

:class:`ExplorerAccess` is the explorer's :class:`vmapsim.maple.access.HookedAccess`: inside a
thread's :meth:`~vmapsim.explore.ctx.ThreadCtx.call` greenlet every tree access the
access layer reports (root, pivots, slot, parent/dead mark; root/slot publication,
pivot, gap, metadata, parent and dead-mark stores) leaves the greenlet as a ``mem`` op,
so it is one scheduling point, checked like any other access (a freed node is a
use-after-free).  Outside a thread -- scenario setup, or an ``atomic`` op run by a writer
holding the tree's lock -- accesses run directly.

Nodes get shadow objects in the world (``N1``, ``N2``... in order of first access) so
they appear in traces with their state.  The tree's ``free_node(node, deferred)`` hook
becomes ``call_rcu(node)`` (deferred; the kernel's ``kfree_rcu``/``call_rcu(mt_free_walk)``)
or ``kfree(node)``; ``node_free="kfree"`` turns deferred frees into immediate ones (the
E2 negative control).

Footprints: a reader's "find the offset" access reads the node's pivots and end; slots
and gaps are per index; the parent pointer and the dead mark are one location; the
metadata store writes the end and the gap offset.
"""
from __future__ import annotations

from greenlet import getcurrent

from ..maple import XA_ZERO_ENTRY, MapleTree
from ..maple.access import HookedAccess
from ..maple.node import Node
from .ops import Op
from .rcu import FREED, Obj
from .world import ZERO_ENTRIES

__all__ = ["ExplorerAccess", "attach", "maple_call", "tree_snapshot"]

if XA_ZERO_ENTRY not in ZERO_ENTRIES:
    ZERO_ENTRIES.append(XA_ZERO_ENTRY)

_FIELD_KEYS = {
    ("load", "root"): (("root", False),),
    ("load", "pivots"): (("piv", False), ("end", False)),
    ("load", "pivot"): (("piv", False),),
    ("load", "end"): (("end", False),),
    ("load", "gapoff"): (("gapoff", False),),
    ("load", "parent"): (("parent", False),),
    ("store", "root"): (("root", True),),
    ("store", "pivot"): (("piv", True),),
    ("store", "meta"): (("end", True), ("gapoff", True)),
    ("store", "parent"): (("parent", True),),
    ("store", "dead"): (("parent", True),),
}
_INDEXED = {"slot", "gap"}


def _peek(acc, node, field, index):
    """What a load of ``field`` will read (computed when the op executes); nodes read are
    given shadows, so the value has a stable name."""
    if field == "root":
        return lambda: acc.named(node._root)
    if field == "pivots":
        return lambda: (tuple(node.pivots[:node.end]), node.end)
    if field == "slot":
        return lambda: acc.named(node.slots[index])
    if field == "pivot":
        return lambda: node.pivots[index]
    if field == "gap":
        return lambda: node.gaps[index]
    if field == "parent":
        return lambda: (node.parent is node, node.pslot)
    if field == "end":
        return lambda: node.end
    if field == "gapoff":
        return lambda: node.gapoff
    return lambda: None


def _short(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, Node):
        return "node"
    return getattr(v, "name", None) or repr(v)


class ExplorerAccess(HookedAccess):
    """Turns each maple-tree access into an explorer op (see the module docstring)."""

    def __init__(self, world, tree, name: str, node_free: str = "call_rcu"):
        self.world = world
        self.tree = tree
        self.name = name
        self.node_free = node_free
        self.shadow_of: dict[int, Obj] = {}
        self.tree_shadow = Obj(name, {}, kind="maple_tree")
        self.shadow_of[id(tree)] = self.tree_shadow
        self._n = 0

    def shadow(self, node) -> Obj:
        sh = self.shadow_of.get(id(node))
        if sh is None:
            self._n += 1
            sh = Obj(f"{self.name}.N{self._n}", {"_node": node}, kind="maple_node")
            self.shadow_of[id(node)] = sh
            self.world.heap.objects[sh.name] = sh
            self.world.foreign[id(node)] = sh
        return sh

    def named(self, value):
        """``value``, with a shadow created first if it is a node."""
        if isinstance(value, Node):
            self.shadow(value)
        return value

    def on_access(self, kind, node, field, index=None, value=None):
        g = getcurrent()
        sh = self.tree_shadow if node is self.tree else self.shadow(node)
        if not getattr(g, "vmapsim_thread", False):
            if self.world.tid is not None:
                self.world.touch(self.world.tid, sh, f"{kind}s {sh.name}.{field}")
            return
        keys = _FIELD_KEYS.get((kind, field))
        if keys is None:
            write = kind == "store"
            keys = (((field, index), write),) if field in _INDEXED else ((field, write),)
        fp = tuple(((sh, k), w) for k, w in keys)
        label = field if index is None or field == "pivots" else f"{field}[{index}]"
        shown = (self.shadow(value).name if isinstance(value, Node)
                 else self.name if value is self.tree else _short(value))
        text = (f"{sh.name}.{label}" if kind == "load"
                else f"{sh.name}.{label} = {shown}" if field != "dead"
                else f"mark {sh.name} dead")
        op = Op("mem", sh, field, (kind, _peek(self, node, field, index) if kind == "load" else None),
                text=("load " if kind == "load" else "store ") + text)
        op.fp = fp
        g.parent.switch(op)

    def free_node(self, node, deferred) -> None:
        sh = self.shadow(node)
        how = "call_rcu" if deferred and self.node_free == "call_rcu" else "kfree"
        op = Op(how, sh, text=f"{'call_rcu' if how == 'call_rcu' else 'kfree'}({sh.name})"
                               + (" (maple node)" if how == "kfree" else ""))
        g = getcurrent()
        if getattr(g, "vmapsim_thread", False):
            g.parent.switch(op)
        elif self.world.tid is None:
            sh.state = FREED
            sh.freed_by = (-1, "setup", "freed while building the initial tree")
        else:
            self.world.execute(self.world.tid, op)


def attach(world, tree: MapleTree, name: str = "mt", node_free: str = "call_rcu") -> ExplorerAccess:
    """Route ``tree``'s accesses and node frees through ``world``; returns the access object."""
    acc = ExplorerAccess(world, tree, name, node_free)
    tree.set_access(acc)
    tree.set_free_hook(acc.free_node)
    world.snapshot_extra[name] = lambda: tree_snapshot(acc)
    world.fingerprint_extra.append(lambda: (name, tree._height, acc.shadow(tree._root).name
                                            if isinstance(tree._root, Node) else repr(tree._root)))
    return acc


def maple_call(env, tree, method: str, *args):
    """Run one MapleTree method in the caller's greenlet (accesses become ops)."""
    if method == "walk":
        entry = tree.walk(*args)[0]
        env.ctx.world.record_walk(env.ctx.tid, entry)
        return entry
    if method == "load":
        entry = tree.load(*args)
        env.ctx.world.record_walk(env.ctx.tid, entry)
        return entry
    return getattr(tree, method)(*args)


def tree_snapshot(acc: ExplorerAccess) -> dict:
    """The tree as the step-through widget draws it: root and every reachable node."""
    tree = acc.tree
    out = {"root": None, "nodes": []}
    root = tree._root
    if root is None or not isinstance(root, Node):
        out["root"] = _short(root)
        return out
    stack = [root]
    out["root"] = acc.shadow_of[id(root)].name if id(root) in acc.shadow_of else "?"
    while stack:
        n = stack.pop(0)
        sh = acc.shadow_of.get(id(n))
        name = sh.name if sh else "?"
        end = n.end
        slots = n.slots[: end + 1]
        out["nodes"].append({"name": name, "leaf": n.leaf, "pivots": list(n.pivots[:end]),
                             "slots": [_short(s) if n.leaf else
                                       (acc.shadow_of[id(s)].name if id(s) in acc.shadow_of else "node")
                                       for s in slots],
                             "dead": n.parent is n})
        if not n.leaf:
            stack.extend(s for s in slots if isinstance(s, Node))
    return out
