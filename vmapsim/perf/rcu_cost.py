"""Grace periods and the RCU callback backlog of the performance model.

A deliberately small model of Tree RCU as the vmalloc paths would see it
(kernel/rcu/tree.c):

* a callback queued at time *t* is invoked at the end of the first grace period that
  *starts* at or after *t*; grace periods run back to back while callbacks wait, each
  ``grace_period_ms`` long (a normal, non-expedited grace period; perfbook: "many
  milliseconds", 2-10 ms measured under kfree_rcu floods);
* the backlog is the number of callbacks (and bytes) queued and not yet invoked; its maximum
  is reported and compared with ``qhimark`` (10,000) and ``qovld`` (20,000), the per-CPU
  thresholds above which RCU changes its behaviour;
* ``kvfree_rcu()`` batches pointers per CPU in page-sized blocks (``kfree_bulk_entries``) and
  hands a block to RCU when it is full or ``kfree_drain_ms`` after its first pointer
  (``KFREE_DRAIN_JIFFIES``); the ``vfree()`` calls then run in a kworker on that CPU.

Not modelled: expedited grace periods, lazy (``CONFIG_RCU_LAZY``) bypass lists, callback
offloading, the effect of a flood on grace-period length.

>>> g = GracePeriods(gp_ns=5e6)
>>> g.enqueue(0.0, 72)
5000000.0
>>> g.enqueue(1e6, 72)          # a grace period is running: wait for the next full one
10000000.0
>>> g.count_at(6e6), g.max_count
(1, 2)
"""
from __future__ import annotations

from collections import deque
from math import ceil


class GracePeriods:
    """Back-to-back grace periods and the callbacks waiting for them."""

    def __init__(self, gp_ns: float):
        if gp_ns <= 0:
            raise ValueError("grace period must be positive")
        self.gp = float(gp_ns)
        self.chain_start = None      # start of the current chain of back-to-back GPs
        self.chain_end = -1.0        # end of the last GP requested in that chain
        self.pending = deque()       # (done_time, nbytes, count), done_time non-decreasing
        self.count = 0
        self.bytes = 0
        self.max_count = 0
        self.max_bytes = 0
        self.completed = 0

    def done_time(self, t: float) -> float:
        """When a callback queued at *t* is invoked (and book the grace periods it needs)."""
        gp = self.gp
        if self.chain_start is None or t >= self.chain_end:
            self.chain_start = t
            self.chain_end = t + gp
            return self.chain_end
        k = ceil((t - self.chain_start) / gp)
        cur_end = self.chain_start + k * gp
        if cur_end <= t:
            cur_end += gp
        done = cur_end + gp if cur_end - gp < t else cur_end
        if done > self.chain_end:
            self.chain_end = done
        return done

    def _expire(self, t: float) -> None:
        p = self.pending
        while p and p[0][0] <= t:
            _, b, c = p.popleft()
            self.count -= c
            self.bytes -= b
            self.completed += c

    def enqueue(self, t: float, nbytes: int, count: int = 1) -> float:
        """Queue *count* callbacks holding *nbytes* at *t*; return their invocation time."""
        self._expire(t)
        done = self.done_time(t)
        self.pending.append((done, nbytes, count))
        self.count += count
        self.bytes += nbytes
        if self.count > self.max_count:
            self.max_count = self.count
        if self.bytes > self.max_bytes:
            self.max_bytes = self.bytes
        return done

    def note_extra(self, extra_count: int, extra_bytes: int) -> None:
        """Include callbacks not yet handed to RCU (kvfree_rcu blocks still filling) in the max."""
        c, b = self.count + extra_count, self.bytes + extra_bytes
        if c > self.max_count:
            self.max_count = c
        if b > self.max_bytes:
            self.max_bytes = b

    def count_at(self, t: float) -> int:
        self._expire(t)
        return self.count


def backlog_estimate(vfree_per_sec: float, gp_ms: float, bytes_per_free: float) -> tuple:
    """Little's law: callbacks pending ~ rate x grace period; returns (callbacks, bytes).

    >>> backlog_estimate(1e6, 30.0, 64 + 256)
    (30000.0, 9600000.0)
    """
    n = vfree_per_sec * gp_ms / 1000.0
    return n, n * bytes_per_free
