"""Real clients against the verifier, each with its own signer: boto3 (an ARN in the path is
signed percent-encoded), the faas CLI, curl's --aws-sigv4 and the AWS CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ClientError

from tests.helpers.auth import ECHO, FUNCTION_ARN, FUNCTIONS, refusal_of, unique
from tests.helpers.server import AccessKey, FaasServer, aws_cli, clean_env

SIGNATURE_MISMATCH = "The request signature we calculated does not match the signature you provided"


@pytest.fixture(scope="module")
def echo(server: FaasServer) -> str:
    """A deployed function with a plain name (nothing to percent-encode in its path)."""
    name = unique("echo")
    server.deploy(name, {"app.py": ECHO})
    return name


def invoke_path(name: str) -> str:
    return f"{FUNCTIONS}/{urllib.parse.quote(name, safe='')}/invocations"


# -- an ARN in the path -----------------------------------------------------------------------


def test_a_function_arn_in_the_path_works_through_boto3(server: FaasServer) -> None:
    name = unique("by-arn")
    server.deploy(name, {"app.py": ECHO})
    arn = FUNCTION_ARN + name
    api = server.client()
    sent: list[str] = []

    def remember(request: AWSPreparedRequest, **_: Any) -> None:
        sent.append(request.url)

    api.meta.events.register("before-send.lambda", remember)
    try:
        assert api.get_function(FunctionName=arn)["Configuration"]["FunctionArn"] == arn
        for qualifier in ({}, {"Qualifier": "$LATEST"}):
            response = api.invoke(FunctionName=arn, Payload=b'{"n": 2}', **qualifier)
            assert json.loads(response["Payload"].read()) == {"echo": {"n": 2}}
        response = api.invoke(FunctionName=f"{arn}:$LATEST", Payload=b'{"n": 3}')
        assert json.loads(response["Payload"].read()) == {"echo": {"n": 3}}
        api.delete_function(FunctionName=arn)
        with pytest.raises(ClientError) as gone:
            api.get_function(FunctionName=name)
    finally:
        api.close()
    assert refusal_of(gone.value)[:2] == (404, "ResourceNotFoundException")
    assert len(sent) == 6 and all("%3A" in url for url in sent[:5]), sent


# -- real clients with a valid key ------------------------------------------------------------


def test_boto3_and_the_faas_cli_sign_what_the_server_verifies(
    server: FaasServer, tmp_path: Path
) -> None:
    name = unique("cli")
    (tmp_path / "app.py").write_text(ECHO)
    deployed = server.cli("deploy", str(tmp_path), "--name", name, "--handler", "app.handler")
    assert deployed.returncode == 0, deployed.stderr
    invoked = server.cli("invoke", name, "--payload", '{"via": "cli"}')
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == {"echo": {"via": "cli"}}
    listed = server.cli("--json", "ls")
    assert listed.returncode == 0, listed.stderr
    assert name in {f["FunctionName"] for f in json.loads(listed.stdout)}
    names = {f["FunctionName"] for f in server.client().list_functions()["Functions"]}
    assert name in names
    # The CLI's own signer is checked, not trusted: a wrong secret is refused.
    wrong = server.cli(
        "ls",
        env={"FAAS_ACCESS_KEY_ID": server.admin_key.access_key_id, "FAAS_SECRET_ACCESS_KEY": "x"},
    )
    assert wrong.returncode != 0
    assert "InvalidSignatureException" in wrong.stderr


def _curl(server: FaasServer, key: AccessKey, *args: str) -> tuple[int, str]:
    completed = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--write-out",
            "\n%{http_code}",
            "--aws-sigv4",
            "aws:amz:us-east-1:lambda",
            "--user",
            f"{key.access_key_id}:{key.secret}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    body, _, status = completed.stdout.rpartition("\n")
    return int(status), body


def test_curl_signs_invoke_and_list_functions(server: FaasServer, echo: str) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    help_text = subprocess.run(
        [curl, "--help", "all"], capture_output=True, text=True, check=False
    ).stdout
    if "--aws-sigv4" not in help_text:
        pytest.skip("this curl has no --aws-sigv4 (it came in curl 7.75)")
    key = server.admin_key
    status, body = _curl(
        server, key, "--data-binary", '{"via": "curl"}', server.url + invoke_path(echo)
    )
    assert (status, json.loads(body)) == (200, {"echo": {"via": "curl"}})
    status, body = _curl(server, key, server.url + FUNCTIONS + "/")
    assert status == 200, body
    assert echo in {f["FunctionName"] for f in json.loads(body)["Functions"]}
    status, body = _curl(server, AccessKey(key.access_key_id, "wrong"), server.url + FUNCTIONS)
    assert status == 403
    assert json.loads(body)["Message"].startswith(SIGNATURE_MISMATCH)


def test_the_aws_cli_lists_and_invokes(server: FaasServer, echo: str, tmp_path: Path) -> None:
    aws = aws_cli()
    if aws is None:
        pytest.skip("the AWS CLI is not installed (awscli is in the test extras)")
    env = clean_env(
        {
            "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    base = [aws, "--endpoint-url", server.url, "--region", "us-east-1", "lambda"]
    listed = subprocess.run(
        [*base, "list-functions"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert echo in {f["FunctionName"] for f in json.loads(listed.stdout)["Functions"]}
    event, answer = tmp_path / "event.json", tmp_path / "answer.json"
    event.write_text('{"via": "aws"}')
    invoked = subprocess.run(
        [*base, "invoke", "--function-name", echo, "--payload", f"fileb://{event}", str(answer)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(answer.read_text()) == {"echo": {"via": "aws"}}
