"""How a worker process comes to exist.

`Launcher` is the seam: the pool asks for a process running the runtime bootstrap for a
spec and gets back its pid, the platform end of its socket, its log pipe and ways to poll
and kill it. `SubprocessLauncher` starts a fresh interpreter per worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from faas.domain import WorkerSpec
from faas.errors import InvalidParameterValue
from faas.pool.environment import log_stream_name, worker_environment


def runtime_dir() -> Path:
    """Where the in-sandbox runtimes live: bundled in the wheel, or the source checkout."""
    package_dir = Path(__file__).resolve().parent.parent
    bundled = package_dir / "_runtimes"
    return bundled if bundled.is_dir() else package_dir.parent / "runtimes"


@dataclass(frozen=True, slots=True)
class LaunchedProcess:
    pid: int
    sock: socket.socket  # the platform's end of the worker's socketpair
    log_fd: int  # read end of the worker's merged stdout/stderr, non-blocking
    poll: Callable[[], int | None]  # reap if exited: the exit status, else None
    log_stream: str


class Launcher(Protocol):
    def launch(self, spec: WorkerSpec) -> LaunchedProcess:
        """Start a worker for `spec`; it will send a ready or init_error frame."""


class SubprocessLauncher:
    """A fresh `python -I -S` per worker: the function sees its code and the stdlib only."""

    def __init__(self, interpreters: Mapping[str, str]) -> None:
        self._interpreters = dict(interpreters)
        self._runtime_dir = runtime_dir() / "python"
        self._bootstrap = str(self._runtime_dir / "bootstrap.py")

    def launch(self, spec: WorkerSpec) -> LaunchedProcess:
        interpreter = self._interpreters.get(spec.runtime)
        if interpreter is None:
            raise InvalidParameterValue(f"Runtime {spec.runtime} is not available on this host")
        platform_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_read, log_write = os.pipe()
        stream = log_stream_name(spec.version)
        try:
            process = subprocess.Popen(
                [
                    interpreter,
                    "-I",
                    "-S",
                    "-B",
                    self._bootstrap,
                    str(worker_end.fileno()),
                    str(os.getpid()),
                ],
                env=worker_environment(spec, str(self._runtime_dir), stream),
                cwd=spec.code_dir,
                stdin=subprocess.DEVNULL,
                stdout=log_write,
                stderr=log_write,
                pass_fds=(worker_end.fileno(),),
                start_new_session=True,  # its own process group: a kill takes its children too
            )
        except BaseException:
            platform_end.close()
            os.close(log_read)
            raise
        finally:
            worker_end.close()
            os.close(log_write)
        os.set_blocking(log_read, False)
        platform_end.setblocking(False)
        return LaunchedProcess(process.pid, platform_end, log_read, process.poll, stream)


def kill_process_group(pid: int) -> None:
    """SIGKILL the worker and everything in its process group."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        # No group left (or not ours): the worker itself may still be there.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
