"""Drawing one step of a recorded execution: threads, RCU state, objects and maple nodes.

The step-through widgets of notebooks 03 and 06 bind a slider to :func:`show_step`, which
prints the step as text (so the static HTML export carries the numbers) and returns the
figure :func:`plot_step` draws from the explorer's step record (ARCHITECTURE "Explorer":
``step, thread, op, kind, result, preempt, notes, rcu{open, gps, pending_cb}, objects,
locks, positions, trees`` and ``violation`` on the last step of a counterexample).

The figure has three panels:

* one lane per thread with its most recent operations up to this step (the current step
  highlighted, a preemption marked ``>``) and its *position*, the operation it runs next;
* the RCU and lifetime state after the step: open read-side sections, grace periods with
  the sections they still wait for, pending callbacks, locks held, every object's state;
* each maple tree as boxes, root first, one row per level: a node lists its slots with the
  pivots between them; a node touched by this step is outlined in blue, and nodes the
  tree no longer reaches (replaced by copy-on-write, waiting for their grace period, or
  freed) are drawn on the right with their state.
"""
from __future__ import annotations

import re

from .figures import finished

__all__ = ["step_text", "plot_step", "show_step", "StepView", "step_view"]

_STATE_COLOURS = {"live": "#2a7d2a", "freed": "#c0392b"}


def _colour(state: str) -> str:
    if state.startswith("freed"):
        return _STATE_COLOURS["freed"]
    if state.startswith("live") and "@gen" not in state:
        return _STATE_COLOURS["live"]
    return "#d35400"


_VALUE_KINDS = {"read", "load", "ix_load", "ix_walk", "spin_trylock", "ref_inc_nz",
                "ref_dec_test", "seq_begin", "seq_retry", "alloc"}


def _fmt_result(e) -> str:
    r = e.get("result")
    if e.get("kind") == "mem":
        # maple node accesses: the drawing shows the node; the raw values (node objects,
        # pivot tuples, parent/dead pairs) only clutter a lane
        r = str(r) if r is not None else None
        if r is None or r.startswith("<") or r.startswith("("):
            return ""
    if r is None or (r == "NULL" and e.get("kind") not in _VALUE_KINDS):
        return ""
    return f" -> {r}"


def _gps(rcu) -> list[str]:
    out = []
    for g in rcu.get("gps", ()):
        waits = ", ".join(f"cs{w}" for w in g.get("waits", ())) or "nobody"
        what = g.get("what") or g.get("kind", "")
        state = "ended, callback not run yet" if g.get("done") else f"waits for {waits}"
        out.append(f"GP#{g['id']} ({g.get('kind', '')} by {g.get('by', '?')}"
                   + (f" at step {g['step']}" if "step" in g else "") + f": {what}) {state}")
    return out


def _open_sections(rcu) -> str:
    op = rcu.get("open", {})
    if not op:
        return "none"
    parts = []
    for t, cs in op.items():
        cs = cs if isinstance(cs, str) else ", ".join(map(str, cs))
        parts.append(f"{t}: {cs}")
    return "; ".join(parts)


def step_text(st, step: int) -> str:
    """The step as plain text: what ran, the state after it, and where every thread is."""
    step = st.clamp(step)
    e = st.steps[step]
    lines = [f"step {e['step']} of {len(st) - 1}: {e['thread']} {e['op']}{_fmt_result(e)}"
             + (" (preemption)" if e.get("preempt") else "")]
    for n in e.get("notes", ()):
        lines.append(f"  note: {n}")
    rcu = e.get("rcu", {})
    lines.append(f"  open read-side sections: {_open_sections(rcu)}")
    gps = _gps(rcu)
    lines.append("  grace periods: " + ("; ".join(gps) if gps else "none"))
    lines.append("  pending callbacks: " + (", ".join(rcu.get("pending_cb", ())) or "none"))
    locks = e.get("locks", {})
    lines.append("  locks held: " + (", ".join(f"{k} by {v}" for k, v in locks.items())
                                     or "none"))
    lines.append("  objects: " + ", ".join(f"{k} {v}" for k, v in e.get("objects", {}).items()))
    lines.append("  next: " + "; ".join(f"{t}: {p}" for t, p in e.get("positions", {}).items()))
    for name, tree in (e.get("trees") or {}).items():
        lines.append(f"  tree {name}: root {tree['root']}; " + "; ".join(
            f"{n['name']}" + (" (dead)" if n["dead"] else "") + " [" + _node_text(n) + "]"
            for n in tree["nodes"]))
    if "violation" in e:
        lines.append(f"  VIOLATION: {e['violation']}")
    return "\n".join(lines)


