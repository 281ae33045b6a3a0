"""What the log tail keeps when an invocation ends badly: as on Lambda, nothing the function
wrote is lost, and the platform's own error line is there."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

from tests.helpers.server import FaasServer, make_zip

PRINTS_THEN_SLEEPS = """
import sys, time

def handler(event, context):
    print("before the timeout", end="")      # no newline: would sit in a buffer
    sys.stderr.write("on stderr too\\n")
    time.sleep(30)
"""

RAISES = """
import logging

def helper(amount):
    raise ValueError(f"amount must be positive, got {amount}")

def handler(event, context):
    print("checking", event["amount"])
    return helper(event["amount"])
"""

PRINTS_THEN_DIES = """
import os

def handler(event, context):
    print("last words", end="")
    os._exit(3)
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tail(lambda_api: Any, name: str, event: Any) -> tuple[str, str, Any]:
    response = lambda_api.invoke(
        FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail"
    )
    body = json.loads(response["Payload"].read())
    log = base64.b64decode(response["LogResult"]).decode()
    return response["ResponseMetadata"]["RequestId"], log, body


def test_a_timeout_keeps_unflushed_output_and_adds_the_timeout_line(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("log-timeout")
    server.deploy(name, {"app.py": PRINTS_THEN_SLEEPS}, Timeout=1)

    request_id, log, body = tail(lambda_api, name, {})

    assert body["errorType"] == "Sandbox.Timedout"
    assert "before the timeout" in log
    assert "on stderr too" in log
    timeout_line = re.search(
        rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {request_id} "
        r"Task timed out after 1\.00 seconds$",
        log,
        re.MULTILINE,
    )
    assert timeout_line, log
    assert log.index("before the timeout") < timeout_line.start() < log.index("END RequestId")


def test_a_raised_exception_puts_its_error_line_and_traceback_in_the_log(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("log-raise")
    server.deploy(name, {"app.py": RAISES})

    _, log, body = tail(lambda_api, name, {"amount": -3})

    assert body["errorType"] == "ValueError"
    lines = log.splitlines()
    error_at = lines.index("[ERROR] ValueError: amount must be positive, got -3")
    assert lines[error_at + 1] == "Traceback (most recent call last):"
    trace = "\n".join(lines[error_at + 2 :])
    assert '/app.py", line 5, in helper' in trace
    assert "checking -3" in log
    assert log.index("checking -3") < log.index("[ERROR]") < log.index("END RequestId")


def test_a_dying_runtime_keeps_its_output_and_the_exit_error(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("log-exit")
    server.deploy(name, {"app.py": PRINTS_THEN_DIES})

    request_id, log, body = tail(lambda_api, name, {})

    assert body["errorType"] == "Runtime.ExitError"
    assert "last words" in log
    assert (
        f"RequestId: {request_id} Error: Runtime exited with error: exit status 3\n"
        "Runtime.ExitError\n"
    ) in log


def test_an_init_error_is_in_the_log_of_the_invocation_that_hit_it(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("log-init")
    server.deploy(name, {"app.py": "import no_such_dependency\n"})

    _, log, body = tail(lambda_api, name, {})

    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "[ERROR] Runtime.ImportModuleError: Unable to import module 'app'" in log


def test_a_handler_in_a_subfolder_is_named_in_the_import_error(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("log-subfolder")
    zip_bytes = make_zip({"hello/app.py": "def handler(e, c):\n    return 1\n"})
    lambda_api.create_function(
        FunctionName=name,
        Runtime=server.health()["runtimes"][0],
        Role="arn:aws:iam::000000000000:role/test",
        Handler="app.handler",
        Code={"ZipFile": zip_bytes},
    )

    _, _, body = tail(lambda_api, name, {})

    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith(
        "Unable to import module 'app': No module named 'app' (found hello/app.py: the "
        "handler's module must be at the root of the zip"
    )
