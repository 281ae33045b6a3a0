"""Async invocations through the real server and boto3: 202 once queued, then the function
runs; retries with backoff; durability across SIGKILL (at least once, never lost)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.server import FaasServer

HELLO = """
def handler(event, context):
    return {"n": event.get("n"), "id": context.aws_request_id}
"""
FAILS = """
def handler(event, context):
    raise ValueError("always fails")
"""
SLOW = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return "done"
"""
FAST_QUEUE = {
    "FAAS_QUEUE_POLL_INTERVAL_S": "0.1",
    "FAAS_QUEUE_RETRY_BACKOFF_BASE_S": "0.3",
    "FAAS_QUEUE_LEASE_S": "2",
}
PAUSED = {**FAST_QUEUE, "FAAS_QUEUE_DISPATCH": "false"}


def records(server: FaasServer, name: str) -> list[dict[str, Any]]:
    with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}&limit=1000") as r:
        return list(json.load(r)["Invocations"])


def wait_for(check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def queued_events(data_dir: Path) -> int:
    with contextlib.closing(sqlite3.connect(data_dir / "faas.db")) as raw:
        return int(raw.execute("SELECT COUNT(*) FROM event_queue").fetchone()[0])


def dead_letters(data_dir: Path) -> list[tuple[str, int, str]]:
    with contextlib.closing(sqlite3.connect(data_dir / "faas.db")) as raw:
        rows = raw.execute("SELECT request_id, attempts, condition FROM dead_letters").fetchall()
    return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]


def invoke_event(server: FaasServer, name: str, event: Any) -> str:
    response = server.client().invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode()
    )
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    return str(response["ResponseMetadata"]["RequestId"])


@pytest.fixture
def fast_server(tmp_path: Path) -> Any:
    server = FaasServer.start(tmp_path / "data", env=FAST_QUEUE)
    try:
        yield server
    finally:
        server.stop()


def test_an_event_is_answered_202_and_then_runs_with_the_same_request_id(
    fast_server: FaasServer,
) -> None:
    fast_server.deploy("hello", {"app.py": HELLO})
    request_id = invoke_event(fast_server, "hello", {"n": 1})
    found = wait_for(lambda: records(fast_server, "hello"))
    assert [(r["RequestId"], r["InvocationType"], r["Attempt"]) for r in found] == [
        (request_id, "Event", 1)
    ]
    assert found[0]["Status"] == "Success"
    # A synchronous call is recorded as one.
    fast_server.invoke("hello", {"n": 2})
    kinds = Counter(r["InvocationType"] for r in records(fast_server, "hello"))
    assert kinds == Counter({"Event": 1, "RequestResponse": 1})


def test_the_legacy_invoke_async_queues_the_event(fast_server: FaasServer) -> None:
    fast_server.deploy("legacy", {"app.py": HELLO})
    response = fast_server.client().invoke_async(FunctionName="legacy", InvokeArgs=b'{"n": 3}')
    assert response["Status"] == 202
    found = wait_for(lambda: records(fast_server, "legacy"))
    assert [r["InvocationType"] for r in found] == ["Event"]


