"""Snapshot start: a template process per function version runs the function's init once,
then forks each new worker from that state (runtimes/python/bootstrap.py CloneServer).

A clone is a fork of an initialised process: it starts with init's imports and globals and
runs no init of its own, so a function with heavy imports scales out in about the time of a
fork. The template was sandboxed like any worker before init ran, and its clones inherit
that sandbox (uid, namespaces, Landlock, seccomp, and its /tmp). Each clone is moved into
its own memory cgroup right after the fork, off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import orjson

from faas.domain import WorkerSpec
from faas.pool.environment import log_stream_name
from faas.pool.process import LaunchedProcess, kill_process_group
from faas.pool.protocol import Frame, FrameDecoder, ProtocolError
from faas.pool.sandbox import PreparedSandbox, SandboxPlanner
from faas.pool.singleflight import single_flight
from faas.pool.worker import InitFailed, InitFailure, error_type_of
from faas.pool.zygote import close_quietly

log = logging.getLogger(__name__)


class TemplateDied(Exception):
    pass


class TemplateProcess:
    """The platform's side of one template: ask for clones, learn when they exit."""

    def __init__(self, process: LaunchedProcess, reply_timeout_s: float) -> None:
        self.process = process
        self._reply_timeout_s = reply_timeout_s
        self._loop = asyncio.get_running_loop()
        self._decoder = FrameDecoder(self._on_frame)
        self._ready: asyncio.Future[Frame] = self._loop.create_future()
        self._cloned: deque[asyncio.Future[int]] = deque()
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._lock = asyncio.Lock()
        self._dead = False
        self._loop.add_reader(process.sock.fileno(), self._on_readable)
        self._loop.add_reader(process.log_fd, self._discard_logs)
        process.exited.add_done_callback(lambda _: self._on_death())

    @property
    def alive(self) -> bool:
        return not self._dead

    async def wait_ready(self, timeout_s: float) -> Frame:
        """The template's first frame: ready, or init_error with Lambda's error document."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), timeout_s)
        except TimeoutError:
            self.stop()
            raise

    async def clone(self, fds: list[int]) -> tuple[int, asyncio.Future[int]]:
        """Fork one initialised worker; returns its pid and a future of its exit status.

        The template ran user code, so nothing it says is trusted: a reply that does not
        come in time stops it, and the pid it names must be its own child (else a function
        could have the platform move and kill any process on the host)."""
        async with self._lock:  # one request at a time: replies come back in order
            if self._dead:
                raise TemplateDied("the snapshot template is gone")
            reply: asyncio.Future[int] = self._loop.create_future()
            self._cloned.append(reply)
            socket.send_fds(self.process.sock, [b"c"], fds)
            try:
                pid = await asyncio.wait_for(reply, self._reply_timeout_s)
            except TimeoutError:
                self.stop()
                raise TemplateDied("the snapshot template did not answer") from None
        if parent_of(pid) != self.process.pid:
            self.stop()
            raise TemplateDied(f"the snapshot template named pid {pid}, not its own child")
        return pid, self._exits[pid]

    def stop(self) -> None:
        """Retire the template; its clones keep serving until they are stopped."""
        kill_process_group(self.process.pid)
        self._on_death()

    def _on_readable(self) -> None:
        try:
            data = self.process.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._on_death()
            return
        try:
            self._decoder.feed(data)
        except (ProtocolError, KeyError):
            log.warning("snapshot template %s broke the protocol; stopping it", self.process.pid)
            self.stop()

    def _on_frame(self, frame: Frame) -> None:
        kind = frame.meta.get("t")
        if not self._ready.done():
            self._ready.set_result(frame)
        elif kind == "cloned" and self._cloned:
            pid = _int_field(frame, "pid")
            # Registered here, before any later "exited" frame of the same read is handled.
            self._exits.setdefault(pid, self._loop.create_future())
            _settle(self._cloned.popleft(), pid)
        elif kind == "exited":
            # Only clones are reported; exits of init's own children are none of ours.
            future = self._exits.pop(_int_field(frame, "pid"), None)
            if future is not None:
                _settle(future, _int_field(frame, "status"))

    def _discard_logs(self) -> None:
        with contextlib.suppress(OSError):
            if not os.read(self.process.log_fd, 65536):
                self._loop.remove_reader(self.process.log_fd)

    def _on_death(self) -> None:
        if self._dead:
            return
        self._dead = True
        self._loop.remove_reader(self.process.sock.fileno())
        self._loop.remove_reader(self.process.log_fd)
        self.process.sock.close()
        close_quietly(self.process.log_fd)
        died = TemplateDied("the snapshot template exited")
        if not self._ready.done():
            self._ready.set_exception(died)
        while self._cloned:
            reply = self._cloned.popleft()
            if not reply.done():
                reply.set_exception(died)
        # Clones die with their template (PR_SET_PDEATHSIG); nobody reports their status.
        for future in self._exits.values():
            _settle(future, -9)
        self._exits.clear()


def parent_of(pid: int) -> int | None:
    """The parent pid the kernel reports for `pid` (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[1])
    except (OSError, ValueError, IndexError):
        return None


