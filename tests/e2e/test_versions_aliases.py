"""Published versions and aliases against a real server: boto3, the AWS CLI and `faas`.

PublishVersion, ListVersionsByFunction, the aliases' five operations, qualifiers on Invoke,
GetFunction and DeleteFunction, weighted aliases, and Lambda's errors for each."""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.server import FaasServer, aws_cli_for, make_zip

ACCOUNT = "000000000000"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function"


def source(label: str) -> dict[str, str]:
    """A handler that says which code it is and what the runtime told it."""
    return {
        "app.py": (
            "def handler(event, context):\n"
            f"    return {{'code': {label!r}, 'arn': context.invoked_function_arn,\n"
            "            'version': context.function_version}\n"
        )
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_of(call: Callable[..., Any], **params: Any) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as raised:
        call(**params)
    response = raised.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def invoke(api: Any, name: str, **params: Any) -> tuple[str, dict[str, Any]]:
    """(X-Amz-Executed-Version, the function's answer)."""
    response = api.invoke(FunctionName=name, Payload=b"{}", **params)
    assert "FunctionError" not in response
    return response["ExecutedVersion"], json.loads(response["Payload"].read())


def with_two_versions(server: FaasServer, api: Any, name: str) -> None:
    """`name` with version 1 (code "one") and version 2 (code "two"); $LATEST is "three"."""
    server.deploy(name, source("one"))
    assert api.publish_version(FunctionName=name)["Version"] == "1"
    api.update_function_code(FunctionName=name, ZipFile=make_zip(source("two")))
    assert api.publish_version(FunctionName=name)["Version"] == "2"
    api.update_function_code(FunctionName=name, ZipFile=make_zip(source("three")))


# -- versions ---------------------------------------------------------------------------------


def test_publish_copies_latest_and_an_unchanged_latest_answers_the_same_version(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("pub")
    created = server.deploy(name, source("one"), Description="the first")
    published = lambda_api.publish_version(FunctionName=name, Description="release 1")
    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert published["Version"] == "1"
    assert published["FunctionArn"] == f"{ARN}:{name}:1"
    assert published["Description"] == "release 1"
    assert published["CodeSha256"] == created["CodeSha256"]
    assert published["RevisionId"] != created["RevisionId"]

    again = lambda_api.publish_version(FunctionName=name)
    assert (again["Version"], again["RevisionId"]) == ("1", published["RevisionId"])

    lambda_api.update_function_configuration(FunctionName=name, Timeout=9)
    second = lambda_api.publish_version(FunctionName=name)
    assert (second["Version"], second["Timeout"], second["Description"]) == ("2", 9, "the first")

    listed = lambda_api.list_versions_by_function(FunctionName=name)["Versions"]
    assert [(v["Version"], v["FunctionArn"]) for v in listed] == [
        ("$LATEST", f"{ARN}:{name}:$LATEST"),
        ("1", f"{ARN}:{name}:1"),
        ("2", f"{ARN}:{name}:2"),
    ]
    paged = lambda_api.get_paginator("list_versions_by_function").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}
    )
    pages = list(paged)
    assert len(pages) == 3
    assert [v["Version"] for page in pages for v in page["Versions"]] == ["$LATEST", "1", "2"]


