"""One worker process hosting one function version, as the platform sees it.

The worker runs init once, then one invocation at a time. This object sends the invocation,
enforces the deadline (the platform kills the worker's process group; the function cannot
stop that), collects its stdout/stderr per invocation (capped), notices when the process
dies, and freezes and thaws it through its cgroup while it is idle (faas.pool.freezer).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from faas.domain import MB, WorkerResult, WorkerSpec
from faas.pool.process import LaunchedProcess, kill_process_group
from faas.pool.protocol import Frame, FrameDecoder, FrameTooLarge, ProtocolError, encode_invoke
from faas.pool.sandbox import PreparedSandbox
from faas.runtimes import custom_runtime

LOG_READ_CHUNK = 65536
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
TIMEOUT_ERROR = "Sandbox.Timedout"
EXIT_ERROR = "Runtime.ExitError"
OOM_ERROR = "Runtime.OutOfMemory"
RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"
RESPONSE_TOO_LARGE_MESSAGE = (
    "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
)
# Longest error type kept from a runtime (it is the function's to name, and it is stored).
MAX_ERROR_TYPE_CHARS = 256
# How long a hang-up waits for the exit status before failing the call without it.
EXIT_REPORT_GRACE_S = 1.0


class WorkerState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class InitFailure:
    """Why a worker never became ready: reported to the caller like Lambda reports it."""

    error_type: str
    document: bytes
    init_duration_ns: int
    logs: bytes


class InitFailed(Exception):
    def __init__(self, failure: InitFailure) -> None:
        super().__init__(failure.error_type)
        self.failure = failure


class _Died(Exception):
    """The process went away or broke the protocol while we waited for a frame."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _TimedOut(Exception):
    pass


def error_document(error_type: str, message: str, request_id: str) -> bytes:
    return orjson.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": [],
        }
    )


def describe_exit(status: int | None) -> str:
    """Lambda's wording: 'exit status 1' or 'signal: killed'."""
    if status is None:
        return "the runtime closed its connection"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"signal: {_SIGNAL_WORDS.get(name, name.lower())}"
    return f"exit status {status}"


_SIGNAL_WORDS = {
    "SIGKILL": "killed",
    "SIGSEGV": "segmentation fault",
    "SIGABRT": "aborted",
    "SIGTERM": "terminated",
    "SIGBUS": "bus error",
}


class CapturedLogs(NamedTuple):
    data: bytes
    # (offset into data, epoch ms it arrived at), offsets rising.
    times: tuple[tuple[int, int], ...]


