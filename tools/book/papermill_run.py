"""papermill's command line (it takes papermill's arguments) with two fixes. nbclient waits
for a cell's reply with ``get_msg(timeout=None)``, and under CPU load a reply already queued
is then sometimes never seen (jupyter/nbclient#312; 12 widget cells under load hung 3 runs of
3): that wait is made of one-second polls. And papermill, its kernel and the kernel's
children die with the driver that started them, even by kill -9 (:func:`guard_driver`)."""

import ctypes
import os
import signal
import sys
import threading
import time
from queue import Empty
from typing import Any

import psutil
from jupyter_client.channels import AsyncZMQSocketChannel

POLL_S = 1.0
# the driver's pid, which execute_notebook puts in papermill's environment: papermill's
# parent must still be that process once the parent-death signal is armed
DRIVER_PID = "BOOK_DRIVER_PID"
# seconds papermill gets to stop its kernel after the driver died, before all is killed
STOP_GRACE_S = 15.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_get_msg = AsyncZMQSocketChannel.get_msg


async def get_msg(self: AsyncZMQSocketChannel, timeout: float | None = None) -> dict[str, Any]:
    """``get_msg`` where ``timeout=None`` waits in polls of :data:`POLL_S` seconds."""
    while timeout is None:
        try:
            return await _get_msg(self, POLL_S)
        except Empty:
            continue
    return await _get_msg(self, timeout)


def guard_driver(driver: int, grace_s: float = STOP_GRACE_S) -> None:
    """Make this process, and all it starts, end when ``driver`` (its parent) dies by any
    signal, kill -9 included, which the driver cannot clean up after.

    On Linux the kernel sends SIGINT the moment the parent dies (PR_SET_PDEATHSIG), on which
    nbclient shuts its kernel down (and ipykernel the kernel's children); elsewhere a thread
    that polls the parent pid sends it. Should that shutdown hang, whatever still runs
    ``grace_s`` seconds later is killed: the kernel, which jupyter_client starts in a session
    of its own, with its process group, then this process. A driver that died before the
    signal was armed is seen here: nothing has started yet, so this process just exits.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)
    if os.getppid() != driver:
        sys.exit(f"papermill_run: the book driver (pid {driver}) is gone; not starting")
    threading.Thread(target=_stop_when_orphaned, args=(driver, grace_s), daemon=True).start()


def _stop_when_orphaned(driver: int, grace_s: float) -> None:
    while os.getppid() == driver:
        time.sleep(POLL_S)
    if sys.platform != "linux":  # on Linux the parent-death signal did this already
        os.kill(os.getpid(), signal.SIGINT)
    time.sleep(grace_s)  # papermill normally exits well within it, and this thread with it
    kill_descendants()
    os._exit(128 + signal.SIGKILL)


def kill_descendants() -> None:
    """SIGKILL to every process this one started, and to the process group of each child
    that leads one (a kernel's children orphaned by its death are still in its group)."""
    me = psutil.Process()
    descendants = me.children(recursive=True)  # listed first: a killed kernel's vanish
    for child in me.children():
        try:
            if os.getpgid(child.pid) == child.pid:
                os.killpg(child.pid, signal.SIGKILL)
        except OSError:  # already gone
            pass
    for process in descendants:
        try:
            process.kill()
        except psutil.Error:
            pass


if __name__ == "__main__":
    # armed before papermill starts anything; without the driver's pid (run by hand) the
    # parent is whoever started this
    guard_driver(int(os.environ.get(DRIVER_PID) or os.getppid()))
    AsyncZMQSocketChannel.get_msg = get_msg  # type: ignore[method-assign]
    from papermill.cli import papermill

    papermill(prog_name="papermill")  # click parses sys.argv[1:] and exits
