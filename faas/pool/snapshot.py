"""Snapshot start: a template process per function version runs the function's init once,
then forks each new worker from that state (runtimes/python/bootstrap.py CloneServer).

A clone is a fork of an initialised process: it starts with init's imports and globals and
runs no init of its own, so a function with heavy imports scales out in about the time of a
fork. The template was sandboxed like any worker before init ran, and its clones inherit
that sandbox (uid, namespaces, Landlock, seccomp, and its /tmp). Each clone is moved into
its own memory cgroup right after the fork.

That move waits for the kernel (an RCU grace period per cgroup hierarchy: 5-20 ms on our
VMs, more than the fork), so one clone per template is kept ready, forked and moved ahead
of demand; a new worker takes it and the next one is made in the background. A ready clone
has run nothing but the template's init, like any clone.
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
from dataclasses import dataclass
from typing import Any

import orjson

from faas.domain import WorkerSpec
from faas.pool.environment import log_stream_name
from faas.pool.process import (
    REFILL_DELAY_S,
    LaunchedProcess,
    forget_task,
    kill_process_group,
    track_task,
)
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
        if not self.process.exited.done():  # once reaped, its pid may be someone else's
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


@dataclass(eq=False)
class _Clone:
    """A forked clone, in its cgroup, that has not been handed a request yet."""

    pid: int
    sock: socket.socket
    log_fd: int
    exited: asyncio.Future[int]
    prepared: PreparedSandbox | None

    def launched(
        self, spec: WorkerSpec, launched_ns: int, template: TemplateProcess
    ) -> LaunchedProcess:
        return LaunchedProcess(
            self.pid,
            self.sock,
            self.log_fd,
            self.exited,
            log_stream_name(spec.version),
            launched_ns,
            self.prepared,
            # A clone has its template's environment, and so its credentials.
            template.process.credentials,
        )

    def close(self) -> None:
        """Kill it; its sandbox is released when its exit is reported."""
        if not self.exited.done():  # once reaped, its pid may be someone else's
            kill_process_group(self.pid)
        self.sock.close()
        close_quietly(self.log_fd)


def parent_of(pid: int, proc_dir: int | None = None) -> int | None:
    """The parent pid the kernel reports for `pid` (None if it is gone). With `proc_dir`,
    an open /proc/<pid> that pins the process: a reused pid then reads as gone."""
    try:
        descriptor = os.open(
            "stat" if proc_dir is not None else f"/proc/{pid}/stat",
            os.O_RDONLY | os.O_CLOEXEC,
            dir_fd=proc_dir,
        )
        with open(descriptor, "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[1])
    except (OSError, ValueError, IndexError):
        return None


def send_clear_refs(sock: socket.socket, pid: int, template_pid: int) -> None:
    """Give a new clone its /proc/<pid>/clear_refs, through which it resets its memory
    high-water mark before each invocation: the sandbox it inherits (the function's uid,
    Landlock) lets it open no such file for writing. The clone waits for this byte before it
    reports ready. The file is opened through /proc/<pid> after checking, through the same
    directory, that the process is the template's child, so a pid reused meanwhile never
    gets another process's file; the byte then carries no descriptor (nor when a kernel has
    no such file), and the clone's peak runs from its fork."""
    descriptors: list[int] = []
    with contextlib.suppress(OSError):
        proc_dir = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if parent_of(pid, proc_dir) == template_pid:
                clear_refs = os.open("clear_refs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=proc_dir)
                descriptors.append(clear_refs)
        finally:
            os.close(proc_dir)
    try:
        socket.send_fds(sock, [b"m"], descriptors)
    except OSError:
        pass  # the clone is gone: its exit is reported
    finally:
        close_quietly(*descriptors)


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
        self._ready: dict[str, _Clone] = {}  # version key -> a clone kept ready
        # Templates replaced for stale credentials, kept until their clones are done.
        self._draining: set[TemplateProcess] = set()
        self._refilling: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def clone(self, spec: WorkerSpec, launched_ns: int) -> LaunchedProcess:
        template = await self._template(spec, launched_ns)
        ready = self._ready.pop(spec.key, None)
        self._refill_later(spec, template)
        if ready is not None and not ready.exited.done():
            return ready.launched(spec, launched_ns, template)
        if ready is not None:
            ready.close()
        made = await self._make_clone(template, spec, launched_ns)
        return made.launched(spec, launched_ns, template)

    async def _make_clone(
        self, template: TemplateProcess, spec: WorkerSpec, launched_ns: int
    ) -> _Clone:
        """Fork a clone and move it into its own cgroup (blocking in a thread: kernel time)."""
        prepared = (
            await asyncio.to_thread(self._sandbox.prepare_clone, spec, template.process.sandbox)
            if self._sandbox
            else None
        )
        platform_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_read, log_write = os.pipe()
        try:
            pid, exited = await template.clone([worker_end.fileno(), log_write])
        except BaseException as exc:
            platform_end.close()
            close_quietly(log_read)
            self._release(prepared)
            if isinstance(exc, TemplateDied):
                raise _template_failure(str(exc), launched_ns) from exc
            raise
        finally:
            worker_end.close()
            close_quietly(log_write)
        exited.add_done_callback(lambda _: self._release(prepared))
        clone = _Clone(pid, platform_end, log_read, exited, prepared)
        # In its own cgroup before it runs any request: a process it started earlier could
        # otherwise stay in the template's cgroup, out of reach of this worker's limits.
        try:
            await self._adopt(prepared, pid)
        except BaseException:
            clone.close()
            raise
        send_clear_refs(platform_end, pid, template.process.pid)
        os.set_blocking(log_read, False)
        platform_end.setblocking(False)
        return clone

    def _refill_later(self, spec: WorkerSpec, template: TemplateProcess) -> None:
        key = spec.key
        if self._stopping or key in self._refilling or key in self._ready:
            return
        task = asyncio.get_running_loop().create_task(self._refill(spec, template))
        track_task(self._refilling, key, task)

    async def _refill(self, spec: WorkerSpec, template: TemplateProcess) -> None:
        await asyncio.sleep(REFILL_DELAY_S)  # after the cold start that took the last one
        if not template.alive or self._templates.get(spec.key) is not template:
            return
        try:
            clone = await self._make_clone(template, spec, time.monotonic_ns())
        except Exception as exc:  # the next new worker makes its clone itself
            log.warning("could not make a ready snapshot clone of %s: %s", spec.key, exc)
            return
        if self._stopping or self._templates.get(spec.key) is not template:
            clone.close()  # retired meanwhile
            return
        self._ready[spec.key] = clone
        # Done as of now: a clone() in this very loop turn may take it and ask for the next.
        current = asyncio.current_task()
        if current is not None:
            forget_task(self._refilling, spec.key, current)

    def ready_clone(self, key: str) -> int | None:
        """The pid of the clone kept ready for this version, if one is."""
        ready = self._ready.get(key)
        return None if ready is None or ready.exited.done() else ready.pid

    def _replace_stale(self, key: str, template: TemplateProcess) -> None:
        """A template whose credentials are due for renewal makes no more clones; a new one
        (fresh credentials, init run again) takes its place. Its clones die with it, so it
        lives on until its credentials expire: by then the pool has stopped giving its clones
        invocations for at least a function timeout, so none is left mid-invocation."""
        self._templates.pop(key, None)
        ready = self._ready.pop(key, None)
        if ready is not None:
            ready.close()
        credentials = template.process.credentials
        delay_s = 0.0 if credentials is None else max(credentials.expires_at - time.time(), 0.0)
        self._draining.add(template)

        def stop_drained() -> None:
            self._draining.discard(template)
            template.stop()

        asyncio.get_running_loop().call_later(delay_s, stop_drained)

    def retire(self, key: str) -> None:
        template = self._templates.pop(key, None)
        if template is not None:
            template.stop()
        if key in self._starting:
            self._retired_while_starting.add(key)
        ready = self._ready.pop(key, None)
        if ready is not None:
            ready.close()

    def stop(self) -> list[asyncio.Future[int]]:
        """Stop every template and ready clone; their exit futures."""
        self._stopping = True
        for task in self._refilling.values():
            task.cancel()
        templates = [*self._templates.values(), *self._draining]
        exits = [template.process.exited for template in templates]
        exits += [clone.exited for clone in self._ready.values()]
        for template in templates:
            template.stop()
        self._draining.clear()
        for clone in self._ready.values():
            clone.close()
        self._templates.clear()
        self._ready.clear()
        return exits

    async def _template(self, spec: WorkerSpec, launched_ns: int) -> TemplateProcess:
        template = self._templates.get(spec.key)
        if template is not None and template.alive and not _credentials_stale(template):
            return template
        if template is not None and template.alive:
            self._replace_stale(spec.key, template)

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


def _credentials_stale(template: TemplateProcess) -> bool:
    credentials = template.process.credentials
    return credentials is not None and time.time() >= credentials.renew_after


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
