"""How a worker process comes to exist.

`Launcher` is the seam: the pool asks for a process running the runtime bootstrap for a
spec and gets back its pid, the platform end of its socket, its log pipe and a future of its
exit status. `ZygoteLauncher` forks workers from a pre-imported zygote per runtime.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from faas.domain import WorkerCredentials, WorkerSpec
from faas.errors import InvalidParameterValue
from faas.pool.credentials import CredentialIssuer
from faas.pool.environment import log_stream_name, worker_environment
from faas.pool.process import (
    REFILL_DELAY_S,
    LaunchedProcess,
    forget_task,
    kill_process_group,
    track_task,
)
from faas.pool.protocol import encode_frame
from faas.pool.sandbox import (
    NODE_SDK_TARGET,
    RUNTIME_ROOT,
    PreparedSandbox,
    SandboxPlanner,
    own_network_namespace,
)
from faas.pool.singleflight import single_flight
from faas.pool.snapshot import Snapshots
from faas.pool.zygote import Zygote, close_quietly
from faas.runtimes import custom_runtime

log = logging.getLogger(__name__)

# Where a custom runtime's Runtime API listens when its worker has a network namespace of its
# own (as on Lambda: AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001). On the host's network each
# worker's supervisor takes a free loopback port instead (0: the kernel picks one).
RUNTIME_API_PORT = 9001


def runtime_dir() -> Path:
    """Where the in-sandbox runtimes live: bundled in the wheel, or the source checkout."""
    package_dir = Path(__file__).resolve().parent.parent
    bundled = package_dir / "_runtimes"
    return bundled if bundled.is_dir() else package_dir.parent / "runtimes"


class Launcher(Protocol):
    async def launch(self, spec: WorkerSpec) -> LaunchedProcess:
        """Start a worker for `spec`; it will send a ready or init_error frame."""

    def retire(self, key: str) -> None:
        """A function version is gone: drop what the launcher keeps for it."""

    def stop(self) -> None:
        """Release the launcher's own processes."""

    async def drain(self) -> None:
        """Wait for per-worker resources still being released."""


@dataclass(eq=False)
class _Process:
    """A forked process with its socket and log pipe, not yet handed out."""

    pid: int
    exited: asyncio.Future[int]
    sock: socket.socket
    log_fd: int
    prepared: PreparedSandbox | None


# Plan keys a spare carried out when it was forked; its assignment must not repeat them.
_SPARE_KEYS = ("cgroup_procs", "landlock_base")


