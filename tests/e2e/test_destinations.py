"""Event invoke configurations, destinations and dead letters through the real server, boto3
and the CLI.

The invocation record a destination receives is observed through the dead-letter store: the
destination `alerts` fails on purpose (MaximumRetryAttempts 0, no destination of its own), so
the event it received, the record, is kept as its dead letter and read back through the API.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.test_async_invocations import FAST_QUEUE, invoke_event, records, wait_for
from tests.helpers.auth import allow, create_key, policy, unique
from tests.helpers.auth import call as signed_call
from tests.helpers.server import REGION, FaasServer, make_zip

ACCOUNT = "000000000000"
ALERTS_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:alerts"
SQS_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue"
# Fails on purpose: its dead letter keeps the event it got (the invocation record).
ALERTS = """
def handler(event, context):
    raise RuntimeError("got it")
"""
DOUBLES = """
def handler(event, context):
    return {"doubled": event["n"] * 2}
"""
FAILS = """
def handler(event, context):
    raise ValueError("always fails")
"""
ENV = {
    **FAST_QUEUE,
    "FAAS_QUEUE_MIN_EVENT_AGE_S": "1",
    "FAAS_QUEUE_THROTTLE_BACKOFF_S": "0.2",
    "FAAS_QUEUE_DEAD_LETTER_SWEEP_INTERVAL_S": "0.2",
}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(tmp_path_factory.mktemp("destinations") / "data", env=ENV)
    try:
        started.deploy("alerts", {"app.py": ALERTS})
        started.client().put_function_event_invoke_config(
            FunctionName="alerts", MaximumRetryAttempts=0
        )
        yield started
    finally:
        started.stop()


def dead_letters(server: FaasServer, name: str) -> list[dict[str, Any]]:
    with server.urlopen(f"{server.url}/faas/v1/functions/{name}/dead-letters") as response:
        return list(json.load(response)["DeadLetters"])


def platform_call(server: FaasServer, method: str, path: str, document: Any) -> Any:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(document).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with server.urlopen(request) as response:
        return json.load(response)


def record_received_by_alerts(server: FaasServer, request_id: str) -> dict[str, Any]:
    """The invocation record of `request_id` that `alerts` received (its dead letter)."""

    def find() -> dict[str, Any] | None:
        for letter in dead_letters(server, "alerts"):
            payload = letter["Payload"]
            if payload["requestContext"]["requestId"] == request_id:
                return dict(payload)
        return None

    found = wait_for(find, timeout_s=30)
    assert found, server.log()
    return found


def unvalidated_client(server: FaasServer) -> Any:
    """boto3 without its client-side checks: values below the model's minimums reach the
    server (faas's floor for the event age is a setting)."""
    key = server.admin_key
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret,
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    error = raised.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


# -- the configuration API --------------------------------------------------------------------


def test_event_invoke_configs_round_trip_through_boto3(server: FaasServer) -> None:
    server.deploy("configured", {"app.py": DOUBLES})
    client = server.client()
    put = client.put_function_event_invoke_config(
        FunctionName="configured",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnSuccess": {"Destination": ALERTS_ARN}},
    )
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:configured:$LATEST"
    assert put["FunctionArn"] == arn
    assert put["MaximumRetryAttempts"] == 1 and "MaximumEventAgeInSeconds" not in put
    assert put["DestinationConfig"] == {"OnSuccess": {"Destination": ALERTS_ARN}, "OnFailure": {}}
    assert put["LastModified"].year >= 2024  # a timestamp botocore parsed

    updated = client.update_function_event_invoke_config(
        FunctionName="configured", Qualifier="$LATEST", MaximumEventAgeInSeconds=120
    )
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 120)
    assert updated["DestinationConfig"]["OnSuccess"] == {"Destination": ALERTS_ARN}
    got = client.get_function_event_invoke_config(FunctionName=arn)
    assert {k: v for k, v in got.items() if k != "ResponseMetadata"} == {
        k: v for k, v in updated.items() if k != "ResponseMetadata"
    }
    listed = client.list_function_event_invoke_configs(FunctionName="configured", MaxItems=1)
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [arn]
    assert "NextMarker" not in listed

    # Put replaces the whole configuration.
    replaced = client.put_function_event_invoke_config(
        FunctionName="configured", MaximumEventAgeInSeconds=300
    )
    assert "MaximumRetryAttempts" not in replaced
    assert replaced["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}

    client.delete_function_event_invoke_config(FunctionName="configured")
    code, message = error_of(client.get_function_event_invoke_config, FunctionName="configured")
    assert code == "ResourceNotFoundException"
    assert message == f"The function {arn} doesn't have an EventInvokeConfig"
    assert (
        client.list_function_event_invoke_configs(FunctionName="configured")[
            "FunctionEventInvokeConfigs"
        ]
        == []
    )


def test_bad_configurations_get_lambdas_errors(server: FaasServer) -> None:
    server.deploy("strict", {"app.py": DOUBLES})
    client, raw = server.client(), unvalidated_client(server)
    put = client.put_function_event_invoke_config
    cases: list[tuple[Any, dict[str, Any], str, str]] = [
        (put, {"MaximumRetryAttempts": 3}, "InvalidParameterValueException", "equal to 2"),
        (raw.put_function_event_invoke_config, {"MaximumEventAgeInSeconds": 0},
         "InvalidParameterValueException", "greater than or equal to 1"),
        (put, {"MaximumEventAgeInSeconds": 21601}, "InvalidParameterValueException", "21600"),
        (put, {}, "InvalidParameterValueException", "at least one of"),
        (put, {"DestinationConfig": {"OnFailure": {"Destination": SQS_ARN}}},
         "InvalidParameterValueException", "Lambda function destinations only"),
        (put, {"DestinationConfig": {"OnSuccess": {"Destination": ALERTS_ARN + "-missing"}}},
         "InvalidParameterValueException", "no function alerts-missing exists"),
        (put, {"Qualifier": "prod", "MaximumRetryAttempts": 1},
         "ResourceNotFoundException", "function:strict:prod"),
        (client.update_function_event_invoke_config, {"MaximumRetryAttempts": 1},
         "ResourceNotFoundException", "doesn't have an EventInvokeConfig"),
        (client.delete_function_event_invoke_config, {},
         "ResourceNotFoundException", "doesn't have an EventInvokeConfig"),
    ]  # fmt: skip
    for call, kwargs, want_code, says in cases:
        code, message = error_of(call, FunctionName="strict", **kwargs)
        assert (code, says in message) == (want_code, True), (kwargs, message)
    code, _ = error_of(put, FunctionName="nobody", MaximumRetryAttempts=1)
    assert code == "ResourceNotFoundException"
    code, _ = error_of(client.list_function_event_invoke_configs, FunctionName="nobody")
    assert code == "ResourceNotFoundException"


def test_deleting_a_function_deletes_its_configuration(server: FaasServer) -> None:
    server.deploy("shortlived", {"app.py": DOUBLES})
    client = server.client()
    client.put_function_event_invoke_config(FunctionName="shortlived", MaximumRetryAttempts=0)
    server.deploy("shortlived", {"app.py": DOUBLES})  # deleted and created again
    code, _ = error_of(client.get_function_event_invoke_config, FunctionName="shortlived")
    assert code == "ResourceNotFoundException"


def test_a_version_and_an_alias_have_configurations_of_their_own(server: FaasServer) -> None:
    server.deploy("versioned", {"app.py": DOUBLES})
    client = server.client()
    assert client.publish_version(FunctionName="versioned")["Version"] == "1"
    client.create_alias(FunctionName="versioned", Name="live", FunctionVersion="1")
    client.put_function_event_invoke_config(
        FunctionName="versioned",
        Qualifier="live",
        DestinationConfig={"OnSuccess": {"Destination": ALERTS_ARN}},
    )
    client.put_function_event_invoke_config(FunctionName="versioned:1", MaximumRetryAttempts=1)
    listed = client.list_function_event_invoke_configs(FunctionName="versioned")
    arns = [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]]
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:versioned"
    assert arns == [f"{base}:1", f"{base}:live"]
    # An event sent to the alias runs under the alias's configuration.
    request_id = invoke_event(server, "versioned:live", {"n": 4})
    record = record_received_by_alerts(server, request_id)
    assert record["requestContext"]["functionArn"] == f"{base}:live"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "1"}
    assert record["responsePayload"] == {"doubled": 8}
    # Deleting the alias deletes its configuration; the version's stays.
    client.delete_alias(FunctionName="versioned", Name="live")
    code, _ = error_of(
        client.get_function_event_invoke_config, FunctionName="versioned", Qualifier="live"
    )
    assert code == "ResourceNotFoundException"
    kept = client.get_function_event_invoke_config(FunctionName="versioned", Qualifier="1")
    assert kept["MaximumRetryAttempts"] == 1


