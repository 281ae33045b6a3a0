"""A started worker process as the pool sees it, and how to kill it with its children."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from dataclasses import dataclass

from faas.pool.sandbox import PreparedSandbox

# How long after a process kept ready (a spare, a snapshot clone) is taken its replacement is
# started: forking it next to the cold start that took the last one (threads, the zygote or
# template, a kernel lock for the cgroup move) would slow exactly that request down.
REFILL_DELAY_S = 0.02


@dataclass(frozen=True, slots=True)
class LaunchedProcess:
    pid: int
    sock: socket.socket  # the platform's end of the worker's socketpair
    log_fd: int  # read end of the worker's merged stdout/stderr, non-blocking
    exited: asyncio.Future[int]  # exit code, or minus the signal that ended it
    log_stream: str
    launched_ns: int  # monotonic time the launch began (init duration counts from here)
    sandbox: PreparedSandbox | None = None


def kill_process_group(pid: int) -> None:
    """SIGKILL the worker and everything in its process group."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        # No group left (or not ours): the worker itself may still be there.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
