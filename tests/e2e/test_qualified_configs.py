"""Qualifiers beyond Invoke against a real server, with boto3 and the AWS CLI: provisioned
concurrency of versions and aliases, function URLs of aliases, event invoke configurations of
versions and aliases, ListFunctions with FunctionVersion=ALL and the published_version_active
waiter."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_versions_aliases import ARN, error_of, source, unique
from tests.helpers.server import FaasServer, aws_cli_for, make_zip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(tmp_path_factory.mktemp("qualified") / "data")
    try:
        yield started
    finally:
        started.stop()


def two_versions(server: FaasServer, prefix: str) -> str:
    """A new function with versions 1 and 2 (code "one" and "two")."""
    name = unique(prefix)
    client = server.client()
    server.deploy(name, source("one"))
    client.publish_version(FunctionName=name)
    client.update_function_code(FunctionName=name, ZipFile=make_zip(source("two")))
    client.get_waiter("function_updated_v2").wait(FunctionName=name)
    client.publish_version(FunctionName=name)
    return name


def wait_ready(client: Any, name: str, qualifier: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        config = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if config["Status"] == "READY" or time.monotonic() > deadline:
            return dict(config)
        time.sleep(0.1)


# -- provisioned concurrency ------------------------------------------------------------------


def test_provisioned_concurrency_of_a_version_and_an_alias(server: FaasServer) -> None:
    client = server.client()
    name = two_versions(server, "pc")
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")

    put = client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    assert put["RequestedProvisionedConcurrentExecutions"] == 1
    client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    # The workers really start, in each version's own pool.
    assert wait_ready(client, name, "1")["AllocatedProvisionedConcurrentExecutions"] == 1
    assert wait_ready(client, name, "live")["AllocatedProvisionedConcurrentExecutions"] == 2
    listed = client.list_provisioned_concurrency_configs(FunctionName=name)
    arns = [c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]]
    assert arns == [f"{ARN}:{name}:1", f"{ARN}:{name}:live"]
    paged = client.list_provisioned_concurrency_configs(FunctionName=name, MaxItems=1)
    assert len(paged["ProvisionedConcurrencyConfigs"]) == 1 and paged["NextMarker"] == "live"

    # Lambda's errors.
    assert error_of(
        client.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="9",
        ProvisionedConcurrentExecutions=1,
    )[:2] == (404, "ResourceNotFoundException")
    assert error_of(
        client.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="2",
        ProvisionedConcurrentExecutions=1,
    )[:2] == (409, "ResourceConflictException")
    client.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    status, code, message = error_of(
        client.put_provisioned_concurrency_config,
        FunctionName=name,
        Qualifier="canary",
        ProvisionedConcurrentExecutions=1,
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "Alias with weights" in message

    # Deleting the alias deletes its configuration; deleting a config is its own call.
    client.delete_alias(FunctionName=name, Name="live")
    assert error_of(client.get_provisioned_concurrency_config, FunctionName=name, Qualifier="live")[
        :2
    ] == (404, "ResourceNotFoundException")
    client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    status, code, _ = error_of(
        client.get_provisioned_concurrency_config, FunctionName=name, Qualifier="1"
    )
    assert (status, code) == (404, "ProvisionedConcurrencyConfigNotFoundException")
    assert (
        client.list_provisioned_concurrency_configs(FunctionName=name)[
            "ProvisionedConcurrencyConfigs"
        ]
        == []
    )


# -- function URLs of aliases -----------------------------------------------------------------


def fetch_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


def test_an_alias_has_a_url_of_its_own(server: FaasServer) -> None:
    client = server.client()
    name = two_versions(server, "url")
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    latest = client.create_function_url_config(FunctionName=name, AuthType="NONE")
    live = client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert live["FunctionArn"] == f"{ARN}:{name}:live"
    assert latest["FunctionArn"] == f"{ARN}:{name}"
    assert live["FunctionUrl"] != latest["FunctionUrl"]

    status, answer = fetch_json(live["FunctionUrl"])
    assert (status, answer["code"], answer["version"]) == (200, "one", "1")
    assert answer["arn"] == f"{ARN}:{name}:live"
    status, answer = fetch_json(latest["FunctionUrl"])
    assert (status, answer["code"], answer["version"]) == (200, "two", "$LATEST")
    # The alias moves: its URL runs the version it now points at.
    client.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert fetch_json(live["FunctionUrl"])[1]["version"] == "2"

    listed = client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [c["FunctionArn"] for c in listed] == [f"{ARN}:{name}", f"{ARN}:{name}:live"]
    status, code, message = error_of(
        client.create_function_url_config, FunctionName=name, Qualifier="1", AuthType="NONE"
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "$LATEST or an alias" in message
    assert error_of(
        client.create_function_url_config, FunctionName=name, Qualifier="nope", AuthType="NONE"
    )[:2] == (404, "ResourceNotFoundException")

    # The faas CLI names an alias's URL as NAME:ALIAS.
    shown = server.cli("url", "get", f"{name}:live", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["FunctionUrl"] == live["FunctionUrl"]

    # Deleting the alias deletes its URL; $LATEST's stays.
    client.delete_alias(FunctionName=name, Name="live")
    assert fetch_json(live["FunctionUrl"])[0] == 404
    assert fetch_json(latest["FunctionUrl"])[0] == 200


# -- ListFunctions with every version, and the published_version_active waiter ----------------


def test_list_functions_with_every_version(server: FaasServer) -> None:
    client = server.client()
    name = two_versions(server, "all")
    paginator = client.get_paginator("list_functions")
    everything = [
        (f["FunctionName"], f["Version"], f["FunctionArn"])
        for page in paginator.paginate(FunctionVersion="ALL", PaginationConfig={"PageSize": 2})
        for f in page["Functions"]
    ]
    mine = [entry for entry in everything if entry[0] == name]
    assert mine == [
        (name, "$LATEST", f"{ARN}:{name}:$LATEST"),
        (name, "1", f"{ARN}:{name}:1"),
        (name, "2", f"{ARN}:{name}:2"),
    ]
    assert len(everything) == len(set(everything))
    plain = [f["FunctionName"] for f in client.list_functions()["Functions"]]
    assert plain.count(name) == 1
    status, code, message = error_of(client.list_functions, FunctionVersion="1")
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "enum value set: [ALL]" in message


def test_the_published_version_active_waiter(server: FaasServer) -> None:
    client = server.client()
    name = unique("waiter")
    server.deploy(name, source("one"))
    version = client.publish_version(FunctionName=name)["Version"]
    client.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    assert (
        client.get_function_configuration(FunctionName=name, Qualifier=version)["State"] == "Active"
    )


# -- the AWS CLI -------------------------------------------------------------------------------


def test_the_aws_cli_with_qualifiers(server: FaasServer) -> None:
    name = two_versions(server, "cli")
    cli = aws_cli_for(server.data_dir, server.url)
    run = cli.ok
    run("wait", "published-version-active", "--function-name", name, "--qualifier", "2")
    run("create-alias", "--function-name", name, "--name", "live", "--function-version", "1")
    run(
        "put-provisioned-concurrency-config", "--function-name", name,
        "--qualifier", "live", "--provisioned-concurrent-executions", "1",
    )  # fmt: skip
    listed = run("list-provisioned-concurrency-configs", "--function-name", name)
    assert [c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]] == [
        f"{ARN}:{name}:live"
    ]
    url = run(
        "create-function-url-config", "--function-name", name, "--qualifier", "live",
        "--auth-type", "NONE",
    )  # fmt: skip
    assert url["FunctionArn"] == f"{ARN}:{name}:live"
    run(
        "put-function-event-invoke-config", "--function-name", name, "--qualifier", "2",
        "--maximum-retry-attempts", "0",
    )  # fmt: skip
    config = run("get-function-event-invoke-config", "--function-name", name, "--qualifier", "2")
    assert config["FunctionArn"] == f"{ARN}:{name}:2"
    functions = run("list-functions", "--function-version", "ALL")["Functions"]
    assert [f["Version"] for f in functions if f["FunctionName"] == name] == ["$LATEST", "1", "2"]
    completed = cli.run(
        "put-provisioned-concurrency-config", "--function-name", name,
        "--qualifier", "7", "--provisioned-concurrent-executions", "1",
    )  # fmt: skip
    assert completed.returncode != 0 and "ResourceNotFoundException" in completed.stderr
    run("delete-provisioned-concurrency-config", "--function-name", name, "--qualifier", "live")
    run("delete-function-url-config", "--function-name", name, "--qualifier", "live")


def test_deleting_an_alias_deletes_its_resource_policy(server: FaasServer) -> None:
    client = server.client()
    name = two_versions(server, "policy")
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    client.add_permission(
        FunctionName=name,
        Qualifier="live",
        StatementId="anyone",
        Action="lambda:InvokeFunction",
        Principal="*",
    )
    client.add_permission(
        FunctionName=name, StatementId="own", Action="lambda:InvokeFunction", Principal="*"
    )
    assert "anyone" in client.get_policy(FunctionName=name, Qualifier="live")["Policy"]
    client.delete_alias(FunctionName=name, Name="live")
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert error_of(client.get_policy, FunctionName=name, Qualifier="live")[:2] == (
        404,
        "ResourceNotFoundException",
    )
    assert "own" in client.get_policy(FunctionName=name)["Policy"]
