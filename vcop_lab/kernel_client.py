"""A kernel manager for headless notebook runs that never misses a kernel's reply.

With ipywidgets in a cell, nbclient sometimes waits on a reply that has already arrived: the
asyncio wake-up for the socket is lost, and the wait ends only at the cell timeout (or never,
without one), although the message sits ready on the socket (jupyter/nbclient#312). Waiting
in short slices asks the socket again every slice, so such a reply is read within one slice.
:func:`vcop_lab.reproduce.reproduce` hands :class:`SlicedKernelManager` to papermill.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type

SLICE_SECONDS = 1.0


class SlicedChannel(AsyncZMQSocketChannel):
    """A channel whose ``get_msg`` waits in slices of :data:`SLICE_SECONDS`."""

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = SLICE_SECONDS if deadline is None else deadline - time.monotonic()
            try:
                return await super().get_msg(timeout=max(0.0, min(SLICE_SECONDS, left)))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedKernelClient(AsyncKernelClient):
    """An async kernel client whose shell and iopub channels wait in slices."""

    shell_channel_class = Type(SlicedChannel)
    iopub_channel_class = Type(SlicedChannel)


class SlicedKernelManager(AsyncKernelManager):
    """An async kernel manager that hands out :class:`SlicedKernelClient` clients."""

    client_class = DottedObjectName("vcop_lab.kernel_client.SlicedKernelClient")
    client_factory = Type(SlicedKernelClient, klass=AsyncKernelClient)