def test_a_version_keeps_running_its_code_after_latest_is_updated(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("keep")
    with_two_versions(server, lambda_api, name)
    executed, answer = invoke(lambda_api, name, Qualifier="1")
    assert executed == "1"
    assert answer == {"code": "one", "arn": f"{ARN}:{name}:1", "version": "1"}
    assert invoke(lambda_api, f"{name}:2")[1]["code"] == "two"
    assert invoke(lambda_api, f"{ARN}:{name}:1")[1]["code"] == "one"
    executed, answer = invoke(lambda_api, name)
    assert (executed, answer) == (
        "$LATEST",
        {"code": "three", "arn": f"{ARN}:{name}", "version": "$LATEST"},
    )
    assert invoke(lambda_api, name, Qualifier="$LATEST")[1]["arn"] == f"{ARN}:{name}:$LATEST"

    config = lambda_api.get_function(FunctionName=name, Qualifier="1")["Configuration"]
    assert (config["Version"], config["FunctionArn"]) == ("1", f"{ARN}:{name}:1")
    config = lambda_api.get_function_configuration(FunctionName=f"{name}:2")
    assert (config["Version"], config["FunctionArn"]) == ("2", f"{ARN}:{name}:2")
    latest = lambda_api.get_function(FunctionName=name, Qualifier="$LATEST")["Configuration"]
    assert latest["FunctionArn"] == f"{ARN}:{name}:$LATEST"
    assert lambda_api.get_function(FunctionName=name)["Configuration"]["FunctionArn"] == (
        f"{ARN}:{name}"
    )


def test_versions_survive_a_restart(tmp_path: Path) -> None:
    server = FaasServer.start(tmp_path / "data")
    try:
        api = server.client()
        with_two_versions(server, api, "kept")
        api.create_alias(FunctionName="kept", Name="live", FunctionVersion="1")
    finally:
        server.stop()
    restarted = FaasServer.start(tmp_path / "data")
    try:
        api = restarted.client()
        assert invoke(api, "kept", Qualifier="live") == (
            "1",
            {"code": "one", "arn": f"{ARN}:kept:live", "version": "1"},
        )
        assert invoke(api, "kept:2")[1]["code"] == "two"
        api.update_function_configuration(FunctionName="kept", Timeout=5)
        assert api.publish_version(FunctionName="kept")["Version"] == "3"
    finally:
        restarted.stop()


def test_publish_preconditions(server: FaasServer, lambda_api: Any) -> None:
    name = unique("pre")
    created = server.deploy(name, source("one"))
    status, code, message = error_of(
        lambda_api.publish_version, FunctionName=name, RevisionId="stale"
    )
    assert (status, code) == (412, "PreconditionFailedException")
    assert message.startswith("The Revision Id provided does not match the latest Revision Id")
    status, code, message = error_of(
        lambda_api.publish_version, FunctionName=name, CodeSha256="bogus"
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    assert message == (
        f"CodeSHA256 (bogus) is different from current CodeSHA256 in $LATEST "
        f"({created['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST."
    )
    published = lambda_api.publish_version(
        FunctionName=name, CodeSha256=created["CodeSha256"], RevisionId=created["RevisionId"]
    )
    assert published["Version"] == "1"
    status, code, _ = error_of(lambda_api.publish_version, FunctionName=unique("missing"))
    assert (status, code) == (404, "ResourceNotFoundException")


def test_publish_on_create_and_on_code_update(server: FaasServer, lambda_api: Any) -> None:
    name = unique("onpub")
    created = server.deploy(name, source("one"), Publish=True)
    assert (created["Version"], created["FunctionArn"]) == ("1", f"{ARN}:{name}")
    updated = lambda_api.update_function_code(
        FunctionName=name, ZipFile=make_zip(source("two")), Publish=True
    )
    assert (updated["Version"], updated["FunctionArn"]) == ("2", f"{ARN}:{name}:2")
    assert invoke(lambda_api, name, Qualifier="1")[1]["code"] == "one"


def test_deleting_versions(server: FaasServer, lambda_api: Any) -> None:
    name = unique("del")
    with_two_versions(server, lambda_api, name)
    lambda_api.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    assert error_of(lambda_api.delete_function, FunctionName=name, Qualifier="1") == (
        409,
        "ResourceConflictException",
        "Unable to delete version because the following aliases reference it: [live]",
    )
    assert error_of(lambda_api.delete_function, FunctionName=name, Qualifier="$LATEST") == (
        400,
        "InvalidParameterValueException",
        "$LATEST version cannot be deleted without deleting the function.",
    )
    status, code, message = error_of(
        lambda_api.delete_function, FunctionName=f"{name}:1", Qualifier="2"
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "does not match the specified qualifier" in message

    lambda_api.delete_function(FunctionName=f"{name}:2")
    status, code, message = error_of(lambda_api.invoke, FunctionName=name, Qualifier="2")
    assert (status, code, message) == (
        404,
        "ResourceNotFoundException",
        f"Function not found: {ARN}:{name}:2",
    )
    versions = lambda_api.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    assert invoke(lambda_api, name, Qualifier="live")[0] == "1"  # the rest stays

    # The function goes with its versions and aliases; the same name starts over.
    lambda_api.delete_function(FunctionName=name)
    server.deploy(name, source("new"))
    assert [v["Version"] for v in lambda_api.list_versions_by_function(FunctionName=name)[
        "Versions"
    ]] == ["$LATEST"]  # fmt: skip
    assert lambda_api.list_aliases(FunctionName=name)["Aliases"] == []
    assert error_of(lambda_api.invoke, FunctionName=f"{name}:1")[:2] == (
        404,
        "ResourceNotFoundException",
    )
    assert lambda_api.publish_version(FunctionName=name)["Version"] == "1"


def test_a_qualifier_that_names_nothing_is_404(server: FaasServer, lambda_api: Any) -> None:
    name = unique("none")
    server.deploy(name, source("one"))
    for call, params in (
        (lambda_api.invoke, {"FunctionName": name, "Qualifier": "7"}),
        (lambda_api.invoke, {"FunctionName": f"{name}:nope"}),
        (lambda_api.get_function, {"FunctionName": name, "Qualifier": "nope"}),
        (lambda_api.get_function_configuration, {"FunctionName": f"{ARN}:{name}:3"}),
    ):
        status, code, message = error_of(call, **params)
        assert (status, code) == (404, "ResourceNotFoundException")
        assert message.startswith(f"Function not found: {ARN}:{name}:")


def test_operations_on_the_function_itself_refuse_a_qualified_name(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("unq")
    server.deploy(name, source("one"))
    lambda_api.publish_version(FunctionName=name)
    expected = (
        400,
        "InvalidParameterValueException",
        "This operation is permitted on Lambda functions only. Aliases and versions do not "
        "support this operation. Please specify either a function name or an unqualified "
        "function ARN.",
    )
    qualified = f"{ARN}:{name}:1"
    for call, params in (
        (lambda_api.update_function_configuration, {"FunctionName": qualified, "Timeout": 5}),
        (lambda_api.update_function_code, {"FunctionName": qualified, "ZipFile": b"x"}),
        (lambda_api.publish_version, {"FunctionName": f"{name}:1"}),
        (lambda_api.create_alias, {"FunctionName": qualified, "Name": "a", "FunctionVersion": "1"}),
        (lambda_api.list_aliases, {"FunctionName": f"{name}:1"}),
        (lambda_api.put_function_concurrency,
         {"FunctionName": qualified, "ReservedConcurrentExecutions": 1}),
    ):  # fmt: skip
        assert error_of(call, **params) == expected
    assert lambda_api.get_function(FunctionName=name)["Configuration"]["Timeout"] == 3


# -- aliases ----------------------------------------------------------------------------------


def test_alias_lifecycle(server: FaasServer, lambda_api: Any) -> None:
    name = unique("alias")
    with_two_versions(server, lambda_api, name)
    created = lambda_api.create_alias(
        FunctionName=name, Name="live", FunctionVersion="1", Description="production"
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    document = {key: value for key, value in created.items() if key != "ResponseMetadata"}
    assert document == {
        "AliasArn": f"{ARN}:{name}:live",
        "Name": "live",
        "FunctionVersion": "1",
        "Description": "production",
        "RevisionId": created["RevisionId"],
    }
    got = lambda_api.get_alias(FunctionName=name, Name="live")
    assert got["RevisionId"] == created["RevisionId"]

    assert invoke(lambda_api, name, Qualifier="live") == (
        "1",
        {"code": "one", "arn": f"{ARN}:{name}:live", "version": "1"},
    )
    config = lambda_api.get_function(FunctionName=f"{name}:live")["Configuration"]
    assert (config["FunctionArn"], config["Version"]) == (f"{ARN}:{name}:live", "1")

    status, code, _ = error_of(
        lambda_api.update_alias, FunctionName=name, Name="live", FunctionVersion="2",
        RevisionId="stale",
    )  # fmt: skip
    assert (status, code) == (412, "PreconditionFailedException")
    moved = lambda_api.update_alias(
        FunctionName=name, Name="live", FunctionVersion="2", RevisionId=created["RevisionId"]
    )
    assert (moved["FunctionVersion"], moved["Description"]) == ("2", "production")
    assert moved["RevisionId"] != created["RevisionId"]
    assert invoke(lambda_api, f"{name}:live")[1]["code"] == "two"

    lambda_api.create_alias(FunctionName=name, Name="dev", FunctionVersion="$LATEST")
    lambda_api.create_alias(FunctionName=name, Name="old", FunctionVersion="1")
    listed = lambda_api.list_aliases(FunctionName=name)["Aliases"]
    assert [(a["Name"], a["FunctionVersion"]) for a in listed] == [
        ("dev", "$LATEST"),
        ("live", "2"),
        ("old", "1"),
    ]
    only_1 = lambda_api.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]
    assert [a["Name"] for a in only_1] == ["old"]
    pages = list(
        lambda_api.get_paginator("list_aliases").paginate(
            FunctionName=name, PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(page["Aliases"]) for page in pages] == [2, 1]
    assert invoke(lambda_api, name, Qualifier="dev")[1]["code"] == "three"

    deleted = lambda_api.delete_alias(FunctionName=name, Name="old")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    lambda_api.delete_alias(FunctionName=name, Name="old")  # gone already: no error
    assert error_of(lambda_api.get_alias, FunctionName=name, Name="old") == (
        404,
        "ResourceNotFoundException",
        f"Cannot find alias arn: {ARN}:{name}:old",
    )
    assert error_of(lambda_api.update_alias, FunctionName=name, Name="old", Description="x") == (
        404,
        "ResourceNotFoundException",
        f"Alias not found: {ARN}:{name}:old",
    )


def test_a_fifty_fifty_alias_lands_on_both_versions(server: FaasServer, lambda_api: Any) -> None:
    name = unique("split")
    with_two_versions(server, lambda_api, name)
    created = lambda_api.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}
    executed: collections.Counter[str] = collections.Counter()
    for _ in range(300):
        version, answer = invoke(lambda_api, name, Qualifier="canary")
        executed[version] += 1
        assert answer["code"] == {"1": "one", "2": "two"}[version]
        assert answer["arn"] == f"{ARN}:{name}:canary"
    assert set(executed) == {"1", "2"}
    assert min(executed.values()) > 90  # 300 fair coin flips: below 91 is a 1-in-10^12 event

    # Routing off again: every invocation runs the alias's own version.
    cleared = lambda_api.update_alias(
        FunctionName=name, Name="canary", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    assert "RoutingConfig" not in cleared
    assert {invoke(lambda_api, name, Qualifier="canary")[0] for _ in range(20)} == {"1"}


def test_alias_errors(server: FaasServer, lambda_api: Any) -> None:
    name = unique("aerr")
    with_two_versions(server, lambda_api, name)
    lambda_api.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    def create(**params: Any) -> tuple[int, str, str]:
        return error_of(lambda_api.create_alias, FunctionName=name, **params)

    assert create(Name="other", FunctionVersion="9") == (
        404,
        "ResourceNotFoundException",
        f"Function not found: {ARN}:{name}:9",
    )
    assert create(Name="live", FunctionVersion="2") == (
        409,
        "ResourceConflictException",
        f"Alias already exists: {ARN}:{name}:live",
    )
    assert create(
        Name="other",
        FunctionVersion="$LATEST",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    ) == (
        400,
        "InvalidParameterValueException",
        "$LATEST is not supported for an alias pointing to more than 1 version",
    )
    assert create(
        Name="other",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5, "3": 0.1}},
    ) == (
        400,
        "InvalidParameterValueException",
        "Number of items in AdditionalVersionWeights cannot be greater than 1",
    )
    assert create(
        Name="other", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}
    ) == (
        400,
        "InvalidParameterValueException",
        "Invalid function version 1. Function version 1 is already included in routing "
        "configuration.",
    )
    assert create(
        Name="other", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"9": 0.5}}
    ) == (404, "ResourceNotFoundException", f"Function not found: {ARN}:{name}:9")
    status, code, message = create(
        Name="other", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}}
    )
    assert (status, code) == (400, "ValidationException")
    assert "Value '{2=1.5}' at 'routingConfig.additionalVersionWeights'" in message
    status, code, message = create(Name="2024", FunctionVersion="1")
    assert (status, code) == (400, "ValidationException")
    assert message == (
        "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
    )
    assert error_of(
        lambda_api.create_alias,
        FunctionName=unique("ghost"),
        Name="live",
        FunctionVersion="1",
    )[:2] == (404, "ResourceNotFoundException")
    assert [a["Name"] for a in lambda_api.list_aliases(FunctionName=name)["Aliases"]] == ["live"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"FunctionVersion": "1"}, 400, "ValidationException"),
        ({"Name": "x"}, 400, "ValidationException"),
        ({"Name": "x", "FunctionVersion": "live"}, 400, "ValidationException"),
        ({"Name": "x", "FunctionVersion": "1",
          "RoutingConfig": {"AdditionalVersionWeights": {"2": "half"}}},
         400, "InvalidParameterValueException"),
        ({"Name": "x", "FunctionVersion": "1", "RoutingConfig": []}, 400,
         "InvalidParameterValueException"),
        ({"Name": "x", "FunctionVersion": "1", "Description": 5}, 400,
         "InvalidParameterValueException"),
    ],
)  # fmt: skip
def test_malformed_create_alias_bodies_get_lambdas_errors(
    server: FaasServer, body: dict[str, Any], status: int, code: str
) -> None:
    name = "malformed-alias"
    api = server.client()
    try:
        api.get_function(FunctionName=name)
    except ClientError:
        server.deploy(name, source("one"))
        api.publish_version(FunctionName=name)
    request = urllib.request.Request(
        f"{server.url}/2015-03-31/functions/{name}/aliases",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        server.urlopen(request)
    with raised.value as answer:
        assert (answer.code, answer.headers["X-Amzn-ErrorType"]) == (status, code)
    assert api.list_aliases(FunctionName=name)["Aliases"] == []


def test_an_event_sent_to_a_version_runs_that_version(server: FaasServer, lambda_api: Any) -> None:
    name = unique("async")
    with_two_versions(server, lambda_api, name)
    accepted = lambda_api.invoke(FunctionName=f"{name}:1", InvocationType="Event", Payload=b"{}")
    request_id = accepted["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}") as response:
            found = [r for r in json.load(response)["Invocations"] if r["RequestId"] == request_id]
        if found:
            assert found[0]["FunctionVersion"] == "1"
            return
        time.sleep(0.1)
    raise AssertionError("the event did not run")


# -- the AWS CLI and faas ------------------------------------------------------------------


def test_the_aws_cli_publishes_aliases_and_invokes(server: FaasServer, tmp_path: Path) -> None:
    cli = aws_cli_for(server.data_dir, server.url)
    run = cli.ok
    name = unique("awscli")
    server.deploy(name, source("one"))
    assert run("publish-version", "--function-name", name)["Version"] == "1"
    alias = run(
        "create-alias", "--function-name", name, "--name", "live", "--function-version", "1"
    )
    assert alias["AliasArn"] == f"{ARN}:{name}:live"
    assert [a["Name"] for a in run("list-aliases", "--function-name", name)["Aliases"]] == ["live"]
    versions = run("list-versions-by-function", "--function-name", name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    out = tmp_path / "out.json"
    invoked = run("invoke", "--function-name", name, "--qualifier", "live", str(out))
    assert invoked["ExecutedVersion"] == "1"
    assert json.loads(out.read_text())["arn"] == f"{ARN}:{name}:live"
    completed = cli.run("delete-function", "--function-name", name, "--qualifier", "1")
    assert completed.returncode != 0
    assert "ResourceConflictException" in completed.stderr
    run("delete-alias", "--function-name", name, "--name", "live")
    run("delete-function", "--function-name", name, "--qualifier", "1")


def ok(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def one_error_line(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 1, completed.stdout
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), completed.stderr
    return lines[0]


def test_the_faas_cli_publishes_aliases_and_invokes(server: FaasServer, lambda_api: Any) -> None:
    name = unique("faascli")
    server.deploy(name, source("one"))
    assert ok(server.cli("publish", name, "--description", "first")) == (
        f"version 1 of {name}: {ARN}:{name}:1\n"
    )
    lambda_api.update_function_code(FunctionName=name, ZipFile=make_zip(source("two")))
    published = json.loads(ok(server.cli("publish", name, "--json")))
    assert published["Version"] == "2"

    assert ok(server.cli("alias", "create", name, "live", "1", "--weight", "2=0.25")) == (
        f"alias live -> version 1 (2: 25%): {ARN}:{name}:live\n"
    )
    listed = ok(server.cli("alias", "ls", name))
    assert listed.splitlines()[1].split() == ["live", "1", "2:", "25%", "-"]
    updated = ok(server.cli("alias", "update", name, "live", "--version", "2", "--no-weight"))
    assert updated == f"alias live -> version 2: {ARN}:{name}:live\n"
    assert json.loads(ok(server.cli("alias", "get", name, "live", "--json")))[
        "FunctionVersion"
    ] == "2"  # fmt: skip

    answer = json.loads(ok(server.cli("invoke", f"{name}:live")))
    assert (answer["code"], answer["arn"]) == ("two", f"{ARN}:{name}:live")
    assert json.loads(ok(server.cli("invoke", f"{name}:1")))["code"] == "one"
    assert json.loads(ok(server.cli("invoke", name, "--qualifier", "1")))["code"] == "one"

    described = ok(server.cli("get", name))
    assert "versions:     1, 2" in described
    assert "aliases:      live -> 2" in described
    versions = ok(server.cli("versions", name)).splitlines()
    assert [line.split()[0] for line in versions[1:]] == ["$LATEST", "1", "2"]

    error = one_error_line(server.cli("rm", f"{name}:2"))
    assert "Unable to delete version because the following aliases reference it: [live]" in error
    error = one_error_line(
        server.cli("alias", "create", name, "bad", "$LATEST", "--weight", "1=0.5")
    )
    assert "$LATEST is not supported for an alias pointing to more than 1 version" in error
    error = one_error_line(server.cli("invoke", f"{name}:nope"))
    assert f"Function not found: {ARN}:{name}:nope" in error
    usage = server.cli("alias", "create", name, "x", "1", "--weight", "half")
    assert usage.returncode == 2 and "VERSION=WEIGHT" in usage.stderr

    ok(server.cli("alias", "rm", name, "live"))
    assert ok(server.cli("alias", "ls", name)) == "no aliases\n"
    assert ok(server.cli("rm", f"{name}:2")) == f"deleted {name}:2\n"
    assert [line.split()[0] for line in ok(server.cli("versions", name)).splitlines()[1:]] == [
        "$LATEST",
        "1",
    ]


def test_the_invoked_arn_reaches_the_runtime_for_each_form(server: FaasServer) -> None:
    """The raw Invoke route (as curl would send it) with the qualifier in the query."""
    api = server.client()
    name = unique("raw")
    with_two_versions(server, api, name)
    api.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    for query, arn, version in (
        ("", f"{ARN}:{name}", "$LATEST"),
        ("?Qualifier=1", f"{ARN}:{name}:1", "1"),
        ("?Qualifier=live", f"{ARN}:{name}:live", "2"),
        ("?Qualifier=%24LATEST", f"{ARN}:{name}:$LATEST", "$LATEST"),
    ):
        request = urllib.request.Request(
            f"{server.url}/2015-03-31/functions/{name}/invocations{query}",
            data=b"{}",
            method="POST",
        )
        with server.urlopen(request) as response:
            assert response.headers["X-Amz-Executed-Version"] == version
            assert json.load(response)["arn"] == arn


def test_code_location_of_a_version_serves_its_own_code(
    server: FaasServer, lambda_api: Any
) -> None:
    name = unique("code")
    with_two_versions(server, lambda_api, name)
    found = lambda_api.get_function(FunctionName=name, Qualifier="1")
    with urllib.request.urlopen(found["Code"]["Location"], timeout=30) as response:
        body = response.read()
    assert (
        base64.b64encode(hashlib.sha256(body).digest()).decode()
        == (found["Configuration"]["CodeSha256"])
    )