# -- destinations -----------------------------------------------------------------------------


def test_on_success_sends_the_invocation_record_to_the_destination(server: FaasServer) -> None:
    server.deploy("doubles", {"app.py": DOUBLES})
    server.client().put_function_event_invoke_config(
        FunctionName="doubles", DestinationConfig={"OnSuccess": {"Destination": ALERTS_ARN}}
    )
    request_id = invoke_event(server, "doubles", {"n": 21})
    record = record_received_by_alerts(server, request_id)
    assert record["version"] == "1.0"
    assert ISO_MS.match(record["timestamp"]), record["timestamp"]
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:doubles:$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"n": 21}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"doubled": 42}
    # The destination ran as an async event of its own.
    assert {r["InvocationType"] for r in records(server, "alerts")} == {"Event"}


@pytest.mark.parametrize("retries", [0, 1])
def test_on_failure_gets_the_record_once_retries_are_exhausted(
    server: FaasServer, retries: int
) -> None:
    name = f"fails-{retries}"
    server.deploy(name, {"app.py": FAILS})
    server.client().put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=retries,
        DestinationConfig={"OnFailure": {"Destination": ALERTS_ARN}},
    )
    request_id = invoke_event(server, name, {"k": "v"})
    record = record_received_by_alerts(server, request_id)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == retries + 1
    assert record["requestPayload"] == {"k": "v"}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "always fails"
    attempts = sorted(r["Attempt"] for r in records(server, name))
    assert attempts == list(range(1, retries + 2))
    # Delivered to its destination: not a dead letter of its own.
    assert dead_letters(server, name) == []


