"""The maple tree: a node-for-node port of ``lib/maple_tree.c`` (gap tracking and RCU mode).

Rule: this package is the kernel's library and nothing else.  It imports nothing of vmapsim
outside ``vmapsim.maple`` (a test walks the imports), keeps the kernel's names (``mas_walk``,
``mas_empty_area``, ``mas_wr_store_type``) and the kernel's node layout, and reports bad input
with its own :class:`MapleInvalid`.  Modules: ``tree`` (the :class:`MapleTree` API), ``node``
(nodes, constants, stats), ``state`` (``ma_state`` and walks), ``write`` (store types),
``big_node`` (big nodes and splits), ``rebalance`` (rebalance, spanning store), ``gaps`` (gap
tracking, empty-area searches), ``iterate`` (``mas_next``/``mas_prev``/``mas_find``),
``validate`` (``mt_validate``) and ``access`` (the shared-memory access layer every reader load
and publishing store goes through, which the interleaving explorer hooks).
"""
from .node import MapleInvalid
from .tree import (
           NODE_BYTES,
           ULONG_MAX,
           XA_ZERO_ENTRY,
           MapleBusy,
           MapleExists,
           MapleStats,
           MapleTree,
)

__all__ = ["MapleTree", "MapleBusy", "MapleExists", "MapleInvalid", "XA_ZERO_ENTRY", "ULONG_MAX",
           "NODE_BYTES", "MapleStats"]
