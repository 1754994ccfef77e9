"""Iteration over the maple tree: ``mas_next``/``mas_prev``/``mas_find``/``mt_find`` (part of :mod:`vmapsim.maple.tree`).

Ports of ``lib/maple_tree.c``: ``mas_next_node``, ``mas_next_slot``, ``mas_prev_node``,
``mas_prev_slot``, the ``*_setup`` state machines (``ma_start``/``ma_pause``/``ma_none``/
``ma_root``/``ma_overflow``/``ma_underflow``), ``mas_find(_range)``, ``mas_find_rev``,
``mas_next(_range)``, ``mas_prev(_range)`` and ``mt_find``.

These are RCU readers: every load goes through the access layer, and a step that finds its
node dead re-walks to the position it had reached (``mas_rewalk_if_dead``), so iteration
continues where it was across concurrent copy-on-write replacements.
"""
from __future__ import annotations

from .node import MT_PIVOTS, ULONG_MAX, XA_ZERO_ENTRY, Node
from .state import (
    MA_ACTIVE,
    MA_ERROR,
    MA_NONE,
    MA_OVERFLOW,
    MA_PAUSE,
    MA_ROOT,
    MA_START,
    MA_UNDERFLOW,
    MaState,
    mas_ascend,
    mas_rewalk,
    mas_state_walk,
    mas_walk,
)


def _root_p(acc, node):
    p, _ = acc.load_parent(node)
    return p.__class__ is not Node


def _rewalk_if_dead(mas, node, index):
    if mas.tree._acc.is_dead(node):
        mas_rewalk(mas, index)
        return True
    return False


def _pivot(acc, node, i, mx):
    """``mas_safe_pivot`` through the access layer."""
    if i >= MT_PIVOTS[node.type]:
        return mx
    return acc.load_pivot(node, i)


def _safe_min(acc, mas, node, offset):
    if offset:
        return acc.load_pivot(node, offset - 1) + 1
    return mas.min


# ------------------------------------------------------------------ next
def mas_next_node(mas, node, mx):
    """Move to the next node at the same level; 1 if a dead node was met."""
    acc = mas.tree._acc
    if mas.max >= mx:
        if acc.is_dead(node):
            return 1
        mas.status = MA_OVERFLOW
        return 0
    mn = mas.max + 1
    level = 0
    while True:
        if _root_p(acc, node):
            if acc.is_dead(node):
                return 1
            mas.status = MA_OVERFLOW
            return 0
        if mas_ascend(mas):
            return 1
        level += 1
        node = mas.node
        node_end = acc.load_end(node)
        if acc.is_dead(node):
            return 1
        if mas.offset != node_end:
            break
    mas.offset += 1
    enode = acc.load_slot(node, mas.offset)
    if acc.is_dead(node):
        return 1
    if level > 1:
        mas.offset = 0
    while level > 1:
        level -= 1
        mas.node = node = enode
        enode = acc.load_slot(node, 0)
        if acc.is_dead(node):
            return 1
    mas.max = _pivot(acc, node, mas.offset, mas.max)
    mas.end = acc.load_end(enode)
    if acc.is_dead(node):
        return 1
    mas.node = enode
    mas.min = mn
    mas.tree.stats.visited += 1
    return 0


