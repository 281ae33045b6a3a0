"""Function environments at rest: sealed in the database, whatever the API does with them."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.server import FaasServer

ECHO_ENV = "import os\n\ndef handler(event, context):\n    return os.environ.get('DB_PASSWORD')\n"
KMS_ARN = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def data_files_with(data_dir: Path, needle: bytes) -> list[str]:
    """Files of the data directory holding `needle` (the database, its WAL and journal, keys,
    logs); /tmp images and code bundles are the functions' own and not looked at."""
    skipped = {"scratch", "code"}
    found = []
    for path in data_dir.rglob("*"):
        relative = path.relative_to(data_dir)
        if path.is_file() and not skipped & set(relative.parts) and needle in path.read_bytes():
            found.append(str(relative))
    return found


def test_no_environment_value_is_in_plaintext_under_the_data_directory(
    fresh_server: FaasServer,
) -> None:
    first, second = secrets.token_hex(12), secrets.token_hex(12)
    fresh_server.deploy(
        "vault", {"app.py": ECHO_ENV}, Environment={"Variables": {"DB_PASSWORD": first}}
    )
    assert fresh_server.invoke("vault")[1] == first
    client = fresh_server.client()
    client.update_function_configuration(
        FunctionName="vault", Environment={"Variables": {"DB_PASSWORD": second}}
    )
    assert fresh_server.invoke("vault")[1] == second
    assert client.get_function_configuration(FunctionName="vault")["Environment"] == {
        "Variables": {"DB_PASSWORD": second}
    }

    for value in (first, second, "DB_PASSWORD"):
        assert data_files_with(fresh_server.data_dir, value.encode()) == [], value
    assert fresh_server.stop() == 0
    for value in (first, second):
        assert data_files_with(fresh_server.data_dir, value.encode()) == [], value


def test_kms_key_arn_is_recorded_and_returned(server: FaasServer, lambda_api: Any) -> None:
    server.deploy("kms", {"app.py": ECHO_ENV}, KMSKeyArn=KMS_ARN)
    assert lambda_api.get_function_configuration(FunctionName="kms")["KMSKeyArn"] == KMS_ARN
    lambda_api.update_function_configuration(FunctionName="kms", KMSKeyArn="")
    assert "KMSKeyArn" not in lambda_api.get_function_configuration(FunctionName="kms")
    with pytest.raises(ClientError) as refused:
        lambda_api.update_function_configuration(FunctionName="kms", KMSKeyArn="not an arn")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
