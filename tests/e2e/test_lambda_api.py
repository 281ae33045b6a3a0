"""The Lambda REST API through boto3 against a real `faas serve`: what a Lambda user relies on."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.helpers.server import FaasServer, make_zip

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
ROLE = "arn:aws:iam::000000000000:role/test"
ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024

ECHO_V1 = """
import os

def handler(event, context):
    return {"version": 1, "event": event, "greeting": os.environ.get("GREETING")}
"""

ECHO_V2 = """
import os

def handler(event, context):
    return {"version": 2, "event": event, "greeting": os.environ.get("GREETING")}
"""

FAILING = """
class PaymentDeclined(Exception):
    pass

def handler(event, context):
    print("about to fail for", event.get("who"))
    raise PaymentDeclined("card 1234 was declined")
"""

CLIENT_CONTEXT = """
def handler(event, context):
    return {"client_context": context.client_context}
"""

SOMETIMES_FAILING = """
def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"ok": True}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create(api: Any, name: str, source: str = ECHO_V1, **config: Any) -> dict[str, Any]:
    created: dict[str, Any] = api.create_function(
        FunctionName=name,
        Runtime=config.pop("Runtime", RUNTIME),
        Role=ROLE,
        Handler=config.pop("Handler", "app.handler"),
        Code={"ZipFile": make_zip({"app.py": source})},
        **config,
    )
    return created


