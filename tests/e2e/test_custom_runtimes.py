"""Custom runtimes (provided.al2023, provided.al2) through a real server and boto3: a
function's own `bootstrap` speaks Lambda's Runtime API to its worker, inside the same
sandbox as a Python function, and is reported, logged, recorded and billed like one."""

from __future__ import annotations

import base64
import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.function_zips import bundle, ric_bootstrap, vendored_ric
from tests.helpers.server import FaasServer, require_layers

ROLE = "arn:aws:iam::000000000000:role/test"
REPORT_MEMORY = re.compile(r"Max Memory Used: (\d+) MB")

# A custom runtime in the Python standard library, as a Lambda user writes one without an
# SDK: the Runtime API by hand. What an event asks for, it does.
LOOP = r"""#!/usr/bin/env python3
import json, os, subprocess, sys, time, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
NAMES = (
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION",
    "AWS_DEFAULT_REGION", "_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
    "AWS_EXECUTION_ENV", "AWS_LAMBDA_RUNTIME_API",
)


def call(path, body=None, headers=None):
    method = "GET" if body is None else "POST"
    request = urllib.request.Request(API + path, body, headers or {}, method=method)
    with urllib.request.urlopen(request) as response:
        return dict(response.headers), response.read()


print("init on", os.environ["AWS_LAMBDA_RUNTIME_API"], flush=True)
while True:
    headers, body = call("/invocation/next")
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    event = json.loads(body)
    print("handling", request_id, flush=True)
    if "exit" in event:
        os._exit(event["exit"])
    if "alloc_mb" in event:
        hog = b"x" * (event["alloc_mb"] << 20)
    if "sleep" in event:
        subprocess.Popen(["sleep", event["marker"]])
        time.sleep(event["sleep"])
    if "fail" in event:
        document = {"errorMessage": event["fail"], "errorType": "Custom.Failure", "stackTrace": []}
        error_type = {"Lambda-Runtime-Function-Error-Type": "Custom.Failure"}
        call(f"/invocation/{request_id}/error", json.dumps(document).encode(), error_type)
        continue
    answer = {
        "event": event,
        "headers": {k: v for k, v in headers.items() if k.lower().startswith("lambda-runtime")},
        "env": {name: os.environ.get(name) for name in NAMES},
        "cwd": os.getcwd(),
        "pid": os.getpid(),
    }
    call(f"/invocation/{request_id}/response", json.dumps(answer).encode())
"""
# The bootstrap as a shell script that hands over to the loop (as many Lambda users' do).
SHELL_BOOTSTRAP = (
    '#!/bin/sh\necho "bootstrap: $_HANDLER"\nexec python3 "$LAMBDA_TASK_ROOT/loop.py"\n'
)
RIC_APP = """
import os

def handler(event, context):
    if event.get("raise"):
        raise ValueError(event["raise"])
    return {"sum": event["a"] + event["b"], "function": context.function_name,
            "remaining_ok": context.get_remaining_time_in_millis() > 0}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create(
    server: FaasServer,
    files: Mapping[str, str | bytes],
    *,
    handler: str = "function.handler",
    **config: Any,
) -> str:
    name = unique("custom")
    server.client().create_function(
        FunctionName=name,
        Runtime=config.pop("Runtime", "provided.al2023"),
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": bundle(files)},
        **config,
    )
    return name


def invoke(
    server: FaasServer, name: str, event: Any, **kwargs: Any
) -> tuple[dict[str, Any], Any, str]:
    """(response, decoded body, log tail) of a synchronous boto3 invoke."""
    response = server.client().invoke(
        FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail", **kwargs
    )
    body = response["Payload"].read()
    tail = base64.b64decode(response.get("LogResult", "")).decode()
    return response, json.loads(body) if body else None, tail


def record_of(server: FaasServer, name: str, request_id: str) -> dict[str, Any]:
    url = f"{server.url}/faas/v1/invocations?function={name}&limit=100"
    with server.urlopen(url, timeout=10) as response:
        records = json.load(response)["Invocations"]
    return next(record for record in records if record["RequestId"] == request_id)


def processes_with(marker: str) -> list[int]:
    """Pids on this host whose command line holds `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if marker.encode() in cmdline.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def wait_gone(marker: str, within_s: float = 10.0) -> list[int]:
    """The processes still there once `within_s` passed (none, as soon as none is)."""
    deadline = time.monotonic() + within_s
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return processes_with(marker)


@pytest.fixture(scope="module")
def loop_function(server: FaasServer) -> str:
    return create(server, {"bootstrap": SHELL_BOOTSTRAP, "loop.py": LOOP})


def test_a_shell_bootstrap_answers_through_the_runtime_api(
    server: FaasServer, loop_function: str
) -> None:
    context = base64.b64encode(json.dumps({"custom": {"who": "test"}}).encode()).decode()
    response, body, tail = invoke(server, loop_function, {"hello": "world"}, ClientContext=context)
    assert "FunctionError" not in response, body
    request_id = response["ResponseMetadata"]["RequestId"]
    headers = body["headers"]
    assert body["event"] == {"hello": "world"}
    assert headers["Lambda-Runtime-Aws-Request-Id"] == request_id
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(f":function:{loop_function}")
    remaining_ms = int(headers["Lambda-Runtime-Deadline-Ms"]) - int(time.time() * 1000)
    assert 0 < remaining_ms <= 3000  # the default timeout is 3 s
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert json.loads(headers["Lambda-Runtime-Client-Context"]) == {"custom": {"who": "test"}}
    env = body["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == loop_function
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{loop_function}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "function.handler"
    assert env["TZ"] == ":UTC"
    assert env["AWS_EXECUTION_ENV"] is None  # Lambda leaves it out for OS-only runtimes
    assert body["cwd"] == env["LAMBDA_TASK_ROOT"]
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    # Everything the bootstrap and its children wrote, framed as for Python.
    assert "bootstrap: function.handler" in tail  # its init's output, as for Python
    assert f"handling {request_id}" in tail
    assert f"END RequestId: {request_id}" in tail
    assert "Init Duration" in tail


def test_warm_invocations_reuse_the_bootstrap_and_are_recorded(
    server: FaasServer, loop_function: str
) -> None:
    _, body, _ = invoke(server, loop_function, {"n": 1})
    second, again, tail = invoke(server, loop_function, {"n": 2})
    assert again["pid"] == body["pid"]
    assert "Init Duration" not in tail
    found = REPORT_MEMORY.search(tail)
    assert found is not None, tail
    record = record_of(server, loop_function, second["ResponseMetadata"]["RequestId"])
    assert record["Status"] == "Success"
    assert record["MaxMemoryUsed"] == int(found.group(1))
    # The supervisor and the bootstrap's interpreter: well above a few megabytes.
    assert record["MaxMemoryUsed"] >= 8
    assert record["BilledDurationMs"] >= 1


def test_a_runtime_error_is_reported_with_its_type(server: FaasServer, loop_function: str) -> None:
    response, body, _ = invoke(server, loop_function, {"fail": "no luck"})
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorMessage": "no luck", "errorType": "Custom.Failure", "stackTrace": []}
    record = record_of(server, loop_function, response["ResponseMetadata"]["RequestId"])
    assert record["ErrorType"] == "Custom.Failure"


def test_a_runtime_that_exits_mid_invocation_is_replaced(
    server: FaasServer, loop_function: str
) -> None:
    _, before, _ = invoke(server, loop_function, {"n": 0})
    response, body, tail = invoke(server, loop_function, {"exit": 3})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"] == (
        f"RequestId: {request_id} Error: Runtime exited with error: exit status 3"
    )
    assert "Runtime.ExitError" in tail
    after_response, after, after_tail = invoke(server, loop_function, {"n": 1})
    assert "FunctionError" not in after_response, after
    assert after["pid"] != before["pid"]
    assert "Init Duration" in after_tail  # a fresh worker


def test_the_python_ric_returns_results_and_errors(server: FaasServer) -> None:
    name = create(
        server,
        {"bootstrap": ric_bootstrap(), "app.py": RIC_APP, **vendored_ric()},
        handler="app.handler",
    )
    response, body, _ = invoke(server, name, {"a": 2, "b": 3})
    assert "FunctionError" not in response, body
    assert body == {"sum": 5, "function": name, "remaining_ok": True}
    response, body, tail = invoke(server, name, {"raise": "bad input"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad input"
    assert any("raise ValueError" in line for line in body["stackTrace"])
    assert "bad input" in tail


def test_an_import_error_in_the_ric_fails_init_as_lambda_reports_it(server: FaasServer) -> None:
    name = create(
        server,
        {"bootstrap": ric_bootstrap(), "app.py": RIC_APP, **vendored_ric()},
        handler="missing_module.handler",
    )
    response, body, _ = invoke(server, name, {"a": 1, "b": 1})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "missing_module" in body["errorMessage"]


def test_an_init_error_posted_by_hand_keeps_its_type_and_body(server: FaasServer) -> None:
    script = (
        "#!/usr/bin/env python3\n"
        "import os, urllib.request\n"
        "api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API']\n"
        'body = b\'{"errorMessage": "config missing", "errorType": "Init.Config"}\'\n'
        "request = urllib.request.Request(api + '/2018-06-01/runtime/init/error', body,\n"
        "    {'Lambda-Runtime-Function-Error-Type': 'Custom.ConfigMissing'}, method='POST')\n"
        "print('status', urllib.request.urlopen(request).status, flush=True)\n"
        "raise SystemExit(1)\n"
    )
    name = create(server, {"bootstrap": script})
    response, body, tail = invoke(server, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorMessage": "config missing", "errorType": "Init.Config"}
    assert "status 202" in tail


def test_a_missing_bootstrap_is_an_invalid_entrypoint(server: FaasServer) -> None:
    name = create(server, {"function.sh": "echo hi\n"})
    response, body, _ = invoke(server, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert "Couldn't find valid bootstrap(s)" in body["errorMessage"]
    assert "/opt/bootstrap" in body["errorMessage"]


def test_a_bootstrap_from_a_layer_is_found_at_opt(server: FaasServer) -> None:
    api = server.client()
    layer = api.publish_layer_version(
        LayerName=unique("runtime"),
        Content={
            "ZipFile": bundle(
                {"bootstrap": SHELL_BOOTSTRAP.replace("$LAMBDA_TASK_ROOT", "/opt"), "loop.py": LOOP}
            )
        },
        CompatibleRuntimes=["provided.al2023"],
    )
    name = create(
        server, {"README": "the runtime is in the layer\n"}, Layers=[layer["LayerVersionArn"]]
    )
    response, body, tail = invoke(server, name, {"layered": True})
    assert "FunctionError" not in response, body
    assert body["event"] == {"layered": True}
    assert "bootstrap: function.handler" in tail


def test_a_timeout_kills_the_bootstrap_and_its_children(
    server: FaasServer, loop_function: str
) -> None:
    marker = f"{int(uuid.uuid4().int % 10**8) + 10**8}.5"  # a sleep duration nobody else uses
    response, body, tail = invoke(server, loop_function, {"sleep": 30, "marker": marker})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in body["errorMessage"]
    assert "Task timed out after 3.00 seconds" in tail
    assert wait_gone(marker) == []


def test_running_out_of_memory_is_reported_at_the_limit(server: FaasServer) -> None:
    # A memory cgroup kills it; without one, the platform's polling of the worker's process
    # tree does (the bootstrap's 400 MB fit under its RLIMIT_AS of 2 x 128 + 256 MB).
    name = create(server, {"bootstrap": SHELL_BOOTSTRAP, "loop.py": LOOP}, MemorySize=128)
    response, body, tail = invoke(server, name, {"alloc_mb": 400})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert "Max Memory Used: 128 MB" in tail
    after, again, _ = invoke(server, name, {"n": 1})
    assert "FunctionError" not in after, again


def test_a_custom_runtime_runs_without_a_network(server: FaasServer, tmp_path: Path) -> None:
    require_layers(server, "network namespace")
    code = tmp_path / "code"
    code.mkdir()
    (code / "bootstrap").write_text(SHELL_BOOTSTRAP)
    (code / "bootstrap").chmod(0o755)
    (code / "loop.py").write_text(LOOP)
    name = unique("offline")
    deployed = server.cli(
        "deploy",
        str(code),
        "--name",
        name,
        "--runtime",
        "provided.al2",
        "--handler",
        "any",
        "--network",
        "none",
    )
    assert deployed.returncode == 0, deployed.stderr
    response, body, _ = invoke(server, name, {"offline": True})
    assert "FunctionError" not in response, body
    assert body["env"]["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert body["event"] == {"offline": True}


def test_the_host_lists_its_runtimes_when_one_is_unavailable(server: FaasServer) -> None:
    with pytest.raises(ClientError) as raised:
        create(server, {"bootstrap": SHELL_BOOTSTRAP}, Runtime="nodejs0.x")
    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert "provided.al2023" in error["Message"]
    assert "provided.al2" in error["Message"]
    assert "provided.al2023" in server.health()["runtimes"]


def test_a_custom_runtime_takes_any_handler_but_python_does_not(server: FaasServer) -> None:
    name = create(server, {"bootstrap": SHELL_BOOTSTRAP, "loop.py": LOOP}, handler="my-handler")
    _, body, _ = invoke(server, name, {})
    assert body["env"]["_HANDLER"] == "my-handler"
    client = server.client()
    python = server.health()["runtimes"][0]
    with pytest.raises(ClientError) as raised:
        client.update_function_configuration(FunctionName=name, Runtime=python)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"


@pytest.fixture
def impatient_server(tmp_path: Path) -> Iterator[FaasServer]:
    """A server whose workers get 2 s for their init."""
    running = FaasServer.start(tmp_path / "data", env={"FAAS_POOL_INIT_TIMEOUT_S": "2"})
    try:
        yield running
    finally:
        running.stop()


def test_a_runtime_that_never_asks_for_work_fails_its_init_in_bounded_time(
    impatient_server: FaasServer,
) -> None:
    marker = f"{int(uuid.uuid4().int % 10**8) + 10**8}.25"
    name = create(impatient_server, {"bootstrap": f"#!/bin/sh\nexec sleep {marker}\n"})
    response, body, _ = invoke(impatient_server, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == "Init timed out after 2.00 seconds"
    assert wait_gone(marker) == []


def test_a_server_stops_cleanly_while_a_runtime_waits_in_next(fresh_server: FaasServer) -> None:
    marker = unique("waiting")
    bootstrap = f'#!/bin/sh\nexec python3 "$LAMBDA_TASK_ROOT/loop.py" {marker}\n'
    name = create(fresh_server, {"bootstrap": bootstrap, "loop.py": LOOP})
    invoke(fresh_server, name, {"n": 1})  # its worker now waits in /next
    assert processes_with(marker)
    assert fresh_server.stop() == 0  # not killed after the grace period: it ended by itself
    assert wait_gone(marker) == []
