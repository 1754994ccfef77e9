"""Maple tree nodes, constants, entries, errors and accounting (part of :mod:`vmapsim.maple.tree`).

Models the 64-bit layout of ``lib/maple_tree.c`` / ``include/linux/maple_tree.h``:

* ``maple_leaf_64`` (every leaf) and ``maple_range_64`` (internal node of a plain tree):
  16 slots, 15 pivots;
* ``maple_arange_64`` (internal node of an ``MT_FLAGS_ALLOC_RANGE`` tree): 10 slots,
  9 pivots, 10 gaps;
* every node is one 256-byte object of ``maple_node_cache`` (:data:`NODE_BYTES`).

A :class:`Node` keeps the kernel's fixed-size arrays (unused pivots are 0, unused slots
``None``) plus the metadata the kernel keeps in ``maple_metadata`` (``end``: last used
offset, ``gapoff``: offset of the largest child gap).  Deliberate differences:

* ``end`` is kept exact for every node (the kernel derives the data end of a full node from
  its pivots, ``ma_data_end``); the value is the same, only where it is stored differs;
* the parent pointer is two fields (``parent``, ``pslot``) written together by one
  access-layer store; the root's parent is the tree itself and a dead node's parent is
  the node itself, as in ``mte_set_node_dead``;
* dense nodes (``maple_dense``) are never produced by the kernel's write paths and are
  not modelled.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

ULONG_MAX = (1 << 64) - 1
NODE_BYTES = 256                   # sizeof(struct maple_node): one maple_node_cache object

MAPLE_LEAF_64 = 1
MAPLE_RANGE_64 = 2
MAPLE_ARANGE_64 = 3
TYPE_NAMES = {MAPLE_LEAF_64: "leaf_64", MAPLE_RANGE_64: "range_64", MAPLE_ARANGE_64: "arange_64"}

MAPLE_RANGE64_SLOTS = 16
MAPLE_ARANGE64_SLOTS = 10
MAPLE_NODE_SLOTS = 31              # used as the "no slot" offset marker, as in the kernel
MAPLE_HEIGHT_MAX = 31
# index = node type (0 = maple_dense, not produced)
MT_SLOTS = (31, 16, 16, 10)
MT_PIVOTS = (0, 15, 15, 9)
MT_MIN_SLOTS = (15, 6, 6, 4)      # mt_min_slots: minimum *last used offset* of a non-root node

MT_FLAGS_ALLOC_RANGE = 0x01
MT_FLAGS_USE_RCU = 0x02


class MapleBusy(Exception):
    """``-EBUSY``: no area of the requested size fits (``mas_empty_area*``, ``mtree_alloc_*``)."""


class MapleExists(MapleBusy):
    """``-EEXIST``: ``insert_range`` over an index that is occupied (a :class:`MapleBusy`)."""


class MapleInvalid(ValueError):
    """``-EINVAL`` and indices outside ``0..ULONG_MAX``: the message names the bad value.

    The maple package imports nothing else of vmapsim, so this is its own error; callers that
    turn bad user input into a one-line :class:`vmapsim.errors.ParameterError` catch it."""


class _ZeroEntry:
    """``XA_ZERO_ENTRY``: occupies its range (blocks inserts and gap searches) but loads as None."""

    __slots__ = ()

    def __repr__(self):
        return "XA_ZERO_ENTRY"

    def __reduce__(self):
        return "XA_ZERO_ENTRY"


XA_ZERO_ENTRY = _ZeroEntry()


def is_internal(entry) -> bool:
    """Whether *entry* would look like an internal xarray entry (low bits ``10``).

    The only such entry a caller can store is :data:`XA_ZERO_ENTRY`; it cannot live
    directly in ``ma_root`` (``mas_store_root`` expands to a leaf instead).
    """
    return entry is XA_ZERO_ENTRY


class Node:
    """One 256-byte maple node (see the module docstring for the layout)."""

    __slots__ = ("type", "leaf", "pivots", "slots", "gaps", "end", "gapoff", "parent", "pslot")

    def __init__(self, ntype: int):
        self.type = ntype
        self.leaf = ntype == MAPLE_LEAF_64
        self.pivots = [0] * MT_PIVOTS[ntype]
        self.slots = [None] * MT_SLOTS[ntype]
        self.gaps = [0] * MAPLE_ARANGE64_SLOTS if ntype == MAPLE_ARANGE_64 else None
        self.end = 0
        self.gapoff = 0
        self.parent = None
        self.pslot = 0

    def copy_from(self, other: "Node") -> None:
        """``memcpy`` of a whole node (used on private, not yet published nodes)."""
        self.pivots[:] = other.pivots
        self.slots[:] = other.slots
        if self.gaps is not None:
            self.gaps[:] = other.gaps
        self.end = other.end
        self.gapoff = other.gapoff
        self.parent = other.parent
        self.pslot = other.pslot

    @property
    def dead(self) -> bool:
        return self.parent is self

    def __repr__(self):
        return f"<{TYPE_NAMES.get(self.type, self.type)} node end={self.end} pivots={self.pivots[:self.end]}>"


@dataclass
class MapleStats:
    """Work counters of one tree (cheap integer increments; snapshot and diff per operation).

    * ``visited``: nodes read by walks (readers and writers), one per node per walk step, and
      by empty-area searches, one per node a search reads (``vmapsim.maple.gaps``);
    * ``written``: nodes whose reachable memory was stored to, plus nodes built for the
      operation (copies, split/rebalance results);
    * ``allocated`` / ``freed``: nodes taken from / handed back to ``maple_node_cache``
      (``freed`` counts nodes handed to the free hook: in RCU mode the memory is returned
      only after a grace period, see :class:`vmapsim.maple.tree.MapleTree`);
    * ``ops``: write operations performed.
    Bytes are ``NODE_BYTES`` times the node counts.
    """

    visited: int = 0
    written: int = 0
    allocated: int = 0
    freed: int = 0
    ops: int = 0

    def snapshot(self) -> "MapleStats":
        return MapleStats(self.visited, self.written, self.allocated, self.freed, self.ops)

    def since(self, before: "MapleStats") -> "MapleStats":
        """Counters accumulated since *before* (a :meth:`snapshot`)."""
        return MapleStats(*(getattr(self, f.name) - getattr(before, f.name) for f in fields(self)))

    @property
    def allocated_bytes(self) -> int:
        return self.allocated * NODE_BYTES

    @property
    def freed_bytes(self) -> int:
        return self.freed * NODE_BYTES