def _hex(v) -> str:
    return f"{v:#x}" if isinstance(v, int) and v > 64 else str(v)


def _node_text(n) -> str:
    parts = []
    for i, s in enumerate(n["slots"]):
        parts.append(str(s))
        if i < len(n["pivots"]):
            parts.append(f"|{_hex(n['pivots'][i])}|")
    return " ".join(parts)


def _levels(tree) -> list[list[dict]]:
    """Nodes of a tree snapshot by depth.  The snapshot lists reachable nodes breadth first,
    children in slot order, so the children of the i-th internal node are the next
    ``len(slots)`` entries (nodes never touched by a thread have no name yet: ``?``)."""
    nodes = tree["nodes"]
    if not nodes:
        return []
    depth = {0: 0}
    nxt = 1
    for i, n in enumerate(nodes):
        if not n["leaf"]:
            for _ in n["slots"]:
                if nxt < len(nodes):
                    depth[nxt] = depth[i] + 1
                    nxt += 1
    levels: list[list[dict]] = []
    for i, n in enumerate(nodes):
        d = depth.get(i, 0)
        while len(levels) <= d:
            levels.append([])
        levels[d].append(n)
    return levels


def _touched(op: str) -> tuple[set[str], dict]:
    """Nodes an operation's text names, and the slot index it names per node."""
    nodes = set(re.findall(r"\b([A-Za-z_]\w*\.N\d+)\b", op))
    slots = {m.group(1): int(m.group(2))
             for m in re.finditer(r"\b([A-Za-z_]\w*\.N\d+)\.slot\[(\d+)\]", op)}
    return nodes, slots


def _short(name: str, tree: str) -> str:
    return name[len(tree) + 1:] if name.startswith(tree + ".") else name


