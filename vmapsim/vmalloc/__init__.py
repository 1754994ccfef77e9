"""Building blocks of ``mm/vmalloc.c`` as it is today: ``struct vmap_area``, the augmented rb-tree
and the free-space operations on it.

Rule: kernel structures and kernel algorithms only, under their kernel names
(``find_vmap_lowest_match``, ``va_clip``, ``merge_or_add_vmap_area``, ``lazy_max_pages``), with
no policy of any design and no notion of replay, timing or notebooks.  Imports nothing of vmapsim
outside this package except ``errors``/``params``.  Modules: ``vmap_area`` (the struct, its
layouts and sizes, address-space constants, node-id encoding), ``rbtree`` (``lib/rbtree.c`` with
the ``subtree_max_size`` augmentation) and ``free_space`` (search, clip, merge on the free tree).
"""
