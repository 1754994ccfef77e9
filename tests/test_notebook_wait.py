"""The kernel-message wait used by every notebook run: a missed wake-up costs at most one slice.

The fake channel behaves like pyzmq's asyncio poll when the socket's wake-up edge is lost: a
wait with a timeout returns only when that timeout ends, and then finds whatever is ready.
"""
import asyncio
import time
from queue import Empty

import pytest

from vmapsim.notebook import _client_class, sliced_get_msg


class MissedWakeupChannel:
    def __init__(self, ready_after: float | None):
        self.t0 = time.monotonic()
        self.ready_after = ready_after
        self.waits = []

    def _ready(self):
        return self.ready_after is not None and time.monotonic() - self.t0 >= self.ready_after

    async def get_msg(self, timeout=None):
        self.waits.append(timeout)
        if not self._ready():
            await asyncio.sleep(timeout if timeout is not None else 3600)
        if self._ready():
            return {"msg_type": "execute_reply"}
        raise Empty


def test_unsliced_wait_shows_the_stall():
    ch = MissedWakeupChannel(ready_after=0.05)
    t = time.monotonic()
    assert asyncio.run(ch.get_msg(timeout=1.5))["msg_type"] == "execute_reply"
    assert time.monotonic() - t >= 1.4          # the whole timeout: the stall being fixed


def test_sliced_wait_returns_within_a_slice():
    ch = MissedWakeupChannel(ready_after=0.05)
    t = time.monotonic()
    msg = asyncio.run(sliced_get_msg(ch.get_msg, step=0.1)(timeout=1.5))
    assert msg["msg_type"] == "execute_reply"
    assert time.monotonic() - t < 0.8
    assert max(ch.waits) <= 0.1 + 1e-9


def test_sliced_wait_without_timeout_still_returns():
    ch = MissedWakeupChannel(ready_after=0.15)
    msg = asyncio.run(sliced_get_msg(ch.get_msg, step=0.05)(timeout=None))
    assert msg["msg_type"] == "execute_reply" and all(w <= 0.05 for w in ch.waits)


def test_sliced_wait_keeps_the_overall_timeout():
    ch = MissedWakeupChannel(ready_after=None)
    t = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(sliced_get_msg(ch.get_msg, step=0.1)(timeout=0.35))
    took = time.monotonic() - t
    assert 0.34 <= took < 0.9
    assert len(ch.waits) >= 4


def test_executing_client_wraps_shell_and_iopub():
    import nbformat
    client = _client_class()(nbformat.v4.new_notebook(), kernel_name="python3")
    names = []

    async def start():          # the path execute() takes: NotebookClient.async_execute
        async with client.async_setup_kernel():
            names.extend(ch.get_msg.__qualname__
                         for ch in (client.kc.shell_channel, client.kc.iopub_channel))

    asyncio.run(start())
    assert len(names) == 2 and all("sliced_get_msg" in n for n in names), names
