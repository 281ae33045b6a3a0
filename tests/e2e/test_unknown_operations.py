"""Lambda operations faas does not implement, through boto3 and raw HTTP against `faas serve`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.helpers.server import FaasServer

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
CSC_ARN = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0"


@pytest.fixture(scope="module")
def retrying_api(server: FaasServer) -> Any:
    """A client that retries as botocore does by default, so a retryable answer would show."""
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=server.admin_key.access_key_id,
        aws_secret_access_key=server.admin_key.secret,
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )


@pytest.mark.parametrize(
    ("method", "params", "operation"),
    [
        ("get_function_code_signing_config", {"FunctionName": ARN}, None),
        (
            "put_function_code_signing_config",
            {
                "FunctionName": "fn",
                "CodeSigningConfigArn": CSC_ARN,
            },
            None,
        ),
        ("get_runtime_management_config", {"FunctionName": "fn"}, None),
        ("list_event_source_mappings", {}, "ListEventSourceMappings"),
        ("get_event_source_mapping", {"UUID": "0f9a4bd2-6c1e-4b8e-9f7e-2d5c8a1b3e40"}, None),
        ("list_code_signing_configs", {}, None),
        ("delete_function_code_signing_config", {"FunctionName": "fn"}, None),
    ],
)
def test_an_unimplemented_operation_is_named_once_without_retries(
    retrying_api: Any, method: str, params: dict[str, Any], operation: str | None
) -> None:
    operation = operation or "".join(part.title() for part in method.split("_"))
    with pytest.raises(ClientError) as raised:
        getattr(retrying_api, method)(**params)
    response = raised.value.response
    assert response["Error"]["Code"] == "UnknownOperationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    assert response["Error"]["Message"].startswith(
        f"faas does not support the Lambda operation {operation} ("
    )


def raw_request(server: FaasServer, url: str, method: str) -> tuple[int, Any, dict[str, Any]]:
    """(status, headers, JSON body) of a bodiless signed request, error statuses included."""
    request = urllib.request.Request(url, method=method)
    try:
        with server.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, json.load(error)


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/nope", "Unknown operation: GET /nope"),
        ("PATCH", "/2015-03-31/functions/x", "Unknown operation: PATCH /2015-03-31/functions/x"),
        (
            "GET",
            "/2015-03-31/functions/x/invocations?Qualifier=1",
            "Unknown operation: GET /2015-03-31/functions/x/invocations",
        ),
        ("DELETE", "/health", "Unknown operation: DELETE /health"),
        ("GET", "/" + "y" * 4000, f"Unknown operation: GET /{'y' * 199}..."),
        (
            "GET",
            "/2015-03-31/event-source-mappings",
            "faas does not support the Lambda operation ListEventSourceMappings "
            "(GET /2015-03-31/event-source-mappings)",
        ),
    ],
    ids=[
        "unknown-path",
        "wrong-method",
        "invoke-by-get",
        "health-by-delete",
        "long",
        "event-source-mappings",
    ],
)
def test_unrouted_requests_get_lambda_s_json_404(
    server: FaasServer, method: str, path: str, message: str
) -> None:
    status, headers, body = raw_request(server, server.url + path, method)
    assert status == 404
    assert headers["X-Amzn-ErrorType"] == "UnknownOperationException"
    assert headers["Content-Type"].startswith("application/json")
    assert body == {"Type": "User", "Message": message, "message": message}


def test_routed_requests_answer_as_before(server: FaasServer) -> None:
    assert server.health()["status"]
    status, _, body = raw_request(server, server.url + "/2015-03-31/functions", "GET")
    assert (status, body["Functions"]) == (200, [])
    status, headers, body = raw_request(server, server.url + "/2015-03-31/functions/none", "GET")
    assert (status, headers["X-Amzn-ErrorType"]) == (404, "ResourceNotFoundException")
