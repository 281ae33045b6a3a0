"""A started worker process as the pool sees it, and how to kill it with its children."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeVar

from faas.domain import WorkerCredentials
from faas.pool.sandbox import PreparedSandbox

K = TypeVar("K", bound=Hashable)

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
    # The execution role's temporary credentials in its environment, if it has any.
    credentials: WorkerCredentials | None = None


def track_task(tasks: dict[K, asyncio.Task[None]], key: K, task: asyncio.Task[None]) -> None:
    """Keep `task` under `key` until it ends. A task that ended is dropped only if it is still
    the one under its key: its done-callback runs a loop turn after its last step, when a
    newer task may already stand there."""
    tasks[key] = task
    task.add_done_callback(lambda _: forget_task(tasks, key, task))


def forget_task(tasks: dict[K, asyncio.Task[None]], key: K, task: asyncio.Task[None]) -> None:
    if tasks.get(key) is task:
        del tasks[key]


def kill_process_group(pid: int) -> None:
    """SIGKILL the worker and everything in its process group."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        # No group left (or not ours): the worker itself may still be there.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