def mas_next_slot(mas, mx, empty):
    acc = mas.tree._acc
    save_point = mas.last
    while True:                                   # retry
        node = mas.node
        if _rewalk_if_dead(mas, node, save_point):
            continue
        if mas.max >= mx:
            pivot = acc.load_pivot(node, mas.offset) if mas.offset < mas.end else mas.max
            if _rewalk_if_dead(mas, node, save_point):
                continue
            if pivot >= mx:
                mas.status = MA_OVERFLOW
                return None
        if mas.offset < mas.end:
            mas.index = acc.load_pivot(node, mas.offset) + 1
            fresh = False
        else:
            if mas.last >= mx:
                mas.status = MA_OVERFLOW
                return None
            if mas_next_node(mas, node, mx):
                mas_rewalk(mas, save_point)
                continue
            if mas.status == MA_OVERFLOW:
                return None
            mas.offset = 0
            mas.index = mas.min
            node = mas.node
            mas.last = _pivot(acc, node, 0, mas.max)
            fresh = True
        restart = False
        while True:                               # again
            if not fresh:
                mas.offset += 1
                if mas.offset < mas.end:
                    mas.last = acc.load_pivot(node, mas.offset)
                else:
                    mas.last = mas.max
            fresh = False
            entry = acc.load_slot(node, mas.offset)
            if _rewalk_if_dead(mas, node, save_point):
                restart = True
                break
            if entry is not None:
                return entry
            if empty:
                return entry
            if mas.last >= mx:
                mas.status = MA_OVERFLOW
                return None
            mas.index = mas.last + 1
        if restart:
            continue


# ------------------------------------------------------------------ prev
def mas_prev_node(mas, mn):
    acc = mas.tree._acc
    node = mas.node

    def no_entry():
        if acc.is_dead(node):
            return 1
        mas.status = MA_UNDERFLOW
        return 0

    if not mas.min:
        return no_entry()
    mx = mas.min - 1
    if mx < mn:
        return no_entry()
    level = 0
    while True:
        if _root_p(acc, node):
            return no_entry()
        if mas_ascend(mas):
            return 1
        offset = mas.offset
        level += 1
        node = mas.node
        if offset:
            break
    offset -= 1
    while level > 1:
        level -= 1
        mas.node = acc.load_slot(node, offset)
        if acc.is_dead(node):
            return 1
        node = mas.node
        offset = acc.load_end(node)
        if acc.is_dead(node):
            return 1
    mas.node = acc.load_slot(node, offset)
    if acc.is_dead(node):
        return 1
    if offset:
        mas.min = acc.load_pivot(node, offset - 1) + 1
    mas.max = mx
    mas.offset = acc.load_end(mas.node)
    if acc.is_dead(mas.node):
        return 1
    mas.end = mas.offset
    mas.tree.stats.visited += 1
    return 0


def mas_prev_slot(mas, mn, empty):
    acc = mas.tree._acc
    save_point = mas.index
    while True:                                   # retry
        node = mas.node
        if _rewalk_if_dead(mas, node, save_point):
            continue
        if mas.min <= mn:
            pivot = _safe_min(acc, mas, node, mas.offset)
            if _rewalk_if_dead(mas, node, save_point):
                continue
            if pivot <= mn:
                mas.status = MA_UNDERFLOW
                return None
        restart = False
        while True:                               # again
            if mas.offset:
                mas.offset -= 1
                mas.last = mas.index - 1
                mas.index = _safe_min(acc, mas, node, mas.offset)
            else:
                if mas.index <= mn:
                    mas.status = MA_UNDERFLOW
                    return None
                if mas_prev_node(mas, mn):
                    mas_rewalk(mas, save_point)
                    restart = True
                    break
                if mas.status == MA_UNDERFLOW:
                    return None
                mas.last = mas.max
                node = mas.node
                mas.index = acc.load_pivot(node, mas.offset - 1) + 1 if mas.offset else mas.min
            entry = acc.load_slot(node, mas.offset)
            if _rewalk_if_dead(mas, node, save_point):
                restart = True
                break
            if entry is not None:
                return entry
            if not empty:
                if mas.index <= mn:
                    mas.status = MA_UNDERFLOW
                    return None
                continue
            return entry
        if restart:
            continue


# ------------------------------------------------------------------ setup state machines
def _may_activate(mas):
    if mas.node is None:
        mas.status = MA_START
    elif mas.index > mas.max or mas.index < mas.min:
        mas.status = MA_START
    else:
        mas.status = MA_ACTIVE


def _root_entry(mas):
    return mas.tree._acc.load_root(mas.tree)


