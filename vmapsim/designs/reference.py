"""Replay of a design next to the ``linux-6.18`` reference: a named cause for every choice in
which the design differs from today's kernel.

A replay (:mod:`vmapsim.traces.replay`) scores a design's predicted address against the real kernel's
for every allocation of a trace and then applies the kernel's address, so the model stays in
step with the kernel.  For a design whose policy differs from 6.18 a miss can have two kinds of
cause: the ones 6.18 itself has on that trace (the model does not know the kernel's pools or
rb-tree shape exactly, see ``replay.MISS_CAUSES``), and the design's own policy.  To separate
them, :class:`ReferenceReplayMixin` keeps a ``linux-6.18`` model beside the design during a
replay (created by :meth:`load_state`, so only replays pay for it) and forwards every replay
call to it: both see the same start state, the same applied addresses, frees and purges.  For
each allocation:

* design and reference predict the same address -> the design's outcome is 6.18's, and a miss
  keeps replay's cause;
* they predict different addresses -> the miss is the design's, and :meth:`explain_miss` names
  it from :data:`DESIGN_MISS_CAUSES`; the prediction's ``source`` is relabelled (``"maple-gap"``
  for a free-space choice) so that replay's 6.18-specific bookkeeping (late-traced pairing,
  rb-tree shape classification) does not run on it.

A cause of ``"unexplained"`` means the model cannot say why the design differs: the tests
require there be none.

The reference sees exactly the replay operations the design sees.  Replay's own bookkeeping
reacts to each design's misses (e.g. it holds a range the kernel refused twice, see
:mod:`vmapsim.traces.replay`), so the reference can differ slightly from a standalone ``linux-6.18``
replay of the same trace; comparisons of a design with 6.18 use the reference
(``reference_predictions``, one per scored allocation, in the order of ``ReplayResult.records``).
"""
from __future__ import annotations

from ..errors import ParameterError
from ..vmalloc.vmap_area import PAGE_SIZE
from .base import Choice

__all__ = ["ReferenceReplayMixin", "DESIGN_MISS_CAUSES", "check_replayable"]

#: cause -> explanation, for the causes a design names itself
DESIGN_MISS_CAUSES = {
    "bump-chunk": "rfc-v1 serves this request from a per-CPU 64 MB bump chunk (patches 10-12), "
                  "before the pools and the gap search; the kernel used its pool or free tree",
    "exact-aligned-gap": "aligned request: the design takes the lowest gap whose part inside "
                         "[vstart, vend) holds size+align-1 (mas_empty_area padded by align-1), "
                         "while the kernel's rb-tree descent took a smaller block that fits exactly "
                         "on its path, or a block straddling vstart that it measures whole (with "
                         "aligned_search=exact the design takes the lowest aligned fit instead)",
    "lazy-list-order": "rfc-v1's lazy queue is a list walked in free order at purge (patch 08): "
                       "pools are refilled in free order, not address order, so the pool head, the "
                       "entries decay releases and then the free space differ from 6.18's",
    "exact-range-padding": "rfc-v1 pads the gap search by align-1 even when the range is exactly "
                           "the request's size (6.18 does not, __alloc_vmap_area), so it finds no "
                           "space",
    "unexplained": "the design differs from linux-6.18 for a reason the model does not name "
                   "(a modelling bug: the tests require none)",
}


def check_replayable(design) -> None:
    """Replay applies the kernel's choices: a design must not fail allocations on its own."""
    for k in ("nowait_fail", "atomic_fail", "kvzalloc_fail"):
        if design.params.get(k):
            raise ParameterError(f"{k}={design.params[k]} cannot be replayed: replay applies the "
                                 f"kernel's choices, so node-allocation failures must be 0 "
                                 f"(use the workload experiments of vmapsim.review.free_tree instead)")