def test_an_event_that_waits_too_long_goes_to_on_failure_as_event_age_exceeded(
    server: FaasServer,
) -> None:
    server.deploy("stuck", {"app.py": DOUBLES})
    client = server.client()
    client.put_function_concurrency(FunctionName="stuck", ReservedConcurrentExecutions=0)
    unvalidated_client(server).put_function_event_invoke_config(
        FunctionName="stuck",
        MaximumEventAgeInSeconds=1,
        DestinationConfig={"OnFailure": {"Destination": ALERTS_ARN}},
    )
    request_id = invoke_event(server, "stuck", {"n": 1})
    record = record_received_by_alerts(server, request_id)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestPayload"] == {"n": 1}
    # It never ran: no response, no record.
    assert "responseContext" not in record and "responsePayload" not in record
    assert records(server, "stuck") == []


# -- dead letters -----------------------------------------------------------------------------


def test_dead_letters_are_listed_redriven_and_deleted(server: FaasServer) -> None:
    server.deploy("flaky", {"app.py": FAILS})
    client = server.client()
    client.put_function_event_invoke_config(FunctionName="flaky", MaximumRetryAttempts=0)
    first = invoke_event(server, "flaky", {"n": 1})
    second = invoke_event(server, "flaky", {"n": 2})
    letters = wait_for(
        lambda: len(dead_letters(server, "flaky")) == 2 and dead_letters(server, "flaky")
    )
    assert letters, server.log()
    by_id = {x["RequestId"]: x for x in letters}
    assert set(by_id) == {first, second}
    letter = by_id[first]
    assert letter["FunctionName"] == "flaky" and letter["Qualifier"] is None
    assert letter["Payload"] == {"n": 1}
    assert (letter["Attempts"], letter["Condition"]) == (1, "RetriesExhausted")
    assert letter["LastError"] == "ValueError: always fails"
    assert ISO_MS.match(letter["EnqueuedAt"]) and ISO_MS.match(letter["FailedAt"])
    assert letter["FailedAt"] >= letter["EnqueuedAt"]

    # The CLI lists them; fix the function, then re-drive one.
    table = server.cli("dlq", "flaky")
    assert table.returncode == 0, table.stderr
    assert first in table.stdout and "RetriesExhausted" in table.stdout
    as_json = json.loads(server.cli("dlq", "flaky", "--json").stdout)
    assert {x["RequestId"] for x in as_json["DeadLetters"]} == {first, second}
    client.update_function_code(FunctionName="flaky", ZipFile=make_zip({"app.py": DOUBLES}))
    redriven = server.cli("dlq", "flaky", "--redrive", first)
    assert redriven.returncode == 0, redriven.stderr
    new_id = redriven.stdout.split()[-1]
    assert redriven.stdout.strip() == f"re-driven {first} as {new_id}"
    ran = wait_for(lambda: [r for r in records(server, "flaky") if r["RequestId"] == new_id])
    assert [(r["Status"], r["Attempt"], r["InvocationType"]) for r in ran] == [
        ("Success", 1, "Event")
    ]
    assert [x["RequestId"] for x in dead_letters(server, "flaky")] == [second]

    # Deleted through the API, then nothing is left to re-drive.
    deleted = platform_call(
        server, "DELETE", "/faas/v1/functions/flaky/dead-letters", {"RequestIds": [second]}
    )
    assert deleted == {"Deleted": [second]}
    assert dead_letters(server, "flaky") == []
    nothing = platform_call(server, "POST", "/faas/v1/functions/flaky/dead-letters/redrive", {})
    assert nothing == {"Redriven": []}
    assert server.cli("dlq", "flaky").stdout.strip() == "no dead letters"