def mas_next_setup(mas, mx):
    """Returns ``(done, entry)``."""
    was_none = mas.status == MA_NONE
    if mas.last >= mx:
        mas.status = MA_OVERFLOW
        return True, None
    st = mas.status
    if st == MA_ACTIVE:
        return False, None
    if st in (MA_NONE, MA_PAUSE, MA_START):
        mas.status = MA_START
        mas_walk(mas)
    elif st == MA_OVERFLOW:
        _may_activate(mas)
    elif st == MA_UNDERFLOW:
        _may_activate(mas)
        entry = mas_walk(mas)
        if entry is not None:
            return True, entry
    elif st == MA_ERROR:
        return True, None
    if mas.status == MA_ACTIVE:
        return False, None
    if mas.status == MA_ROOT:
        if was_none and mas.index == 0:
            mas.index = mas.last = 0
            return True, None
        mas.index = 1
        mas.last = ULONG_MAX
        mas.status = MA_NONE
        return True, None
    if mas.status == MA_NONE:
        return True, None
    return False, None


def mas_prev_setup(mas, mn):
    if mas.index <= mn:
        mas.status = MA_UNDERFLOW
        return True, None
    st = mas.status
    if st == MA_ACTIVE:
        return False, None
    if st in (MA_NONE, MA_PAUSE):
        mas.status = MA_START
    elif st == MA_UNDERFLOW:
        _may_activate(mas)
    elif st == MA_OVERFLOW:
        _may_activate(mas)
        entry = mas_walk(mas)
        if entry is not None:
            return True, entry
    elif st == MA_ERROR:
        return True, None
    if mas.status == MA_START:
        mas_walk(mas)
    if mas.status == MA_ROOT:
        if not mas.index:
            mas.status = MA_NONE
            return True, None
        mas.index = mas.last = 0
        return True, _root_entry(mas)
    if mas.status == MA_NONE:
        if mas.index:
            mas.index = mas.last = 0
            mas.status = MA_ROOT
            return True, _root_entry(mas)
        return True, None
    return False, None


def mas_find_setup(mas, mx):
    st = mas.status
    if st == MA_ACTIVE:
        if mas.last < mx:
            return False, None
        return True, None
    if st == MA_PAUSE:
        if mas.last >= mx:
            return True, None
        mas.last += 1
        mas.index = mas.last
        mas.status = MA_START
    elif st == MA_NONE:
        if mas.last >= mx:
            return True, None
        mas.index = mas.last
        mas.status = MA_START
    elif st == MA_UNDERFLOW:
        if mas.index >= mx:
            mas.status = MA_OVERFLOW
            return True, None
        _may_activate(mas)
        entry = mas_walk(mas)
        if entry is not None:
            return True, entry
    elif st == MA_OVERFLOW:
        if mas.last >= mx:
            return True, None
        _may_activate(mas)
        entry = mas_walk(mas)
        if entry is not None:
            return True, entry
    elif st == MA_ERROR:
        return True, None
    if mas.status == MA_START:
        if mas.index > mx:
            return True, None
        entry = mas_walk(mas)
        if entry is not None:
            return True, entry
    if mas.status == MA_ROOT:
        mas.status = MA_NONE
        mas.index = 1
        mas.last = ULONG_MAX
        return True, None
    if mas.status == MA_NONE:
        return True, None
    if mas.index == mx:
        return True, None
    return False, None


