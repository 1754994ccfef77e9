"""Replay of maple-tree operation scripts in the format of ``tools/maple_oracle`` (test helper).

A script is one operation per line; values encode entries as in the oracle driver
(0 = NULL, 1 = XA_ZERO_ENTRY, v >= 2 = the integer v - 2).  :func:`run` returns the output
lines the oracle prints for the same script, so the Python tree can be compared with the
kernel's line for line.
"""
from vmapsim.maple import XA_ZERO_ENTRY, MapleBusy, MapleExists, MapleTree
from vmapsim.maple.node import ULONG_MAX, Node


def entry_of(v):
    v = int(v)
    return None if v == 0 else XA_ZERO_ENTRY if v == 1 else v - 2


def code_of(e):
    return 0 if e is None else 1 if e is XA_ZERO_ENTRY else e + 2


def dump(mt):
    out = [f"h {mt.height()}"]
    root = mt._root

    def rec(node, mn, mx, depth):
        end = node.end
        head = f"N {depth} {node.type} {mn} {mx} {end}"
        if node.gaps is not None:
            head += f" g{node.gapoff}"
        parts = [head]
        lo = mn
        spans = []
        for i in range(end + 1):
            last = node.pivots[i] if i < end else mx
            e = node.slots[i]
            if node.leaf:
                parts.append(f"{last}:" + ("-" if e is None else "Z" if e is XA_ZERO_ENTRY else str(e)))
            else:
                parts.append(f"{last}/{node.gaps[i]}" if node.gaps is not None else f"{last}")
                spans.append((e, lo, last))
            lo = last + 1
        out.append(" ".join(parts))
        for child, a, b in spans:
            rec(child, a, b, depth + 1)

    if root.__class__ is Node:
        rec(root, 0, ULONG_MAX, 0)
    elif root is not None:
        out.append("R")
    else:
        out.append("E")
    out.append("end")
    return out


def run(lines, validate=False, rcu_access=None):
    mt = MapleTree()
    out = []
    for line in lines:
        f = line.split()
        if not f:
            continue
        op = f[0]
        a = [int(x) for x in f[1:]]
        if op == "T":
            mt = MapleTree(alloc_range=bool(a[0] & 1), rcu=bool(a[0] & 2), access=rcu_access)
            continue
        if op == "S":
            mt.store_range(a[0], a[1], entry_of(a[2]))
            out.append("r 0")
        elif op == "I":
            try:
                mt.insert_range(a[0], a[1], entry_of(a[2]))
                out.append("r 0")
            except MapleExists:
                out.append("r -17")
        elif op == "E":
            out.append(f"r {code_of(mt.erase(a[0]))}")
        elif op in ("A", "R"):
            fn = mt.alloc_range if op == "A" else mt.alloc_rrange
            try:
                out.append(f"r 0 {fn(a[2], entry_of(a[3]), a[0], a[1])}")
            except MapleBusy:
                out.append("r -16 0")
            except ValueError:
                out.append("r -22 0")
        elif op in ("F", "B"):
            fn = mt.empty_area if op == "F" else mt.empty_area_rev
            try:
                out.append(f"r 0 {fn(a[0], a[1], a[2])}")
            except MapleBusy:
                out.append("r -16 0")
            except ValueError:
                out.append("r -22 0")
        elif op == "U":
            mt.set_rcu(bool(a[0]))
        elif op == "H":
            n = mt.node_count()
            out.append(f"h {mt.height()} {n} {n}")
        elif op == "D":
            out.extend(dump(mt))
        elif op == "V":
            mt.validate()
        else:
            raise ValueError(f"unknown op {op!r}")
        if validate:
            mt.validate()
    return out, mt
