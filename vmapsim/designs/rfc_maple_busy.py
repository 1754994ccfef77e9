"""``rfc-maple-busy``: Linux 6.18 with each node's busy rb-tree replaced by a maple tree.

The first step of the split Uladzislau Rezki asked for (M16: "busy tree, then lazy tree, then
free tree"): ``vn->busy.mt`` holds every busy ``vmap_area`` over ``[va_start, va_end - 1]``
under the unchanged ``vn->busy.lock`` (an external lock, ``MT_FLAGS_LOCK_EXTERN``);
everything else is 6.18: the lazy rb-trees, the per-node pools, the global augmented free
rb-tree under ``free_vmap_area_lock`` and its ``size + align - 1`` search.  Address choices
are therefore 6.18's by construction (the busy index answers lookups, never placement); the
replay test checks they are the same on every trace.

What changes is the work under ``vn->busy.lock`` (a maple walk and store instead of an rb
insert / erase, node allocations under the lock per the node-allocation mode, see
:mod:`vmapsim.designs.busy_mt`) and the memory: ``struct vmap_area`` keeps its ``rb_node`` (72 B,
the free tree still needs it) and the busy trees add 256 B maple nodes.
"""
from __future__ import annotations

from ..vmalloc.vmap_area import SIZEOF_VMAP_AREA
from .busy_mt import MAPLE_PARAMS, MapleBusyMixin
from .linux618 import Linux618
from .reference import check_replayable

__all__ = ["RfcMapleBusy"]


class RfcMapleBusy(MapleBusyMixin, Linux618):
    """6.18 with maple busy trees (see the module docstring)."""

    name = "rfc-maple-busy"
    #: the free tree still embeds its rb_node in every vmap_area: 72 B as in 6.18
    sizeof_vmap_area = SIZEOF_VMAP_AREA
    PARAMS = dict(Linux618.PARAMS, **MAPLE_PARAMS)

    def __init__(self, **params):
        super().__init__(**params)
        self._setup_maple()
        self.acct.begin("init", -1)

    def load_state(self, busy, lazy):
        check_replayable(self)
        super().load_state(busy, lazy)

    def index_memory(self):
        m = super().index_memory()
        busy = self.busy_index_bytes()
        m.index_node_bytes += busy
        m.extra["busy.mt"] = busy
        return m