class ReferenceReplayMixin:
    """Keeps a ``linux-6.18`` model beside the design during replay (see module docstring).

    Put it first in the design's bases.  ``_ref`` is None outside replays."""

    _ref = None

    def _make_reference(self):
        from .linux618 import Linux618
        params = {k: self.params[k] for k in ("possible_cpus", "online_cpus", "vmalloc_start",
                                              "vmalloc_end", "seed")}
        ref = Linux618(**params)
        ref.acct.enabled = self.acct.enabled       # replay without lock records: none here either
        return ref

    # ------------------------------------------------------------------ forwarded calls
    def load_state(self, busy, lazy):
        check_replayable(self)
        busy, lazy = list(busy), list(lazy)
        super().load_state(busy, lazy)
        if not getattr(self, "replay_reference", True):
            return                      # a trace-driven run, not a replay: no reference
        self._ref = self._make_reference()
        self._ref.load_state(busy, lazy)
        self._ref_batches = {}
        self._pair = None
        self._diverged = None
        #: the reference's and the design's own prediction for every scored allocation, in
        #: order (-1: none); replay may replace both by a held range (see final_reference)
        self.reference_predictions = []
        self.design_predictions = []

    def predict_alloc(self, size, align, vstart, vend, cpu):
        c = super().predict_alloc(size, align, vstart, vend, cpu)
        if self._ref is None:
            return c
        r = self._ref.predict_alloc(size, align, vstart, vend, cpu)
        self._pair = (c, r, size, align, vstart, vend)
        self.reference_predictions.append(-1 if r.addr is None else r.addr)
        self.design_predictions.append(-1 if c.addr is None else c.addr)
        if c.addr != r.addr and c.source == "free":
            c = Choice(c.addr, "maple-gap", c.node)
        return c

    def apply_alloc(self, addr, size, align, vstart, vend, cpu, va_flags=0):
        src = super().apply_alloc(addr, size, align, vstart, vend, cpu, va_flags)
        if self._ref is not None:
            rsrc = self._ref.apply_alloc(addr, size, align, vstart, vend, cpu, va_flags)
            if src != rsrc and self._diverged is None:
                self._diverged = self._divergence_cause()
        return src

    def apply_free(self, addr, cpu, size_hint=None):
        out = super().apply_free(addr, cpu, size_hint)
        if self._ref is not None:
            self._ref.apply_free(addr, cpu, size_hint)
        return out

    def reserve_range(self, addr, end):
        super().reserve_range(addr, end)
        if self._ref is not None:
            self._ref.reserve_range(addr, end)

    def release_range(self, addr):
        out = super().release_range(addr)
        if self._ref is not None:
            self._ref.release_range(addr)
        return out

    def purge_begin(self, full_pool_decay=False, limit=None):
        batch = super().purge_begin(full_pool_decay, limit)
        if self._ref is not None:
            self._ref_batches[id(batch)] = (batch, self._ref.purge_begin(full_pool_decay, limit))
        return batch

    def purge_push(self, batch, node, upto=None, force=False):
        super().purge_push(batch, node, upto, force)
        if self._ref is not None and id(batch) in self._ref_batches:
            self._ref.purge_push(self._ref_batches[id(batch)][1], node, upto, force)

    def purge_finish(self, batch):
        n = super().purge_finish(batch)
        if self._ref is not None and id(batch) in self._ref_batches:
            self._ref.purge_finish(self._ref_batches.pop(id(batch))[1])
        return n

    # ------------------------------------------------------------------ naming
    def final_reference(self, records) -> list:
        """The reference's prediction as replay finally scored it, per record: where replay
        replaced the design's prediction by a held range (the record's prediction is not the
        design's own), it would have replaced the reference's too."""
        out = []
        for rec, own, ref in zip(records, self.design_predictions, self.reference_predictions):
            out.append(rec[5] if rec[5] != own else ref)
        return out

    def _divergence_cause(self) -> str:
        """Why the design's state may now differ from the reference's (pools first)."""
        return "lazy-list-order" if getattr(self, "lazy_list", False) else "unexplained"

    def explain_miss(self, choice, src, event, cause) -> str:
        """Replay's hook: the cause of a miss (see the module docstring)."""
        if self._ref is None or self._pair is None:
            return cause
        c, r, size, align, vstart, vend = self._pair
        if c.addr == r.addr or choice.addr != c.addr:
            # the same prediction, or replay replaced the prediction by a range it holds for an
            # unlogged allocation (it would have done the same for the reference): 6.18's cause
            return cause
        return self.design_cause(c, r, size, align, vstart, vend)

    def design_cause(self, c, r, size, align, vstart, vend) -> str:
        """Name why design choice *c* differs from the reference's *r*."""
        if c.source == "bump":
            return "bump-chunk"
        if c.source == "fail" and getattr(self, "pad_rule", "") == "series" and \
                align > PAGE_SIZE and vend - vstart == size:
            return "exact-range-padding"
        if "pool" in (c.source, r.source):
            return self._diverged or self._divergence_cause()
        same_space = self.free_ranges() == self._ref.free_ranges()
        if same_space:
            return "exact-aligned-gap" if align > PAGE_SIZE else "unexplained"
        return self._diverged or "unexplained"
