"""The notebooks' experiments and plots: one module per notebook, named after it.

Rule: ``overview`` (00-overview), ``free_tree`` (+ ``free_tree_work``, ``free_tree_plots``;
01-free-tree), ``trylock_retry`` (02), ``lockless_find`` (03), ``scaling`` (04),
``real_traces`` (05), ``allocation_under_lock`` (06), and what several of them share:
``explore_tables`` (verdict tables over the explorer's scenarios) and ``stepview`` (the
step-through drawing).  Experiments are plain functions returning data; plots are separate
functions that return a figure without displaying it.  This is the only package that imports
matplotlib; the core packages never import it.
"""