def _draw_tree(ax, name, tree, objects, touched, x0, y0, width, inch=0.5):
    """Draw one tree snapshot in axes coordinates from (x0, y0) downwards: one row of slot
    cells per node with the pivots under the cell boundaries; ``inch`` is one inch in axes
    units (vertical).  Returns the y below the drawing."""
    nodes_hit, slot_hit = touched
    ax.text(x0, y0, f"maple tree '{name}': root -> {_short(str(tree['root']), name)}",
            fontsize=8, va="top", weight="bold")
    y = y0 - 0.45 * inch
    reach = {n["name"] for n in tree["nodes"]}
    centres = {}
    h, gap = 0.3 * inch, 0.75 * inch
    for level in _levels(tree):
        m = len(level)
        w = min(width, (width - 0.02 * (m - 1)) / m)
        for k, n in enumerate(level):
            x = x0 + k * (w + 0.02)
            hit = n["name"] in nodes_hit
            ax.add_patch(_box(x, y - h, w, h, "#f4dada" if n["dead"] else "#eef3ff",
                              "#1f5fbf" if hit else "#444", 2.2 if hit else 0.8))
            label = "node no thread has visited" if n["name"] == "?" else _short(n["name"], name)
            ax.text(x, y + 0.005, label + (" (dead)" if n["dead"] else "")
                    + ("  leaf" if n["leaf"] else ""), fontsize=7, va="bottom", weight="bold")
            ns = max(1, len(n["slots"]))
            cw = w / ns
            for i, sl in enumerate(n["slots"]):
                cx = x + i * cw
                if slot_hit.get(n["name"]) == i:
                    ax.add_patch(_box(cx, y - h, cw, h, "#ffe9a8", "#ffe9a8", 0))
                if i:
                    ax.plot([cx, cx], [y - h, y], color="#999", lw=0.5)
                label = ("." if sl == "NULL" else "?" if sl == "node"
                         else _short(str(sl), name))
                ax.text(cx + cw / 2, y - h * 0.4, label, fontsize=7 if len(label) < 6 else 6,
                        ha="center", va="center", family="monospace")
                if i < len(n["pivots"]) and cw >= 0.05:
                    ax.text(cx + cw, y - h - 0.02 * inch, _hex(n["pivots"][i]), fontsize=5.5,
                            ha="center", va="top", color="#555", family="monospace")
                if not n["leaf"]:
                    centres.setdefault(("slots", id(n)), []).append((cx + cw / 2, y - h))
            centres[id(n)] = (x + w / 2, y)
        y -= gap
    nodes = tree["nodes"]
    kids = iter(nodes[1:])
    for n in nodes:
        if not n["leaf"]:
            for (x1, y1) in centres.get(("slots", id(n)), ()):
                child = next(kids, None)
                if child is not None and id(child) in centres:
                    x2, y2 = centres[id(child)]
                    ax.plot([x1, x2], [y1, y2 + 0.15 * inch], color="#777", lw=0.6)
    # nodes the tree no longer reaches: replaced, waiting for a grace period, or freed
    gone = [(k, v) for k, v in objects.items() if k.startswith(name + ".N") and k not in reach]
    if gone:
        x = x0 + width + 0.03
        ax.text(x, y0 - 0.2 * inch, "no longer reachable:", fontsize=7, va="top")
        for i, (k, v) in enumerate(gone):
            hit = k in nodes_hit
            yy = y0 - (0.75 + 0.4 * i) * inch
            ax.add_patch(_box(x, yy, 0.22, 0.3 * inch, "#f6f6f6",
                              "#1f5fbf" if hit else _colour(v), 2.2 if hit else 1.0))
            ax.text(x + 0.01, yy + 0.15 * inch, f"{_short(k, name)}: {v}", fontsize=7,
                    va="center",
                    color=_colour(v), family="monospace")
    return y


def _box(x, y, w, h, face, edge, lw):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=face, edgecolor=edge, linewidth=lw)