def mas_find_rev_setup(mas, mn):
    st = mas.status
    if st == MA_ACTIVE:
        return (True, None) if mas.index < mn else (False, None)
    if st == MA_PAUSE:
        if mas.index <= mn:
            mas.status = MA_UNDERFLOW
            return True, None
        mas.index -= 1
        mas.last = mas.index
        mas.status = MA_START
    elif st == MA_NONE:
        if mas.index <= mn:
            mas.status = MA_NONE
            return True, None
        mas.last = mas.index
        mas.status = MA_START
    elif st == MA_OVERFLOW:
        if mas.index <= mn:
            mas.status = MA_UNDERFLOW
            return True, None
        mas.status = MA_ACTIVE
    elif st == MA_UNDERFLOW:
        if mas.index <= mn:
            return True, None
        mas.status = MA_ACTIVE
    elif st == MA_ERROR:
        return True, None
    if mas.status == MA_START:
        if mas.index < mn:
            return True, None
        entry = mas_walk(mas)
        if entry is not None:
            return True, entry
    if mas.status == MA_ROOT:
        mas.status = MA_NONE
        return True, None
    if mas.status == MA_NONE:
        mas.last = mas.index = 0
        mas.status = MA_ROOT
        return True, _root_entry(mas)
    if mas.index < mn:
        return True, None
    return False, None


# ------------------------------------------------------------------ public state object
class MapleState(MaState):
    """``MA_STATE``: a cursor for ``mas_walk``/``mas_next``/``mas_prev``/``mas_find``.

    Entries are returned raw (``XA_ZERO_ENTRY`` included); ``index``/``last`` give the range
    of the last result and ``status`` its ``ma_*`` state.  Safe to keep across concurrent
    writes: a step that meets a dead node re-walks from the root to where it was.
    """

    __slots__ = ()

    def walk(self):
        """``mas_walk``."""
        return mas_walk(self)

    def next(self, max=ULONG_MAX):
        """``mas_next``: the next non-NULL entry after the current range, up to *max*."""
        done, entry = mas_next_setup(self, max)
        if done:
            return entry
        return mas_next_slot(self, max, False)

    def next_range(self, max=ULONG_MAX):
        """``mas_next_range``: the next range, NULL or not."""
        done, entry = mas_next_setup(self, max)
        if done:
            return entry
        return mas_next_slot(self, max, True)

    def prev(self, min=0):
        """``mas_prev``."""
        done, entry = mas_prev_setup(self, min)
        if done:
            return entry
        return mas_prev_slot(self, min, False)

    def prev_range(self, min=0):
        """``mas_prev_range``."""
        done, entry = mas_prev_setup(self, min)
        if done:
            return entry
        return mas_prev_slot(self, min, True)

    def find(self, max=ULONG_MAX):
        """``mas_find``: first call, the entry at or after ``index``; then the next one."""
        done, entry = mas_find_setup(self, max)
        if done:
            return entry
        entry = mas_next_slot(self, max, False)
        self.status = MA_ACTIVE
        return entry

    def find_range(self, max=ULONG_MAX):
        """``mas_find_range``."""
        done, entry = mas_find_setup(self, max)
        if done:
            return entry
        return mas_next_slot(self, max, True)

    def erase(self):
        """``mas_erase``: NULL the whole range containing ``index``; returns the raw old entry."""
        from .write import mas_erase
        return mas_erase(self)

    def store(self, entry):
        """``mas_store``: store *entry* over ``[index, last]`` from this position (writer side)."""
        from .write import mas_store
        mas_store(self, entry)

    def find_rev(self, min=0):
        """``mas_find_rev``."""
        done, entry = mas_find_rev_setup(self, min)
        if done:
            return entry
        return mas_prev_slot(self, min, False)


def mt_find(tree, index, mx):
    """``mt_find``: ``(first, last, entry)`` of the first real entry in ``[index, mx]``, or None."""
    if index > mx:
        return None
    mas = MaState(tree, index, index)
    while True:
        entry = mas_state_walk(mas)
        if mas.status != MA_START:
            break
    if entry is XA_ZERO_ENTRY:
        entry = None
    if entry is None:
        while mas.status == MA_ACTIVE and mas.last < mx:
            entry = mas_next_slot(mas, mx, False)
            if entry is not None and entry is not XA_ZERO_ENTRY:
                break
        if entry is XA_ZERO_ENTRY:
            entry = None
    if entry is None:
        return None
    return mas.index, mas.last, entry
