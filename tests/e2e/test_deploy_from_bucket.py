"""CreateFunction and UpdateFunctionCode with Code.S3Bucket and S3Key naming a faas bucket, as
infrastructure-as-code tools deploy; the errors Lambda gives when the object is not there."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.server import FaasServer, aws_cli, clean_env, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda"


def version(n: int) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {n}\n"})


@pytest.fixture
def server(tmp_path: Path) -> FaasServer:
    started = FaasServer.start(tmp_path / "data")
    yield started  # type: ignore[misc]
    started.stop()


def test_code_from_a_bucket_deploys_and_updates(server: FaasServer, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    (artifacts / "releases").mkdir(parents=True)
    (artifacts / "releases" / "v1.zip").write_bytes(version(1))
    (artifacts / "releases" / "v2.zip").write_bytes(version(2))
    assert server.cli("bucket", "add", "artifacts", str(artifacts)).returncode == 0
    api = server.client()
    created = api.create_function(
        FunctionName="from-bucket",
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": "artifacts", "S3Key": "releases/v1.zip"},
    )
    assert created["CodeSize"] == len(version(1))
    api.get_waiter("function_active_v2").wait(FunctionName="from-bucket")
    assert server.invoke("from-bucket")[1] == 1
    api.update_function_code(
        FunctionName="from-bucket", S3Bucket="artifacts", S3Key="releases/v2.zip"
    )
    api.get_waiter("function_updated_v2").wait(FunctionName="from-bucket")
    assert server.invoke("from-bucket")[1] == 2
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
    updated = subprocess.run(
        [aws, "--endpoint-url", server.url, "--region", "us-east-1", "lambda",
         "update-function-code", "--function-name", "from-bucket",
         "--s3-bucket", "artifacts", "--s3-key", "releases/v1.zip"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    assert server.invoke("from-bucket")[1] == 1


def test_a_missing_bucket_or_key_is_lambdas_get_object_error(
    server: FaasServer, tmp_path: Path
) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "not-a-zip.zip").write_bytes(b"plain text")
    os.symlink("/etc/passwd", artifacts / "link.zip")
    (artifacts / "dir.zip").mkdir()
    assert server.cli("bucket", "add", "artifacts", str(artifacts)).returncode == 0
    api = server.client()
    cases = [
        ({"S3Bucket": "nowhere", "S3Key": "a.zip"}, "NoSuchBucket"),
        ({"S3Bucket": "artifacts", "S3Key": "missing.zip"}, "NoSuchKey"),
        ({"S3Bucket": "artifacts", "S3Key": "link.zip"}, "NoSuchKey"),  # links never followed
        ({"S3Bucket": "artifacts", "S3Key": "../data/credentials"}, "NoSuchKey"),
        ({"S3Bucket": "artifacts", "S3Key": "dir.zip"}, "NoSuchKey"),
        ({"S3Bucket": "artifacts", "S3Key": "a.zip", "S3ObjectVersion": "3"}, "S3ObjectVersion"),
        ({"S3Bucket": "artifacts"}, "S3Key are both required"),
        ({"S3Bucket": "artifacts", "S3Key": "not-a-zip.zip"}, "zip"),
    ]
    for code, expected in cases:
        with pytest.raises(api.exceptions.InvalidParameterValueException) as refused:
            api.create_function(
                FunctionName="never",
                Runtime="python3.11",
                Role=ROLE,
                Handler="app.handler",
                Code=code,
            )
        assert expected in str(refused.value), (code, str(refused.value))
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.get_function(FunctionName="never")