def invoke_json(api: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """(boto3 response, decoded JSON body)."""
    response = api.invoke(
        FunctionName=name, Payload=json.dumps({} if event is None else event).encode(), **kwargs
    )
    return response, json.loads(response["Payload"].read())


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    """(error code, HTTP status, message) of a boto3 ClientError."""
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def raw_post(
    server: FaasServer, url: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """POST with urllib (boto3 checks some sizes itself); (status, headers) even on errors."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    try:
        with server.urlopen(request, timeout=60) as response:
            response.read()
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        error.read()
        return error.code, error.headers


def invocations_url(server: FaasServer, name: str) -> str:
    return f"{server.url}/2015-03-31/functions/{urllib.parse.quote(name, safe='')}/invocations"


def records_of(server: FaasServer, name: str) -> list[dict[str, Any]]:
    url = f"{server.url}/faas/v1/invocations?function={name}&limit=100"
    with server.urlopen(url, timeout=10) as response:
        rows: list[dict[str, Any]] = json.load(response)["Invocations"]
    return rows


@pytest.fixture(scope="module")
def unchecked_api(server: FaasServer) -> Any:
    """A boto3 client that sends out-of-range values instead of refusing them itself."""
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=server.admin_key.access_key_id,
        aws_secret_access_key=server.admin_key.secret,
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )


# --- create / get / waiters ----------------------------------------------------------------


def test_create_and_get_describe_the_function_as_lambda_does(lambda_api: Any) -> None:
    name = unique("describe")
    zip_bytes = make_zip({"app.py": ECHO_V1})
    created = lambda_api.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_bytes},
        MemorySize=256,
        Timeout=7,
        Environment={"Variables": {"GREETING": "hello"}},
    )
    expected = {
        "FunctionName": name,
        "FunctionArn": ARN_PREFIX + name,
        "Runtime": RUNTIME,
        "Handler": "app.handler",
        "CodeSha256": base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode(),
        "CodeSize": len(zip_bytes),
        "MemorySize": 256,
        "Timeout": 7,
        "Version": "$LATEST",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "Environment": {"Variables": {"GREETING": "hello"}},
    }
    fetched = lambda_api.get_function(FunctionName=name)["Configuration"]
    configuration = lambda_api.get_function_configuration(FunctionName=name)
    for document in (created, fetched, configuration):
        assert {key: document.get(key) for key in expected} == expected
        assert document["RevisionId"] == created["RevisionId"]
    assert created["RevisionId"]


def test_waiters_are_satisfied_on_the_first_poll(lambda_api: Any) -> None:
    name = unique("waiters")
    create(lambda_api, name)
    # One attempt only: a server that is not Active/Successful at once fails here.
    once = {"Delay": 1, "MaxAttempts": 1}
    lambda_api.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=once)
    lambda_api.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": ECHO_V2}))
    lambda_api.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=once)


# --- invoke / update / delete --------------------------------------------------------------


def test_updates_take_effect_on_the_next_invoke_and_delete_removes(lambda_api: Any) -> None:
    name = unique("lifecycle")
    create(lambda_api, name, Environment={"Variables": {"GREETING": "hello"}})

    response, body = invoke_json(lambda_api, name, {"n": 1})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body == {"version": 1, "event": {"n": 1}, "greeting": "hello"}

    lambda_api.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": ECHO_V2}))
    assert invoke_json(lambda_api, name, {"n": 2})[1]["version"] == 2

    lambda_api.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"GREETING": "bonjour"}}
    )
    assert invoke_json(lambda_api, name)[1] == {"version": 2, "event": {}, "greeting": "bonjour"}

    lambda_api.delete_function(FunctionName=name)
    with pytest.raises(lambda_api.exceptions.ResourceNotFoundException) as raised:
        lambda_api.get_function(FunctionName=name)
    assert error_of(raised)[1] == 404
    with pytest.raises(lambda_api.exceptions.ResourceNotFoundException):
        invoke_json(lambda_api, name)


def test_list_functions_paginates_every_function_exactly_once(lambda_api: Any) -> None:
    prefix = unique("page")
    names = {f"{prefix}-{index}" for index in range(5)}
    for name in sorted(names):
        create(lambda_api, name)
    paginator = lambda_api.get_paginator("list_functions")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    listed = [cfg["FunctionName"] for page in pages for cfg in page["Functions"]]
    assert all(len(page["Functions"]) <= 2 for page in pages)
    assert len(pages) >= 3
    assert len(listed) == len(set(listed))
    assert {name for name in listed if name.startswith(prefix)} == names


# --- management errors ---------------------------------------------------------------------


def test_creating_an_existing_name_is_a_conflict(lambda_api: Any) -> None:
    name = unique("twice")
    create(lambda_api, name)
    with pytest.raises(lambda_api.exceptions.ResourceConflictException) as raised:
        create(lambda_api, name, ECHO_V2)
    assert error_of(raised)[1] == 409
    assert invoke_json(lambda_api, name)[1]["version"] == 1


@pytest.mark.parametrize(
    ("config", "in_message"),
    [
        ({"Handler": "nodot"}, "Handler"),
        ({"Runtime": "python2.7"}, RUNTIME),
        ({"MemorySize": 64}, "128"),
        ({"MemorySize": 20000}, "10240"),
        ({"Timeout": 0}, "1"),
        ({"Timeout": 901}, "900"),
        ({"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}}, "AWS_REGION"),
    ],
    ids=["handler", "runtime", "memory-low", "memory-high", "timeout-0", "timeout-901", "env"],
)
def test_invalid_configuration_is_refused(
    lambda_api: Any, unchecked_api: Any, config: dict[str, Any], in_message: str
) -> None:
    name = unique("invalid")
    with pytest.raises(lambda_api.exceptions.InvalidParameterValueException) as raised:
        create(unchecked_api, name, **config)
    code, status, message = error_of(raised)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert in_message in message
    with pytest.raises(lambda_api.exceptions.ResourceNotFoundException):
        lambda_api.get_function(FunctionName=name)


def test_stale_revision_id_is_a_failed_precondition(lambda_api: Any) -> None:
    name = unique("revision")
    stale = create(lambda_api, name)["RevisionId"]
    lambda_api.update_function_configuration(FunctionName=name, Timeout=10)
    with pytest.raises(lambda_api.exceptions.PreconditionFailedException) as raised:
        lambda_api.update_function_configuration(FunctionName=name, Timeout=20, RevisionId=stale)
    assert error_of(raised)[1] == 412
    assert lambda_api.get_function_configuration(FunctionName=name)["Timeout"] == 10


# --- invoke edge cases ---------------------------------------------------------------------


def test_payload_over_six_megabytes_is_too_large(server: FaasServer, lambda_api: Any) -> None:
    name = unique("big-payload")
    create(lambda_api, name)
    body = b'"' + b"x" * (MAX_SYNC_PAYLOAD - 1) + b'"'
    assert len(body) == MAX_SYNC_PAYLOAD + 1
    status, headers = raw_post(server, invocations_url(server, name), body)
    assert status == 413
    assert headers["x-amzn-ErrorType"].startswith("RequestTooLargeException")


def test_payload_of_exactly_six_megabytes_is_accepted(server: FaasServer, lambda_api: Any) -> None:
    name = unique("max-payload")
    create(lambda_api, name, "def handler(event, context):\n    return len(event)\n")
    body = b'"' + b"x" * (MAX_SYNC_PAYLOAD - 2) + b'"'
    status, _headers = raw_post(server, invocations_url(server, name), body)
    assert status == 200


def test_invalid_json_payload_is_refused(lambda_api: Any) -> None:
    name = unique("bad-json")
    create(lambda_api, name)
    with pytest.raises(lambda_api.exceptions.InvalidRequestContentException) as raised:
        lambda_api.invoke(FunctionName=name, Payload=b"{not json")
    assert error_of(raised)[1] == 400


def test_function_arn_and_latest_qualifier_address_the_function(lambda_api: Any) -> None:
    name = unique("by-arn")
    create(lambda_api, name)
    arn = ARN_PREFIX + name
    assert invoke_json(lambda_api, arn, {"via": "arn"})[1]["event"] == {"via": "arn"}
    assert lambda_api.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == name
    response, body = invoke_json(lambda_api, name, {"q": 1}, Qualifier="$LATEST")
    assert body["event"] == {"q": 1}
    assert response["ExecutedVersion"] == "$LATEST"


def test_dry_run_answers_204_without_running(server: FaasServer, lambda_api: Any) -> None:
    name = unique("dry-run")
    create(lambda_api, name)
    response = lambda_api.invoke(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
    assert response["StatusCode"] == 204
    assert response["Payload"].read() == b""
    assert records_of(server, name) == []


# --- function errors, logs, context --------------------------------------------------------


def test_handler_exception_is_an_unhandled_function_error(lambda_api: Any) -> None:
    name = unique("raises")
    create(lambda_api, name, FAILING)
    response, body = invoke_json(lambda_api, name, {"who": "alice"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "PaymentDeclined"
    assert body["errorMessage"] == "card 1234 was declined"
    assert body["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert isinstance(body["stackTrace"], list)
    assert any("raise PaymentDeclined" in line for line in body["stackTrace"])


def test_tail_log_shows_the_lambda_log_lines_and_prints(lambda_api: Any) -> None:
    name = unique("tail")
    create(lambda_api, name, FAILING)
    response, _body = invoke_json(lambda_api, name, {"who": "bob"}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(response["LogResult"]).decode()
    assert f"START RequestId: {request_id}" in log
    assert "about to fail for bob" in log
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}" in log
    assert "Billed Duration:" in log
    assert log.index("START") < log.index("about to fail") < log.index("END") < log.index("REPORT")


def test_handler_sees_the_client_context(lambda_api: Any) -> None:
    name = unique("client-context")
    create(lambda_api, name, CLIENT_CONTEXT)
    sent = {"client": {"app_title": "demo"}, "custom": {"tenant": "t-42"}, "env": {}}
    encoded = base64.b64encode(json.dumps(sent).encode()).decode()
    _response, body = invoke_json(lambda_api, name, ClientContext=encoded)
    assert body == {"client_context": sent}


# --- invocation records --------------------------------------------------------------------


def wait_for_records(server: FaasServer, name: str, count: int) -> list[dict[str, Any]]:
    """The records of `name` once `count` are visible (only for tests about their content)."""
    deadline = time.monotonic() + 10
    rows = records_of(server, name)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = records_of(server, name)
    return rows


def test_records_describe_each_invocation_newest_first(server: FaasServer, lambda_api: Any) -> None:
    name = unique("records")
    create(lambda_api, name, SOMETIMES_FAILING, MemorySize=192)
    events = [{}, {}, {"fail": True}, {}]
    request_ids = [
        invoke_json(lambda_api, name, event)[0]["ResponseMetadata"]["RequestId"] for event in events
    ]

    rows = wait_for_records(server, name, len(events))

    assert [row["RequestId"] for row in rows] == request_ids[::-1]
    for row in rows:
        assert row["FunctionName"] == name
        assert row["FunctionVersion"] == "$LATEST"
        assert row["MemorySize"] == 192
        assert row["BilledDurationMs"] >= 1
    oldest, *warm = rows[::-1]
    for row in warm:
        assert row["BilledDurationMs"] == math.ceil(row["DurationMs"])
    # A cold start's init is billed with it (both times rounded to the microsecond here).
    with_init = oldest["DurationMs"] + oldest["InitDurationMs"]
    assert (
        math.ceil(with_init - 0.001) <= oldest["BilledDurationMs"] <= math.ceil(with_init + 0.001)
    )
    assert oldest["InitDurationMs"] is not None and oldest["InitDurationMs"] > 0
    assert [row["InitDurationMs"] for row in warm] == [None] * len(warm)
    # Each record names the sandbox layers it ran under, as /health lists them.
    active = {layer["layer"] for layer in server.health()["sandbox"] if layer["active"]}
    expected = {
        "mountns": "mount namespace" in active,
        "uid": "per-function uid" in active,
        "seccomp": "seccomp" in active,
        "nnp": True,
    }
    for row in rows:
        words = row["Isolation"].split()
        assert {word: word in words for word in expected} == expected
        assert any(w.startswith("cgroup-v") for w in words) == ("memory" in active)
        assert any(w.startswith("landlock-") for w in words) == ("landlock" in active)
    statuses = [(row["Status"], row["ErrorType"]) for row in rows[::-1]]
    assert statuses == [
        ("Success", None),
        ("Success", None),
        ("Unhandled", "RuntimeError"),
        ("Success", None),
    ]


def test_an_answered_invocation_is_already_on_the_books(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("on-the-books")
    create(lambda_api, name, SOMETIMES_FAILING)
    seen = []
    for _attempt in range(4):
        request_id = invoke_json(lambda_api, name)[0]["ResponseMetadata"]["RequestId"]
        rows = records_of(server, name)
        seen.append((len(rows), rows[0]["RequestId"] == request_id if rows else False))
    assert seen == [(done, True) for done in range(1, 5)]