def plot_step(st, step: int, history: int = 9):
    """Draw step ``step`` of a :class:`~vmapsim.review.explore_tables.Stepped` (see the module
    docstring); ``history`` operations per thread lane."""
    import matplotlib.pyplot as plt

    step = st.clamp(step)
    e = st.steps[step]
    trees = e.get("trees") or {}
    depth = max((len(_levels(t)) for t in trees.values()), default=0) + len(trees) - 1
    tree_h = 0.9 + 0.9 * depth
    fig = plt.figure(figsize=(11, 3.6 + (tree_h if trees else 0)))
    gs = fig.add_gridspec(2 if trees else 1, 2, width_ratios=(1.55, 1),
                          height_ratios=(3.6, tree_h) if trees else (1,), hspace=0.02,
                          wspace=0.03, left=0.01, right=0.99, top=0.94, bottom=0.02)
    ax_t = fig.add_subplot(gs[0, 0])
    ax_s = fig.add_subplot(gs[0, 1])
    for ax in (ax_t, ax_s):
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    threads = st.threads
    ncol = max(1, len(threads))
    colw = 1.0 / ncol
    title = f"{st.scenario}: step {e['step']} / {len(st) - 1}"
    if "violation" in e:
        title += "  --  VIOLATION"
    ax_t.set_title(title, fontsize=10, loc="left", color="#c0392b" if "violation" in e else "k")
    for c, t in enumerate(threads):
        x = c * colw
        ax_t.text(x + 0.01, 0.97, t, fontsize=9, weight="bold", va="top")
        mine = [s for s in st.steps[: step + 1] if s["thread"] == t][-history:]
        for k, s in enumerate(mine):
            y = 0.88 - k * 0.072
            cur = s is e
            text = ((">" if s.get("preempt") else " ") + f"{s['step']:3d} {s['op']}"
                    + _fmt_result(s))
            lim = int(118 * colw)
            text = text if len(text) <= lim else text[: lim - 1] + "~"
            kw = dict(fontsize=7, family="monospace", va="top")
            if cur:
                kw.update(weight="bold", backgroundcolor="#ffe9a8" if "violation" not in s
                          else "#f5b7b1")
            ax_t.text(x + 0.01, y, text, **kw)
        pos = e.get("positions", {}).get(t)
        if pos is not None:
            lim = int(110 * colw)
            pos = pos if len(pos) <= lim else pos[: lim - 1] + "~"
            ax_t.text(x + 0.01, 0.2, f"next: {pos}", fontsize=7, family="monospace",
                      va="top", color="#1f5fbf")
        if c:
            ax_t.axvline(x, color="#ccc", lw=0.8)
    note = "; ".join(e.get("notes", ()))
    if "violation" in e:
        note = e["violation"]
    if note:
        ax_t.text(0.01, 0.1, _wrap(note, 150), fontsize=7, va="top",
                  color="#c0392b" if "violation" in e else "#555")
    # state panel
    rcu = e.get("rcu", {})
    y = 0.97
    ax_s.text(0.0, y, "RCU", fontsize=9, weight="bold", va="top")
    y -= 0.075
    for line in [f"read-side sections open: {_open_sections(rcu)}"] + (
            ["grace periods: " + g for g in _gps(rcu)] or ["grace periods: none"]) + [
            "pending callbacks: " + (", ".join(rcu.get("pending_cb", ())) or "none"),
            "locks held: " + (", ".join(f"{k} by {v}" for k, v in e.get("locks", {}).items())
                              or "none")]:
        wrapped = _wrap(line, 64)
        ax_s.text(0.0, y, wrapped, fontsize=7, family="monospace", va="top")
        y -= 0.06 * (1 + wrapped.count("\n"))
    y -= 0.02
    ax_s.text(0.0, y, "objects", fontsize=9, weight="bold", va="top")
    y -= 0.075
    objs = [(k, v) for k, v in e.get("objects", {}).items() if ".N" not in k or not trees]
    for i, (k, v) in enumerate(objs):
        col, row = i % 2, i // 2
        ax_s.text(0.5 * col, y - row * 0.06, f"{k}: {v}", fontsize=7, family="monospace",
                  va="top", color=_colour(v))
    if trees:
        ax_m = fig.add_subplot(gs[1, :])
        ax_m.set_axis_off()
        ax_m.set_xlim(0, 1)
        ax_m.set_ylim(0, 1)
        touched = _touched(e["op"])
        y = 0.98
        for name, tree in trees.items():
            y = _draw_tree(ax_m, name, tree, e.get("objects", {}), touched, 0.0, y, 0.72,
                           inch=1.0 / tree_h)
    return finished(fig)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


class StepView:
    """What the step-through widget shows for one slider position."""

    def __init__(self, stepped, step: int):
        self.stepped = stepped
        self.step = stepped.clamp(step)

    def text(self) -> str:
        return step_text(self.stepped, self.step)

    def figure(self):
        return plot_step(self.stepped, self.step)


def step_view(scenario: str = "C1", step: int = 0, maple: bool = True) -> StepView:
    """The experiment a step slider binds to: step ``step`` of scenario ``scenario``'s
    counterexample (memoised by :func:`vmapsim.review.explore_tables.stepped`)."""
    from .explore_tables import stepped

    return StepView(stepped(scenario, maple=maple), step)


def show_step(view: StepView):
    """Print the step (numbers for the static page) and return its figure."""
    print(view.text())
    return view.figure()
