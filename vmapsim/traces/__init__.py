"""Real kernel traces: reading them, capturing them on a running kernel, replaying them.

Rule: everything that touches a recording or the kernel that makes one lives here, and only
here: ``read`` (tracefs text and ``/proc/vmallocinfo`` snapshots, with file:line errors),
``formats`` (every recording form told by content: tracefs, trace-cmd report, perf script, and
the binary ``tracedat`` / ``perfdata``), ``validate`` (what the kernel can emit: a pre-pass of the
replay), ``capture``, ``tracefs`` and ``capture_load`` (``vmapsim capture``, the kernel settings it
changes and restores, the workloads it runs), ``replay`` (``vmapsim replay``: a design predicts
every allocation of a capture before the real address is applied; its evidence rules in
``replay_rules``, the inference of pool contents a snapshot cannot show in ``hidden``).  Designs
are used only through their interface; nothing here prices time or plots.
"""