class ZygoteLauncher:
    """Workers are forked from one pre-imported zygote per runtime (started lazily, and
    restarted when it dies), so a cold start costs a fork instead of a new interpreter.

    With `spares`, that many processes per runtime are forked ahead of demand and have already
    joined their cgroup (the one step that costs ~10 ms of kernel time); a cold start then
    only hands one its function: namespaces, mounts, uid, Landlock, seccomp, import.
    """

    def __init__(
        self,
        interpreters: Mapping[str, str],
        sandbox: SandboxPlanner | None = None,
        *,
        spares: int = 0,
        init_timeout_s: float = 10.0,
        credentials: CredentialIssuer | None = None,
    ) -> None:
        self._interpreters = dict(interpreters)
        self._credentials = credentials
        self._runtime_dir = runtime_dir() / "python"
        self._zygotes: dict[str, Zygote] = {}
        self._starting: dict[Hashable, asyncio.Future[Zygote]] = {}
        self._sandbox = sandbox
        self._releasing: set[asyncio.Future[None]] = set()
        self._spare_target = spares
        self._spares: dict[str, list[_Process]] = {}
        self._refilling: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._snapshots = Snapshots(
            lambda spec, launched_ns: self.launch_process(spec, launched_ns, template=True),
            sandbox,
            self._release_sandbox,
            init_timeout_s,
        )

    def zygote_pid(self, runtime: str) -> int | None:
        zygote = self._zygotes.get(self._interpreters.get(runtime, ""))
        return zygote.pid if zygote is not None and zygote.alive else None

    async def prestart(self, runtime: str) -> None:
        interpreter = self._interpreter(runtime)
        await self._zygote(interpreter)
        self._refill_later(interpreter)

    async def launch(self, spec: WorkerSpec) -> LaunchedProcess:
        launched_ns = time.monotonic_ns()
        # A custom runtime's init is its own process's: no snapshot of it (as on Lambda,
        # where SnapStart is for managed runtimes only); its workers start as usual.
        if spec.snap_start and custom_runtime(spec.runtime) is None:
            return await self._snapshots.clone(spec, launched_ns)
        return await self.launch_process(spec, launched_ns)

    def ready_snapshot_clone(self, key: str) -> int | None:
        """The pid of the snapshot clone kept ready for this version, if one is."""
        return self._snapshots.ready_clone(key)

    def retire(self, key: str) -> None:
        """A version is gone: its snapshot template (if any) goes too."""
        self._snapshots.retire(key)

    async def launch_process(
        self, spec: WorkerSpec, launched_ns: int, *, template: bool = False
    ) -> LaunchedProcess:
        """A new worker process (a snapshot template when `template`: it runs init, then
        forks clones instead of serving)."""
        interpreter = self._interpreter(spec.runtime)
        spares = self._spares.get(interpreter)
        spare = spares.pop() if spares else None
        self._refill_later(interpreter)
        if spare is not None and spare.exited.done():
            spare.sock.close()  # died between its exit and the callback that drops it
            close_quietly(spare.log_fd)
            spare = None
        if spare is not None:
            return await self._assign(spare, spec, launched_ns, template)
        return await self._fork_worker(spec, launched_ns, template)

    async def _fork_worker(
        self, spec: WorkerSpec, launched_ns: int, template: bool
    ) -> LaunchedProcess:
        stream = log_stream_name(spec.version)
        env = worker_environment(spec, str(self._runtime_dir), stream)
        # First: whether the worker gets credentials decides whether it may reach the API.
        credentials = self._issue_credentials(spec, env)
        prepared = await self._prepare_sandbox(spec, api_access=credentials is not None)
        env.update(prepared.env if prepared else {})
        custom = self._custom_part(spec, prepared, env)
        self._sdk_part(spec, prepared, env)
        plan = prepared.plan if prepared else {}
        process = await self._fork(
            self._interpreter(spec.runtime),
            prepared,
            env=env,
            cwd=spec.code_dir,
            plan=plan,
            template=template,
            custom=custom,
        )
        return LaunchedProcess(
            process.pid,
            process.sock,
            process.log_fd,
            process.exited,
            stream,
            launched_ns,
            prepared,
            credentials,
        )

    def _issue_credentials(self, spec: WorkerSpec, env: dict[str, str]) -> WorkerCredentials | None:
        """The function's execution credentials, added to `env` (none without a role)."""
        if self._credentials is None:
            return None
        credentials = self._credentials.credentials_for(spec)
        if credentials is not None:
            env.update(credentials.env)
        return credentials

    async def _assign(
        self, spare: _Process, spec: WorkerSpec, launched_ns: int, template: bool
    ) -> LaunchedProcess:
        prepared = spare.prepared
        stream = log_stream_name(spec.version)
        try:
            env = worker_environment(spec, str(self._runtime_dir), stream)
            credentials = self._issue_credentials(spec, env)
            api = credentials is not None
            if prepared is not None and self._sandbox is not None:
                if self._sandbox.completes_quickly(spec, api_access=api):
                    self._sandbox.complete(prepared, spec, api_access=api)
                else:
                    await asyncio.to_thread(
                        functools.partial(self._sandbox.complete, prepared, spec, api_access=api)
                    )
            env.update(prepared.env if prepared else {})
            custom = self._custom_part(spec, prepared, env)
            self._sdk_part(spec, prepared, env)
            plan = {
                k: v for k, v in (prepared.plan if prepared else {}).items() if k not in _SPARE_KEYS
            }
            assignment = {"env": env, "cwd": spec.code_dir, "sandbox": plan, "template": template}
            if custom is not None:
                assignment["custom"] = custom
            await asyncio.get_running_loop().sock_sendall(spare.sock, encode_frame(assignment))
        except BaseException:
            kill_process_group(spare.pid)
            spare.sock.close()
            close_quietly(spare.log_fd)
            raise
        return LaunchedProcess(
            spare.pid,
            spare.sock,
            spare.log_fd,
            spare.exited,
            stream,
            launched_ns,
            prepared,
            credentials,
        )

    def _custom_part(
        self, spec: WorkerSpec, prepared: PreparedSandbox | None, env: dict[str, str]
    ) -> dict[str, Any] | None:
        """For a custom runtime (faas.runtimes): what its worker's supervisor starts and where
        it serves the Runtime API; the worker's plan and environment are completed for it.
        None for faas's Python runtime."""
        custom = custom_runtime(spec.runtime)
        if custom is None:
            return None
        files = str(self._runtime_dir.parent)
        if custom.command and prepared is not None and self._sandbox is not None:
            files = self._sandbox.expose_runtime_files(prepared, files)
        env["LAMBDA_RUNTIME_DIR"] = files
        for name, value in custom.environ(files).items():
            if name not in spec.environment:  # the function's own value stands
                env[name] = value
        own_network = prepared is not None and own_network_namespace(prepared.plan)
        if own_network and prepared is not None:
            prepared.plan["loopback"] = True  # a new namespace's loopback starts down
        return {
            "command": custom.argv(files),
            "port": RUNTIME_API_PORT if own_network else 0,
        }

    def _sdk_part(
        self, spec: WorkerSpec, prepared: PreparedSandbox | None, env: dict[str, str]
    ) -> None:
        """The AWS SDK the runtime includes on Lambda (faas.pool.sdk), where it is installed:
        boto3 at LAMBDA_RUNTIME_DIR (/var/runtime) for faas's Python runtime, the JavaScript
        clients at /var/runtime/node_modules (on NODE_PATH) for Node.js."""
        if self._sandbox is None or prepared is None:
            return  # unsandboxed workers (tests): the interpreter's own packages
        sdks = self._sandbox.sdks
        custom = custom_runtime(spec.runtime)
        if custom is None and sdks.python is not None:
            seen = self._sandbox.expose_sdk(prepared, str(sdks.python.path), RUNTIME_ROOT)
            env["LAMBDA_RUNTIME_DIR"] = seen
        elif (
            custom is not None
            and custom.name.startswith("nodejs")
            and sdks.nodejs is not None
            and "runtime_files" in prepared.plan
        ):
            # Only where faas's runtime files are bound at /var/runtime: their node_modules
            # directory is the mount point.
            self._sandbox.expose_sdk(prepared, str(sdks.nodejs.path), NODE_SDK_TARGET)

    async def _fork(
        self,
        interpreter: str,
        prepared: PreparedSandbox | None,
        *,
        env: Mapping[str, str],
        cwd: str,
        plan: Mapping[str, Any],
        spare: bool = False,
        template: bool = False,
        custom: Mapping[str, Any] | None = None,
    ) -> _Process:
        zygote = await self._zygote(interpreter)
        platform_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_read, log_write = os.pipe()
        try:
            pid, exited = await zygote.spawn(
                env,
                cwd,
                plan,
                [worker_end.fileno(), log_write],
                spare=spare,
                template=template,
                custom=custom,
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
        return _Process(pid, exited, platform_end, log_read, prepared)

    def _retire_extras(self) -> list[asyncio.Future[int]]:
        """Kill the spares and snapshot templates; their exit futures."""
        self._stopping = True
        for task in self._refilling.values():
            task.cancel()
        dying = self._snapshots.stop()
        for spares in self._spares.values():
            for spare in spares:
                kill_process_group(spare.pid)
                spare.sock.close()
                close_quietly(spare.log_fd)
                dying.append(spare.exited)
        self._spares.clear()
        return dying

    def _refill_later(self, interpreter: str) -> None:
        if self._spare_target <= 0 or self._stopping or interpreter in self._refilling:
            return
        task = asyncio.get_running_loop().create_task(self._refill(interpreter))
        track_task(self._refilling, interpreter, task)

    async def _refill(self, interpreter: str) -> None:
        """Spares are per zygote: any runtime it hosts (Python, or a custom runtime's
        supervisor) takes one."""
        await asyncio.sleep(REFILL_DELAY_S)  # after the cold start that took a spare
        spares = self._spares.setdefault(interpreter, [])
        while len(spares) < self._spare_target and not self._stopping:
            try:
                prepared = (
                    await asyncio.to_thread(self._sandbox.prepare_spare) if self._sandbox else None
                )
                spare = await self._fork(
                    interpreter,
                    prepared,
                    env={},
                    cwd="/",
                    plan=prepared.plan if prepared else {},
                    spare=True,
                )
            except Exception:
                log.exception("could not fork a spare worker for %s", interpreter)
                return
            spares.append(spare)
            spare.exited.add_done_callback(
                functools.partial(self._drop_dead_spare, interpreter, spare)
            )
        # Done as of now: a launch in this very loop turn may take a spare and ask for more.
        current = asyncio.current_task()
        if current is not None:
            forget_task(self._refilling, interpreter, current)

    def _drop_dead_spare(self, interpreter: str, spare: _Process, _: object = None) -> None:
        """A spare that died before it was handed out (say, with its zygote)."""
        spares = self._spares.get(interpreter, [])
        if spare in spares:
            spares.remove(spare)
            spare.sock.close()
            close_quietly(spare.log_fd)

    async def _prepare_sandbox(
        self, spec: WorkerSpec, *, api_access: bool
    ) -> PreparedSandbox | None:
        if self._sandbox is None:
            return None
        return await asyncio.to_thread(
            functools.partial(self._sandbox.prepare, spec, api_access=api_access)
        )

    def _release_sandbox(self, prepared: PreparedSandbox | None) -> None:
        if self._sandbox is None or prepared is None:
            return
        if prepared.cgroup is not None:
            # The worker reads why it died after this; its cgroup is gone by then.
            prepared.oom_killed = prepared.cgroup.oom_killed()
        # Wiping /tmp and removing cgroups touches the disk: off the event loop.
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(None, self._sandbox.release, prepared)
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def stop(self) -> None:
        """Stop everything this launcher runs (drain() first lets the zygotes reap)."""
        self._retire_extras()
        for zygote in self._zygotes.values():
            zygote.stop()
        self._zygotes.clear()

    async def drain(self) -> None:
        """Shutdown: stop spares and templates while their zygote still reaps them, then
        wait for every sandbox release in flight."""
        dying = self._retire_extras()
        if dying:
            await asyncio.wait(dying, timeout=2.0)
        # Exit callbacks schedule releases on the next loop turns: let them run first.
        for _ in range(3):
            await asyncio.sleep(0)
        while self._releasing:
            await asyncio.gather(*list(self._releasing), return_exceptions=True)
            await asyncio.sleep(0)

    def _interpreter(self, runtime: str) -> str:
        """The interpreter whose zygote forks this runtime's workers."""
        interpreter = self._interpreters.get(runtime)
        if interpreter is None:
            raise InvalidParameterValue(f"Runtime {runtime} is not available on this host")
        return interpreter

    async def _zygote(self, interpreter: str) -> Zygote:
        """One zygote per interpreter: the custom runtimes share the serving one's."""
        zygote = self._zygotes.get(interpreter)
        if zygote is not None and zygote.alive:
            return zygote

        async def start() -> Zygote:
            started = Zygote(interpreter, self._runtime_dir)
            await started.start()
            self._zygotes[interpreter] = started
            return started

        return await single_flight(self._starting, interpreter, start)
