"""Reserved and account concurrency against a real `faas serve`: boto3 and raw HTTP 429s."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.server import FaasServer

SLEEPER = """
import time

def handler(event, context):
    time.sleep(event.get("sleep_s", 0))
    return {"slept_s": event.get("sleep_s", 0)}
"""

RESERVED_HIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_HIT = "ConcurrentInvocationLimitExceeded"


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    @property
    def document(self) -> Any:
        return json.loads(self.body)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def raw_invoke(server: FaasServer, name: str, event: Any, invocation_type: str = "") -> Answer:
    """One Invoke over plain HTTP: boto3 would retry a 429 and hide its Reason."""
    request = urllib.request.Request(
        f"{server.url}/2015-03-31/functions/{name}/invocations",
        data=json.dumps(event).encode(),
        method="POST",
    )
    if invocation_type:
        request.add_header("X-Amz-Invocation-Type", invocation_type)
    try:
        with server.urlopen(request, timeout=60) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def invoke_together(server: FaasServer, name: str, count: int, sleep_s: float) -> list[Answer]:
    event = {"sleep_s": sleep_s}
    with ThreadPoolExecutor(count) as threads:
        answers = threads.map(lambda _: raw_invoke(server, name, event), range(count))
        return sorted(answers, key=lambda answer: answer.status)


def put_raw(server: FaasServer, name: str, body: bytes) -> Answer:
    request = urllib.request.Request(
        f"{server.url}/2017-10-31/functions/{name}/concurrency", data=body, method="PUT"
    )
    request.add_header("Content-Type", "application/json")
    try:
        with server.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def assert_throttled(answer: Answer, reason: str) -> None:
    assert answer.status == 429, answer.body
    assert answer.headers["X-Amzn-ErrorType"] == "TooManyRequestsException"
    assert answer.headers["Retry-After"] == "1"
    assert answer.document["Reason"] == reason
    assert answer.document["Message"] == "Rate Exceeded."


def start(path: Path, **settings: int) -> FaasServer:
    env = {f"FAAS_CONCURRENCY_{key.upper()}": str(value) for key, value in settings.items()}
    return FaasServer.start(path, env=env)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    """Account limit 110 with Lambda's 100 kept unreserved: at most 10 may be reserved."""
    running = start(tmp_path_factory.mktemp("faas-concurrency"), account_limit=110)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api(server: FaasServer) -> Any:
    return server.client()


def test_put_get_delete_function_concurrency_round_trip(server: FaasServer, api: Any) -> None:
    name = unique("round-trip")
    server.deploy(name, {"app.py": SLEEPER})
    assert "ReservedConcurrentExecutions" not in api.get_function_concurrency(FunctionName=name)
    assert "Concurrency" not in api.get_function(FunctionName=name)

    put = api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    assert put["ReservedConcurrentExecutions"] == 7
    assert api.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 7
    assert api.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 7}

    deleted = api.delete_function_concurrency(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in api.get_function_concurrency(FunctionName=name)
    assert "Concurrency" not in api.get_function(FunctionName=name)


def test_a_reservation_may_not_eat_into_the_unreserved_minimum(
    server: FaasServer, api: Any
) -> None:
    name = unique("greedy")
    server.deploy(name, {"app.py": SLEEPER})
    with pytest.raises(ClientError) as refused:
        api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=11)
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100]."
    )
    assert "ReservedConcurrentExecutions" not in api.get_function_concurrency(FunctionName=name)


@pytest.mark.parametrize("body", [b'{"ReservedConcurrentExecutions": -1}', b'{"x": 1}'])
def test_a_reservation_must_be_a_non_negative_integer(server: FaasServer, body: bytes) -> None:
    name = unique("invalid")
    server.deploy(name, {"app.py": SLEEPER})
    answer = put_raw(server, name, body)
    assert answer.status == 400
    assert answer.headers["X-Amzn-ErrorType"] == "InvalidParameterValueException"


