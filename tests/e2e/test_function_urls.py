"""Function URLs through the real server: the configuration API with boto3, and HTTP requests
to /urls/<id>/... with real clients (http.client, botocore's signer for AWS_IAM)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.helpers.auth import ACCOUNT, allow, create_key, policy
from tests.helpers.server import REGION, AccessKey, FaasServer

WEB = """
import base64
import json
import time

def handler(event, context):
    path = event["rawPath"]
    if path == "/plain":
        return {"plain": True, "n": [1, 2]}
    if path == "/string":
        return "just text"
    if path == "/number":
        return 42
    if path == "/fail":
        raise RuntimeError("boom")
    if path == "/sleep":
        time.sleep(5)
    if path == "/binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode(),
            "isBase64Encoded": True,
        }
    if path == "/teapot":
        return {
            "statusCode": 418,
            "headers": {"content-type": "text/plain", "x-custom": "yes"},
            "body": "short and stout",
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        }
    if path == "/own-cors":
        return {
            "statusCode": 200,
            "headers": {"Access-Control-Allow-Origin": "https://own.example"},
            "body": "x",
        }
    if path == "/malformed":
        return {"statusCode": "teapot"}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"event": event, "request_id": context.aws_request_id}),
    }
"""
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"


@pytest.fixture(scope="module")
def web(server: FaasServer) -> Iterator[dict[str, Any]]:
    """The `web` function with a URL (AuthType NONE)."""
    server.deploy("web", {"app.py": WEB}, Timeout=1)
    created = server.client().create_function_url_config(FunctionName="web", AuthType="NONE")
    yield created


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.getheaders()
        self.body = response.read()

    def header(self, name: str) -> str | None:
        found = self.all(name)
        return found[0] if found else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> dict[str, Any]:
        assert self.status == 200, (self.status, self.body)
        return dict(self.json()["event"])


def fetch(
    url: str,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
    connection: http.client.HTTPConnection | None = None,
) -> Answer:
    parts = urllib.parse.urlsplit(url)
    own = connection is None
    conn = connection or http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        return Answer(conn.getresponse())
    finally:
        if own:
            conn.close()


def signed_headers(
    url: str, key: AccessKey, method: str = "GET", body: bytes = b""
) -> list[tuple[str, str]]:
    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials(key.access_key_id, key.secret), "lambda", REGION).add_auth(request)
    return list(request.headers.items())


# -- the configuration API ------------------------------------------------------------------


def test_create_get_update_list_delete_with_boto3(server: FaasServer) -> None:
    server.deploy("api-url", {"app.py": WEB})
    client = server.client()
    created = client.create_function_url_config(
        FunctionName="api-url",
        AuthType="AWS_IAM",
        Cors={"AllowOrigins": ["https://app.example"], "MaxAge": 300},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    assert re.fullmatch(rf"{re.escape(server.url)}/urls/[a-z0-9]{{32}}/", url), url
    assert created["FunctionArn"] == ARN + "api-url"
    assert created["AuthType"] == "AWS_IAM"
    assert created["InvokeMode"] == "BUFFERED"
    assert created["Cors"] == {"AllowOrigins": ["https://app.example"], "MaxAge": 300}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", created["CreationTime"])

    got = client.get_function_url_config(FunctionName=ARN + "api-url")
    assert got["FunctionUrl"] == url
    assert got["LastModifiedTime"] == created["CreationTime"]

    updated = client.update_function_url_config(FunctionName="api-url", AuthType="NONE")
    assert updated["AuthType"] == "NONE"
    assert updated["Cors"] == created["Cors"]  # not given: kept
    assert updated["FunctionUrl"] == url
    assert updated["LastModifiedTime"] >= created["CreationTime"]

    listed = client.list_function_url_configs(FunctionName="api-url")["FunctionUrlConfigs"]
    assert [entry["FunctionUrl"] for entry in listed] == [url]

    client.delete_function_url_config(FunctionName="api-url")
    assert client.list_function_url_configs(FunctionName="api-url")["FunctionUrlConfigs"] == []
    assert fetch(url).status == 404


def test_lambdas_errors(server: FaasServer, web: dict[str, Any]) -> None:
    client = server.client()

    def code_of(call: Any, **params: Any) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as raised:
            call(**params)
        error = raised.value.response
        return (
            error["ResponseMetadata"]["HTTPStatusCode"],
            error["Error"]["Code"],
            error["Error"]["Message"],
        )

    status, code, message = code_of(
        client.create_function_url_config, FunctionName="web", AuthType="NONE"
    )
    assert (status, code) == (409, "ResourceConflictException")
    assert "FunctionUrlConfig exists" in message
    assert code_of(client.get_function_url_config, FunctionName="nobody")[:2] == (
        404,
        "ResourceNotFoundException",
    )
    server.deploy("no-url", {"app.py": WEB})
    for call in (client.get_function_url_config, client.delete_function_url_config):
        assert code_of(call, FunctionName="no-url")[:2] == (404, "ResourceNotFoundException")
    assert code_of(client.update_function_url_config, FunctionName="no-url", AuthType="NONE")[
        :2
    ] == (404, "ResourceNotFoundException")
    status, code, message = code_of(
        client.create_function_url_config, FunctionName="no-url", AuthType="OPEN"
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    status, code, message = code_of(
        client.create_function_url_config,
        FunctionName="no-url",
        AuthType="NONE",
        InvokeMode="RESPONSE_STREAM",
    )
    assert code == "InvalidParameterValueException"
    assert "RESPONSE_STREAM is not supported yet" in message
    status, code, message = code_of(
        client.create_function_url_config, FunctionName="no-url", AuthType="NONE", Qualifier="live"
    )
    assert (status, code) == (404, "ResourceNotFoundException")
    assert "function:no-url:live" in message
    status, code, message = code_of(
        client.create_function_url_config,
        FunctionName="no-url",
        AuthType="NONE",
        Cors={"AllowMethods": ["FETCH"]},
    )
    assert code == "InvalidParameterValueException"
    # $LATEST is the function itself.
    got = client.get_function_url_config(FunctionName="web", Qualifier="$LATEST")
    assert got["FunctionUrl"] == web["FunctionUrl"]


def test_managing_urls_needs_the_actions_on_the_function(server: FaasServer) -> None:
    server.deploy("guarded-url", {"app.py": WEB})
    reader = create_key(
        server, "url-reader", policy(allow("lambda:GetFunctionUrlConfig", ARN + "guarded-url"))
    )
    client = server.client(reader)
    with pytest.raises(ClientError) as raised:
        client.create_function_url_config(FunctionName="guarded-url", AuthType="NONE")
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "lambda:CreateFunctionUrlConfig" in raised.value.response["Error"]["Message"]
    server.client().create_function_url_config(FunctionName="guarded-url", AuthType="NONE")
    assert client.get_function_url_config(FunctionName="guarded-url")["AuthType"] == "NONE"


def test_deleting_the_function_deletes_its_url(server: FaasServer) -> None:
    server.deploy("short-lived", {"app.py": WEB})
    client = server.client()
    url = client.create_function_url_config(FunctionName="short-lived", AuthType="NONE")[
        "FunctionUrl"
    ]
    assert fetch(url + "plain").status == 200
    client.delete_function(FunctionName="short-lived")
    assert fetch(url + "plain").status == 404
    server.deploy("short-lived", {"app.py": WEB})
    with pytest.raises(ClientError) as raised:
        client.get_function_url_config(FunctionName="short-lived")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    again = client.create_function_url_config(FunctionName="short-lived", AuthType="NONE")
    assert again["FunctionUrl"] != url


# -- serving requests -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
def test_methods_paths_and_query_strings(web: dict[str, Any], method: str) -> None:
    url = web["FunctionUrl"]
    url_id = url.rstrip("/").rsplit("/", 1)[1]
    answer = fetch(
        url + "a/b%20c?x=1&y=two&x=3&empty=",
        method,
        headers=[("User-Agent", "tests/1.0"), ("Content-Type", "application/json")],
        body=b'{"k": "v"}' if method in ("POST", "PUT", "PATCH") else None,
    )
    event = answer.event
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/a/b%20c"
    assert event["rawQueryString"] == "x=1&y=two&x=3&empty="
    assert event["queryStringParameters"] == {"x": "1,3", "y": "two", "empty": ""}
    context = event["requestContext"]
    host = url.split("/")[2]
    assert context["http"] == {
        "method": method,
        "path": "/a/b%20c",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests/1.0",
    }
    assert (context["apiId"], context["domainPrefix"], context["domainName"]) == (
        url_id,
        url_id,
        host,
    )
    assert (context["routeKey"], context["stage"], context["accountId"]) == (
        "$default",
        "$default",
        "anonymous",
    )
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert abs(context["timeEpoch"] - time.time() * 1000) < 60_000
    assert context["requestId"] == answer.json()["request_id"] == answer.header("x-amzn-RequestId")
    if method in ("POST", "PUT", "PATCH"):
        assert (event["body"], event["isBase64Encoded"]) == ('{"k": "v"}', False)
    else:
        assert "body" not in event
        assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(("suffix", "raw_path"), [("", "/"), ("/", "/"), ("/x/", "/x/")])
def test_the_urls_root(web: dict[str, Any], suffix: str, raw_path: str) -> None:
    base = web["FunctionUrl"].rstrip("/")
    event = fetch(base + suffix).event
    assert event["rawPath"] == raw_path
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event


def test_headers_are_lower_cased_repeats_joined_and_cookies_split(web: dict[str, Any]) -> None:
    event = fetch(
        web["FunctionUrl"],
        headers=[
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("X-Single", "Value Kept"),
            ("Cookie", "a=1; b=2"),
            ("Cookie", "c=3"),
        ],
    ).event
    headers = event["headers"]
    assert headers["x-multi"] == "one,two"
    assert headers["x-single"] == "Value Kept"
    assert "cookie" not in headers
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert all(name == name.lower() for name in headers)


def test_binary_bodies_both_ways(web: dict[str, Any]) -> None:
    data = os.urandom(4096)
    event = fetch(
        web["FunctionUrl"],
        "POST",
        headers=[("Content-Type", "application/octet-stream")],
        body=data,
    ).event
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data
    answer = fetch(web["FunctionUrl"] + "binary")
    assert answer.status == 200
    assert answer.header("Content-Type") == "application/octet-stream"
    assert answer.body == bytes(range(256))


def test_status_headers_and_cookies_from_the_function(web: dict[str, Any]) -> None:
    answer = fetch(web["FunctionUrl"] + "teapot")
    assert answer.status == 418
    assert answer.body == b"short and stout"
    assert answer.header("Content-Type") == "text/plain"
    assert answer.header("X-Custom") == "yes"
    assert answer.all("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


@pytest.mark.parametrize(
    ("path", "body"),
    [("plain", {"plain": True, "n": [1, 2]}), ("number", 42)],
)
def test_a_plain_value_is_200_json(web: dict[str, Any], path: str, body: Any) -> None:
    answer = fetch(web["FunctionUrl"] + path)
    assert answer.status == 200
    assert answer.header("Content-Type") == "application/json"
    assert answer.json() == body


def test_a_string_is_the_body_itself(web: dict[str, Any]) -> None:
    answer = fetch(web["FunctionUrl"] + "string")
    assert (answer.status, answer.body) == (200, b"just text")
    assert answer.header("Content-Type") == "application/json"


@pytest.mark.parametrize("path", ["fail", "sleep", "malformed"])
def test_a_function_error_a_timeout_or_a_malformed_answer_is_502(
    web: dict[str, Any], path: str
) -> None:
    answer = fetch(web["FunctionUrl"] + path)
    assert answer.status == 502
    assert answer.body == b"Internal Server Error"
    assert answer.header("x-amzn-RequestId")


def test_an_unknown_url_id_is_404(server: FaasServer, web: dict[str, Any]) -> None:
    for path in ("/urls/" + "z" * 32 + "/", "/urls/nope", "/urls/" + "z" * 32 + "/a/b"):
        answer = fetch(server.url + path, "POST", body=b"{}")
        assert answer.status == 404
        assert answer.json() == {"Message": "Not Found"}


def test_a_body_over_6_mb_is_413(web: dict[str, Any]) -> None:
    too_large = fetch(
        web["FunctionUrl"],
        "POST",
        headers=[("Content-Type", "text/plain")],
        body=b"x" * (6 * 1024 * 1024 + 1),
    )
    assert too_large.status == 413
    assert too_large.json() == {"Message": "Request Entity Too Large"}
    # A binary body is base64 in the event: 5 MB of it makes an event over 6 MB.
    encoded_too_large = fetch(
        web["FunctionUrl"],
        "POST",
        headers=[("Content-Type", "application/octet-stream")],
        body=b"\0" * (5 * 1024 * 1024),
    )
    assert encoded_too_large.status == 413


def test_keep_alive_across_requests_to_a_url_and_the_api(
    server: FaasServer, web: dict[str, Any]
) -> None:
    parts = urllib.parse.urlsplit(web["FunctionUrl"])
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    with contextlib.closing(connection):
        # An Invoke first: the front door's lean route answers it, then hands the connection
        # to aiohttp at the URL request.
        invoke_url = f"{server.url}/2015-03-31/functions/web/invocations"
        body = json.dumps({"rawPath": "/plain"}).encode()
        invoked = fetch(
            invoke_url,
            "POST",
            headers=signed_headers(invoke_url, server.admin_key, "POST", body),
            body=body,
            connection=connection,
        )
        assert (invoked.status, invoked.json()) == (200, {"plain": True, "n": [1, 2]})
        sock = connection.sock
        first = fetch(web["FunctionUrl"] + "plain", connection=connection)
        second = fetch(
            web["FunctionUrl"],
            "POST",
            headers=[("Content-Type", "text/plain")],
            body=b"hello",
            connection=connection,
        )
        third = fetch(server.url + "/health", connection=connection)
        assert (first.status, second.status, third.status) == (200, 200, 200)
        assert second.event["body"] == "hello"
        assert connection.sock is sock  # the same connection all along


# -- CORS -----------------------------------------------------------------------------------

CORS = {
    "AllowOrigins": ["https://app.example", "https://*.trusted.example"],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["content-type", "x-token"],
    "ExposeHeaders": ["x-custom"],
    "MaxAge": 600,
    "AllowCredentials": True,
}


@pytest.fixture(scope="module")
def cors_url(server: FaasServer) -> str:
    server.deploy("cors-web", {"app.py": WEB})
    created = server.client().create_function_url_config(
        FunctionName="cors-web", AuthType="NONE", Cors=CORS
    )
    return str(created["FunctionUrl"])


def records_of(server: FaasServer, name: str) -> list[dict[str, Any]]:
    with server.urlopen(f"{server.url}/faas/v1/invocations?function={name}&limit=1000") as r:
        return list(json.load(r)["Invocations"])


def test_an_allowed_preflight_is_answered_without_invoking(
    server: FaasServer, cors_url: str
) -> None:
    before = len(records_of(server, "cors-web"))
    answer = fetch(
        cors_url + "anything",
        "OPTIONS",
        headers=[
            ("Origin", "https://api.trusted.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "Content-Type, X-Token"),
        ],
    )
    assert answer.status == 200
    assert answer.header("Access-Control-Allow-Origin") == "https://api.trusted.example"
    assert answer.header("Access-Control-Allow-Methods") == "GET, POST"
    assert answer.header("Access-Control-Allow-Headers") == "content-type, x-token"
    assert answer.header("Access-Control-Max-Age") == "600"
    assert answer.header("Access-Control-Allow-Credentials") == "true"
    assert len(records_of(server, "cors-web")) == before


@pytest.mark.parametrize(
    ("origin", "method", "request_headers"),
    [
        ("https://evil.example", "GET", None),
        ("https://app.example", "DELETE", None),
        ("https://app.example", "POST", "x-other"),
    ],
    ids=["origin", "method", "header"],
)
def test_a_refused_preflight_has_no_allow_headers(
    cors_url: str, origin: str, method: str, request_headers: str | None
) -> None:
    headers = [("Origin", origin), ("Access-Control-Request-Method", method)]
    if request_headers:
        headers.append(("Access-Control-Request-Headers", request_headers))
    answer = fetch(cors_url, "OPTIONS", headers=headers)
    assert answer.status == 200
    assert not [name for name, _ in answer.headers if name.lower().startswith("access-control")]


def test_actual_requests_get_the_configured_cors_headers(cors_url: str) -> None:
    answer = fetch(cors_url + "teapot", headers=[("Origin", "https://app.example")])
    assert answer.status == 418
    assert answer.header("Access-Control-Allow-Origin") == "https://app.example"
    assert answer.header("Access-Control-Expose-Headers") == "x-custom"
    assert answer.header("Access-Control-Allow-Credentials") == "true"
    # The function's own CORS headers are replaced by the configured ones.
    own = fetch(cors_url + "own-cors", headers=[("Origin", "https://evil.example")])
    assert own.status == 200
    assert own.header("Access-Control-Allow-Origin") is None


def test_a_wildcard_origin_without_credentials_answers_star(server: FaasServer) -> None:
    server.deploy("cors-star", {"app.py": WEB})
    url = server.client().create_function_url_config(
        FunctionName="cors-star", AuthType="NONE", Cors={"AllowOrigins": ["*"]}
    )["FunctionUrl"]
    answer = fetch(url + "plain", headers=[("Origin", "https://anyone.example")])
    assert answer.header("Access-Control-Allow-Origin") == "*"
    # An OPTIONS that is no preflight goes to the function.
    event = fetch(url, "OPTIONS").event
    assert event["requestContext"]["http"]["method"] == "OPTIONS"


# -- AWS_IAM --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iam_url(server: FaasServer) -> str:
    server.deploy("iam-web", {"app.py": WEB})
    created = server.client().create_function_url_config(FunctionName="iam-web", AuthType="AWS_IAM")
    return str(created["FunctionUrl"])


def test_aws_iam_serves_a_key_allowed_invoke_function_url(server: FaasServer, iam_url: str) -> None:
    key = create_key(
        server, "url-caller", policy(allow("lambda:InvokeFunctionUrl", ARN + "iam-web"))
    )
    url = iam_url + "signed/path?q=1"
    body = os.urandom(64)
    headers = signed_headers(url, key, "POST", body)
    answer = fetch(url, "POST", headers=[*headers, ("Content-Type", "application/json")], body=body)
    # Content-Type was not signed, but the body was: it arrives whole, as base64 (not UTF-8).
    event = answer.event
    assert base64.b64decode(event["body"]) == body
    assert event["requestContext"]["accountId"] == ACCOUNT
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == key.access_key_id
    assert iam["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/url-caller"
    get = fetch(iam_url, headers=signed_headers(iam_url, key))
    assert get.status == 200


def test_aws_iam_refuses_unsigned_and_unallowed_callers(server: FaasServer, iam_url: str) -> None:
    unsigned = fetch(iam_url)
    assert unsigned.status == 403
    assert unsigned.json() == {"Message": "Forbidden"}
    other = create_key(
        server, "invoke-only", policy(allow("lambda:InvokeFunction", ARN + "iam-web"))
    )
    refused = fetch(iam_url, headers=signed_headers(iam_url, other))
    assert refused.status == 403
    assert refused.json() == {"Message": "Forbidden"}
    # A signature that does not cover the body that arrives is refused too.
    key = create_key(
        server, "url-caller-2", policy(allow("lambda:InvokeFunctionUrl", ARN + "iam-web"))
    )
    headers = signed_headers(iam_url, key, "POST", b"signed")
    assert fetch(iam_url, "POST", headers=headers, body=b"changed").status == 403
    # Refusals are audited, as refused Invokes are (the writer commits behind the answers).
    deadline = time.monotonic() + 10
    while True:
        with server.urlopen(f"{server.url}/faas/v1/audit?outcome=denied&limit=100") as response:
            events = json.load(response)["AuditEvents"]
        refusals = [e for e in events if e["Path"].startswith("/urls/")]
        if len(refusals) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {(e["Status"], e["ErrorCode"]) for e in refusals} == {
        (403, "MissingAuthenticationTokenException"),
        (403, "AccessDeniedException"),
        (403, "InvalidSignatureException"),
    }
    denied = [e for e in refusals if e["ErrorCode"] == "AccessDeniedException"]
    assert denied[0]["Action"] == "lambda:InvokeFunctionUrl"
    assert denied[0]["Resource"] == ARN + "iam-web"


def test_none_serves_signed_requests_too(server: FaasServer, web: dict[str, Any]) -> None:
    url = web["FunctionUrl"] + "plain"
    assert fetch(url, headers=signed_headers(url, server.admin_key)).status == 200


def test_a_throttled_call_is_429(server: FaasServer) -> None:
    server.deploy("throttled-web", {"app.py": WEB})
    client = server.client()
    url = client.create_function_url_config(FunctionName="throttled-web", AuthType="NONE")[
        "FunctionUrl"
    ]
    client.put_function_concurrency(FunctionName="throttled-web", ReservedConcurrentExecutions=0)
    answer = fetch(url)
    assert answer.status == 429
    assert answer.json() == {"Message": "Too Many Requests"}
    assert answer.header("Retry-After")


# -- the CLI --------------------------------------------------------------------------------


def test_the_cli_creates_shows_and_removes_a_url(server: FaasServer) -> None:
    server.deploy("cli-web", {"app.py": WEB})
    created = server.cli("url", "create", "cli-web", "--auth", "iam", "--cors-origin", "*")
    assert created.returncode == 0, created.stderr
    url = created.stdout.split()[0]
    assert re.fullmatch(rf"{re.escape(server.url)}/urls/[a-z0-9]{{32}}/", url)
    assert "(auth iam, cors *)" in created.stdout
    shown = server.cli("url", "get", "cli-web", "--json")
    assert json.loads(shown.stdout)["FunctionUrl"] == url
    again = server.cli("url", "create", "cli-web", "--auth", "none")
    assert again.returncode == 1
    assert again.stderr.startswith("error: ") and len(again.stderr.splitlines()) == 1
    assert "FunctionUrlConfig exists" in again.stderr
    removed = server.cli("url", "rm", "cli-web")
    assert (removed.returncode, removed.stdout.strip()) == (0, "removed the URL of cli-web")
    missing = server.cli("url", "get", "cli-web")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ")
    assert fetch(url).status == 404


def test_paths_that_are_not_normal_are_refused(web: dict[str, Any]) -> None:
    base = web["FunctionUrl"].rstrip("/")
    other = "00000000000000000000000000000000"
    for path in ("/a//b", "/a/./b", f"/../{other}/x", "/a/%2e%2e/b"):
        answer = fetch(base + path)
        assert answer.status == 400, path
    assert fetch(base + "/a/b/").status == 200


def test_odd_request_bytes_and_plus_signs_reach_the_function(web: dict[str, Any]) -> None:
    base = web["FunctionUrl"].rstrip("/")
    answer = fetch(base + "/echo?to=alice+bob&x=%2B", headers=[("X-Odd", "caf\xe9")])
    assert answer.status == 200
    event = json.loads(answer.body)["event"]
    assert event["queryStringParameters"] == {"to": "alice+bob", "x": "+"}
    assert event["rawQueryString"] == "to=alice+bob&x=%2B"


def test_cors_credentials_with_any_origin_are_refused(server: FaasServer) -> None:
    server.deploy("creds", {"app.py": WEB})
    with pytest.raises(ClientError) as refused:
        server.client().create_function_url_config(
            FunctionName="creds",
            AuthType="NONE",
            Cors={"AllowOrigins": ["*"], "AllowCredentials": True},
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
