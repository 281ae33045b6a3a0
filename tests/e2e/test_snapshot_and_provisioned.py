"""Snapshot start and provisioned concurrency against a real `faas serve`, through boto3."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.server import FaasServer, make_zip

# Init runs once per snapshot (template); every clone inherits its state at that moment.
SNAPSHOT_STATE = """
import os, time

state = {"inits": 0, "pid": os.getpid()}
state["inits"] += 1
calls = 0

def handler(event, context):
    global calls
    calls += 1
    time.sleep(event.get("sleep_s", 0))
    return {
        "pid": os.getpid(),
        "init_pid": state["pid"],
        "inits": state["inits"],
        "calls": calls,
    }
"""

VERSIONED = """
import os

def handler(event, context):
    return {"code": CODE, "pid": os.getpid()}
"""

READY_TIMEOUT_S = 15.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def versioned(code: int) -> dict[str, str]:
    return {"app.py": f"CODE = {code}\n" + VERSIONED}


def wait_ready(api: Any, name: str, count: int) -> dict[str, Any]:
    """Poll GetProvisionedConcurrencyConfig until `count` workers are READY."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        config: dict[str, Any] = api.get_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST"
        )
        if (
            config["Status"] == "READY"
            and config["AvailableProvisionedConcurrentExecutions"] == count
        ):
            return config
        if time.monotonic() > deadline:
            raise AssertionError(f"provisioned concurrency never became ready: {config}")
        time.sleep(0.1)


def records(server: FaasServer, name: str) -> list[dict[str, Any]]:
    url = f"{server.url}/faas/v1/invocations?function={name}"
    with server.urlopen(url, timeout=10) as response:
        return list(json.load(response)["Invocations"])


def raw_put(server: FaasServer, name: str, qualifier: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{server.url}/2019-09-30/functions/{name}/provisioned-concurrency"
        f"?Qualifier={urllib.parse.quote(qualifier)}",  # encoded, as every AWS client sends it
        data=body,
        method="PUT",
    )
    try:
        with server.urlopen(request, timeout=30) as response:
            return response.status, response.headers["X-Amzn-ErrorType"] or ""
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Amzn-ErrorType"]


@pytest.fixture
def api(fresh_server: FaasServer) -> Any:
    return fresh_server.client()


# -- snapshot start --------------------------------------------------------------------------


def test_snapshot_workers_start_from_init_state_and_keep_their_own(server: FaasServer) -> None:
    name = unique("snap")
    server.deploy(name, {"app.py": SNAPSHOT_STATE}, SnapStart={"ApplyOn": "PublishedVersions"})

    with ThreadPoolExecutor(4) as threads:
        answers = list(threads.map(lambda _: server.invoke(name, {"sleep_s": 0.3})[1], range(4)))

    pids = {answer["pid"] for answer in answers}
    assert len(pids) == 4, answers  # four workers served the four calls at once
    # Each got init's state as it was after init, untouched by the others' calls...
    assert [(a["inits"], a["calls"]) for a in answers] == [(1, 1)] * 4
    # ...from one init that ran once, in a template that serves no invocation itself.
    init_pids = {answer["init_pid"] for answer in answers}
    assert len(init_pids) == 1
    assert init_pids.isdisjoint(pids)
    snap_start = server.client().get_function(FunctionName=name)["Configuration"]["SnapStart"]
    assert snap_start == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}


def test_without_snap_start_each_worker_runs_init_itself(server: FaasServer) -> None:
    name = unique("plain")
    server.deploy(name, {"app.py": SNAPSHOT_STATE})

    _, answer = server.invoke(name)

    assert answer["init_pid"] == answer["pid"]
    configuration = server.client().get_function(FunctionName=name)["Configuration"]
    assert configuration["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}


def test_snap_start_can_be_switched_off_by_a_configuration_update(server: FaasServer) -> None:
    name = unique("toggle")
    server.deploy(name, {"app.py": SNAPSHOT_STATE}, SnapStart={"ApplyOn": "PublishedVersions"})
    _, forked = server.invoke(name)
    assert forked["init_pid"] != forked["pid"]

    api = server.client()
    updated = api.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "None"})

    assert updated["SnapStart"]["OptimizationStatus"] == "Off"
    _, own_init = server.invoke(name)
    assert own_init["init_pid"] == own_init["pid"]


