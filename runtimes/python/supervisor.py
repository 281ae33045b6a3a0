"""A custom runtime's worker: the supervisor of its bootstrap. Runs INSIDE the sandbox.

Standard library only; never imports `faas`. The zygote forks this worker and applies the
sandbox exactly as it does for a Python worker (cgroup, namespaces, /tmp, code at /var/task,
uid, Landlock, seccomp); then, instead of importing a handler, the worker:

1. finds the bootstrap: the runtime's command (faas.runtimes), else the function's own
   executable `$LAMBDA_TASK_ROOT/bootstrap`, else a layer's `/opt/bootstrap`;
2. listens for the Runtime API (runtime_api.py) on 127.0.0.1: port 9001 when the worker has
   a network namespace of its own (as on Lambda, so FaasNetwork=none works too), else a
   free port;
3. starts the bootstrap as its child, with AWS_LAMBDA_RUNTIME_API set: it inherits every
   layer of the sandbox (same uid, namespaces, cgroup, Landlock domain, seccomp filter, no
   new privileges), its stdout and stderr are the worker's log pipe, and it stays in the
   worker's process group, so the platform's kill (timeout, shutdown) takes it and its
   children;
4. relays, over the platform's frame protocol (bootstrap.py): the first /next is "ready";
   each invocation frame goes to /next; /response and /error go back as the invocation's
   result with the memory peak; /init/error is "init_error";
5. ends as its bootstrap ended (same exit status or signal), so the platform reports
   Runtime.ExitError, or Runtime.OutOfMemory after an OOM kill, as for a Python worker and
   replaces it. After an init error it waits for the platform instead, which stops it.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from typing import Any

LAYER_BOOTSTRAP = "/opt/bootstrap"
INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint"
LISTEN_BACKLOG = 16
# After /init/error, how long the runtime's exit is waited for before the platform hears of
# it: the runtime's last words (Lambda's clients log, then exit) belong in the init's log.
INIT_ERROR_GRACE_S = 1.0


def bootstrap_candidates(task_root: str) -> list[str]:
    """Where Lambda looks for an OS-only runtime's bootstrap, in order."""
    return [os.path.join(task_root, "bootstrap"), LAYER_BOOTSTRAP]


def find_bootstrap(candidates: list[str]) -> str | None:
    for path in candidates:
        if os.path.isfile(path):
            return path
    return None


def exit_code_like(status: int) -> int:
    """End this process the way a child with this wait status ended: by the same signal
    (the platform then reports "signal: killed"), else with its exit code."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        return 128 - code  # a signal whose default is not to end a process
    return code


class Supervisor:
    """Serves one bootstrap the Runtime API and relays its invocations to the platform.

    `channel` is the platform's frame channel (receive() -> (meta, body) | None, send()),
    `memory` the runtime's MemoryMeter (reset(), peak()), `api` the runtime_api module:
    passed in, so tests and the zygote wire them and this file imports nothing private."""

    def __init__(
        self, channel: Any, memory: Any, api: Any, sock: socket.socket, config: dict[str, Any]
    ) -> None:
        self._channel = channel
        self._memory = memory
        self._api_module = api
        self._sock = sock
        self._command = [str(part) for part in config.get("command") or []]
        self._port = int(config.get("port") or 0)
        self._selector = selectors.DefaultSelector()
        self._api: Any = None
        self._child: subprocess.Popen[bytes] | None = None
        self._init_failed = False
        self._init_error: tuple[dict[str, Any], bytes] | None = None  # held for the exit
        self._init_error_deadline = 0.0
        self._exit: int | None = None
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    def run(self) -> int:
        command = self._command or self._function_bootstrap()
        if command is None:
            return 1
        self._api = self._api_module.RuntimeApi(self._listen(), self._selector, self)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self._wake_write)
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=self._api.address)
        try:
            self._child = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self._api.close()
            reason = (exc.strerror or str(exc)).lower()
            return self._fail_init(f"fork/exec {command[0]}: {reason}")
        self._selector.register(self._sock, selectors.EVENT_READ, self._on_platform)
        self._selector.register(self._wake_read, selectors.EVENT_READ, self._on_child)
        while self._exit is None:
            for key, mask in self._selector.select(self._wait_s()):
                key.data(mask)
                if self._exit is not None:
                    break
            if self._init_error is not None and time.monotonic() >= self._init_error_deadline:
                self._report_init_error()
        return self._exit

    # -- the Runtime API's events (runtime_api.Events) --------------------------------------

    def on_ready(self) -> None:
        self._channel.send({"t": "ready"}, b"")

    def on_outcome(self, outcome: Any) -> None:
        if outcome.kind == "init_error":
            self._init_failed = True
            self._init_error = ({"t": "init_error", "error_type": outcome.error_type}, outcome.body)
            self._init_error_deadline = time.monotonic() + INIT_ERROR_GRACE_S
            return
        meta: dict[str, Any] = {"t": outcome.kind, "mem": self._memory.peak()}
        if outcome.error_type is not None:
            meta["error_type"] = outcome.error_type
        self._channel.send(meta, outcome.body)

    # -- steps ------------------------------------------------------------------------------

    def _wait_s(self) -> float | None:
        if self._init_error is None:
            return None
        return max(0.0, self._init_error_deadline - time.monotonic())

    def _report_init_error(self) -> None:
        if self._init_error is not None:
            meta, body = self._init_error
            self._init_error = None
            self._channel.send(meta, body)

    def _function_bootstrap(self) -> list[str] | None:
        candidates = bootstrap_candidates(os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
        found = find_bootstrap(candidates)
        if found is not None:
            return [found]
        self._fail_init(f"Couldn't find valid bootstrap(s): [{' '.join(candidates)}]")
        return None

    def _listen(self) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._port))
        listener.listen(LISTEN_BACKLOG)
        return listener

    def _fail_init(self, message: str) -> int:
        """Lambda's Runtime.InvalidEntrypoint: said in the log and to the platform, which then
        stops this worker (waited for here)."""
        sys.stderr.write(f"Error: {message}\n{INVALID_ENTRYPOINT}\n")
        sys.stderr.flush()
        document = self._api_module.error_document(INVALID_ENTRYPOINT, f"Error: {message}", "")
        self._channel.send({"t": "init_error", "error_type": INVALID_ENTRYPOINT}, document)
        while self._channel.receive() is not None:
            pass
        return 1

    def _on_platform(self, _mask: int) -> None:
        frame = self._channel.receive()
        if frame is None:
            self._stop(0)  # the platform let this worker go
            return
        meta, event = frame
        self._memory.reset()
        self._api.offer(
            self._api_module.Invocation(
                request_id=str(meta["id"]),
                deadline_ms=int(meta["deadline_ms"]),
                function_arn=str(meta["arn"]),
                event=event,
                client_context=meta.get("cc"),
            )
        )

    def _on_child(self, _mask: int) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 512):
                pass
        if self._child is None:
            return
        try:
            pid, status = os.waitpid(self._child.pid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return  # another child of ours (none is expected) or a spurious wake-up
        self._child = None
        if self._init_failed:
            # The runtime said why its init failed, then exited (as Lambda's clients do):
            # the platform hears the reason now, and stops this worker.
            self._report_init_error()
            return
        self._stop(exit_code_like(status))

    def _stop(self, code: int) -> None:
        if self._api is not None:
            self._api.close()  # a /next still waiting ends with its connection
        if self._child is not None:
            with contextlib.suppress(OSError):
                self._child.kill()
        self._exit = code
