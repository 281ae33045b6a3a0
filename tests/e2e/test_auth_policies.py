"""Policies against a real `faas serve`: keys made through `faas keys create` and the keys API,
then used through boto3, get exactly what their policy allows, and a denial tells nothing
about the function it names. Also /health per caller, and a function calling the platform's
own API from inside its sandbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.auth import (
    ACCOUNT,
    ECHO,
    FUNCTION_ARN,
    FUNCTIONS,
    allow,
    call,
    create_key,
    create_key_with_cli,
    denial,
    deny,
    policy,
    refusal_of,
    unique,
)
from tests.helpers.server import AccessKey, FaasServer, make_zip

ACCESS_DENIED = "AccessDeniedException"


def denied(operation: Callable[[], Any]) -> tuple[int, str, str]:
    """(status, code, message) of a boto3 call that must fail."""
    with pytest.raises(ClientError) as raised:
        operation()
    return refusal_of(raised.value)


def invoke(api: Any, name: str, event: Any = None, **kwargs: Any) -> Any:
    response = api.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kwargs)
    assert "FunctionError" not in response
    return json.loads(response["Payload"].read())


@pytest.fixture(scope="module")
def target(server: FaasServer) -> str:
    name = unique("target")
    server.deploy(name, {"app.py": ECHO})
    return name


def test_an_invoke_only_key_invokes_and_nothing_else(
    server: FaasServer, target: str, tmp_path: Path
) -> None:
    name = unique("invoker")
    key = create_key_with_cli(server, tmp_path, name, policy(allow("lambda:InvokeFunction", "*")))
    api = server.client(key)
    assert invoke(api, target, {"n": 1}) == {"echo": {"n": 1}}
    new = unique("new")
    attempts: list[tuple[str, str, Callable[[], Any]]] = [
        (
            "lambda:CreateFunction",
            FUNCTION_ARN + new,
            lambda: api.create_function(
                FunctionName=new,
                Runtime="python3.11",
                Role=f"arn:aws:iam::{ACCOUNT}:role/r",
                Handler="app.handler",
                Code={"ZipFile": make_zip({"app.py": ECHO})},
            ),
        ),
        (
            "lambda:GetFunction",
            FUNCTION_ARN + target,
            lambda: api.get_function(FunctionName=target),
        ),
        ("lambda:ListFunctions", "*", api.list_functions),
        (
            "lambda:DeleteFunction",
            FUNCTION_ARN + target,
            lambda: api.delete_function(FunctionName=target),
        ),
    ]
    for action, resource, attempt in attempts:
        assert denied(attempt) == (403, ACCESS_DENIED, denial(name, action, resource))
    user = f"arn:aws:iam::{ACCOUNT}:user/"
    raw: list[tuple[str, str, str, str]] = [
        (
            "GET",
            f"/faas/v1/invocations?function={target}",
            "faas:ListInvocations",
            FUNCTION_ARN + target,
        ),
        ("GET", "/faas/v1/invocations", "faas:ListInvocations", "*"),
        ("GET", "/faas/v1/keys", "faas:ListKeys", "*"),
        ("DELETE", "/faas/v1/keys/admin", "faas:DeleteKey", user + "admin"),
        ("POST", "/faas/v1/keys/admin/rotate", "faas:RotateKey", user + "admin"),
    ]
    for method, path, action, resource in raw:
        reply = call(server, path, key, method=method)
        assert (reply.status, reply.code, reply.message) == (
            403,
            ACCESS_DENIED,
            denial(name, action, resource),
        ), path
    body = json.dumps({"Name": "mine", "Policy": policy(allow("*", "*"))}).encode()
    reply = call(server, "/faas/v1/keys", key, method="POST", body=body)
    assert (reply.status, reply.code, reply.message) == (
        403,
        ACCESS_DENIED,
        denial(name, "faas:CreateKey", user + "mine"),
    )
    # The CLI with this key says the same, in one line.
    env = {"FAAS_ACCESS_KEY_ID": key.access_key_id, "FAAS_SECRET_ACCESS_KEY": key.secret}
    listed = server.cli("keys", "ls", env=env)
    assert listed.returncode != 0
    assert len(listed.stderr.strip().splitlines()) == 1, listed.stderr
    assert ACCESS_DENIED in listed.stderr and "faas:ListKeys" in listed.stderr
    assert server.client().get_function(FunctionName=target)  # nothing was deleted


def test_an_explicit_deny_beats_an_allow(server: FaasServer, target: str) -> None:
    name = unique("no-delete")
    key = create_key(
        server,
        name,
        policy(allow("lambda:*", "*"), deny("lambda:DeleteFunction", "*")),
    )
    api = server.client(key)
    assert api.get_function(FunctionName=target)["Configuration"]["FunctionName"] == target
    assert invoke(api, target, {"n": 2}) == {"echo": {"n": 2}}
    status, code, message = denied(lambda: api.delete_function(FunctionName=target))
    resource = FUNCTION_ARN + target
    assert (status, code) == (403, ACCESS_DENIED)
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: "
        f"lambda:DeleteFunction on resource: {resource} with an explicit deny in an "
        "identity-based policy"
    )
    assert server.client().get_function(FunctionName=target)


def test_wildcards_in_actions_and_resources(server: FaasServer) -> None:
    team, other = unique("team"), unique("other")
    for function in (team, other):
        server.deploy(function, {"app.py": ECHO})
    name = unique("team-reader")
    key = create_key(server, name, policy(allow("lambda:Get*", FUNCTION_ARN + "team-*")))
    api = server.client(key)
    assert api.get_function(FunctionName=team)["Configuration"]["FunctionName"] == team
    assert api.get_function_configuration(FunctionName=team)["FunctionName"] == team
    assert denied(lambda: api.get_function(FunctionName=other)) == (
        403,
        ACCESS_DENIED,
        denial(name, "lambda:GetFunction", FUNCTION_ARN + other),
    )
    assert denied(lambda: invoke(api, team)) == (
        403,
        ACCESS_DENIED,
        denial(name, "lambda:InvokeFunction", FUNCTION_ARN + team),
    )


def test_a_policy_on_the_function_does_not_cover_a_qualifier_and_back(server: FaasServer) -> None:
    function = unique("qualified")
    server.deploy(function, {"app.py": ECHO})
    arn = FUNCTION_ARN + function
    plain_name, star_name = unique("plain"), unique("star")
    plain = server.client(
        create_key(server, plain_name, policy(allow("lambda:InvokeFunction", arn)))
    )
    star = server.client(
        create_key(server, star_name, policy(allow("lambda:InvokeFunction", arn + ":*")))
    )
    latest = arn + ":$LATEST"
    assert invoke(plain, function) == {"echo": {}}
    expected = (403, ACCESS_DENIED, denial(plain_name, "lambda:InvokeFunction", latest))
    assert denied(lambda: invoke(plain, function, Qualifier="$LATEST")) == expected
    assert denied(lambda: invoke(plain, f"{function}:$LATEST")) == expected
    assert invoke(star, function, Qualifier="$LATEST") == {"echo": {}}
    assert invoke(star, latest) == {"echo": {}}
    assert denied(lambda: invoke(star, function)) == (
        403,
        ACCESS_DENIED,
        denial(star_name, "lambda:InvokeFunction", arn),
    )


def _listed(server: FaasServer, key: AccessKey, names: set[str]) -> dict[str, Any]:
    pages = server.client(key).get_paginator("list_functions").paginate()
    return {
        f["FunctionName"]: f
        for page in pages
        for f in page["Functions"]
        if f["FunctionName"] in names
    }


def test_list_functions_shows_the_environment_only_to_whoever_may_read_the_configuration(
    server: FaasServer,
) -> None:
    readable, hidden = unique("env-readable"), unique("env-hidden")
    for function in (readable, hidden):
        server.deploy(
            function,
            {"app.py": ECHO},
            Environment={"Variables": {"API_TOKEN": f"token-of-{function}"}},
        )
    names = {readable, hidden}
    lister = create_key(server, unique("lister"), policy(allow("lambda:ListFunctions", "*")))
    reader = create_key(
        server,
        unique("reader"),
        policy(
            allow("lambda:ListFunctions", "*"),
            allow("lambda:GetFunctionConfiguration", FUNCTION_ARN + readable),
        ),
    )
    as_lister = _listed(server, lister, names)
    assert set(as_lister) == names
    assert all("Environment" not in f for f in as_lister.values())
    raw = call(server, FUNCTIONS + "/", lister)
    assert raw.status == 200 and b"token-of-" not in raw.body
    as_reader = _listed(server, reader, names)
    assert as_reader[readable]["Environment"] == {
        "Variables": {"API_TOKEN": f"token-of-{readable}"}
    }
    assert "Environment" not in as_reader[hidden]
    as_admin = _listed(server, server.admin_key, names)
    assert all("Environment" in f for f in as_admin.values())


def test_a_denial_does_not_say_whether_the_function_exists(server: FaasServer, target: str) -> None:
    name = unique("outsider")
    key = create_key(
        server, name, policy(allow("lambda:InvokeFunction", FUNCTION_ARN + "someone-else"))
    )
    api = server.client(key)
    missing = unique("missing")
    operations: dict[str, Callable[[str], Any]] = {
        "lambda:GetFunction": lambda f: api.get_function(FunctionName=f),
        "lambda:GetFunctionConfiguration": lambda f: api.get_function_configuration(FunctionName=f),
        "lambda:InvokeFunction": lambda f: invoke(api, f),
        "lambda:UpdateFunctionConfiguration": lambda f: api.update_function_configuration(
            FunctionName=f, Timeout=5
        ),
        "lambda:DeleteFunction": lambda f: api.delete_function(FunctionName=f),
    }
    for action, operation in operations.items():
        for function in (target, missing):
            answer = denied(lambda: operation(function))  # noqa: B023 (called at once)
            assert answer == (403, ACCESS_DENIED, denial(name, action, FUNCTION_ARN + function))
    for function in (target, missing):
        reply = call(server, f"/faas/v1/invocations?function={function}", key)
        assert (reply.status, reply.code) == (403, ACCESS_DENIED)
        assert reply.message == denial(name, "faas:ListInvocations", FUNCTION_ARN + function)
    assert server.client().get_function(FunctionName=target)


# -- /health ----------------------------------------------------------------------------------


def test_health_tells_the_details_only_to_a_caller_allowed_get_health(server: FaasServer) -> None:
    unsigned = call(server, "/health", None)
    assert unsigned.status == 200 and unsigned.json() == {"status": "ok"}
    full = call(server, "/health", server.admin_key).json()
    assert full["status"] == "ok" and {"sandbox", "functions", "warm_workers"} <= set(full)
    invoker = create_key(server, unique("no-health"), policy(allow("lambda:InvokeFunction", "*")))
    assert call(server, "/health", invoker).json() == {"status": "ok"}
    monitor = create_key(server, unique("monitor"), policy(allow("faas:GetHealth", "*")))
    assert "sandbox" in call(server, "/health", monitor).json()


# -- a function calling the platform's API from inside the sandbox ----------------------------

SNOOP = """
import json, urllib.request, urllib.error

