"""RCU, lookup protocols and the interleaving explorer that runs the real code paths.

Rule: the explorer's engine (``ops``, ``world``, ``ctx``, ``execute``, ``search``,
``maple_hook``, ``swimlane``), its API (``api``: :func:`explore`, :func:`replay`) and CLI
(``cli``), the RCU and object-lifetime model (``rcu``), the lookup protocols written once for
both the explorer and the performance model (``lookup``), and the scenario catalogue
(``scenarios/``).  No timing, no plotting, no notebooks.
"""
from .api import STRATEGIES, Result, explore, replay

__all__ = ["explore", "replay", "Result", "STRATEGIES"]
