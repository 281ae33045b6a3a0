"""The zygote: a pre-imported, single-threaded process that forks workers on request.

Started clean by the platform (`python -I -S -B zygote.py <control fd>`, minimal environment),
never forked from the gateway, so it holds no platform secrets, sockets or threads. It imports
the runtime once; each worker is then a fork (about a millisecond) instead of a new interpreter
(10-15 ms, more with imports). Standard library only; never imports `faas`.

Control messages are JSON datagrams on a SOCK_SEQPACKET socket:
  platform -> zygote: {"t": "spawn", "id", "env", "cwd", "sandbox"} + 2 fds (worker socket,
                      log pipe write end); or {"t": "spawn", "id", "spare": true, "sandbox"}:
                      a spare joins its cgroup at once, then waits on the worker socket for a
                      frame {"env", "cwd", "sandbox"} that makes it a worker. Either may carry
                      "custom": {"command", "port"}: the worker then supervises a custom
                      runtime's bootstrap (supervisor.py) instead of importing a handler
  zygote -> platform: {"t": "ready"} once; {"t": "spawned", "id", "pid"} or
                      {"t": "spawn_failed", "id", "error"}; {"t": "exited", "pid", "status"}
                      (status: exit code, or minus the signal number)
"""

from __future__ import annotations

import array
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
MAX_MESSAGE = 256 * 1024


def load_private(name: str) -> ModuleType:
    """Import a sibling file under a private name, without putting this dir on sys.path
    (a function must not be able to import the runtime's modules by accident)."""
    spec = importlib.util.spec_from_file_location(f"_faas_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bootstrap = load_private("bootstrap")
sandbox = load_private("sandbox")
# Custom runtimes (faas.runtimes): the worker supervises a bootstrap behind the Runtime API.
runtime_api = load_private("runtime_api")
supervisor = load_private("supervisor")


def receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    fds = array.array("i")
    data, ancillary, _flags, _addr = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(8))
    if not data:
        return None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return json.loads(data), list(fds)


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.send(json.dumps(message).encode())


class Zygote:
    def __init__(self, control: socket.socket) -> None:
        self._control = control
        self._server = bootstrap.ForkServer(control, self._report_exit)

    def serve(self) -> int:
        send(self._control, {"t": "ready"})
        return int(self._server.run(self._handle_request))

    def _report_exit(self, pid: int, code: int) -> None:
        send(self._control, {"t": "exited", "pid": pid, "status": code})

    def _handle_request(self) -> bool:
        try:
            received = receive(self._control)
        except InterruptedError:
            return True
        if received is None:
            return False  # the platform hung up: stop (our workers die with us)
        request, fds = received
        if request.get("t") != "spawn" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return True
        try:
            pid = self._fork_worker(request, fds)
        except OSError as exc:
            send(self._control, {"t": "spawn_failed", "id": request["id"], "error": str(exc)})
        else:
            send(self._control, {"t": "spawned", "id": request["id"], "pid": pid})
        return True

    def _fork_worker(self, request: dict[str, Any], fds: list[int]) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = self._become_worker(request, fds[0], fds[1])
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
            os._exit(code)
        for fd in fds:
            os.close(fd)
        return pid

    def _become_worker(self, request: dict[str, Any], worker_fd: int, log_fd: int) -> int:
        zygote_pid = os.getppid()
        os.setsid()  # own process group: the platform kills a worker with its children
        self._server.in_child()
        redirect_stdio(log_fd)
        close_other_fds(keep=worker_fd)
        bootstrap.die_with_parent()
        if os.getppid() != zygote_pid:
            return 1  # the zygote died before we could ask to follow it
        sock = socket.socket(fileno=worker_fd)
        opened: dict[str, int] = {}
        if request.get("spare"):
            # A spare: join the cgroup now (the slow part) and do what does not depend on the
            # function, then wait to be given one.
            opened = sandbox.apply(request.get("sandbox") or {})
            rehearse()
            assignment = bootstrap.FrameChannel(sock).receive()
            if assignment is None:
                return 0  # retired before it was used
            request = assignment[0]
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        os.chdir(request["cwd"])
        try:
            opened = sandbox.apply(request.get("sandbox") or {}, opened)
        except sandbox.SandboxError as exc:
            report_sandbox_failure(sock, exc)
            raise
        gc.enable()
        if request.get("custom") is not None:
            return supervise(sock, opened.get("clear_refs_fd"), request["custom"])
        return int(bootstrap.run(sock, opened.get("clear_refs_fd"), bool(request.get("template"))))


def supervise(sock: socket.socket, clear_refs_fd: int | None, custom: dict[str, Any]) -> int:
    """Become a custom runtime's supervisor (supervisor.py), wired to the runtime's frame
    channel and memory meter."""
    channel = bootstrap.FrameChannel(sock)
    memory = bootstrap.MemoryMeter(clear_refs_fd)
    return int(supervisor.Supervisor(channel, memory, runtime_api, sock, custom).run())


def report_sandbox_failure(sock: socket.socket, exc: Exception) -> None:
    """Tell the platform why the sandbox failed (a mount source that is missing, say), so the
    invocation's error says so instead of only the exit status. No user code has run yet:
    the platform may trust this frame as much as the plan it sent."""
    message = f"Runtime exited with error: the sandbox could not be applied: {exc}"
    document = bootstrap.error_document("Runtime.ExitError", message, "", [])
    with contextlib.suppress(OSError):
        bootstrap.FrameChannel(sock).send({"t": "init_error"}, document)


# The shape of a worker's environment (values do not matter): see rehearse().
_REHEARSAL_ENV = {
    name: "-"
    for name in (
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_LOG_FORMAT",
        "AWS_LAMBDA_LOG_LEVEL",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "_HANDLER",
        "TZ",
        "LANG",
        "PATH",
    )
}
_REHEARSAL_FRAME = {"env": _REHEARSAL_ENV, "cwd": "/", "sandbox": {"rlimits": {}}}


def rehearse() -> None:
    """Walk the Python paths of becoming a worker once, without their effects, while the
    spare waits for a function.

    Each page of the zygote's heap that a child writes (a reference count is enough) is
    copied on the first write, at a few microseconds per page on our VMs. Going through the
    environment, JSON and import machinery here copies most of those pages before the cold
    start instead of during it (measured: 227 page faults after the assignment arrives down
    to about 120). They would be copied at the assignment anyway, so a worker's unique
    memory does not grow."""
    os.environ.clear()
    os.environ.update(_REHEARSAL_ENV)
    os.environ["TZ"] = ":UTC"
    time.tzset()
    json.loads(json.dumps(_REHEARSAL_FRAME))
    os.environ.clear()
    with contextlib.suppress(ImportError):
        importlib.import_module("_faas_rehearsal_not_a_module")


def redirect_stdio(log_fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    os.close(log_fd)


def close_other_fds(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)


def main(argv: list[str]) -> int:
    bootstrap.die_with_parent()
    control = socket.socket(fileno=int(argv[1]))
    control.setblocking(True)
    # Shared pages stay shared: objects made so far are never touched by the collector in the
    # children (copy-on-write would otherwise copy every page it visits).
    gc.disable()
    gc.freeze()
    return Zygote(control).serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
