"""How a worker process comes to exist.

`Launcher` is the seam: the pool asks for a process running the runtime bootstrap for a
spec and gets back its pid, the platform end of its socket, its log pipe and a future of its
exit status. `ZygoteLauncher` forks workers from a pre-imported zygote per runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from faas.domain import WorkerSpec
from faas.errors import InvalidParameterValue
from faas.pool.environment import log_stream_name, worker_environment
from faas.pool.sandbox import PreparedSandbox, SandboxPlanner
from faas.pool.zygote import Zygote, close_quietly


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
    exited: asyncio.Future[int]  # exit code, or minus the signal that ended it
    log_stream: str
    launched_ns: int  # monotonic time the launch began (init duration counts from here)
    sandbox: PreparedSandbox | None = None


class Launcher(Protocol):
    async def launch(self, spec: WorkerSpec) -> LaunchedProcess:
        """Start a worker for `spec`; it will send a ready or init_error frame."""

    def stop(self) -> None:
        """Release the launcher's own processes."""

    async def drain(self) -> None:
        """Wait for per-worker resources still being released."""


class ZygoteLauncher:
    """Workers are forked from one pre-imported zygote per runtime (started lazily, and
    restarted when it dies), so a cold start costs a fork instead of a new interpreter."""

    def __init__(
        self, interpreters: Mapping[str, str], sandbox: SandboxPlanner | None = None
    ) -> None:
        self._interpreters = dict(interpreters)
        self._runtime_dir = runtime_dir() / "python"
        self._zygotes: dict[str, Zygote] = {}
        self._starting: dict[str, asyncio.Future[Zygote]] = {}
        self._sandbox = sandbox
        self._releasing: set[asyncio.Future[None]] = set()

    async def prestart(self, runtime: str) -> None:
        await self._zygote(runtime)

    async def launch(self, spec: WorkerSpec) -> LaunchedProcess:
        launched_ns = time.monotonic_ns()
        zygote = await self._zygote(spec.runtime)
        prepared = await self._prepare_sandbox(spec)
        platform_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_read, log_write = os.pipe()
        stream = log_stream_name(spec.version)
        env = worker_environment(spec, str(self._runtime_dir), stream)
        env.update(prepared.env if prepared else {})
        try:
            pid, exited = await zygote.spawn(
                env,
                spec.code_dir,
                prepared.plan if prepared else {},
                [worker_end.fileno(), log_write],
            )
        except BaseException:
            platform_end.close()
            close_quietly(log_read)
            self._release_sandbox(prepared)
            raise
        finally:
            worker_end.close()
            close_quietly(log_write)
        exited.add_done_callback(lambda _: self._release_sandbox(prepared))
        os.set_blocking(log_read, False)
        platform_end.setblocking(False)
        return LaunchedProcess(pid, platform_end, log_read, exited, stream, launched_ns, prepared)

    async def _prepare_sandbox(self, spec: WorkerSpec) -> PreparedSandbox | None:
        if self._sandbox is None:
            return None
        return await asyncio.to_thread(self._sandbox.prepare, spec)

    def _release_sandbox(self, prepared: PreparedSandbox | None) -> None:
        if self._sandbox is None or prepared is None:
            return
        # Wiping /tmp and removing cgroups touches the disk: off the event loop.
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(None, self._sandbox.release, prepared)
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def stop(self) -> None:
        for zygote in self._zygotes.values():
            zygote.stop()
        self._zygotes.clear()

    async def drain(self) -> None:
        """Wait for sandbox releases still in flight (shutdown)."""
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)

    async def _zygote(self, runtime: str) -> Zygote:
        zygote = self._zygotes.get(runtime)
        if zygote is not None and zygote.alive:
            return zygote
        pending = self._starting.get(runtime)
        if pending is not None:  # another request is already starting it: share that
            return await asyncio.shield(pending)
        interpreter = self._interpreters.get(runtime)
        if interpreter is None:
            raise InvalidParameterValue(f"Runtime {runtime} is not available on this host")
        future: asyncio.Future[Zygote] = asyncio.get_running_loop().create_future()
        self._starting[runtime] = future
        try:
            zygote = Zygote(interpreter, self._runtime_dir)
            await zygote.start()
            self._zygotes[runtime] = zygote
            future.set_result(zygote)
            return zygote
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._starting[runtime]


def kill_process_group(pid: int) -> None:
    """SIGKILL the worker and everything in its process group."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        # No group left (or not ours): the worker itself may still be there.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