def test_bad_async_calls_get_lambdas_errors(fast_server: FaasServer) -> None:
    fast_server.deploy("limits", {"app.py": HELLO})
    client = fast_server.client()
    with pytest.raises(ClientError) as too_large:
        client.invoke(
            FunctionName="limits",
            InvocationType="Event",
            Payload=json.dumps({"x": "y" * (1024 * 1024)}).encode(),
        )
    assert too_large.value.response["Error"]["Code"] == "RequestTooLargeException"
    with pytest.raises(ClientError) as missing:
        client.invoke(FunctionName="nobody", InvocationType="Event", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as bad_json:
        client.invoke(FunctionName="limits", InvocationType="Event", Payload=b"{nope")
    assert bad_json.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_a_failing_event_is_retried_twice_with_backoff_then_kept_as_a_dead_letter(
    fast_server: FaasServer,
) -> None:
    fast_server.deploy("fails", {"app.py": FAILS})
    request_id = invoke_event(fast_server, "fails", {})
    found = wait_for(lambda: [r for r in records(fast_server, "fails") if r["Attempt"] == 3])
    assert found, fast_server.log()
    attempts = sorted(records(fast_server, "fails"), key=lambda r: r["Attempt"])
    assert [(r["RequestId"], r["Attempt"], r["Status"]) for r in attempts] == [
        (request_id, 1, "Unhandled"),
        (request_id, 2, "Unhandled"),
        (request_id, 3, "Unhandled"),
    ]
    starts = [_started_ms(r) for r in attempts]
    # Backoff: base (0.3 s) x 1, then x 2.
    assert starts[1] - starts[0] >= 300
    assert starts[2] - starts[1] >= 600
    letters = wait_for(lambda: dead_letters(fast_server.data_dir))
    assert letters == [(request_id, 3, "RetriesExhausted")]
    assert queued_events(fast_server.data_dir) == 0


def _started_ms(record: dict[str, Any]) -> int:
    moment = datetime.fromisoformat(record["StartTime"].replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def test_events_accepted_before_a_sigkill_run_exactly_once_after_the_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = FaasServer.start(data_dir, env=PAUSED)
    try:
        server.deploy("kept", {"app.py": HELLO})
        accepted = [invoke_event(server, "kept", {"n": n}) for n in range(100)]
    finally:
        server.kill()  # SIGKILL right after the last 202, nothing dispatched yet
    assert queued_events(data_dir) == 100

    restarted = FaasServer.start(data_dir, env=FAST_QUEUE)
    try:
        done = wait_for(lambda: len(records(restarted, "kept")) >= 100, timeout_s=60)
        assert done, restarted.log()
        time.sleep(0.5)  # nothing runs twice after the last one
        ran = Counter(r["RequestId"] for r in records(restarted, "kept"))
        assert ran == Counter(accepted)
        assert wait_for(lambda: queued_events(data_dir) == 0)
    finally:
        restarted.stop()


def test_an_event_cut_off_by_a_sigkill_runs_again_as_its_next_attempt(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = FaasServer.start(data_dir, env=FAST_QUEUE)
    try:
        server.deploy("slow", {"app.py": SLOW}, Timeout=30)
        request_id = invoke_event(server, "slow", {"sleep": 3})
        # Wait until it runs (claimed: its lease is taken), then kill the server.
        assert wait_for(lambda: _leased(data_dir), timeout_s=20)
    finally:
        server.kill()
    restarted = FaasServer.start(data_dir, env=FAST_QUEUE)
    try:
        found = wait_for(lambda: records(restarted, "slow"), timeout_s=30)
        assert [(r["RequestId"], r["Attempt"], r["Status"]) for r in found] == [
            (request_id, 2, "Success")
        ]
    finally:
        restarted.stop()


def _leased(data_dir: Path) -> bool:
    with contextlib.closing(sqlite3.connect(data_dir / "faas.db")) as raw:
        row = raw.execute("SELECT COUNT(*) FROM event_queue WHERE lease_owner IS NOT NULL")
        return bool(row.fetchone()[0])


def test_a_throttled_functions_events_wait_and_then_run(fast_server: FaasServer) -> None:
    fast_server.deploy("held", {"app.py": HELLO})
    client = fast_server.client()
    client.put_function_concurrency(FunctionName="held", ReservedConcurrentExecutions=0)
    accepted = {invoke_event(fast_server, "held", {"n": n}) for n in range(3)}
    time.sleep(1.5)  # several throttled tries
    assert records(fast_server, "held") == []
    assert queued_events(fast_server.data_dir) == 3
    client.delete_function_concurrency(FunctionName="held")
    found = wait_for(lambda: len(records(fast_server, "held")) == 3)
    assert found, fast_server.log()
    ran = records(fast_server, "held")
    assert {r["RequestId"] for r in ran} == accepted
    assert {r["Attempt"] for r in ran} == {1}  # a throttled try is not an attempt


def test_a_thousand_events_drain_with_no_loss_and_no_duplicate(fast_server: FaasServer) -> None:
    fast_server.deploy("many", {"app.py": HELLO})
    with ThreadPoolExecutor(16) as pool:
        accepted = list(
            pool.map(lambda n: invoke_event(fast_server, "many", {"n": n}), range(1000))
        )
    done = wait_for(lambda: len(records(fast_server, "many")) >= 1000, timeout_s=120)
    assert done, fast_server.log()
    time.sleep(0.5)
    ran = Counter(r["RequestId"] for r in records(fast_server, "many"))
    assert ran == Counter(accepted)
    assert queued_events(fast_server.data_dir) == 0


def test_a_sigkill_while_events_run_loses_none_and_reruns_only_those_in_flight(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = FaasServer.start(data_dir, env=FAST_QUEUE)
    try:
        server.deploy("steady", {"app.py": SLOW})
        accepted = [invoke_event(server, "steady", {"sleep": 0.05}) for _ in range(150)]
        assert wait_for(lambda: len(records(server, "steady")) >= 20, timeout_s=60)
    finally:
        server.kill()
    restarted = FaasServer.start(data_dir, env=FAST_QUEUE)
    try:
        assert wait_for(lambda: queued_events(data_dir) == 0, timeout_s=120), restarted.log()
        time.sleep(0.5)
        attempts: dict[str, list[int]] = {}
        for record in records(restarted, "steady"):
            attempts.setdefault(record["RequestId"], []).append(record["Attempt"])
        assert set(attempts) == set(accepted)  # every event ran
        twice = {rid: sorted(a) for rid, a in attempts.items() if len(a) > 1}
        # Run twice only when cut off: a first attempt then a second, at most the ones
        # running at the kill.
        assert all(a == [1, 2] for a in twice.values())
        assert len(twice) <= 64
    finally:
        restarted.stop()


def test_health_and_the_cli_show_the_queue(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / "data", env=PAUSED)
    try:
        server.deploy("waits", {"app.py": HELLO})
        for n in range(3):
            invoke_event(server, "waits", {"n": n})
        time.sleep(1.1)
        queue = server.health()["queue"]
        assert queue["events"] == 3 and queue["dispatching"] is False
        assert queue["functions"]["waits"]["events"] == 3
        assert queue["functions"]["waits"]["oldest_age_s"] >= 1.0
        shown = server.cli("queue")
        assert shown.returncode == 0, shown.stderr
        assert "3 events queued" in shown.stdout and "NOT dispatching" in shown.stdout
        assert "waits" in shown.stdout
        accepted = server.cli("invoke", "waits", "--async", "--payload", '{"n": 9}')
        assert accepted.returncode == 0 and accepted.stdout.startswith("accepted ")
    finally:
        server.stop()


def test_a_full_queue_answers_429_saying_so(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / "data", env={**PAUSED, "FAAS_QUEUE_MAX_EVENTS": "2"})
    try:
        server.deploy("bounded", {"app.py": HELLO})
        invoke_event(server, "bounded", {})
        invoke_event(server, "bounded", {})
        with pytest.raises(ClientError) as full:
            server.client().invoke(FunctionName="bounded", InvocationType="Event", Payload=b"{}")
        error = full.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert error["Error"]["Code"] == "TooManyRequestsException"
        assert "queue.max_events" in error["Error"]["Message"]
        # Synchronous calls are not held back by a full queue.
        response, body = server.invoke("bounded", {"n": 1})
        assert body == {"n": 1, "id": response["ResponseMetadata"]["RequestId"]}
    finally:
        server.stop()