def _int_field(frame: Frame, name: str) -> int:
    value = frame.meta.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < -255:
        raise ProtocolError(f"bad {name} in a template frame")
    return value


def _settle(future: asyncio.Future[Any], value: int) -> None:
    if not future.done():
        future.set_result(value)


class Snapshots:
    """The templates of the functions that use snapshot start, one per version."""

    def __init__(
        self,
        launch_template: Callable[[WorkerSpec, int], Awaitable[LaunchedProcess]],
        sandbox: SandboxPlanner | None,
        release: Callable[[PreparedSandbox | None], None],
        init_timeout_s: float,
    ) -> None:
        self._launch_template = launch_template
        self._sandbox = sandbox
        self._release = release
        self._init_timeout_s = init_timeout_s
        self._templates: dict[str, TemplateProcess] = {}
        self._starting: dict[Hashable, asyncio.Future[TemplateProcess]] = {}
        self._retired_while_starting: set[str] = set()

    async def clone(self, spec: WorkerSpec, launched_ns: int) -> LaunchedProcess:
        template = await self._template(spec, launched_ns)
        prepared = (
            await asyncio.to_thread(self._sandbox.prepare_clone, spec) if self._sandbox else None
        )
        platform_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_read, log_write = os.pipe()
        fds = [worker_end.fileno(), log_write]
        peak_file = prepared.cgroup.peak_file if prepared and prepared.cgroup else None
        if peak_file is not None:  # none: the clone measures its own VmHWM
            fds.append(os.open(peak_file, os.O_RDWR | os.O_CLOEXEC))
        try:
            pid, exited = await template.clone(fds)
        except BaseException as exc:
            platform_end.close()
            close_quietly(log_read)
            self._release(prepared)
            if isinstance(exc, TemplateDied):
                raise _template_failure(str(exc), launched_ns) from exc
            raise
        finally:
            worker_end.close()
            close_quietly(*fds[1:])
        exited.add_done_callback(lambda _: self._release(prepared))
        # In its own cgroup before it runs any request: a process it started earlier could
        # otherwise stay in the template's cgroup, out of reach of this worker's limits.
        await self._adopt(prepared, pid)
        os.set_blocking(log_read, False)
        platform_end.setblocking(False)
        return LaunchedProcess(
            pid,
            platform_end,
            log_read,
            exited,
            log_stream_name(spec.version),
            launched_ns,
            prepared,
        )

    def retire(self, key: str) -> None:
        template = self._templates.pop(key, None)
        if template is not None:
            template.stop()
        if key in self._starting:
            self._retired_while_starting.add(key)

    def stop(self) -> list[asyncio.Future[int]]:
        """Stop every template; their exit futures."""
        exits = [template.process.exited for template in self._templates.values()]
        for template in self._templates.values():
            template.stop()
        self._templates.clear()
        return exits

    async def _template(self, spec: WorkerSpec, launched_ns: int) -> TemplateProcess:
        template = self._templates.get(spec.key)
        if template is not None and template.alive:
            return template

        async def start() -> TemplateProcess:
            started = await self._start_template(spec, launched_ns)
            if spec.key in self._retired_while_starting:
                self._retired_while_starting.discard(spec.key)
                started.stop()
                raise _template_failure("the function changed while it started", launched_ns)
            self._templates[spec.key] = started
            return started

        return await single_flight(self._starting, spec.key, start)

    async def _start_template(self, spec: WorkerSpec, launched_ns: int) -> TemplateProcess:
        template = TemplateProcess(
            await self._launch_template(spec, launched_ns), self._init_timeout_s
        )
        try:
            frame = await template.wait_ready(self._init_timeout_s)
        except (TimeoutError, TemplateDied) as exc:
            template.stop()
            raise _template_failure(str(exc) or "init timed out", launched_ns) from exc
        if frame.meta.get("t") != "ready":
            template.stop()
            raise InitFailed(
                InitFailure(
                    error_type_of(frame.body), frame.body, time.monotonic_ns() - launched_ns, b""
                )
            )
        return template

    async def _adopt(self, prepared: PreparedSandbox | None, pid: int) -> None:
        if prepared is None or self._sandbox is None or prepared.cgroup is None:
            return
        await asyncio.to_thread(self._sandbox.adopt, prepared, pid)


def _template_failure(reason: str, launched_ns: int) -> InitFailed:
    document = orjson.dumps(
        {
            "errorMessage": f"Snapshot template failed: {reason}",
            "errorType": "Runtime.ExitError",
            "requestId": "",
            "stackTrace": [],
        }
    )
    return InitFailed(
        InitFailure("Runtime.ExitError", document, time.monotonic_ns() - launched_ns, b"")
    )
