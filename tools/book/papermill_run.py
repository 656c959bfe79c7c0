"""papermill's command line, with one fix: a reply waited for without a timeout is polled for
every second instead (``python tools/book/papermill_run.py`` takes papermill's arguments).

nbclient waits for each cell's execute reply with ``get_msg(timeout=None)``; under CPU load
a reply that is already queued is then sometimes never seen, because the ZMQ socket's poll
is not woken again (jupyter/nbclient#312). Measured here: 12 widget cells under load hung 3
executions of 3, and a chapter page alone stalled until its 120-s cell timeout. A poll with
a timeout does see the queued reply, so waiting in one-second polls ends such a wait within
a second and never cuts a long cell short.
"""

from __future__ import annotations

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


def main() -> None:
    AsyncZMQSocketChannel.get_msg = get_msg  # type: ignore[method-assign]
    from papermill.cli import papermill

    papermill(prog_name="papermill")  # click parses sys.argv[1:]


if __name__ == "__main__":
    sys.exit(main())
