"""The sliced kernel channel: a reply whose wake-up was lost is still read within a slice."""

from __future__ import annotations

import asyncio
import time
from queue import Empty

import pytest
from jupyter_client.channels import AsyncZMQSocketChannel

from vcop_lab import kernel_client
from vcop_lab.kernel_client import SlicedChannel, SlicedKernelClient, SlicedKernelManager


@pytest.fixture
def lost_wake_up(monkeypatch):
    """Stands in for the socket: the message is ready, but the first wait does not see it
    and sleeps its whole timeout (forever when it has none); any later wait sees it."""
    waits = []

    async def get_msg(channel, timeout=None):
        waits.append(timeout)
        if len(waits) == 1:
            await asyncio.sleep(3600 if timeout is None else timeout)
            raise Empty
        return {"msg_type": "execute_reply"}

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", get_msg)
    monkeypatch.setattr(kernel_client, "SLICE_SECONDS", 0.05)
    return waits


def _channel() -> SlicedChannel:
    return SlicedChannel.__new__(SlicedChannel)  # no socket: get_msg is faked


def test_a_lost_wake_up_costs_one_slice_not_the_timeout(lost_wake_up):
    started = time.monotonic()
    msg = asyncio.run(asyncio.wait_for(_channel().get_msg(timeout=None), timeout=5))
    assert msg["msg_type"] == "execute_reply"
    assert time.monotonic() - started < 1.0
    assert lost_wake_up[0] == pytest.approx(0.05)  # every wait is one slice at most


def test_the_caller_timeout_still_holds(monkeypatch):
    async def never(channel, timeout=None):
        await asyncio.sleep(timeout)
        raise Empty

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", never)
    monkeypatch.setattr(kernel_client, "SLICE_SECONDS", 0.05)
    started = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(_channel().get_msg(timeout=0.2))
    assert 0.18 < time.monotonic() - started < 1.0


def test_the_manager_hands_out_sliced_clients():
    km = SlicedKernelManager()
    assert km.client_factory is SlicedKernelClient
    assert SlicedKernelClient.shell_channel_class.default_value is SlicedChannel
    assert SlicedKernelClient.iopub_channel_class.default_value is SlicedChannel
