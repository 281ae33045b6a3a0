"""Execution roles: a function whose Role is a faas role calls the API through boto3 with the
role's rights (temporary credentials in its environment), and nothing more."""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.exceptions import ClientError

from tests.helpers.auth import create_key
from tests.helpers.server import FaasServer, make_zip

# The packages boto3 needs, taken from this interpreter; botocore's data trimmed to what a
# Lambda client reads (the whole of it is ~30 MB of other services' models).
VENDORED = ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six.py")
BOTOCORE_DATA_KEPT = (
    "lambda/",
    "endpoints.json",
    "partitions.json",
    "_retry.json",
    "sdk-default-configuration.json",
)

CALLER = """
import json, os
import boto3
from botocore.exceptions import ClientError, NoCredentialsError

def handler(event, context):
    client = boto3.client("lambda")  # endpoint and credentials from the environment
    seen = {"key": os.environ.get("AWS_ACCESS_KEY_ID"),
            # Handed back for the test to try from outside; a real function would not.
            "secret": os.environ.get("AWS_SECRET_ACCESS_KEY"),
            "token": os.environ.get("AWS_SESSION_TOKEN"),
            "endpoint": os.environ.get("AWS_ENDPOINT_URL_LAMBDA")}
    for target in event["targets"]:
        try:
            answer = client.invoke(FunctionName=target, Payload=b'{"from": "caller"}')
            seen[target] = json.loads(answer["Payload"].read())
        except ClientError as error:
            seen[target] = error.response["Error"]["Code"]
        except NoCredentialsError:
            seen[target] = "no credentials"
    try:
        client.list_functions()
        seen["list"] = "allowed"
    except ClientError as error:
        seen["list"] = error.response["Error"]["Code"]
    except NoCredentialsError:
        seen["list"] = "no credentials"
    return seen
"""
CALLEE = "def handler(event, context):\n    return {'callee got': event}\n"

INVOKE_ALLOWED_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:*:*:function:allowed",
        }
    ],
}
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _site_packages() -> Path:
    return Path(botocore.__file__).resolve().parent.parent


def boto3_zip(handler_source: str) -> bytes:
    """The handler plus boto3, as `pip install --target` would ship it."""
    site = _site_packages()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", handler_source)
        for name in VENDORED:
            root = site / name
            paths = [root] if root.is_file() else sorted(root.rglob("*"))
            for path in paths:
                relative = path.relative_to(site).as_posix()
                if not path.is_file() or "__pycache__" in relative:
                    continue
                if relative.startswith("botocore/data/"):
                    inside = relative.removeprefix("botocore/data/")
                    if not inside.startswith(BOTOCORE_DATA_KEPT):
                        continue
                archive.write(path, relative)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def caller_zip() -> bytes:
    return boto3_zip(CALLER)


@pytest.fixture
def roles_server(tmp_path: Path) -> Iterator[FaasServer]:
    running = FaasServer.start(
        tmp_path / "data", env={"FAAS_AUTH_EXECUTION_CREDENTIALS_TTL_S": "8"}
    )
    try:
        yield running
    finally:
        running.stop()


def create_role(server: FaasServer, name: str, policy: dict[str, Any]) -> str:
    policy_file = server.data_dir.parent / f"{name}.json"
    policy_file.write_text(json.dumps(policy))
    created = server.cli("roles", "create", name, "--policy", str(policy_file), "--json")
    assert created.returncode == 0, created.stderr
    return str(json.loads(created.stdout)["Role"]["Arn"])


def deploy_caller(
    server: FaasServer, caller_zip: bytes, role_arn: str, name: str = "caller"
) -> None:
    server.client().create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": caller_zip},
        Timeout=10,
        MemorySize=256,
    )


def call(server: FaasServer, name: str = "caller") -> dict[str, Any]:
    event = {"targets": ["allowed", "forbidden"]}
    response, body = server.invoke(name, event)
    assert "FunctionError" not in response, body
    return dict(body)


