"""How the ``plot_*`` functions hand a figure back: closed in pyplot, displayed once by the caller.

A figure left open in pyplot is shown by the inline backend at the end of the cell, and shown
again when the cell's last expression is that figure: every plot appeared twice in the exported
pages.  :func:`finished` closes the figure in pyplot (it stays drawable), so it appears exactly
once: as the cell's value, through ``display(fig)``, or through :func:`vmapsim.report.bind`.
"""
from __future__ import annotations

__all__ = ["finished"]


def finished(fig):
    """Close *fig* in pyplot (no automatic display at the end of the cell) and return it."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig
