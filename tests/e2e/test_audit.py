"""The audit log and per-key rate limits against a real `faas serve`, through boto3, signed and
unsigned raw requests and the real CLI: who did what is on record with the right fields, an
Invoke only when it was refused, the log survives a stop and a restart, old events go, and a
key over its rate gets Lambda's 429 without slowing any other key."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.helpers.auth import (
    ECHO,
    FUNCTION_ARN,
    FUNCTIONS,
    allow,
    call,
    create_key,
    policy,
    request,
    send,
    signed,
    unique,
)
from tests.helpers.server import REGION, AccessKey, FaasServer, make_zip

AUDIT = "/faas/v1/audit"
DAY_MS = 86_400_000
LIST_ONLY = policy(allow("lambda:ListFunctions", "*"))
INVOKE_ONLY = policy(allow("lambda:InvokeFunction", "*"))


def audit_events(server: FaasServer, signer: AccessKey | None = None, **params: str) -> list[Any]:
    """The audit log as `GET /faas/v1/audit` answers it (signed by the admin key by default);
    a rate-limited admin waits for its next token."""
    path = f"{AUDIT}?{urlencode({'limit': '1000', **params})}"
    for _ in range(20):
        reply = call(server, path, signer or server.admin_key)
        if reply.status != 429:
            break
        time.sleep(0.25)
    assert reply.status == 200, reply
    return list(reply.json()["AuditEvents"])


def by_request_id(events: list[Any], request_id: str) -> dict[str, Any]:
    found = [event for event in events if event["RequestId"] == request_id]
    assert len(found) == 1, (request_id, events)
    return dict(found[0])


def epoch_ms(iso: str) -> int:
    moment = dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def list_functions(server: FaasServer, key: AccessKey, **headers: str) -> None:
    reply = send(signed(server.url + FUNCTIONS, key, headers=headers))
    assert reply.status == 200, reply


@pytest.fixture(scope="module")
def target(server: FaasServer) -> str:
    name = unique("audited")
    server.deploy(name, {"app.py": ECHO})
    return name


def test_an_allowed_create_function_is_on_record(server: FaasServer, lambda_api: Any) -> None:
    name = unique("created")
    before = now_ms()
    created = lambda_api.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/r",
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": ECHO})},
    )
    request_id = created["ResponseMetadata"]["RequestId"]
    event = by_request_id(audit_events(server, key="admin"), request_id)
    assert before - 5 <= epoch_ms(event.pop("Time")) <= now_ms() + 5
    assert event == {
        "RequestId": request_id,
        "KeyName": "admin",
        "AccessKeyId": server.admin_key.access_key_id,
        "Action": "lambda:CreateFunction",
        "Resource": FUNCTION_ARN + name,
        "Outcome": "allowed",
        "Status": 201,
        "ErrorCode": None,
        "Method": "POST",
        "Path": FUNCTIONS,
        "SourceIp": "127.0.0.1",
    }


def test_a_call_the_policy_refuses_is_on_record(server: FaasServer, target: str) -> None:
    name = unique("invoke-only")
    key = create_key(server, name, INVOKE_ONLY)
    with pytest.raises(ClientError) as raised:
        server.client(key).get_function(FunctionName=target)
    request_id = raised.value.response["ResponseMetadata"]["RequestId"]
    event = by_request_id(audit_events(server, key=name), request_id)
    del event["Time"]
    assert event == {
        "RequestId": request_id,
        "KeyName": name,
        "AccessKeyId": key.access_key_id,
        "Action": "lambda:GetFunction",
        "Resource": FUNCTION_ARN + target,
        "Outcome": "denied",
        "Status": 403,
        "ErrorCode": "AccessDeniedException",
        "Method": "GET",
        "Path": f"{FUNCTIONS}/{target}",
        "SourceIp": "127.0.0.1",
    }


def test_an_unsigned_call_is_on_record_under_its_operation(server: FaasServer) -> None:
    name = unique("nobody")
    reply = call(server, f"{FUNCTIONS}/{name}/configuration", None, method="GET")
    assert reply.refusal == (403, "MissingAuthenticationTokenException")
    [event] = [
        event
        for event in audit_events(server, outcome="denied")
        if event["Path"] == f"{FUNCTIONS}/{name}/configuration"
    ]
    assert {key: event[key] for key in event if key not in ("Time", "RequestId")} == {
        "KeyName": None,
        "AccessKeyId": None,
        "Action": "GetFunctionConfiguration",
        "Resource": None,
        "Outcome": "denied",
        "Status": 403,
        "ErrorCode": "MissingAuthenticationTokenException",
        "Method": "GET",
        "Path": f"{FUNCTIONS}/{name}/configuration",
        "SourceIp": "127.0.0.1",
    }


def test_an_invoke_is_on_record_only_when_refused(server: FaasServer, target: str) -> None:
    invoker_name = unique("invoker")
    invoker = server.client(create_key(server, invoker_name, INVOKE_ONLY))
    for _ in range(3):
        answered = invoker.invoke(FunctionName=target, Payload=b'{"n": 1}')
        assert json.loads(answered["Payload"].read()) == {"echo": {"n": 1}}
    reader_name = unique("reader")
    reader = server.client(create_key(server, reader_name, LIST_ONLY))
    with pytest.raises(ClientError) as raised:
        reader.invoke(FunctionName=target, Payload=b"{}")
    refused_id = raised.value.response["ResponseMetadata"]["RequestId"]
    unsigned = call(server, f"{FUNCTIONS}/{target}/invocations", None, method="POST", body=b"{}")
    assert unsigned.status == 403

    assert audit_events(server, key=invoker_name) == []
    refused = by_request_id(audit_events(server, key=reader_name), refused_id)
    assert (refused["Action"], refused["Resource"], refused["Outcome"], refused["Status"]) == (
        "lambda:InvokeFunction",
        FUNCTION_ARN + target,
        "denied",
        403,
    )
    [anonymous] = [
        event
        for event in audit_events(server, outcome="MissingAuthenticationTokenException")
        if event["Path"] == f"{FUNCTIONS}/{target}/invocations"
    ]
    assert (anonymous["Action"], anonymous["KeyName"]) == ("Invoke", None)


def test_reading_the_audit_log_is_itself_on_record(server: FaasServer) -> None:
    name = unique("auditor")
    key = create_key(server, name, policy(allow("faas:ListAuditEvents", "*")))
    assert audit_events(server, key, key=name) == []
    [read] = audit_events(server, key, key=name)
    assert (read["Action"], read["Resource"], read["Outcome"]) == (
        "faas:ListAuditEvents",
        "*",
        "allowed",
    )
    # Without the permission, the read is refused, and that too is on record.
    other = create_key(server, unique("curious"), LIST_ONLY)
    reply = call(server, AUDIT, other)
    assert reply.refusal == (403, "AccessDeniedException")
    assert audit_events(server, key=other.access_key_id)[0]["Outcome"] == "denied"


def test_the_cli_filters_by_key_time_and_refusal(server: FaasServer) -> None:
    name = unique("filtered")
    key = create_key(server, name, LIST_ONLY)
    list_functions(server, key)
    time.sleep(0.05)
    marker = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    time.sleep(0.05)
    list_functions(server, key)
    reply = call(server, f"{FUNCTIONS}/x", key)  # refused: GetFunction is not allowed
    assert reply.status == 403

    def listed(*args: str) -> list[Any]:
        done = server.cli("audit", "--key", name, *args, "--json")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout)["AuditEvents"])

    everything = listed()
    assert [event["Action"] for event in everything] == [
        "lambda:GetFunction",
        "lambda:ListFunctions",
        "lambda:ListFunctions",
    ]
    assert all(event["KeyName"] == name for event in everything)
    assert len(listed("--since", marker)) == 2
    assert listed("--since", "1h") == everything
    assert [event["Action"] for event in listed("--denied")] == ["lambda:GetFunction"]
    assert len(listed("--limit", "1")) == 1
    # Without --json: a table, newest first.
    table = server.cli("audit", "--key", name, "--since", marker)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == [
        "TIME",
        "KEY",
        "SOURCE",
        "ACTION",
        "RESOURCE",
        "OUTCOME",
        "REQUEST",
        "ID",
    ]
    assert "denied AccessDeniedException" in rows[0] and name in rows[0]
    assert "lambda:ListFunctions" in rows[1] and "allowed" in rows[1]
    # --key matches nothing of another key.
    assert server.cli("audit", "--key", unique("nobody")).stdout.strip() == "no audit events"


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(server: FaasServer) -> None:
    name = unique("forwarded")
    key = create_key(server, name, LIST_ONLY)
    list_functions(server, key, **{"X-Forwarded-For": "203.0.113.9"})
    [event] = audit_events(server, key=name)
    assert event["SourceIp"] == "127.0.0.1"


@pytest.fixture(scope="module")
def configured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    """127.0.0.1 is a trusted proxy; retention is looked at five times a second."""
    running = FaasServer.start(
        tmp_path_factory.mktemp("faas-audit") / "data",
        env={
            "FAAS_SERVER_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
            "FAAS_AUTH_AUDIT_RETENTION_INTERVAL_S": "0.2",
        },
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("forwarded_for", "caller"),
    [
        ("203.0.113.9", "203.0.113.9"),
        # What the client wrote itself, left of what the proxy appended, is not believed.
        ("198.51.100.7, 203.0.113.9", "203.0.113.9"),
        # Another trusted proxy's own entry is skipped.
        ("203.0.113.9, 10.1.2.3", "203.0.113.9"),
    ],
)
def test_x_forwarded_for_from_a_trusted_proxy_names_the_caller(
    configured_server: FaasServer, forwarded_for: str, caller: str
) -> None:
    name = unique("proxied")
    key = create_key(configured_server, name, LIST_ONLY)
    list_functions(configured_server, key, **{"X-Forwarded-For": forwarded_for})
    [event] = audit_events(configured_server, key=name)
    assert event["SourceIp"] == caller


def test_events_past_their_retention_are_deleted(configured_server: FaasServer) -> None:
    ages_days = {"ancient": 400, "expired": 91, "kept": 89, "recent": 1}
    marker = unique("seeded")
    now = now_ms()
    with contextlib.closing(
        sqlite3.connect(configured_server.data_dir / "faas.db", timeout=10)
    ) as db:
        db.executemany(
            "INSERT INTO audit_events (time_ms, request_id, key_id, key_name, action, resource, "
            "outcome, status, error_code, method, path, source_ip) "
            "VALUES (?, ?, NULL, NULL, 'ListFunctions', NULL, 'denied', 403, NULL, 'GET', ?, "
            "'192.0.2.1')",
            [(now - age * DAY_MS, label, f"/{marker}/{label}") for label, age in ages_days.items()],
        )
        db.commit()

    def seeded() -> set[str]:
        since = str(now - 1000 * DAY_MS)
        events = audit_events(configured_server, since=since, outcome="denied")
        return {event["RequestId"] for event in events if event["Path"].startswith(f"/{marker}/")}

    deadline = time.monotonic() + 10
    while seeded() != {"kept", "recent"} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seeded() == {"kept", "recent"}
    assert configured_server.health()["audit"]["deleted"] >= 2


def test_a_clean_stop_loses_no_event_and_the_log_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # A call still sending its body when the stop comes waits out the grace period.
    first = FaasServer.start(data_dir, env={"FAAS_SERVER_SHUTDOWN_GRACE_S": "2"})
    name = unique("busy")
    function = unique("updated")
    # Updates of ~1 MB of code take a while each: some are still running when SIGTERM comes.
    body = json.dumps(
        {
            "ZipFile": base64.b64encode(
                make_zip({"app.py": ECHO, "blob": os.urandom(1 << 20)})
            ).decode()
        }
    ).encode()
    answered: list[str] = []  # request ids of the calls answered 200
    stop = threading.Event()

    def hammer(key: AccessKey) -> None:
        url = f"{first.url}{FUNCTIONS}/{function}/code"
        while not stop.is_set():
            try:
                update = signed(url, key, method="PUT", body=body)
                with urllib.request.urlopen(update, timeout=60) as ok:
                    answered.append(ok.headers["x-amzn-RequestId"])
            except OSError:  # refused or cut off by the stop
                return

    try:
        first.deploy(function, {"app.py": ECHO})
        key = create_key(first, name, policy(allow("lambda:UpdateFunctionCode", "*")))
        threads = [threading.Thread(target=hammer, args=(key,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(answered) < 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        first.process.send_signal(signal.SIGTERM)  # while updates are still coming in
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        assert first.stop() == 0
    assert len(answered) >= 20
    assert "audit log stopped: " in first.log()
    second = FaasServer.start(data_dir)
    try:
        on_record = {event["RequestId"] for event in audit_events(second, key=name)}
    finally:
        second.stop()
    assert set(answered) <= on_record


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[FaasServer]:
    """Every key may make 2 management calls a second, 2 at once."""
    running = FaasServer.start(
        tmp_path / "data",
        env={"FAAS_RATE_LIMITS_MANAGEMENT_PER_S": "2", "FAAS_RATE_LIMITS_MANAGEMENT_BURST": "2"},
    )
    try:
        yield running
    finally:
        running.stop()


def raw_list(server: FaasServer, key: AccessKey) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body) of a signed ListFunctions."""
    try:
        with urllib.request.urlopen(signed(server.url + FUNCTIONS, key), timeout=30) as answer:
            return answer.status, dict(answer.headers), json.load(answer)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.load(error)


def test_a_key_over_its_rate_gets_429_and_no_other_key_is_slowed(
    limited_server: FaasServer,
) -> None:
    limited_name = unique("limited")
    limited = create_key(limited_server, limited_name, LIST_ONLY)
    other = create_key(limited_server, unique("other"), LIST_ONLY)
    # Made first (that takes a while), and without retries: botocore retries a throttle.
    api = boto3.client(
        "lambda",
        endpoint_url=limited_server.url,
        region_name=REGION,
        aws_access_key_id=limited.access_key_id,
        aws_secret_access_key=limited.secret,
        config=Config(retries={"total_max_attempts": 1}),
    )
    assert [raw_list(limited_server, limited)[0] for _ in range(2)] == [200, 200]
    status, headers, body = raw_list(limited_server, limited)
    assert status == 429
    assert headers["X-Amzn-ErrorType"] == "TooManyRequestsException"
    assert body["Reason"] == "CallerRateLimitExceeded"
    assert headers["Retry-After"] == "1"
    # boto3 reads it as Lambda's throttle (the one it would retry).
    with pytest.raises(ClientError) as raised:
        api.list_functions()
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert raised.value.response["Reason"] == "CallerRateLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    # Another key has a bucket of its own.
    assert raw_list(limited_server, other)[0] == 200
    time.sleep(0.6)  # one token back at 2 a second
    assert raw_list(limited_server, limited)[0] == 200

    refused = audit_events(limited_server, key=limited_name, outcome="denied")
    assert len(refused) == 2
    assert {
        (event["Action"], event["Resource"], event["Status"], event["ErrorCode"])
        for event in refused
    } == {("ListFunctions", None, 429, "TooManyRequestsException")}
    assert len(audit_events(limited_server, key=limited_name, outcome="allowed")) == 3
    # Unsigned calls have no key to be limited by: only the signature check stands in their
    # way, and they are all refused by it.
    replies = [send(request(limited_server.url + FUNCTIONS)) for _ in range(5)]
    assert {reply.refusal for reply in replies} == {(403, "MissingAuthenticationTokenException")}