class LogBuffer:
    """A worker's stdout/stderr since the last take, with when each part arrived, capped so
    a chatty function cannot grow the platform's memory."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._data = bytearray()
        self._times: list[tuple[int, int]] = []
        self._dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self._limit - len(self._data)
        if room > 0:
            self._times.append((len(self._data), time.time_ns() // 1_000_000))
            self._data += chunk[:room]
        self._dropped += max(0, len(chunk) - max(room, 0))

    def take(self) -> CapturedLogs:
        data = bytes(self._data)
        times = tuple(self._times)
        if self._dropped:
            times += ((len(data), time.time_ns() // 1_000_000),)
            data += f"\n[faas] log truncated: {self._dropped} more bytes dropped\n".encode()
        self._data.clear()
        self._times.clear()
        self._dropped = 0
        return CapturedLogs(data, times)


@dataclass
class ResourceWatch:
    """Limits enforced by polling where the kernel cannot enforce them (no memory cgroup:
    RSS; no size-capped /tmp: the directory's use)."""

    pid: int
    memory_limit_bytes: int
    tmp_dir: str | None
    tmp_limit_bytes: int
    interval_s: float
    over_memory: bool = False
    over_tmp: bool = False
    # A custom runtime's worker is a supervisor: the memory is its bootstrap's (a child), so
    # the whole process tree is measured.
    whole_tree: bool = False

    @classmethod
    def for_sandbox(
        cls, sandbox: PreparedSandbox | None, spec: WorkerSpec, pid: int, interval_s: float
    ) -> ResourceWatch:
        if sandbox is None:
            return cls(pid, 0, None, 0, interval_s)
        tmp_dir = str(sandbox.tmp_dir) if sandbox.tmp_dir else None
        return cls(
            pid,
            sandbox.memory_limit_bytes,
            tmp_dir,
            spec.ephemeral_storage_mb * 1024 * 1024,
            interval_s,
        )

    @property
    def active(self) -> bool:
        return bool(self.memory_limit_bytes or self.tmp_dir)

    def memory_exceeded(self) -> bool:
        """One read of /proc/<pid>/statm (a few per process of a custom runtime's tree):
        cheap enough for the event loop."""
        if not self.memory_limit_bytes:
            return self.over_memory
        resident = _tree_rss_bytes(self.pid) if self.whole_tree else _rss_bytes(self.pid)
        if resident > self.memory_limit_bytes:
            self.over_memory = True
        return self.over_memory

    def tmp_used(self) -> int:
        """Walks the /tmp directory: blocking, call it from a thread."""
        return _tree_bytes(self.tmp_dir) if self.tmp_dir else 0

    def tmp_exceeded(self, used: int) -> bool:
        if used > self.tmp_limit_bytes:
            self.over_tmp = True
        return self.over_tmp


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


MAX_WATCHED_PROCESSES = 1024  # as the runtime's own walk (the worker's pids.max)


def _tree_rss_bytes(pid: int) -> int:
    """The resident memory of a process and its descendants (children of every thread)."""
    total = 0
    seen: set[int] = set()
    pending = [pid]
    while pending and len(seen) < MAX_WATCHED_PROCESSES:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _rss_bytes(current)
        pending += _children_of(current)
    return total


def _children_of(pid: int) -> list[int]:
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    children: list[int] = []
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", "rb") as listing:
                children += [int(child) for child in listing.read().split()]
        except (OSError, ValueError):
            continue
    return children


def _tree_bytes(root: str) -> int:
    total = 0
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


class Worker:
    """A started worker process: construct it from a LaunchedProcess, then wait_ready()."""

    def __init__(
        self,
        spec: WorkerSpec,
        process: LaunchedProcess,
        loop: asyncio.AbstractEventLoop,
        *,
        max_log_bytes: int,
        poll_interval_s: float = 0.05,
        on_exit: Callable[[Worker], None],
    ) -> None:
        self.spec = spec
        self.pid = process.pid
        self.state = WorkerState.STARTING
        self.last_used = loop.time()
        self.invocations = 0
        self.init_duration_ns: int | None = None
        # False for workers initialised ahead of demand (provisioned): their first request is
        # not a cold start, so it reports no Init Duration (as on Lambda).
        self.report_init = True
        # Started to keep provisioned concurrency ready: what it serves is billed at the
        # provisioned duration price.
        self.provisioned = False
        self.exit_status: int | None = None
        self.frozen = False
        self._process = process
        self._sock = process.sock
        self._log_fd = process.log_fd
        self._released = False
        self._response_too_large = False
        self._sending: set[asyncio.Task[None]] = set()
        self._loop = loop
        self._logs = LogBuffer(max_log_bytes)
        self._decoder = FrameDecoder(self._on_frame)
        self._waiter: asyncio.Future[Frame] | None = None
        self._on_exit = on_exit
        self._started_ns = process.launched_ns
        credentials = process.credentials
        # Wall clock: after this the worker's credentials are too close to their expiry.
        self.renew_after = credentials.renew_after if credentials is not None else None
        sandbox = process.sandbox
        self._cgroup = sandbox.cgroup if sandbox else None
        self._watch = ResourceWatch.for_sandbox(sandbox, spec, process.pid, poll_interval_s)
        self._watch.whole_tree = custom_runtime(spec.runtime) is not None
        self._watch_timer: asyncio.TimerHandle | None = None
        self._tmp_walk: asyncio.Future[int] | None = None  # one /tmp walk at a time, in a thread
        loop.add_reader(self._sock.fileno(), self._on_socket_readable)
        loop.add_reader(self._log_fd, self._drain_logs)
        process.exited.add_done_callback(self._on_process_exit)

    @property
    def alive(self) -> bool:
        return self.state is not WorkerState.DEAD

    @property
    def idle(self) -> bool:
        """Alive and not in the middle of an invocation."""
        return self.state is WorkerState.IDLE

    @property
    def can_freeze(self) -> bool:
        return self._cgroup is not None and self._cgroup.freezable

    def freeze(self) -> bool:
        """Stop every process of this idle worker until thaw(); False if that failed."""
        if self._cgroup is None or not self.idle:
            return False
        try:
            self._cgroup.freeze()
        except OSError:
            return False  # its cgroup is gone: it is ending anyway
        self.frozen = True
        return True

    def thaw(self) -> bool:
        """Let it run again (before it is handed an invocation); False if it stays frozen.
        Output its background threads write from now on goes into the next invocation's log,
        as everything written between invocations does."""
        if not self.frozen or self._cgroup is None:
            return True
        try:
            self._cgroup.thaw()
        except OSError:
            return False
        self.frozen = False
        return True

    def credentials_stale(self, now_s: float) -> bool:
        """Its execution credentials are too near their expiry for another invocation."""
        return self.renew_after is not None and now_s >= self.renew_after

    @property
    def reaped(self) -> bool:
        """The process has exited and its descriptors are closed."""
        return self._released

    @property
    def log_stream(self) -> str:
        return self._process.log_stream

    async def invoke(
        self, request_id: str, event: bytes, arn: str, client_context: str | None
    ) -> WorkerResult:
        """Run one invocation; function failures come back as a result, never raised."""
        timeout_s = self.spec.timeout_s
        started_at_ms = time.time_ns() // 1_000_000
        deadline_ms = started_at_ms + timeout_s * 1000
        first_invocation = self.invocations == 0 and self.report_init
        self.invocations += 1
        self.state = WorkerState.BUSY
        begin = time.monotonic_ns()
        self._start_watch()
        try:
            frame = await self._exchange(
                encode_invoke(request_id, deadline_ms, arn, client_context, event), timeout_s
            )
        except _TimedOut:
            return self._failed_result(
                request_id,
                TIMEOUT_ERROR,
                f"{_iso_now()} {request_id} Task timed out after {timeout_s:.2f} seconds",
                started_at_ms=started_at_ms,
                duration_ns=timeout_s * 1_000_000_000,
                first=first_invocation,
            )
        except _Died as died:
            error_type, message = self._death_cause(request_id, died.reason)
            return self._failed_result(
                request_id,
                error_type,
                message,
                started_at_ms=started_at_ms,
                duration_ns=time.monotonic_ns() - begin,
                first=first_invocation,
            )
        finally:
            self._stop_watch()
        duration_ns = time.monotonic_ns() - begin
        self.state = WorkerState.IDLE
        self.last_used = self._loop.time()
        # No read of the log pipe here: the runtime's output is unbuffered and written before
        # the reply, so the pipe was readable no later than the socket, and the loop ran its
        # reader (which drains it) before resuming this coroutine. An empty read here cost
        # ~10 % of the gateway's time at c=1 (its BlockingIOError).
        if frame.meta.get("exiting"):
            self.kill()  # it said it ends after this reply (out of memory): never reuse it
        logs = self._logs.take()
        return WorkerResult(
            payload=frame.body,
            error_type=None if frame.meta.get("t") == "ok" else _frame_error_type(frame),
            logs=logs.data,
            log_times=logs.times,
            log_stream=self.log_stream,
            started_at_ms=started_at_ms,
            duration_ns=duration_ns,
            init_duration_ns=self.init_duration_ns if first_invocation else None,
            max_memory_bytes=_reported_memory(frame),
            provisioned=self.provisioned,
        )

    def _kill_tree(self) -> None:
        kill_process_group(self.pid)
        if self._cgroup is not None:
            self._cgroup.kill_all()  # also what left the process group (setsid daemons)

    def kill(self) -> None:
        """Kill the worker and its process group; resources are released once it exits."""
        if self._released:
            return
        self._kill_tree()
        self._mark_dead("killed by the platform")

    # -- internals --------------------------------------------------------------------

    def _death_cause(self, request_id: str, reason: str) -> tuple[str, str]:
        prefix = f"RequestId: {request_id} Error:"
        if self._response_too_large:
            return RESPONSE_TOO_LARGE, RESPONSE_TOO_LARGE_MESSAGE
        sandbox = self._process.sandbox
        oom = self._watch.over_memory or (sandbox is not None and sandbox.oom_killed)
        if oom:
            return OOM_ERROR, (
                f"{prefix} Runtime exited with error: {reason}; the function "
                f"ran out of its {self.spec.memory_mb} MB of memory"
            )
        if self._watch.over_tmp:
            return EXIT_ERROR, (
                f"{prefix} /tmp grew past its {self.spec.ephemeral_storage_mb} "
                "MB limit; the worker was stopped"
            )
        return EXIT_ERROR, f"{prefix} Runtime exited with error: {reason}"

    def _start_watch(self) -> None:
        if self._watch.active:
            self._watch_timer = self._loop.call_later(self._watch.interval_s, self._check_watch)

    def _stop_watch(self) -> None:
        if self._watch_timer is not None:
            self._watch_timer.cancel()
            self._watch_timer = None

    def _check_watch(self) -> None:
        if self._watch.memory_exceeded():
            self._kill_tree()
            return
        if self._watch.tmp_dir and self._tmp_walk is None:
            # Walking a directory tree would stall the event loop: a thread measures it.
            self._tmp_walk = self._loop.run_in_executor(None, self._watch.tmp_used)
            self._tmp_walk.add_done_callback(self._on_tmp_measured)
        self._watch_timer = self._loop.call_later(self._watch.interval_s, self._check_watch)

    def _on_tmp_measured(self, walk: asyncio.Future[int]) -> None:
        self._tmp_walk = None
        if walk.cancelled() or walk.exception() is not None or self._watch_timer is None:
            return  # the invocation ended meanwhile: its watch is over
        if self._watch.tmp_exceeded(walk.result()):
            self._stop_watch()
            self._kill_tree()

    async def wait_ready(self, init_timeout_s: float) -> None:
        """Wait for init to finish; raises InitFailed (the worker is then dead)."""
        try:
            frame = await self._exchange(None, init_timeout_s)
        except _TimedOut:
            self._raise_init_failure(
                TIMEOUT_ERROR, f"Init timed out after {init_timeout_s:.2f} seconds"
            )
        except _Died as died:
            self._raise_init_failure(EXIT_ERROR, f"Runtime exited with error: {died.reason}")
        self.init_duration_ns = time.monotonic_ns() - self._started_ns
        if frame.meta.get("t") != "ready":
            self.kill()
            raise InitFailed(
                InitFailure(
                    _frame_error_type(frame),
                    frame.body,
                    self.init_duration_ns,
                    self._take_logs().data,
                )
            )
        self.state = WorkerState.IDLE

    def _raise_init_failure(self, error_type: str, message: str) -> None:
        self.kill()
        raise InitFailed(
            InitFailure(
                error_type,
                error_document(error_type, message, ""),
                time.monotonic_ns() - self._started_ns,
                self._take_logs().data + _platform_error_lines(error_type, message),
            )
        )

    def _take_logs(self) -> CapturedLogs:
        self._drain_logs()
        return self._logs.take()

    async def _exchange(self, message: bytes | None, timeout_s: float) -> Frame:
        if self.state is WorkerState.DEAD:
            raise _Died(describe_exit(self.exit_status))
        waiter: asyncio.Future[Frame] = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(timeout_s, self._on_deadline, waiter)
        try:
            if message is not None:
                self._send(message)
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _send(self, message: bytes) -> None:
        sock = self._sock
        try:
            sent = sock.send(message)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise _Died(f"cannot write to the runtime: {exc.strerror}") from exc
        if sent < len(message):
            # Large events: let the loop finish the write while we wait for the answer.
            task = self._loop.create_task(self._send_rest(memoryview(message)[sent:]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send_rest(self, rest: memoryview) -> None:
        with contextlib.suppress(OSError):
            await self._loop.sock_sendall(self._sock, rest)

    def _failed_result(
        self,
        request_id: str,
        error_type: str,
        message: str,
        *,
        started_at_ms: int,
        duration_ns: int,
        first: bool,
    ) -> WorkerResult:
        self.kill()
        logs = self._take_logs()
        # The output up to the kill, then the platform's line saying why.
        ended_ms = time.time_ns() // 1_000_000
        return WorkerResult(
            payload=error_document(error_type, message, request_id),
            error_type=error_type,
            logs=logs.data + _platform_error_lines(error_type, message),
            log_times=(*logs.times, (len(logs.data), ended_ms)),
            log_stream=self.log_stream,
            started_at_ms=started_at_ms,
            duration_ns=duration_ns,
            init_duration_ns=self.init_duration_ns if first else None,
            # Killed at its limit: it used all of it (Lambda's REPORT says so too).
            max_memory_bytes=self.spec.memory_mb * MB if error_type == OOM_ERROR else 0,
            provisioned=self.provisioned,
        )

    def _on_deadline(self, waiter: asyncio.Future[Frame]) -> None:
        if not waiter.done():
            self._kill_tree()
            waiter.set_exception(_TimedOut())

    def _on_frame(self, frame: Frame) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)
        else:
            # A frame nobody asked for: a function writing to the platform's socket.
            self._fail("sent an unexpected message")

    def _on_socket_readable(self) -> None:
        try:
            data = self._sock.recv(LOG_READ_CHUNK * 4)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(f"connection error: {exc.strerror}")
            return
        if not data:
            self._on_hang_up()
            return
        try:
            self._decoder.feed(data)
        except FrameTooLarge as exc:
            self._response_too_large = True
            self._fail(f"protocol error: {exc}")
        except ProtocolError as exc:
            self._fail(f"protocol error: {exc}")

    def _drain_logs(self) -> None:
        if self._log_fd < 0:
            return
        while True:
            try:
                chunk = os.read(self._log_fd, LOG_READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._loop.remove_reader(self._log_fd)
                return
            self._logs.add(chunk)
            if len(chunk) < LOG_READ_CHUNK:
                # Drained (the reader is level-triggered: more data calls it again). One read
                # instead of two per invocation that printed, and no BlockingIOError raised.
                return

    def _on_hang_up(self) -> None:
        """The worker closed its socket: almost always because it is exiting. Its exit status
        (reported a moment later) makes the better error message, so wait for it briefly."""
        self._loop.remove_reader(self._sock.fileno())
        self._kill_tree()
        self._loop.call_later(EXIT_REPORT_GRACE_S, self._fail, describe_exit(None))

    def _on_process_exit(self, exited: asyncio.Future[int]) -> None:
        self.exit_status = exited.result()
        self._fail(describe_exit(self.exit_status))
        self._release_resources()

    def _fail(self, reason: str) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(_Died(reason))
        if self.state is not WorkerState.DEAD:
            self._kill_tree()
            self._mark_dead(reason)

    def _mark_dead(self, reason: str) -> None:
        if self.state is WorkerState.DEAD:
            return
        self.state = WorkerState.DEAD
        self._loop.remove_reader(self._sock.fileno())
        self._on_exit(self)

    def _release_resources(self) -> None:
        if self._released:
            return
        self._released = True
        self._drain_logs()
        if self._log_fd >= 0:
            self._loop.remove_reader(self._log_fd)
            os.close(self._log_fd)
            self._log_fd = -1
        self._sock.close()


def _platform_error_lines(error_type: str, message: str) -> bytes:
    """What Lambda adds to the log when the platform ends an invocation: the timeout line
    (`<time> <request id> Task timed out after 3.00 seconds`), or the runtime's death
    (`RequestId: ... Error: Runtime exited with error: signal: killed`) and the error type."""
    if error_type == TIMEOUT_ERROR:
        return f"{message}\n".encode()
    return f"{message}\n{error_type}\n".encode()


def error_type_of(document: bytes) -> str:
    try:
        parsed: Any = orjson.loads(document)
        return str(parsed.get("errorType") or "Unhandled")
    except (orjson.JSONDecodeError, AttributeError):
        return "Unhandled"


def _frame_error_type(frame: Frame) -> str:
    """A custom runtime's supervisor names the type its runtime gave (Lambda reads it from a
    header, not the document); the Python runtime's is in the document."""
    named = frame.meta.get("error_type")
    if isinstance(named, str) and named:
        return named[:MAX_ERROR_TYPE_CHARS]
    return error_type_of(frame.body)


def _reported_memory(frame: Frame) -> int:
    """The worker's own figure: user code could have forged it, so only a sane int counts."""
    value = frame.meta.get("mem", 0)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 50:
        return value
    return 0


def _iso_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
