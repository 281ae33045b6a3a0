"""An invocation's events: Lambda's Text and JSON framing, line times, the Tail."""

from __future__ import annotations

import base64
import json

from faas.domain import LoggingConfig, WorkerResult
from faas.logs.framing import invocation_events, output_lines, tail

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def result(logs: bytes = b"", **changes: object) -> WorkerResult:
    base = {
        "payload": b'"ok"',
        "error_type": None,
        "logs": logs,
        "started_at_ms": START_MS,
        "duration_ns": 12_345_678,
        "init_duration_ns": None,
        "max_memory_bytes": 40 * 1024 * 1024,
        "log_times": ((0, START_MS + 3),),
    }
    base.update(changes)
    return WorkerResult(**base)  # type: ignore[arg-type]


def events(worker: WorkerResult, logging: LoggingConfig | None = None) -> list[tuple[int, str]]:
    return list(
        invocation_events(
            request_id="r-1",
            version="$LATEST",
            result=worker,
            billed_ms=13,
            memory_mb=128,
            logging=logging or LoggingConfig(),
        )
    )


def test_text_framing_around_the_functions_lines() -> None:
    framed = events(result(b"hello\nworld\n", init_duration_ns=5_670_000))
    assert framed == [
        (START_MS, "START RequestId: r-1 Version: $LATEST"),
        (START_MS + 3, "hello"),
        (START_MS + 3, "world"),
        (START_MS + 13, "END RequestId: r-1"),
        (
            START_MS + 13,
            "REPORT RequestId: r-1\tDuration: 12.35 ms\tBilled Duration: 13 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 5.67 ms\t",
        ),
    ]


def test_each_line_has_the_time_its_first_byte_came() -> None:
    times = ((0, 100), (4, 200), (9, 300))  # (offset, epoch ms) of each part
    lines = output_lines(b"ab\ncd\nefgh\nij", times, 0)
    # "cd" starts at 3, in the first part; "efgh" at 6, in the second; "ij" at 11.
    assert lines == ((100, "ab"), (100, "cd"), (200, "efgh"), (300, "ij"))
    assert output_lines(b"", (), 5) == ()
    assert output_lines(b"\xff\xfebad\n", (), 5) == ((5, "\ufffd\ufffdbad"),)


def test_json_framing_and_the_system_level() -> None:
    framed = events(result(b"printed\n"), LoggingConfig(log_format="JSON"))
    kinds = [json.loads(message)["type"] for _, message in (framed[0], framed[2], framed[3])]
    assert kinds == ["platform.start", "platform.runtimeDone", "platform.report"]
    report = json.loads(framed[3][1])
    assert report["record"]["metrics"]["billedDurationMs"] == 13
    assert report["time"] == "2026-01-01T00:00:00.013Z"
    assert framed[1] == (START_MS + 3, "printed")  # print output stays as it was
    quiet = events(result(b"printed\n"), LoggingConfig(log_format="JSON", system_log_level="WARN"))
    assert quiet == [(START_MS + 3, "printed")]


def test_the_tail_is_the_last_4_kb_of_the_text() -> None:
    framed = tuple(events(result(b"x" * 10_000 + b"\n")))
    text = base64.b64decode(tail(framed))
    assert len(text) == 4096
    assert text.endswith(b"Max Memory Used: 40 MB\t\n")
