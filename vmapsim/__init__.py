"""vmapsim: evidence for the review of "mm/vmalloc: migrate vmap_area indexing to the maple tree".

The package models today's vmalloc allocator (Linux 6.18 and, as a baseline, 6.8), the maple
tree, the maple-tree designs under review, RCU, an interleaving explorer that runs the real
code paths, a calibrated multi-CPU performance model, and capture/replay of real kernel
traces.  The notebooks in ``notebooks/`` walk a reviewer through the thread's questions.

Modules (one concept each):

* ``params``, ``errors`` -- parameter checks and the errors a user is meant to read
* ``cli`` -- ``python -m vmapsim {capture,replay,explore,simulate}``
* ``maple`` (+ ``maple_*`` parts) -- a faithful port of ``lib/maple_tree.c``, RCU mode included
* ``access`` -- the shared-memory access layer the maple tree reads and publishes through
* ``simulate``, ``sweep`` -- the multi-CPU performance model (``vmapsim.perf.sweep(configs)`` runs a grid)
"""
from .errors import CaptureError, ParameterError, TraceError, VmapsimError

__version__ = "0.1.0"

__all__ = ["VmapsimError", "ParameterError", "TraceError", "CaptureError", "__version__", "sweep"]


def sweep(configs, **kwargs):
    """Run a grid of performance-model configs (see :mod:`vmapsim.perf.sweep`)."""
    from importlib import import_module
    return import_module(".perf.sweep", __name__).sweep(configs, **kwargs)