def test_the_cli_deploys_with_snap_start(server: FaasServer, tmp_path: Path) -> None:
    name = unique("cli-snap")
    code = tmp_path / "fn.zip"
    code.write_bytes(make_zip({"app.py": SNAPSHOT_STATE}))

    deployed = server.cli(
        "deploy", str(code), "--name", name, "--handler", "app.handler", "--snap-start"
    )

    assert deployed.returncode == 0, deployed.stderr
    configuration = server.client().get_function(FunctionName=name)["Configuration"]
    assert configuration["SnapStart"]["OptimizationStatus"] == "On"
    _, answer = server.invoke(name)
    assert answer["init_pid"] != answer["pid"]


# -- provisioned concurrency -----------------------------------------------------------------


def test_provisioned_workers_are_ready_before_the_first_invoke(
    fresh_server: FaasServer, api: Any
) -> None:
    name = unique("warm")
    fresh_server.deploy(name, versioned(1))
    assert fresh_server.health()["warm_workers"] == 0

    put = api.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=2
    )

    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    ready = wait_ready(api, name, 2)
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 2
    assert ready["RequestedProvisionedConcurrentExecutions"] == 2
    assert fresh_server.health()["warm_workers"] >= 2  # before any invoke

    _, answer = fresh_server.invoke(name)

    assert answer["code"] == 1
    (first,) = records(fresh_server, name)
    assert first["InitDurationMs"] is None  # served by a worker initialised ahead of time


def test_deleting_the_config_removes_it(fresh_server: FaasServer, api: Any) -> None:
    name = unique("gone")
    fresh_server.deploy(name, versioned(1))
    api.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
    )
    wait_ready(api, name, 1)

    deleted = api.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(api.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        api.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")
    _, answer = fresh_server.invoke(name)  # the function itself still runs
    assert answer["code"] == 1


def test_a_code_update_keeps_provisioned_concurrency(fresh_server: FaasServer, api: Any) -> None:
    name = unique("rolling")
    fresh_server.deploy(name, versioned(1))
    api.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=2
    )
    wait_ready(api, name, 2)

    api.update_function_code(FunctionName=name, ZipFile=make_zip(versioned(2)))

    # Ready again means two workers of the NEW code are up, still before any invoke.
    ready = wait_ready(api, name, 2)
    assert ready["RequestedProvisionedConcurrentExecutions"] == 2
    assert records(fresh_server, name) == []
    _, answer = fresh_server.invoke(name)
    assert answer["code"] == 2
    (first,) = records(fresh_server, name)
    assert first["InitDurationMs"] is None


def test_provisioned_concurrency_is_restored_after_a_restart(
    fresh_server: FaasServer, api: Any
) -> None:
    name = unique("durable")
    fresh_server.deploy(name, versioned(1))
    api.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=2
    )
    wait_ready(api, name, 2)
    fresh_server.stop()

    restarted = FaasServer.start(fresh_server.data_dir)
    try:
        wait_ready(restarted.client(), name, 2)
        assert restarted.health()["warm_workers"] >= 2
    finally:
        restarted.stop()


def test_a_function_without_a_config_has_none(server: FaasServer) -> None:
    name = unique("none")
    server.deploy(name, versioned(1))
    api = server.client()

    with pytest.raises(ClientError) as missing:
        api.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")

    assert (
        missing.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    )
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_provisioned_may_not_exceed_the_reservation(server: FaasServer) -> None:
    name = unique("capped")
    server.deploy(name, versioned(1))
    api = server.client()
    api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)

    with pytest.raises(api.exceptions.InvalidParameterValueException, match="cannot be larger"):
        api.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=2
        )
    with pytest.raises(api.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        api.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")


@pytest.mark.parametrize(
    ("qualifier", "body", "status", "code"),
    [
        (
            "$LATEST",
            b'{"ProvisionedConcurrentExecutions": 0}',
            400,
            "InvalidParameterValueException",
        ),
        ("$LATEST", b"{}", 400, "InvalidParameterValueException"),
        ("1", b'{"ProvisionedConcurrentExecutions": 1}', 404, "ResourceNotFoundException"),
    ],
)
def test_refused_provisioned_configs(
    server: FaasServer, qualifier: str, body: bytes, status: int, code: str
) -> None:
    name = unique("refused")
    server.deploy(name, versioned(1))

    assert raw_put(server, name, qualifier, body) == (status, code)


def test_provisioned_concurrency_of_an_unknown_function_is_not_found(server: FaasServer) -> None:
    api = server.client()
    name = unique("missing")
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
