"""The registry of named designs: ``make_design("linux-6.18", possible_cpus=2)``.

:data:`DESIGNS` maps each name to ``"module:Class"``; the module is imported when the design is
made, so importing the registry stays cheap.  A registered module that fails to import raises
(the test suite imports every one), it is never silently left out.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..params import check_choice

if TYPE_CHECKING:
    from .base import Design

__all__ = ["DESIGNS", "DESCRIPTIONS", "make_design", "design_names", "available_designs",
           "design_class"]

#: name -> "module:Class".  One line per design; imported only when the design is made.
DESIGNS: dict[str, str] = {
    "linux-6.8": "vmapsim.designs.linux68:Linux68",
    "linux-6.18": "vmapsim.designs.linux618:Linux618",
    # the maple-tree designs of the RFC and of the thread
    "rfc-maple-busy": "vmapsim.designs.rfc_maple_busy:RfcMapleBusy",
    "rfc-v1": "vmapsim.designs.rfc_v1:RfcV1",
    "maple-nofree": "vmapsim.designs.maple_nofree:MapleNoFree",
    "maple-nofree-sharded": "vmapsim.designs.maple_nofree_sharded:MapleNoFreeSharded",
}


#: name -> one line saying what the design is (attributions only where a quoted message says
#: it: docs/review-log.md); the overview notebook lists them and a reply explains the names it uses
DESCRIPTIONS: dict[str, str] = {
    "linux-6.8": "the allocator before the vmap_node rework of 6.9: one busy rb-tree under "
                 "vmap_area_lock, "
                 "one augmented free rb-tree under free_vmap_area_lock",
    "linux-6.18": "today's allocator (6.18): busy and lazy rb-trees per vmap_node (possible CPUs, "
                  "at most 128; "
                  "16-page zones), per-node size-class pools, one global augmented free rb-tree",
    "rfc-maple-busy": "6.18 with each node's busy rb-tree replaced by a maple tree, the free "
                      "rb-tree kept: the first step of the split Rezki asked for (M16)",
    "rfc-v1": "the series as posted: global occupied maple tree as the hot-path index, free "
              "maple tree on slow paths, lazy list, retry list, per-CPU 64 MB bump chunks",
    "maple-nofree": "an extreme case built for this study (nobody proposed it): no free tree; "
                    "free space is the gaps of one maple tree whose own lock guards every "
                    "writer (ingredients from M14, M18, M26; not their combination)",
    "maple-nofree-sharded": "no free tree, with the lock layout of M22: a global allocator lock for "
                            "gap-find + publish, finer per-node busy locks",
}


def design_class(name: str):
    """The :class:`Design` subclass registered as *name* (imports its module; a registered
    module that does not import is a bug and raises, it is never skipped)."""
    check_choice("design", name, DESIGNS)
    module, _, cls = DESIGNS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def available_designs() -> list[str]:
    """The registered design names (every one of them imports: a test checks it)."""
    return list(DESIGNS)


design_names = available_designs


def make_design(name: str, **params) -> "Design":
    """Create the design registered as *name* with keyword *params*.

    Unknown names raise :class:`~vmapsim.errors.ParameterError` listing the valid names; unknown
    or out-of-range parameters raise it naming the parameter (see :attr:`Design.PARAMS`).
    """
    return design_class(name)(**params)