def test_redrive_all_and_delete_all_through_the_cli(server: FaasServer) -> None:
    server.deploy("batch", {"app.py": FAILS})
    server.client().put_function_event_invoke_config(FunctionName="batch", MaximumRetryAttempts=0)
    ids = {invoke_event(server, "batch", {"n": n}) for n in range(3)}
    assert wait_for(lambda: len(dead_letters(server, "batch")) == 3)
    moved = json.loads(server.cli("dlq", "batch", "--redrive", "--json").stdout)["Redriven"]
    assert {m["RequestId"] for m in moved} == ids
    # Still failing: they come back as dead letters under their new ids.
    new_ids = {m["NewRequestId"] for m in moved}
    assert wait_for(lambda: {x["RequestId"] for x in dead_letters(server, "batch")} == new_ids)
    deleted = server.cli("dlq", "batch", "--delete")
    assert deleted.stdout.strip() == "deleted 3 dead letters"
    assert dead_letters(server, "batch") == []


def test_the_cli_and_the_api_refuse_bad_input_in_one_line(server: FaasServer) -> None:
    both = server.cli("dlq", "alerts", "--redrive", "--delete")
    assert both.returncode == 2
    assert both.stderr.strip() == "error: --redrive and --delete exclude each other"
    ids_alone = server.cli("dlq", "alerts", "some-id")
    assert ids_alone.returncode == 2 and "go with --redrive or --delete" in ids_alone.stderr
    missing = server.cli("dlq", "nobody")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ResourceNotFoundException: Function not found")
    assert len(missing.stderr.strip().splitlines()) == 1
    with pytest.raises(urllib.error.HTTPError) as bad:
        platform_call(
            server, "POST", "/faas/v1/functions/alerts/dead-letters/redrive", {"RequestIds": "x"}
        )
    assert bad.value.code == 400
    bad.value.close()


def test_dead_letters_past_their_retention_are_swept(server: FaasServer) -> None:
    server.deploy("old", {"app.py": FAILS})
    server.client().put_function_event_invoke_config(FunctionName="old", MaximumRetryAttempts=0)
    invoke_event(server, "old", {})
    assert wait_for(lambda: dead_letters(server, "old"))
    # Fifteen days ago: past the default retention of 14 days.
    with contextlib.closing(sqlite3.connect(server.data_dir / "faas.db")) as raw, raw:
        raw.execute(
            "UPDATE dead_letters SET failed_at_ms = failed_at_ms - ? WHERE function_name = 'old'",
            (15 * 86400 * 1000,),
        )
    assert wait_for(lambda: dead_letters(server, "old") == [], timeout_s=10)


def test_the_new_operations_need_their_own_permissions(server: FaasServer) -> None:
    server.deploy("guarded-async", {"app.py": "def handler(event, context):\n    return 1\n"})
    invoker = server.client(
        create_key(server, unique("async-invoker"), policy(allow("lambda:InvokeFunction", "*")))
    )
    # Invoking asynchronously is lambda:InvokeFunction, as on Lambda.
    assert (
        invoker.invoke(FunctionName="guarded-async", InvocationType="Event", Payload=b"{}")[
            "StatusCode"
        ]
        == 202
    )
    for operation, kwargs in (
        ("put_function_event_invoke_config", {"MaximumRetryAttempts": 0}),
        ("update_function_event_invoke_config", {"MaximumRetryAttempts": 1}),
        ("get_function_event_invoke_config", {}),
        ("delete_function_event_invoke_config", {}),
        ("list_function_event_invoke_configs", {}),
    ):
        with pytest.raises(ClientError) as refused:
            getattr(invoker, operation)(FunctionName="guarded-async", **kwargs)
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException", operation
    key = create_key(server, unique("no-dlq"), policy(allow("lambda:InvokeFunction", "*")))
    path = "/faas/v1/functions/guarded-async/dead-letters"
    assert signed_call(server, path, key).status == 403
    assert signed_call(server, path + "/redrive", key, method="POST", body=b"{}").status == 403
    assert signed_call(server, path, key, method="DELETE").status == 403
