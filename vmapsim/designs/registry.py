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

__all__ = ["DESIGNS", "make_design", "design_names", "available_designs", "design_class"]

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