def handler(event, context):
    seen = {}
    for method, path in (("GET", "/2015-03-31/functions/"),
                         ("DELETE", "/2015-03-31/functions/" + event["victim"])):
        request = urllib.request.Request(event["url"] + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                seen[method] = [response.status, response.read().decode()]
        except urllib.error.HTTPError as error:
            seen[method] = [error.code, error.read().decode()]
        except OSError as error:
            seen[method] = ["unreachable", str(error)]
    for name, path in event["files"].items():
        try:
            with open(path) as secret_file:
                seen[name] = ["read", secret_file.read()]
        except OSError as error:
            seen[name] = ["unreadable", type(error).__name__]
    return seen
"""


def test_a_function_cannot_use_the_platforms_api_or_read_its_keys(server: FaasServer) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    victim, snoop = unique("secret"), unique("snoop")
    server.deploy(victim, {"app.py": ECHO}, Environment={"Variables": {"DB_PASSWORD": password}})
    server.deploy(snoop, {"app.py": SNOOP})
    files = {
        "credentials": str(server.data_dir / "credentials"),
        "master.key": str(server.data_dir / "master.key"),
    }
    response = server.client().invoke(
        FunctionName=snoop,
        Payload=json.dumps({"url": server.url, "victim": victim, "files": files}).encode(),
    )
    raw = response["Payload"].read().decode()
    assert "FunctionError" not in response, raw
    assert password not in raw and server.admin_key.secret not in raw
    seen = json.loads(raw)
    for method in ("GET", "DELETE"):
        status, body = seen[method]
        assert status in (403, "unreachable"), (
            f"the function's {method} got {status} (a 403, or no connection to the port at "
            f"all, would be safe): {body}"
        )
        if status == 403:
            assert json.loads(body)["Message"] == "Missing Authentication Token", seen
    for name in files:
        assert seen[name][0] == "unreadable", f"the function read {name}: {seen}"
    assert server.client().get_function(FunctionName=victim)["Configuration"]["Environment"] == {
        "Variables": {"DB_PASSWORD": password}
    }
    assert invoke(server.client(), victim, {"still": "here"}) == {"echo": {"still": "here"}}
