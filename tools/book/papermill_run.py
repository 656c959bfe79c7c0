"""papermill's command line (it takes papermill's arguments) with two fixes. nbclient waits
for a cell's reply with ``get_msg(timeout=None)``, and under CPU load a reply already queued
is then sometimes never seen (jupyter/nbclient#312; 12 widget cells under load hung 3 runs of
3): that wait is made of one-second polls. And papermill dies with the driver that started it."""

import ctypes
import signal
import sys
from queue import Empty
from typing import Any

from jupyter_client.channels import AsyncZMQSocketChannel

POLL_S = 1.0
_get_msg = AsyncZMQSocketChannel.get_msg


async def get_msg(self: AsyncZMQSocketChannel, timeout: float | None = None) -> dict[str, Any]:
    """``get_msg`` where ``timeout=None`` waits in polls of :data:`POLL_S` seconds."""
    while timeout is None:
        try:
            return await _get_msg(self, POLL_S)
        except Empty:
            continue
    return await _get_msg(self, timeout)


if __name__ == "__main__":
    if sys.platform == "linux":  # die with the driver, even by kill -9: SIGINT, which papermill
        ctypes.CDLL(None).prctl(1, signal.SIGINT)  # answers by stopping its kernel (PDEATHSIG)
    AsyncZMQSocketChannel.get_msg = get_msg  # type: ignore[method-assign]
    from papermill.cli import papermill

    papermill(prog_name="papermill")  # click parses sys.argv[1:] and exits