def test_a_function_invokes_what_its_role_allows_and_nothing_else(
    roles_server: FaasServer, caller_zip: bytes
) -> None:
    for name in ("allowed", "forbidden"):
        roles_server.deploy(name, {"app.py": CALLEE})
    role_arn = create_role(roles_server, "invoker", INVOKE_ALLOWED_ONLY)
    deploy_caller(roles_server, caller_zip, role_arn)

    seen = call(roles_server)

    assert seen["allowed"] == {"callee got": {"from": "caller"}}
    assert seen["forbidden"] == "AccessDeniedException"
    assert seen["list"] == "AccessDeniedException"
    assert seen["key"].startswith("ASFA")
    assert seen["endpoint"] == roles_server.url
    # The credentials are nowhere in the records or the server's log.
    records = json.loads(roles_server.cli("records", "caller", "--json").stdout)
    assert seen["key"] not in json.dumps(records)
    assert seen["key"] not in roles_server.log()


def client_with(server: FaasServer, seen: dict[str, Any]) -> Any:
    """boto3 outside the sandbox, with the credentials a worker had."""
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=seen["key"],
        aws_secret_access_key=seen["secret"],
        aws_session_token=seen["token"],
    )


def error_code(call_api: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call_api()
    return str(refused.value.response["Error"]["Code"])


def test_credentials_are_renewed_before_they_expire_and_die_with_their_role(
    roles_server: FaasServer, caller_zip: bytes
) -> None:
    roles_server.deploy("allowed", {"app.py": CALLEE})
    role_arn = create_role(roles_server, "renewed", INVOKE_ALLOWED_ONLY)
    deploy_caller(roles_server, caller_zip, role_arn)
    first = call(roles_server)
    started = time.monotonic()
    assert first["allowed"] == {"callee got": {"from": "caller"}}
    assert client_with(roles_server, first).invoke(FunctionName="allowed")["StatusCode"] == 200

    # Lifetime 8 s, timeout 10 s: a worker takes no invocation once less than 10 s are left,
    # so every call gets a fresh worker with fresh credentials, which work.
    second = call(roles_server)
    assert second["key"] != first["key"]
    assert second["allowed"] == {"callee got": {"from": "caller"}}

    # Deleting the role stops its credentials at once; new workers get none.
    assert roles_server.cli("roles", "rm", "renewed").returncode == 0
    outside = client_with(roles_server, second)
    assert error_code(lambda: outside.invoke(FunctionName="allowed")) == (
        "UnrecognizedClientException"
    )
    after = call(roles_server)
    assert (after["key"], after["allowed"]) == (None, "no credentials")

    # Past their lifetime the first credentials are refused as expired.
    time.sleep(max(0.0, started + 8.5 - time.monotonic()))
    stale = client_with(roles_server, first)
    assert error_code(lambda: stale.invoke(FunctionName="allowed")) == "ExpiredTokenException"


def test_giving_a_function_a_role_needs_pass_role(
    roles_server: FaasServer, caller_zip: bytes
) -> None:
    role_arn = create_role(
        roles_server,
        "powerful",
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    )
    deployer = create_key(
        roles_server,
        "deployer",
        {"Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]},
    )
    client = roles_server.client(deployer)
    with pytest.raises(ClientError) as refused:
        client.create_function(
            FunctionName="escalate",
            Runtime=RUNTIME,
            Role=role_arn,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": CALLEE})},
        )
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "iam:PassRole" in refused.value.response["Error"]["Message"]

    # A Role that is no faas role needs nothing, and gives nothing even if the role comes later.
    client.create_function(
        FunctionName="later",
        Runtime=RUNTIME,
        Role=role_arn.replace("powerful", "not-yet"),
        Handler="app.handler",
        Code={"ZipFile": caller_zip},
        Timeout=10,
    )
    create_role(
        roles_server,
        "not-yet",
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    )
    roles_server.deploy("allowed", {"app.py": CALLEE})
    seen = call(roles_server, "later")
    assert seen["key"] is None
    assert seen["allowed"] != {"callee got": {"from": "caller"}}
