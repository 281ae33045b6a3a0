"""AddPermission, GetPolicy and RemovePermission through boto3 and the AWS CLI, and what a
resource policy grants: invoking by a key its own policy does not let."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.auth import ACCOUNT, allow, create_key, deny, policy
from tests.helpers.server import FaasServer, aws_cli, clean_env, lambda_client

HELLO = "def handler(event, context):\n    return 'hi'\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaasServer]:
    started = FaasServer.start(tmp_path_factory.mktemp("policies") / "data")
    yield started
    started.stop()


def arn_of(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def test_a_statement_lets_a_named_key_invoke_until_it_is_removed(server: FaasServer) -> None:
    api = server.client()
    server.deploy("shared", {"app.py": HELLO})
    outsider_key = create_key(server, "outsider", policy(allow("lambda:GetFunction", "*")))
    outsider = lambda_client(server.url, outsider_key)
    with pytest.raises(outsider.exceptions.ClientError) as refused:
        outsider.invoke(FunctionName="shared")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"

    added = api.add_permission(
        FunctionName="shared",
        StatementId="let-outsider",
        Action="lambda:InvokeFunction",
        Principal=f"arn:aws:iam::{ACCOUNT}:user/outsider",
    )
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "let-outsider",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/outsider"},
        "Action": "lambda:InvokeFunction",
        "Resource": arn_of("shared"),
    }
    assert json.loads(outsider.invoke(FunctionName="shared")["Payload"].read()) == "hi"

    document = api.get_policy(FunctionName="shared")
    assert json.loads(document["Policy"])["Statement"] == [statement]
    assert (
        document["RevisionId"]
        == api.get_function(FunctionName="shared")["Configuration"]["RevisionId"]
    )

    api.remove_permission(FunctionName="shared", StatementId="let-outsider")
    with pytest.raises(outsider.exceptions.ClientError):
        outsider.invoke(FunctionName="shared")
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.get_policy(FunctionName="shared")


def test_account_and_anyone_principals_grant_and_services_and_denies_do_not(
    server: FaasServer,
) -> None:
    api = server.client()
    server.deploy("open", {"app.py": HELLO})
    nobody = lambda_client(
        server.url, create_key(server, "nobody", policy(allow("lambda:GetFunction", "*")))
    )
    denied_key = create_key(
        server,
        "denied",
        policy(allow("lambda:GetFunction", "*"), deny("lambda:InvokeFunction", arn_of("open"))),
    )
    denied = lambda_client(server.url, denied_key)
    api.add_permission(
        FunctionName="open", StatementId="s3", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::photos", SourceAccount=ACCOUNT,
    )  # fmt: skip
    with pytest.raises(nobody.exceptions.ClientError):
        nobody.invoke(FunctionName="open")  # a service principal grants no key
    s3 = json.loads(api.get_policy(FunctionName="open")["Policy"])["Statement"][0]
    assert s3["Principal"] == {"Service": "s3.amazonaws.com"}
    assert s3["Condition"] == {
        "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::photos"},
        "StringEquals": {"AWS:SourceAccount": ACCOUNT},
    }
    api.add_permission(
        FunctionName="open", StatementId="account", Action="lambda:*", Principal=ACCOUNT
    )
    assert json.loads(nobody.invoke(FunctionName="open")["Payload"].read()) == "hi"
    with pytest.raises(denied.exceptions.ClientError):
        denied.invoke(FunctionName="open")  # its own explicit deny wins
    api.remove_permission(FunctionName="open", StatementId="account")
    api.add_permission(FunctionName="open", StatementId="anyone", Action="*", Principal="*")
    assert json.loads(nobody.invoke(FunctionName="open")["Payload"].read()) == "hi"


def test_bad_input_gets_lambdas_errors(server: FaasServer) -> None:
    api = server.client()
    server.deploy("strict", {"app.py": HELLO})
    base: dict[str, Any] = {
        "FunctionName": "strict",
        "Action": "lambda:InvokeFunction",
        "Principal": "*",
    }
    api.add_permission(StatementId="one", **base)
    with pytest.raises(api.exceptions.ResourceConflictException):
        api.add_permission(StatementId="one", **base)
    with pytest.raises(api.exceptions.InvalidParameterValueException):
        api.add_permission(StatementId="bad id!", **base)
    with pytest.raises(api.exceptions.InvalidParameterValueException):
        api.add_permission(StatementId="two", **{**base, "Action": "s3:GetObject"})
    with pytest.raises(api.exceptions.InvalidParameterValueException):
        api.add_permission(StatementId="two", **{**base, "SourceAccount": "12"})
    with pytest.raises(api.exceptions.PreconditionFailedException):
        api.add_permission(StatementId="two", RevisionId="stale", **base)
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.add_permission(StatementId="two", **{**base, "FunctionName": "missing"})
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.add_permission(StatementId="two", Qualifier="prod", **base)
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.remove_permission(FunctionName="strict", StatementId="never-added")
    server.deploy("strict", {"app.py": HELLO})  # deleted and created again: no old policy
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.get_policy(FunctionName="strict")


def test_the_aws_cli_adds_and_reads_a_permission(server: FaasServer, tmp_path: Path) -> None:
    aws = aws_cli()
    if aws is None:
        pytest.skip("the AWS CLI is not installed (awscli is in the test extras)")
    server.deploy("cli-policy", {"app.py": HELLO})
    env = clean_env(
        {
            "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    base = [aws, "--endpoint-url", server.url, "--region", "us-east-1", "lambda"]
    added = subprocess.run(
        [*base, "add-permission", "--function-name", "cli-policy", "--statement-id", "cli",
         "--action", "lambda:InvokeFunction", "--principal", "events.amazonaws.com"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    got = subprocess.run(
        [*base, "get-policy", "--function-name", "cli-policy"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    statement = json.loads(json.loads(got.stdout)["Policy"])["Statement"][0]
    assert statement["Sid"] == "cli" and statement["Principal"] == {
        "Service": "events.amazonaws.com"
    }
    removed = subprocess.run(
        [*base, "remove-permission", "--function-name", "cli-policy", "--statement-id", "cli"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert removed.returncode == 0, removed.stderr
