"""An invocation's log events as Lambda writes them to CloudWatch Logs.

Text format: `START RequestId: <id> Version: <version>`, the function's own lines (stdout,
stderr, `logging` as `[LEVEL]\\t<time>\\t<request id>\\t<message>`), `END RequestId: <id>`,
and `REPORT RequestId: <id>\\tDuration: 12.34 ms\\tBilled Duration: 13 ms\\tMemory Size:
128 MB\\tMax Memory Used: 40 MB[\\tInit Duration: 5.67 ms]\\t`.

JSON format (LoggingConfig.LogFormat JSON): the platform's lines are JSON objects
(`platform.start`, `platform.runtimeDone`, `platform.report`), kept only when their level
(INFO) is at or above SystemLogLevel; the runtime writes `logging` records as JSON and drops
those below ApplicationLogLevel itself. Anything else a function prints stays as it was.

Each line is one event, timed by when its first byte reached the platform (the worker's pipe
is read as it is written); the platform's lines by the invocation's start and end.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import math
from collections.abc import Mapping

import orjson

from faas.domain import LoggingConfig, WorkerResult

TAIL_BYTES = 4096
MB = 1024 * 1024
JSON_FORMAT = "JSON"
# Lambda's system log levels, least first; the platform's START/END/REPORT are INFO.
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")
APPLICATION_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
PLATFORM_LEVEL = "INFO"

Event = tuple[int, str]


def invocation_events(
    *,
    request_id: str,
    version: str,
    result: WorkerResult,
    billed_ms: int,
    memory_mb: int,
    logging: LoggingConfig,
) -> tuple[Event, ...]:
    """The invocation's events, START to REPORT, in order."""
    start_ms = result.started_at_ms
    end_ms = start_ms + math.ceil(result.duration_ns / 1_000_000)
    own = output_lines(result.logs, result.log_times, start_ms)
    platform = _JsonPlatform if logging.log_format == JSON_FORMAT else _TextPlatform
    if not _platform_kept(logging):
        return own
    metrics = _Metrics(result, billed_ms, memory_mb)
    return (
        (start_ms, platform.start(request_id, version, start_ms)),
        *own,
        (end_ms, platform.end(request_id, end_ms, metrics)),
        (end_ms, platform.report(request_id, end_ms, metrics)),
    )


def output_lines(
    logs: bytes, log_times: tuple[tuple[int, int], ...], default_ms: int
) -> tuple[Event, ...]:
    """The function's output split into lines, each timed by the part its first byte came
    in (`log_times`: (offset, epoch ms), offsets rising)."""
    if not logs:
        return ()
    offsets = [offset for offset, _ in log_times]
    events = []
    start = 0
    size = len(logs)
    while start < size:
        newline = logs.find(b"\n", start)
        end = size if newline < 0 else newline
        index = bisect.bisect_right(offsets, start) - 1
        at_ms = log_times[index][1] if index >= 0 else default_ms
        events.append((at_ms, logs[start:end].decode(errors="replace")))
        start = end + 1
    return tuple(events)


def tail(events: tuple[Event, ...]) -> bytes:
    """LogType Tail's X-Amz-Log-Result: the last 4 KB of the events' text, base64."""
    text = "".join(message + "\n" for _, message in events).encode()
    return base64.b64encode(text[-TAIL_BYTES:])


def _platform_kept(logging: LoggingConfig) -> bool:
    if logging.log_format != JSON_FORMAT:
        return True
    least = logging.system_log_level or PLATFORM_LEVEL
    return SYSTEM_LEVELS.index(PLATFORM_LEVEL) >= SYSTEM_LEVELS.index(least)


class _Metrics:
    def __init__(self, result: WorkerResult, billed_ms: int, memory_mb: int) -> None:
        self.duration_ms = result.duration_ns / 1_000_000
        self.billed_ms = billed_ms
        self.memory_mb = memory_mb
        self.max_memory_mb = math.ceil(result.max_memory_bytes / MB)
        init = result.init_duration_ns
        self.init_ms = None if init is None else init / 1_000_000
        self.status = "success" if result.error_type is None else _status(result.error_type)


def _status(error_type: str) -> str:
    if error_type == "Sandbox.Timedout":
        return "timeout"
    return "error" if not error_type.startswith("Runtime.") else "failure"


class _TextPlatform:
    @staticmethod
    def start(request_id: str, version: str, at_ms: int) -> str:
        return f"START RequestId: {request_id} Version: {version}"

    @staticmethod
    def end(request_id: str, at_ms: int, metrics: _Metrics) -> str:
        return f"END RequestId: {request_id}"

    @staticmethod
    def report(request_id: str, at_ms: int, metrics: _Metrics) -> str:
        line = (
            f"REPORT RequestId: {request_id}\tDuration: {metrics.duration_ms:.2f} ms\t"
            f"Billed Duration: {metrics.billed_ms} ms\t"
            f"Memory Size: {metrics.memory_mb} MB\t"
            f"Max Memory Used: {metrics.max_memory_mb} MB"
        )
        if metrics.init_ms is not None:
            line += f"\tInit Duration: {metrics.init_ms:.2f} ms"
        return line + "\t"


class _JsonPlatform:
    @staticmethod
    def start(request_id: str, version: str, at_ms: int) -> str:
        record = {"requestId": request_id, "version": version}
        return _json(at_ms, "platform.start", record)

    @staticmethod
    def end(request_id: str, at_ms: int, metrics: _Metrics) -> str:
        record = {
            "requestId": request_id,
            "status": metrics.status,
            "metrics": {"durationMs": round(metrics.duration_ms, 3)},
        }
        return _json(at_ms, "platform.runtimeDone", record)

    @staticmethod
    def report(request_id: str, at_ms: int, metrics: _Metrics) -> str:
        numbers: dict[str, float | int] = {
            "durationMs": round(metrics.duration_ms, 3),
            "billedDurationMs": metrics.billed_ms,
            "memorySizeMB": metrics.memory_mb,
            "maxMemoryUsedMB": metrics.max_memory_mb,
        }
        if metrics.init_ms is not None:
            numbers["initDurationMs"] = round(metrics.init_ms, 3)
        record = {"requestId": request_id, "metrics": numbers, "status": metrics.status}
        return _json(at_ms, "platform.report", record)


def _json(at_ms: int, kind: str, record: Mapping[str, object]) -> str:
    time = dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    document = {"time": time[:-3] + "Z", "type": kind, "record": record}
    return orjson.dumps(document).decode()
