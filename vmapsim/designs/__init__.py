"""The allocator designs under review, each a :class:`~vmapsim.designs.base.Design` made by name.

Rule: one module per registered design (``linux68``, ``linux618``, ``rfc_maple_busy``,
``rfc_v1``, ``maple_nofree``, ``maple_nofree_sharded``), plus the parts they share: ``base`` (the
interface and its lock accounting), ``registry`` (names -> classes), ``busy_mt`` (per-node busy
maple trees), ``gap_alloc`` (free space as the gaps of a maple tree), ``mt_index`` (maple-tree
indexes of areas), ``node_alloc`` (where maple nodes are allocated), ``va_layout`` (the
``vmap_area`` layouts a design may use) and ``reference`` (naming where a design's choice differs
from 6.18's during replay).  Designs build on ``vmalloc`` and ``maple``; they know nothing of
time, traces on disk, the explorer's scheduler or notebooks.

``make_design(name, **params)`` is the entry point (moved here from the former
``vmapsim.design``)::

    from vmapsim.designs import make_design
    d = make_design("linux-6.18", possible_cpus=2)
"""
from .registry import (
    DESIGNS,
    available_designs,
    design_class,
    design_names,
    make_design,
)

__all__ = ["DESIGNS", "make_design", "available_designs", "design_names", "design_class"]
