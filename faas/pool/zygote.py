"""The platform's side of a zygote (runtimes/python/zygote.py): start it, ask it to fork
workers, learn when they exit, and restart it when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from faas.errors import ServiceUnavailable

log = logging.getLogger(__name__)

MAX_MESSAGE = 256 * 1024
START_TIMEOUT_S = 30.0
# The zygote's own environment: nothing of the platform's (workers get theirs per spawn).
ZYGOTE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class ZygoteDied(Exception):
    pass


class Zygote:
    """One running zygote process for one interpreter."""

    def __init__(self, interpreter: str, runtime_dir: Path) -> None:
        self._interpreter = interpreter
        self._script = str(runtime_dir / "zygote.py")
        self._control: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._spawns: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def alive(self) -> bool:
        return self._control is not None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        platform_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                [self._interpreter, "-I", "-S", "-B", self._script, str(zygote_end.fileno())],
                env=ZYGOTE_ENV,
                cwd="/",
                stdin=subprocess.DEVNULL,
                pass_fds=(zygote_end.fileno(),),
                start_new_session=True,
                # The platform's own umask (077) is not the functions': files a function makes
                # get the usual 022, and directories the sandbox creates stay enterable.
                umask=0o022,
            )
        finally:
            zygote_end.close()
        platform_end.setblocking(False)
        self._control = platform_end
        self._ready = self._loop.create_future()
        self._loop.add_reader(platform_end.fileno(), self._on_readable)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT_S)
        except (TimeoutError, ZygoteDied) as exc:
            self.stop()
            raise ServiceUnavailable(f"the {self._interpreter} zygote did not start") from exc

    async def spawn(
        self,
        env: Mapping[str, str],
        cwd: str,
        sandbox: Mapping[str, Any],
        fds: list[int],
        *,
        spare: bool = False,
        template: bool = False,
        custom: Mapping[str, Any] | None = None,
    ) -> tuple[int, asyncio.Future[int]]:
        """Fork a worker (or a spare); returns its pid and a future of its exit status.
        `custom`: the worker supervises a custom runtime's bootstrap (faas.runtimes)."""
        if self._control is None or self._loop is None:
            raise ZygoteDied("zygote is not running")
        self._next_id += 1
        request_id = self._next_id
        reply = self._loop.create_future()
        self._spawns[request_id] = reply
        message = orjson.dumps(
            {
                "t": "spawn",
                "id": request_id,
                "env": dict(env),
                "cwd": cwd,
                "sandbox": sandbox,
                "spare": spare,
                "template": template,
                **({"custom": dict(custom)} if custom is not None else {}),
            }
        )
        try:
            socket.send_fds(self._control, [message], fds)
            pid = await reply
        finally:
            self._spawns.pop(request_id, None)
        exited = self._exits.setdefault(pid, self._loop.create_future())
        return pid, exited

    def stop(self) -> None:
        """Stop the zygote (its idle workers die with it through PR_SET_PDEATHSIG)."""
        self._on_death()
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(2)

    def _on_readable(self) -> None:
        assert self._control is not None
        while True:
            try:
                data = self._control.recv(MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                log.warning("zygote %s exited; it is restarted on the next cold start", self.pid)
                self._on_death()
                return
            self._dispatch(orjson.loads(data))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(None)
        elif kind == "spawned":
            _resolve(self._spawns.get(message["id"]), result=int(message["pid"]))
        elif kind == "spawn_failed":
            _resolve(self._spawns.get(message["id"]), error=OSError(message.get("error")))
        elif kind == "exited":
            self._record_exit(int(message["pid"]), int(message["status"]))

    def _record_exit(self, pid: int, status: int) -> None:
        assert self._loop is not None
        future = self._exits.pop(pid, None)
        if future is None:
            # Exit reported before the spawn reply was processed: keep it for spawn().
            future = self._loop.create_future()
            self._exits[pid] = future
        _resolve(future, result=status)

    def _on_death(self) -> None:
        if self._control is not None and self._loop is not None:
            self._loop.remove_reader(self._control.fileno())
            self._control.close()
        self._control = None
        died = ZygoteDied("zygote exited")
        if self._ready is not None:
            _resolve(self._ready, error=died)
        for future in self._spawns.values():
            _resolve(future, error=died)
        # Its workers were killed with it (PR_SET_PDEATHSIG); nobody can report their status.
        for future in self._exits.values():
            _resolve(future, result=-9)
        self._exits.clear()
        if self._process is not None:
            # It closed its socket because it is exiting: reap it (rare; a short wait).
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(1)


def _resolve(
    future: asyncio.Future[Any] | None, *, result: Any = None, error: Exception | None = None
) -> None:
    if future is None or future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def close_quietly(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
