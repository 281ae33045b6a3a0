"""LoggingConfig through the real server and boto3: what GetFunctionConfiguration says, what
the function's runtime sees, and the log a `LogType: Tail` invocation returns in each format."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.server import FaasServer

# Lambda's advice: set a level in code only where Lambda does not (no ApplicationLogLevel).
LOGS = """
import logging, os

logger = logging.getLogger()
if "AWS_LAMBDA_LOG_LEVEL" not in os.environ:
    logger.setLevel(logging.INFO)
orders = logging.getLogger("orders")

def handler(event, context):
    logger.debug("debug detail %s", 1)
    logger.info("taking order %s", event.get("order"), extra={"order": event.get("order")})
    print("printed plainly")
    try:
        {}["missing"]
    except KeyError:
        orders.exception("order lookup failed")
    if event.get("raise"):
        raise ValueError("refused")
    return {
        name: os.environ.get(name)
        for name in ("AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_LOG_GROUP_NAME")
    } | {"context_log_group": context.log_group_name}
"""

TEXT_LEVEL_REFUSED = (
    'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your '
    'request or change the LogFormat to "JSON" and try again.'
)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tail(lambda_api: Any, name: str, event: Any) -> tuple[str, list[str], Any]:
    response = lambda_api.invoke(
        FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail"
    )
    body = json.loads(response["Payload"].read())
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    return response["ResponseMetadata"]["RequestId"], lines, body


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_json_with_levels_is_stored_and_read_back_as_given(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("logcfg-read")
    logging_config = {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "DEBUG",
        "SystemLogLevel": "WARN",
        "LogGroup": "/custom/orders-team",
    }

    created = server.deploy(name, {"app.py": LOGS}, LoggingConfig=logging_config)

    assert created["LoggingConfig"] == logging_config
    assert lambda_api.get_function_configuration(FunctionName=name)["LoggingConfig"] == (
        logging_config
    )
    assert lambda_api.get_function(FunctionName=name)["Configuration"]["LoggingConfig"] == (
        logging_config
    )
    listed = lambda_api.list_functions()["Functions"]
    assert [f["LoggingConfig"] for f in listed if f["FunctionName"] == name] == [logging_config]
    _, body = server.invoke(name, {"order": 1})
    assert body == {
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "DEBUG",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/custom/orders-team",
        "context_log_group": "/custom/orders-team",
    }


def test_json_without_levels_reads_as_info_and_text_has_no_levels(
    server: FaasServer, lambda_api: Any
) -> None:
    json_name, text_name = unique("logcfg-json"), unique("logcfg-text")

    server.deploy(json_name, {"app.py": LOGS}, LoggingConfig={"LogFormat": "JSON"})
    server.deploy(text_name, {"app.py": LOGS})

    assert lambda_api.get_function_configuration(FunctionName=json_name)["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{json_name}",
    }
    assert lambda_api.get_function_configuration(FunctionName=text_name)["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": f"/aws/lambda/{text_name}",
    }
    _, body = server.invoke(text_name, {})
    assert body["AWS_LAMBDA_LOG_FORMAT"] == "Text"
    assert body["AWS_LAMBDA_LOG_LEVEL"] is None  # as on Lambda: only JSON has a level
    assert body["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{text_name}"


def test_json_logs_are_objects_filtered_by_level_and_prints_stay_plain(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("logcfg-tail")
    server.deploy(
        name, {"app.py": LOGS}, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "INFO"}
    )

    request_id, lines, body = tail(lambda_api, name, {"order": 42})

    assert body["AWS_LAMBDA_LOG_LEVEL"] == "INFO"
    assert "printed plainly" in lines
    records = [r for r in json_lines(lines) if "type" not in r]
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("INFO", "root", "taking order 42"),
        ("ERROR", "orders", "order lookup failed"),
    ]
    info, error = records
    assert info == {
        "timestamp": info["timestamp"],
        "level": "INFO",
        "message": "taking order 42",
        "logger": "root",
        "requestId": request_id,
        "order": 42,
    }
    assert TIMESTAMP.match(info["timestamp"]), info
    assert error["errorType"] == "KeyError"
    assert error["errorMessage"] == "'missing'"
    assert error["requestId"] == request_id
    assert any("in handler" in frame for frame in error["stackTrace"]), error
    assert not any("debug detail" in line for line in lines)
    platform = [r for r in json_lines(lines) if "type" in r]
    assert [r["type"] for r in platform] == [
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
    ]
    assert {r["record"]["requestId"] for r in platform} == {request_id}
    assert not any(line.startswith(("START", "END", "REPORT")) for line in lines)


def test_an_unhandled_error_is_logged_as_one_json_object(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("logcfg-raise")
    server.deploy(name, {"app.py": LOGS}, LoggingConfig={"LogFormat": "JSON"})

    request_id, lines, body = tail(lambda_api, name, {"raise": True})

    assert body["errorType"] == "ValueError"
    errors = [r for r in json_lines(lines) if r.get("errorType") == "ValueError"]
    assert len(errors) == 1, lines
    assert errors[0]["level"] == "ERROR"
    assert errors[0]["errorMessage"] == "refused"
    assert errors[0]["requestId"] == request_id
    assert not any(line.startswith("[ERROR]") for line in lines)


def test_system_level_warn_drops_the_platform_lines(server: FaasServer, lambda_api: Any) -> None:
    name = unique("logcfg-quiet")
    server.deploy(
        name, {"app.py": LOGS}, LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"}
    )

    _, lines, _ = tail(lambda_api, name, {"order": 7})

    assert not [r for r in json_lines(lines) if "type" in r], lines
    assert not any(line.startswith(("START", "END", "REPORT")) for line in lines)
    assert any(r.get("message") == "taking order 7" for r in json_lines(lines))


def test_text_format_is_lambdas_plain_lines(server: FaasServer, lambda_api: Any) -> None:
    name = unique("logcfg-plain")
    server.deploy(name, {"app.py": LOGS}, LoggingConfig={"LogFormat": "Text"})

    request_id, lines, _ = tail(lambda_api, name, {"order": 3})

    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    info = [line for line in lines if line.startswith("[INFO]")]
    assert len(info) == 1
    _level, stamp, logged_id, message = info[0].split("\t")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", stamp)
    assert (logged_id, message) == (request_id, "taking order 3")
    assert any(line.startswith("[ERROR]\t") for line in lines)
    assert "printed plainly" in lines
    assert not json_lines(lines)
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}")


@pytest.mark.parametrize(
    "logging_config",
    [
        {"LogFormat": "Text", "ApplicationLogLevel": "INFO"},
        {"LogFormat": "Text", "SystemLogLevel": "WARN"},
        {"ApplicationLogLevel": "DEBUG"},  # no LogFormat: Text
    ],
)
def test_levels_without_json_are_refused(
    server: FaasServer, lambda_api: Any, logging_config: dict[str, str]
) -> None:
    name = unique("logcfg-refused")
    with pytest.raises(ClientError) as created:
        server.deploy(name, {"app.py": LOGS}, LoggingConfig=logging_config)
    assert error_code(created) == ("InvalidParameterValueException", TEXT_LEVEL_REFUSED)

    server.deploy(name, {"app.py": LOGS}, LoggingConfig={"LogFormat": "JSON"})
    with pytest.raises(ClientError) as updated:
        lambda_api.update_function_configuration(FunctionName=name, LoggingConfig=logging_config)
    assert error_code(updated) == ("InvalidParameterValueException", TEXT_LEVEL_REFUSED)
    unchanged = lambda_api.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert unchanged["LogFormat"] == "JSON"


@pytest.mark.parametrize(
    ("logging_config", "field"),
    [
        ({"LogGroup": "bad group!"}, "loggingConfig.logGroup"),
        ({"LogGroup": "g" * 513}, "loggingConfig.logGroup"),
        ({"LogFormat": "XML"}, "loggingConfig.logFormat"),
        ({"LogFormat": "JSON", "ApplicationLogLevel": "LOUD"}, "loggingConfig.applicationLogLevel"),
        ({"LogFormat": "JSON", "SystemLogLevel": "ERROR"}, "loggingConfig.systemLogLevel"),
    ],
)
def test_malformed_members_are_refused(
    server: FaasServer, logging_config: dict[str, str], field: str
) -> None:
    with pytest.raises(ClientError) as caught:
        server.deploy(unique("logcfg-bad"), {"app.py": LOGS}, LoggingConfig=logging_config)
    code, message = error_code(caught)
    assert code == "InvalidParameterValueException"
    assert f"at '{field}' failed to satisfy constraint" in message


def test_an_update_takes_effect_on_the_next_invoke(server: FaasServer, lambda_api: Any) -> None:
    name = unique("logcfg-update")
    server.deploy(name, {"app.py": LOGS})
    _, before, _ = tail(lambda_api, name, {"order": 1})
    assert any(line.startswith("[INFO]\t") for line in before)

    updated = lambda_api.update_function_configuration(
        FunctionName=name,
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "ERROR", "LogGroup": "/team"},
    )
    assert updated["LoggingConfig"]["ApplicationLogLevel"] == "ERROR"

    _, after, body = tail(lambda_api, name, {"order": 2})
    assert body["AWS_LAMBDA_LOG_LEVEL"] == "ERROR"
    assert body["AWS_LAMBDA_LOG_GROUP_NAME"] == "/team"
    records = [r for r in json_lines(after) if "type" not in r]
    assert [r["level"] for r in records] == ["ERROR"]  # INFO is below the level now
    assert not any(line.startswith("[") for line in after)

    # LoggingConfig is replaced as a whole: what it leaves out goes back to the default.
    reset = lambda_api.update_function_configuration(FunctionName=name, LoggingConfig={})
    assert reset["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    _, again, body = tail(lambda_api, name, {"order": 3})
    assert body["AWS_LAMBDA_LOG_FORMAT"] == "Text"
    assert any(line.startswith("[INFO]\t") for line in again)


def test_an_update_of_something_else_keeps_the_logging_config(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("logcfg-keep")
    logging_config = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "LogGroup": "/kept"}
    server.deploy(name, {"app.py": LOGS}, LoggingConfig=logging_config)

    updated = lambda_api.update_function_configuration(FunctionName=name, Timeout=5)

    assert updated["LoggingConfig"] == {**logging_config, "SystemLogLevel": "INFO"}


def test_the_cli_deploys_and_shows_the_logging_config(server: FaasServer, tmp_path: Any) -> None:
    name = unique("logcfg-cli")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(LOGS)

    created = server.cli(
        "deploy", str(code), "--name", name, "--handler", "app.handler", "--log-format", "json"
    )
    assert created.returncode == 0, created.stderr
    leveled = server.cli("deploy", str(code), "--name", name, "--system-log-level", "warn")
    assert leveled.returncode == 0, leveled.stderr

    described = server.cli("get", name)
    assert described.returncode == 0, described.stderr
    facts = dict(line.split(":", 1) for line in described.stdout.split("\n\n")[0].splitlines())
    assert facts["log format"].strip() == "JSON (application INFO, system WARN)"
    assert facts["log group"].strip() == f"/aws/lambda/{name}"

    plain = server.cli("deploy", str(code), "--name", name, "--log-format", "text")
    assert plain.returncode == 0, plain.stderr
    configuration = server.client().get_function_configuration(FunctionName=name)
    assert configuration["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": f"/aws/lambda/{name}",
    }


def stored_messages(server: FaasServer, group: str, request_id: str) -> list[str]:
    """The messages of one invocation in a log group, once the log writer has stored them."""
    logs = server.logs_client()
    deadline = time.monotonic() + 10
    while True:
        try:
            events = logs.filter_log_events(logGroupName=group)["events"]
        except ClientError:
            events = []  # the group is made by the first invocation's logs
        messages = [event["message"] for event in events]
        if any(request_id in message for message in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def test_logs_are_stored_in_the_custom_group_in_the_chosen_format(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("logcfg-group")
    group = f"/custom/{name}"
    server.deploy(name, {"app.py": LOGS}, LoggingConfig={"LogFormat": "JSON", "LogGroup": group})

    response, _ = server.invoke(name, {"order": 9})
    request_id = response["ResponseMetadata"]["RequestId"]

    messages = stored_messages(server, group, request_id)
    documents = [json.loads(m) for m in messages if m.startswith("{")]
    assert documents[0]["type"] == "platform.start"
    assert documents[0]["record"]["requestId"] == request_id
    assert any(d.get("message") == "taking order 9" for d in documents)
    assert "printed plainly" in messages
    shown = server.cli("logs", name, "--request-id", request_id)
    assert shown.returncode == 0, shown.stderr
    assert "taking order 9" in shown.stdout
    with pytest.raises(ClientError) as default_group:
        server.logs_client().filter_log_events(logGroupName=f"/aws/lambda/{name}")
    assert default_group.value.response["Error"]["Code"] == "ResourceNotFoundException"
