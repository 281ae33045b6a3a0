"""The faas Python runtime: runs INSIDE the worker process, next to untrusted user code.

Standard library only and never imports `faas`: the interpreter is started with `-I -S`, so
the function sees its own code directory plus the standard library and nothing of the
platform. Shape borrowed from Lambda's runtime interface client: init once (report an init
failure, then exit), then receive -> invoke -> reply, one invocation at a time.

Wire format (shared with faas/pool/protocol.py): every frame is
`>II` (meta length, body length) + meta (JSON object) + body (raw bytes).
  platform -> worker: meta {"id", "deadline_ms", "arn", "cc"}, body = the event (JSON bytes)
  worker -> platform: meta {"t": "ready"} once after init, or {"t": "init_error"} + error doc;
                      then per invocation {"t": "ok"|"error", "mem": peak RSS bytes} + body
"""

from __future__ import annotations

import ctypes
import importlib
import io
import json
import logging
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">II")
PR_SET_PDEATHSIG = 1


class FrameChannel:
    """Length-prefixed frames over one connected stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def receive(self) -> tuple[dict[str, Any], bytes] | None:
        head = self._read_exact(HEADER.size)
        if head is None:
            return None
        meta_len, body_len = HEADER.unpack(head)
        data = self._read_exact(meta_len + body_len)
        if data is None:
            return None
        return json.loads(data[:meta_len]), data[meta_len:]

    def send(self, meta: dict[str, Any], body: bytes) -> None:
        encoded = json.dumps(meta).encode()
        self._sock.sendall(HEADER.pack(len(encoded), len(body)) + encoded + body)

    def _read_exact(self, size: int) -> bytes | None:
        if size == 0:
            return b""
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self._sock.recv(size - len(chunks))
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)


class LambdaContext:
    """The context object Lambda hands to a Python handler."""

    def __init__(self, request_id: str, deadline_ms: int, arn: str, client_context: Any) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = client_context
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"function_name={self.function_name!r}, "
            f"function_version={self.function_version!r})"
        )


class HandlerLoadError(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack = stack or []


def load_handler(handler: str) -> Callable[[Any, Any], Any]:
    """Import `module.function`, classifying failures with Lambda's error types."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise HandlerLoadError(
            "Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values to unpack"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        if exc.name == module_name.partition(".")[0]:
            message += _misplaced_hint(module_name)
        raise HandlerLoadError("Runtime.ImportModuleError", message) from exc
    except SyntaxError as exc:
        raise HandlerLoadError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
            traceback.format_exception_only(type(exc), exc),
        ) from exc
    except Exception as exc:
        raise HandlerLoadError(type(exc).__name__, str(exc), _stack_of(exc)) from exc
    function = getattr(module, function_name, None)
    if function is None:
        raise HandlerLoadError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return function  # type: ignore[no-any-return]


# How far below the code's root a misplaced handler module is looked for, and how many
# directory entries at most: the hint must stay cheap on a large bundle.
HINT_MAX_DEPTH = 3
HINT_MAX_ENTRIES = 5000


def _misplaced_hint(module_name: str) -> str:
    """' (found sub/app.py: ...)' when the module sits in a subfolder of the code, else ''."""
    wanted = module_name.replace(".", "/") + ".py"
    root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    found = _find_below(root, wanted)
    if found is None:
        return ""
    return (
        f" (found {found}: the handler's module must be at the root of the zip; zip the "
        "folder's contents, not the folder)"
    )