def test_concurrency_of_an_unknown_function_is_not_found(api: Any) -> None:
    name = unique("missing")
    calls = [
        lambda: api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1),
        lambda: api.get_function_concurrency(FunctionName=name),
        lambda: api.delete_function_concurrency(FunctionName=name),
    ]
    for call in calls:
        with pytest.raises(api.exceptions.ResourceNotFoundException):
            call()


def test_a_reservation_of_one_runs_one_at_a_time(server: FaasServer, api: Any) -> None:
    name = unique("one-at-a-time")
    server.deploy(name, {"app.py": SLEEPER})
    api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    succeeded, throttled = invoke_together(server, name, 2, sleep_s=1.0)
    assert succeeded.status == 200
    assert succeeded.document == {"slept_s": 1.0}
    assert_throttled(throttled, RESERVED_HIT)
    # The slot came back: the next call runs.
    assert raw_invoke(server, name, {}).status == 200


def test_a_reservation_of_zero_throttles_every_invoke(server: FaasServer, api: Any) -> None:
    name = unique("switched-off")
    server.deploy(name, {"app.py": SLEEPER})
    assert raw_invoke(server, name, {}).status == 200
    api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for _ in range(3):
        assert_throttled(raw_invoke(server, name, {}), RESERVED_HIT)
    with pytest.raises(api.exceptions.TooManyRequestsException):
        api.invoke(FunctionName=name, Payload=b"{}")
    # A dry run checks the call without running it, so it needs no slot.
    assert raw_invoke(server, name, {}, invocation_type="DryRun").status == 204

    api.delete_function_concurrency(FunctionName=name)
    assert raw_invoke(server, name, {}).status == 200


def test_deleting_a_function_drops_its_reservation(server: FaasServer, api: Any) -> None:
    name = unique("recreated")
    server.deploy(name, {"app.py": SLEEPER})
    api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    server.deploy(name, {"app.py": SLEEPER})  # deletes, then creates under the same name
    assert "ReservedConcurrentExecutions" not in api.get_function_concurrency(FunctionName=name)
    assert raw_invoke(server, name, {}).status == 200


def test_the_unreserved_pool_is_what_reservations_leave(tmp_path: Path) -> None:
    server = start(tmp_path / "data", account_limit=102, unreserved_minimum=1)
    try:
        api = server.client()
        hog, shared, other = unique("hog"), unique("shared"), unique("other")
        for name in (hog, shared, other):
            server.deploy(name, {"app.py": SLEEPER})
        api.put_function_concurrency(FunctionName=hog, ReservedConcurrentExecutions=100)
        # 100 reserved of 102 leaves 2; reserving 2 more would leave fewer than 1.
        with pytest.raises(api.exceptions.InvalidParameterValueException, match=r"\[1\]"):
            api.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=2)

        answers = invoke_together(server, shared, 3, sleep_s=1.0)
        assert [answer.status for answer in answers] == [200, 200, 429]
        assert_throttled(answers[2], ACCOUNT_HIT)
    finally:
        server.stop()


def test_over_the_limit_a_call_waits_for_a_slot_when_allowed(tmp_path: Path) -> None:
    server = start(tmp_path / "data", account_limit=110, max_wait_ms=3000)
    try:
        api = server.client()
        name = unique("patient")
        server.deploy(name, {"app.py": SLEEPER})
        api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        started = time.monotonic()
        answers = invoke_together(server, name, 2, sleep_s=1.0)
        assert [answer.status for answer in answers] == [200, 200]
        # One after the other, as the reservation demands.
        assert time.monotonic() - started >= 2.0
    finally:
        server.stop()


def test_reservations_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start(data_dir, account_limit=110)
    name = unique("durable")
    try:
        server.deploy(name, {"app.py": SLEEPER})
        api = server.client()
        api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    finally:
        server.stop()
    server = start(data_dir, account_limit=110)
    try:
        api = server.client()
        assert api.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0
        assert_throttled(raw_invoke(server, name, {}), RESERVED_HIT)
    finally:
        server.stop()