def _find_below(root: str, wanted: str) -> str | None:
    """The shallowest `<dir>/.../<wanted>` under root, breadth first, bounded."""
    level = [""]
    seen = 0
    for _depth in range(HINT_MAX_DEPTH):
        deeper: list[str] = []
        for relative in level:
            try:
                entries = sorted(os.scandir(os.path.join(root, relative)), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > HINT_MAX_ENTRIES:
                    return None
                if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    child = os.path.join(relative, entry.name)
                    if os.path.isfile(os.path.join(root, child, wanted)):
                        return os.path.join(child, wanted)
                    deeper.append(child)
        level = deeper
    return None


def _stack_of(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    # Drop this file's frames: the user wants their own code's stack, as on Lambda.
    user_frames = [f for f in frames if f.filename != __file__]
    return [line for line in traceback.format_list(user_frames)]


def log_error(
    error_type: str,
    message: str,
    stack: list[str],
    request_id: str = "",
    json_format: bool = False,
) -> None:
    """The error line and traceback Lambda's Python runtime writes to the function's log:
    text, or with LogFormat JSON one object (the error document, timed and levelled)."""
    if json_format:
        document = {
            "timestamp": time.strftime(JSON_TIME_FORMAT, time.gmtime()),
            "level": "ERROR",
            **_error_fields(error_type, message, request_id, stack),
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
        return
    lines = [f"[ERROR] {error_type}: {message}", "Traceback (most recent call last):"]
    lines += [entry.rstrip("\n") for entry in stack]
    sys.stdout.write("\n".join(lines) + "\n")


def unbuffered_stdio() -> None:
    """Every write of the function reaches the log pipe at once, as on Lambda: output
    printed just before a timeout or a crash is kept (a kill loses nothing but what was
    never written). The same as `python -u`: an unbuffered binary layer under a
    write-through text layer."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        current = getattr(sys, name)
        raw = io.FileIO(fd, "w", closefd=False)
        stream = io.TextIOWrapper(
            raw,
            encoding=current.encoding,
            errors=current.errors,
            write_through=True,
        )
        setattr(sys, name, stream)


def error_document(error_type: str, message: str, request_id: str, stack: list[str]) -> bytes:
    return json.dumps(_error_fields(error_type, message, request_id, stack)).encode()


def _error_fields(
    error_type: str, message: str, request_id: str, stack: list[str]
) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack,
    }


class RequestIdFilter(logging.Filter):
    """Stamps the current request id on log records, as Lambda's log format shows it."""

    def __init__(self) -> None:
        super().__init__()
        self.request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


# LoggingConfig, as Lambda hands it to the runtime.
LOG_FORMAT_VARIABLE = "AWS_LAMBDA_LOG_FORMAT"
LOG_LEVEL_VARIABLE = "AWS_LAMBDA_LOG_LEVEL"
JSON_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# ApplicationLogLevel -> the root logger's level. Python has no TRACE (Lambda's Python
# runtime takes it as DEBUG); WARN and FATAL are Python's WARNING and CRITICAL.
LOG_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
}


class LogSettings:
    """How the function's `logging` records are written: Lambda's text lines, or with
    LogFormat JSON one object per record; and the least level kept (None: Python's own
    default, WARNING, as on Lambda without a level)."""

    def __init__(self, json_format: bool = False, level: int | None = None) -> None:
        self.json_format = json_format
        self.level = level

    @classmethod
    def from_environment(cls, environ: Any) -> LogSettings:
        log_format = str(environ.get(LOG_FORMAT_VARIABLE) or "")
        level_name = str(environ.get(LOG_LEVEL_VARIABLE) or "").upper()
        return cls(log_format.upper() == "JSON", LOG_LEVELS.get(level_name))


# LogRecord attributes that are not a caller's `extra` (Lambda's Python runtime's list).
_RECORD_ATTRIBUTES = frozenset(
    {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
        "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
        "relativeCreated", "thread", "threadName", "processName", "process",
        "aws_request_id", "tenant_id", "_frame_type",
    }
)  # fmt: skip


class JsonLogFormatter(logging.Formatter):
    """A record as Lambda's Python runtime writes it with LogFormat JSON: one object on one
    line, `{"timestamp", "level", "message", "logger", "requestId"}`, with `errorType`,
    `errorMessage`, `stackTrace` and `location` for a record carrying an exception, then the
    record's `extra` fields (those JSON cannot encode are left out)."""

    def __init__(self) -> None:
        super().__init__(datefmt=JSON_TIME_FORMAT)
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        # Levels in between (a custom 25) count as the one below, as on Lambda.
        level = min(logging.CRITICAL, max(0, record.levelno)) // 10 * 10
        document: dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
            **_exception_fields(record),
            "requestId": getattr(record, "aws_request_id", None),
            **_location(record),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in document and _encodable(value):
                document[key] = value
        present = {key: value for key, value in document.items() if value is not None}
        return json.dumps(present, ensure_ascii=False)


def _exception_fields(record: logging.LogRecord) -> dict[str, Any]:
    if not record.exc_info or record.exc_info[0] is None:
        return {}
    kind, value, trace = record.exc_info
    return {
        "stackTrace": traceback.format_tb(trace),
        "errorType": kind.__name__,
        "errorMessage": str(value),
    }


def _location(record: logging.LogRecord) -> dict[str, str]:
    if not record.exc_info or record.exc_info[0] is None:
        return {}
    return {"location": f"{record.pathname}:{record.funcName}:{record.lineno}"}


def _encodable(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def install_log_format(settings: LogSettings) -> RequestIdFilter:
    """Lambda's format on the root logger (text `[LEVEL]\t<time>\t<request id>\t<message>`
    or JSON), installed before init as on Lambda; print() output is left as it is."""
    stamp = RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    if settings.json_format:
        handler.setFormatter(JsonLogFormatter())
    else:
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    handler.addFilter(stamp)
    root = logging.getLogger()
    root.addHandler(handler)
    if settings.level is not None:
        root.setLevel(settings.level)
    return stamp


class MemoryMeter:
    """Peak resident memory of one invocation (RSS, shared pages included), for the worker and
    its descendants: what Lambda's Max Memory Used counts for the whole environment.

    The sum of:
    - the worker's own high-water mark (VmHWM). Before each invocation it is reset to the
      current RSS by writing 5 to /proc/self/clear_refs, through a descriptor opened before
      the sandbox dropped privileges. It is read with getrusage(RUSAGE_SELF): ru_maxrss is
      VmHWM for a process that has not called exec since its fork (the kernel folds an old
      address space into it only at exec and at exit), at a fraction of the cost of
      /proc/self/status. Without the descriptor the mark runs from the worker's start.
    - when the worker waited for a descendant during the invocation, the largest peak among
      the descendants it has waited for in its life that was above the worker's own peak
      (see _waited_descendants);
    - the VmHWM of every descendant still running (or not waited for yet) when the
      invocation ends, each over its own life. Checking for them costs one system call when
      there are none.
    """

    def __init__(self, clear_refs_fd: int | None) -> None:
        self._clear_refs_fd = clear_refs_fd
        self._children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._largest_child = 0

    def reset(self) -> None:
        if self._clear_refs_fd is not None:
            try:
                os.write(self._clear_refs_fd, b"5")
            except OSError:
                self._clear_refs_fd = None  # refused: the peak runs from here on
        self._children_before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def peak(self) -> int:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return own + self._waited_descendants(own) + _running_descendants_peak()

    def _waited_descendants(self, own: int) -> int:
        """The kernel keeps one figure for the descendants a process waited for: the largest
        peak among them, over its whole life (RUSAGE_CHILDREN ru_maxrss); its other totals
        show whether any was waited for since the reset. A figure is taken as a descendant's
        own only above the worker's own peak: a process started by fork or vfork carries the
        worker's resident pages of that moment into it, so a smaller one cannot be told
        apart from the worker's memory. When the figure did not grow, this invocation's
        descendants were no larger than an earlier one, and count at that one's size."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        if children == self._children_before:
            return 0
        largest = children.ru_maxrss * 1024
        if largest > max(self._children_before.ru_maxrss * 1024, own):
            self._largest_child = largest
        return self._largest_child


MAX_DESCENDANTS = 1024  # the worker's pids.max: a walk of /proc never goes further


def _running_descendants_peak() -> int:
    try:
        # WNOWAIT: a child that has ended stays for the function's own wait().
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return 0  # no child at all: the usual case
    total = 0
    seen: set[int] = set()
    pending = _children_of("self")
    while pending and len(seen) < MAX_DESCENDANTS:
        pid = pending.pop()
        if pid not in seen:
            seen.add(pid)
            total += _vm_hwm_bytes(pid)
            pending += _children_of(str(pid))
    return total


def _children_of(pid: str) -> list[int]:
    """The children of every thread of a process (empty where /proc cannot be read)."""
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


def _vm_hwm_bytes(pid: int) -> int:
    """A process's VmHWM; 0 for one that has ended or whose /proc cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Runtime:
    """Serves invocations of one handler over a FrameChannel until the platform hangs up."""

    def __init__(
        self,
        channel: FrameChannel,
        handler: Callable[[Any, Any], Any],
        memory: MemoryMeter,
        log_stamp: RequestIdFilter,
        log_settings: LogSettings,
    ) -> None:
        self._channel = channel
        self._handler = handler
        self._log_stamp = log_stamp
        self._log_settings = log_settings
        self.exit_after_reply = False
        self._memory = memory

    def serve_forever(self) -> None:
        while True:
            frame = self._channel.receive()
            if frame is None:
                return
            meta, event = frame
            self._memory.reset()
            kind, body = self._invoke(meta, event)
            sys.stdout.flush()
            sys.stderr.flush()
            meta = {"t": kind, "mem": self._memory.peak()}
            if self.exit_after_reply:
                meta["exiting"] = True  # the platform must not hand this worker out again
            self._channel.send(meta, body)
            if self.exit_after_reply:
                return

    def _invoke(self, meta: dict[str, Any], event_bytes: bytes) -> tuple[str, bytes]:
        request_id = meta["id"]
        self._log_stamp.request_id = request_id
        cc = json.loads(meta["cc"]) if meta.get("cc") else None
        context = LambdaContext(request_id, meta["deadline_ms"], meta["arn"], cc)
        try:
            event = json.loads(event_bytes) if event_bytes else {}
            result = self._handler(event, context)
        except MemoryError:
            # Only reachable under an address-space limit (hosts without a memory cgroup):
            # report it as Lambda does and let the platform replace this worker.
            self.exit_after_reply = True
            limit = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "?")
            message = f"The function ran out of its {limit} MB of memory"
            return self._failed("Runtime.OutOfMemory", message, request_id, [])
        except Exception as exc:
            return self._failed(type(exc).__name__, str(exc), request_id, _stack_of(exc))
        try:
            return "ok", json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            message = f"Unable to marshal response: {exc}"
            return self._failed("Runtime.MarshalError", message, request_id, [])

    def _failed(
        self, error_type: str, message: str, request_id: str, stack: list[str]
    ) -> tuple[str, bytes]:
        json_format = self._log_settings.json_format
        log_error(error_type, message, stack, request_id, json_format)
        return "error", error_document(error_type, message, request_id, stack)


# Where Lambda's Python runtime looks for a layer's packages, after the task root.
OPT_PYTHON = "/opt/python"


def layer_paths() -> list[str]:
    """/opt/python/lib/python3.X/site-packages and /opt/python, those that exist (the
    function's layers, bound at /opt), as Lambda puts them on sys.path."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [f"{OPT_PYTHON}/lib/{version}/site-packages", OPT_PYTHON]
    return [path for path in candidates if os.path.isdir(path)]


def runtime_dir_path() -> list[str]:
    """LAMBDA_RUNTIME_DIR, where the AWS SDK Lambda's Python runtime includes (boto3) is, when
    it is another directory than this runtime's own: after the function's code and layers,
    so a function's own copy wins."""
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR")
    own = os.path.dirname(os.path.abspath(__file__))
    if runtime_dir and os.path.isdir(runtime_dir) and os.path.abspath(runtime_dir) != own:
        return [runtime_dir]
    return []


def die_with_parent() -> None:
    """Ask the kernel to kill this worker if the platform process goes away."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def run(sock: socket.socket, clear_refs_fd: int | None = None, template: bool = False) -> int:
    """Init the handler named by _HANDLER, then serve invocations (or, as a snapshot
    template, fork initialised clones on request); returns the exit code. `clear_refs_fd`:
    this process's /proc/self/clear_refs, opened for writing by the sandbox (MemoryMeter)."""
    channel = FrameChannel(sock)
    unbuffered_stdio()
    log_settings = LogSettings.from_environment(os.environ)
    log_stamp = install_log_format(log_settings)
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path[0:0] = [task_root, *layer_paths(), *runtime_dir_path()]
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except HandlerLoadError as exc:
        log_error(exc.error_type, str(exc), exc.stack, json_format=log_settings.json_format)
        channel.send({"t": "init_error"}, error_document(exc.error_type, str(exc), "", exc.stack))
        return 1
    channel.send({"t": "ready"}, b"")
    if template:
        if clear_refs_fd is not None:
            os.close(clear_refs_fd)  # the template's own: every clone gets one of its own
        return CloneServer(sock, handler, log_stamp, log_settings).serve_forever()
    memory = MemoryMeter(clear_refs_fd)
    Runtime(channel, handler, memory, log_stamp, log_settings).serve_forever()
    return 0


class CloneServer:
    """Snapshot start: this process ran the function's init once; every worker is a fork of
    it, so it starts with init's state (imports, globals) and no init of its own.

    Requests: one byte with SCM_RIGHTS (the clone's socket and its log pipe). Replies, as
    frames: {"t": "cloned", "pid"} and, when a clone ends, {"t": "exited", "pid", "status"}.
    A clone first waits for one byte from the platform on its own socket, carrying its
    /proc/<pid>/clear_refs (see MemoryMeter): the template's sandbox lets no clone open
    that file for writing, so the platform opens it once the clone exists.
    """

    def __init__(
        self,
        sock: socket.socket,
        handler: Callable[[Any, Any], Any],
        log_stamp: RequestIdFilter,
        log_settings: LogSettings,
    ) -> None:
        self._sock = sock
        self._channel = FrameChannel(sock)
        self._handler = handler
        # Installed in this process before init: every clone inherits them.
        self._log_stamp = log_stamp
        self._log_settings = log_settings
        self._server = ForkServer(sock, self._report_exit)

    def serve_forever(self) -> int:
        return self._server.run(self._clone)

    def _report_exit(self, pid: int, code: int) -> None:
        self._channel.send({"t": "exited", "pid": pid, "status": code}, b"")

    def _clone(self) -> bool:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self._sock, 1, 3)
        except InterruptedError:
            return True
        if not data:
            return False  # the platform retired this template
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return True
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = self._become_clone(*fds)
            except BaseException:
                traceback.print_exc()
            os._exit(code)
        for fd in fds:
            os.close(fd)
        self._channel.send({"t": "cloned", "pid": pid}, b"")
        return True

    def _become_clone(self, worker_fd: int, log_fd: int) -> int:
        template_pid = os.getppid()
        self._server.in_child()
        os.setsid()
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        os.close(self._sock.fileno())
        die_with_parent()
        if os.getppid() != template_pid:
            return 1
        sock = socket.socket(fileno=worker_fd)
        data, fds, _flags, _addr = socket.recv_fds(sock, 1, 1)
        if not data:
            return 0  # the platform let this clone go before it was used
        memory = MemoryMeter(fds[0] if fds else None)
        channel = FrameChannel(sock)
        channel.send({"t": "ready"}, b"")  # init already ran, in the template
        runtime = Runtime(channel, self._handler, memory, self._log_stamp, self._log_settings)
        runtime.serve_forever()
        return 0


class ForkServer:
    """The loop of a process that forks children on request (the zygote, a snapshot
    template): wait for a request or a child's end; reap ended children and report them."""

    def __init__(self, requests: socket.socket, report_exit: Callable[[int, int], None]) -> None:
        self._requests = requests
        self._report_exit = report_exit
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    def run(self, handle_request: Callable[[], bool]) -> int:
        """Serve until handle_request() returns False (the platform hung up)."""
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self._wake_write)
        selector = selectors.DefaultSelector()
        selector.register(self._requests, selectors.EVENT_READ, "request")
        selector.register(self._wake_read, selectors.EVENT_READ, "child")
        while True:
            for key, _ in selector.select():
                if key.data == "child":
                    self._reap()
                elif not handle_request():
                    return 0

    def in_child(self) -> None:
        """In a forked child: none of this server's signal plumbing or descriptors."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in (self._wake_read, self._wake_write):
            os.close(fd)

    def _reap(self) -> None:
        try:
            while os.read(self._wake_read, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._report_exit(pid, os.waitstatus_to_exitcode(status))


def main(argv: list[str]) -> int:
    """Direct start (no zygote): bootstrap.py <socket fd> <platform pid>."""
    expected_parent = int(argv[2]) if len(argv) > 2 else None
    die_with_parent()
    if expected_parent is not None and os.getppid() != expected_parent:
        return 1  # the platform died before we could ask to follow it
    return run(socket.socket(fileno=int(argv[1])))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
